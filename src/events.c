/*-------------------------------------------------------------------------
 *
 * src/events.c
 *		The outbox: appending domain events to allocation.events, which
 *		logical decoding delivers (see stream.c), and, for sessions with
 *		allocation.notify on, queueing a NOTIFY that leaves at commit.
 *
 * Payloads are built here in C rather than with SQL json functions, so no
 * function a caller could shadow is ever looked up.  The NOTIFY payload is
 * the jsonb's own text, identical to payload::text in the outbox.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * Scratch memory for building one event, reset after each so that moving
 * many lines in one call does not pile up payloads.
 */
static MemoryContext event_context = NULL;

/*
 * begin_event: switch to scratch memory and open the JSON object.
 * Returns the context to switch back to.
 */
static MemoryContext
begin_event(StringInfo payload)
{
	MemoryContext old;

	if (event_context == NULL)
		event_context = AllocSetContextCreate(TopMemoryContext,
											  "allocation events",
											  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(event_context);	/* in case an error cut the last one short */
	old = MemoryContextSwitchTo(event_context);
	initStringInfo(payload);
	appendStringInfoChar(payload, '{');
	return old;
}

/*
 * add_text_field: append "key": "value" with JSON escaping.
 */
static void
add_text_field(StringInfo payload, const char *key, text *value)
{
	if (payload->len > 1)
		appendStringInfoString(payload, ", ");
	escape_json(payload, key);
	appendStringInfoString(payload, ": ");
	escape_json(payload, text_to_cstring(value));
}

/*
 * finish_event: close the payload, append the event to the outbox and,
 * when channel is given, queue a NOTIFY of the payload on it.  Then leave
 * scratch memory for old.
 */
static void
finish_event(MemoryContext old, const char *event, StringInfo payload,
			 const char *channel)
{
	Datum		args[2];

	appendStringInfoChar(payload, '}');
	args[0] = CStringGetTextDatum(event);
	args[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(payload->data));
	AlExecute(AL_STMT_INSERT_EVENT, args, NULL, 0);
	MemoryContextSwitchTo(event_context);	/* SPI returns to its own */

	/* Async_Notify copies the payload; it leaves at commit, or never. */
	if (channel != NULL && AlNotifyEnabled)
		Async_Notify(channel, DatumGetCString(DirectFunctionCall1(jsonb_out, args[1])));

	MemoryContextSwitchTo(old);
	MemoryContextReset(event_context);
}

/*
 * AlRecordAllocated: Allocated {"orderid", "sku", "qty", "batchref"},
 * notified on line_allocated.
 */
void
AlRecordAllocated(text *orderid, text *sku, int32 qty, text *batchref)
{
	StringInfoData payload;
	MemoryContext old = begin_event(&payload);

	add_text_field(&payload, "orderid", orderid);
	add_text_field(&payload, "sku", sku);
	appendStringInfo(&payload, ", \"qty\": %d", qty);
	add_text_field(&payload, "batchref", batchref);
	finish_event(old, "Allocated", &payload, "line_allocated");
}

/*
 * AlRecordDeallocated: Deallocated {"orderid", "sku", "qty"}, not notified.
 */
void
AlRecordDeallocated(text *orderid, text *sku, int32 qty)
{
	StringInfoData payload;
	MemoryContext old = begin_event(&payload);

	add_text_field(&payload, "orderid", orderid);
	add_text_field(&payload, "sku", sku);
	appendStringInfo(&payload, ", \"qty\": %d", qty);
	finish_event(old, "Deallocated", &payload, NULL);
}

/*
 * add_timestamp_field: append "key": "<UTC time in ISO 8601>", the same
 * whatever the session's DateStyle and TimeZone.
 */
static void
add_timestamp_field(StringInfo payload, const char *key, TimestampTz value)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(value, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				errmsg("timestamp out of range"));
	appendStringInfoString(payload, ", ");
	escape_json(payload, key);
	appendStringInfo(payload, ": \"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fsec);
}

/*
 * AlRecordHeld: Held {"holdid", "sku", "qty", "batchref", "expires_at"},
 * not notified.
 */
void
AlRecordHeld(text *holdid, text *sku, int32 qty, text *batchref, TimestampTz expires_at)
{
	StringInfoData payload;
	MemoryContext old = begin_event(&payload);

	add_text_field(&payload, "holdid", holdid);
	add_text_field(&payload, "sku", sku);
	appendStringInfo(&payload, ", \"qty\": %d", qty);
	add_text_field(&payload, "batchref", batchref);
	add_timestamp_field(&payload, "expires_at", expires_at);
	finish_event(old, "Held", &payload, NULL);
}

/*
 * AlRecordReleased: Released {"holdid", "sku", "qty", "reason"}, reason
 * one of released, expired, confirmed, out_of_stock; not notified.
 */
void
AlRecordReleased(text *holdid, text *sku, int32 qty, const char *reason)
{
	StringInfoData payload;
	MemoryContext old = begin_event(&payload);

	add_text_field(&payload, "holdid", holdid);
	add_text_field(&payload, "sku", sku);
	appendStringInfo(&payload, ", \"qty\": %d, \"reason\": ", qty);
	escape_json(&payload, reason);
	finish_event(old, "Released", &payload, NULL);
}

/*
 * AlRecordOutOfStock: OutOfStock {"sku"}, notified on out_of_stock.
 */
void
AlRecordOutOfStock(text *sku)
{
	StringInfoData payload;
	MemoryContext old = begin_event(&payload);

	add_text_field(&payload, "sku", sku);
	finish_event(old, "OutOfStock", &payload, "out_of_stock");
}
