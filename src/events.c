/*-------------------------------------------------------------------------
 *
 * src/events.c
 *		The outbox: the events no other statement writes for us, and, for
 *		sessions with allocation.notify on, a NOTIFY that leaves at commit.
 *
 * Most events are written by the very statement that makes the change they
 * record (plans.c builds their payloads with pg_catalog.jsonb_build_object),
 * and leave through logical decoding (stream.c).  The NOTIFY payload is the
 * jsonb's own text, identical to payload::text in the outbox.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <string.h>

#include "commands/async.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * AlNotify: queue a NOTIFY of an event's payload, when allocation.notify is
 * on: Allocated on line_allocated, OutOfStock on out_of_stock, the others
 * on none.  Async_Notify copies the payload; it leaves at commit, or never.
 */
void
AlNotify(const char *event, Datum payload)
{
	const char *channel = NULL;

	if (!AlNotifyEnabled)
		return;
	if (strcmp(event, "Allocated") == 0)
		channel = "line_allocated";
	else if (strcmp(event, "OutOfStock") == 0)
		channel = "out_of_stock";
	if (channel != NULL)
		Async_Notify(channel, DatumGetCString(DirectFunctionCall1(jsonb_out, payload)));
}

/*
 * AlRecordOutOfStock: OutOfStock {"sku"}, notified on out_of_stock.
 */
void
AlRecordOutOfStock(text *sku)
{
	Datum		args[1] = {PointerGetDatum(sku)};
	AlResult	recorded = AlExecute(AL_STMT_RECORD_OUT_OF_STOCK, args, NULL, 0);
	bool		isnull;

	AlNotify("OutOfStock", AlValue(recorded, 0, 1, &isnull));
	AlFree(recorded);
}

/*
 * AlRecordHeld: Held {"holdid", "sku", "qty", "batchref", "expires_at"},
 * not notified.
 */
void
AlRecordHeld(text *holdid, text *sku, int32 qty, text *batchref, TimestampTz expires_at)
{
	Datum		args[5] = {PointerGetDatum(holdid), PointerGetDatum(sku), Int32GetDatum(qty),
	PointerGetDatum(batchref), TimestampTzGetDatum(expires_at)};

	AlFree(AlExecute(AL_STMT_RECORD_HELD, args, NULL, 0));
}

/*
 * AlRecordReleased: Released {"holdid", "sku", "qty", "reason"}, reason
 * one of released, expired, confirmed, out_of_stock; not notified.
 */
void
AlRecordReleased(text *holdid, text *sku, int32 qty, const char *reason)
{
	Datum		args[4] = {PointerGetDatum(holdid), PointerGetDatum(sku), Int32GetDatum(qty),
	CStringGetTextDatum(reason)};

	AlFree(AlExecute(AL_STMT_RECORD_RELEASED, args, NULL, 0));
}
