/*-------------------------------------------------------------------------
 *
 * src/holds.c
 *		Holds: stock reserved for a checkout until it expires, confirmed
 *		into order lines or released.  hold, confirm_hold, release_hold, the
 *		clock they expire by and the lazy reclaiming of expired holds.
 *
 * A hold never has to be removed at its expiry: every decision counts only
 * the holds that are live at the clock (expires_at after it, not
 * confirmed), so an expired hold stops counting the moment it expires, with
 * no background process.  The rows of expired holds are reclaimed lazily, a
 * bounded number per product a call locks, each with its Released event.
 *
 * The clock is the time, read once a call holds its product locks, plus
 * allocation.clock_offset (settable by a superuser only, for tests).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/* A line of a hold, as read under the locks of its products. */
typedef struct HoldLine
{
	text	   *sku;
	int32		qty;
	text	   *batchref;
	TimestampTz expires_at;
	text	   *orderid;		/* the order it was confirmed into, or NULL */
} HoldLine;

/*
 * with_offset: a time moved forward by allocation.clock_offset.
 */
static TimestampTz
with_offset(TimestampTz time)
{
	return time + (TimestampTz) AlClockOffsetSeconds * USECS_PER_SEC;
}

/*
 * AlClock: the clock holds expire by, for a call that holds its locks.
 */
TimestampTz
AlClock(void)
{
	return with_offset(GetCurrentTimestamp());
}

/*
 * allocation.clock() RETURNS timestamptz
 *
 * The clock the read side judges holds by: the start of the statement plus
 * allocation.clock_offset.
 */
PG_FUNCTION_INFO_V1(allocation_clock);
Datum
allocation_clock(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(with_offset(GetCurrentStatementStartTimestamp()));
}

/*
 * AlReclaimExpired: delete up to AL_RECLAIM_PER_CALL of a locked product's
 * holds that expired by now, earliest first, recording Released (reason
 * expired) for those that still held stock.  Expired holds count for
 * nothing already; this only keeps their rows from piling up, so only the
 * calls on holds do it (an allocation reclaims only the expired holds whose
 * stock it needs: AlSettleBatch).
 */
void
AlReclaimExpired(text *sku, TimestampTz now)
{
	Datum		args[2] = {PointerGetDatum(sku), TimestampTzGetDatum(now)};
	SPITupleTable *gone;
	uint64		n;
	uint64		row;

	n = AlExecute(AL_STMT_RECLAIM_EXPIRED, args, NULL, 0);
	gone = SPI_tuptable;
	for (row = 0; row < n; row++)
	{
		bool		isnull;
		HeapTuple	tuple = gone->vals[row];

		if (DatumGetBool(SPI_getbinval(tuple, gone->tupdesc, 3, &isnull)))
			AlRecordReleased(DatumGetTextPP(SPI_getbinval(tuple, gone->tupdesc, 1, &isnull)), sku,
							 DatumGetInt32(SPI_getbinval(tuple, gone->tupdesc, 2, &isnull)),
							 "expired");
	}
	if (n > 0)
		SPI_freetuptable(gone);
}

/*
 * AlAdjustBatch: count allocated more units (fewer when negative) on a
 * locked product's batch and held more, then settle it (AlSettleBatch).
 */
void
AlAdjustBatch(text *batchref, int32 allocated, int32 held, TimestampTz now)
{
	Datum		args[3] = {PointerGetDatum(batchref), Int32GetDatum(allocated), Int32GetDatum(held)};
	bool		isnull;
	int32		room;

	AlExecute(AL_STMT_ADJUST_BATCH, args, NULL, 1);
	room = DatumGetInt32(AlValue(0, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	AlSettleBatch(batchref, room, now);
}

/*
 * AlSettleBatch: when a batch has less than nothing left beside its lines
 * and all its holds (room < 0), the stock of some expired holds is needed:
 * reclaim them, earliest first (Released, expired), at most -room of them.
 * The rule only put something there because live holds left room, so they
 * cover it.
 */
void
AlSettleBatch(text *batchref, int32 room, TimestampTz now)
{
	Datum		args[3];
	SPITupleTable *gone;
	uint64		n;
	uint64		row;
	int64		freed = 0;

	if (room >= 0)
		return;
	args[0] = PointerGetDatum(batchref);
	args[1] = TimestampTzGetDatum(now);
	args[2] = Int64GetDatum(-(int64) room);
	n = AlExecute(AL_STMT_RECLAIM_ON_BATCH, args, NULL, 0);
	gone = SPI_tuptable;
	for (row = 0; row < n; row++)
	{
		bool		isnull;
		HeapTuple	tuple = gone->vals[row];
		int32		qty = DatumGetInt32(SPI_getbinval(tuple, gone->tupdesc, 3, &isnull));

		AlRecordReleased(DatumGetTextPP(SPI_getbinval(tuple, gone->tupdesc, 1, &isnull)),
						 DatumGetTextPP(SPI_getbinval(tuple, gone->tupdesc, 2, &isnull)),
						 qty, "expired");
		freed += qty;
	}
	if (n > 0)
		SPI_freetuptable(gone);
	if (freed < -(int64) room)
		elog(ERROR, "allocation: batch %s is short of " INT64_FORMAT " units beside its live holds",
			 text_to_cstring(batchref), -(int64) room - freed);
}

/*
 * AlFindHold: whether the hold line (holdid, sku) exists and has not
 * expired by now (live, or confirmed), and on which batch; AL003 when it
 * does, with another qty.  An expired one is deleted here (Released,
 * expired, if it still held stock), so that the line can be held afresh.
 */
bool
AlFindHold(text *holdid, text *sku, int32 qty, TimestampTz now, text **batchref)
{
	Datum		args[2] = {PointerGetDatum(holdid), PointerGetDatum(sku)};
	bool		isnull;
	bool		unconfirmed;
	int32		held_qty;

	if (AlExecute(AL_STMT_FIND_HOLD, args, NULL, 1) == 0)
		return false;
	held_qty = DatumGetInt32(AlValue(0, 2, &isnull));
	(void) AlValue(0, 4, &unconfirmed);
	if (DatumGetTimestampTz(AlValue(0, 3, &isnull)) <= now)
	{
		text	   *held_on = DatumGetTextPCopy(AlValue(0, 1, &isnull));

		SPI_freetuptable(SPI_tuptable);
		AlExecute(AL_STMT_DELETE_HOLD, args, NULL, 0);
		if (unconfirmed)
		{
			AlAdjustBatch(held_on, 0, -held_qty, now);
			AlRecordReleased(holdid, sku, held_qty, "expired");
		}
		return false;
	}
	if (held_qty != qty)
		ereport(ERROR,
				errcode(ERRCODE_AL_QTY_MISMATCH),
				errmsg("hold line %s/%s is already held with qty %d",
					   text_to_cstring(holdid), text_to_cstring(sku), held_qty),
				errhint("Release the hold before holding the line with qty %d.", qty));
	/* A copy, so that an order keeps no result per line. */
	*batchref = DatumGetTextPCopy(AlValue(0, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * hold_expiry: when a new line of the hold expires.  A hold expires as a
 * whole: a line added to a live hold takes its expiry, so no line of a hold
 * is ever reclaimed while another can still be confirmed.  A new hold
 * expires ttl_usecs after now.  AL004 for a hold confirmed already.
 */
static TimestampTz
hold_expiry(text *holdid, int64 ttl_usecs, TimestampTz now)
{
	Datum		args[2] = {PointerGetDatum(holdid), TimestampTzGetDatum(now)};
	bool		isnull;
	bool		unconfirmed;
	TimestampTz expires_at;

	if (AlExecute(AL_STMT_HOLD_EXPIRY, args, NULL, 1) == 0)
		return now + ttl_usecs;
	expires_at = DatumGetTimestampTz(AlValue(0, 1, &isnull));
	(void) AlValue(0, 2, &unconfirmed);
	SPI_freetuptable(SPI_tuptable);
	if (!unconfirmed)
		ereport(ERROR,
				errcode(ERRCODE_AL_HOLD_NOT_LIVE),
				errmsg("hold %s was confirmed already", text_to_cstring(holdid)),
				errhint("Use a new hold for more lines."));
	return expires_at;
}

/*
 * place_hold: hold qty of a locked product until expires_at on the batch the
 * rule picks at clock now, and record Held.  Returns a palloc'd copy of the
 * batch reference, or NULL (recording nothing) when no batch can take it.
 */
static text *
place_hold(text *holdid, text *sku, int32 qty, TimestampTz expires_at, TimestampTz now)
{
	Datum		args[3];
	bool		isnull;
	text	   *batchref;

	args[0] = PointerGetDatum(sku);
	args[1] = Int32GetDatum(qty);
	args[2] = TimestampTzGetDatum(now);
	if (AlExecute(AL_STMT_BEST_BATCH, args, NULL, 1) == 0)
		return NULL;
	batchref = DatumGetTextPCopy(AlValue(0, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);

	AlInsertHold(holdid, sku, qty, batchref, expires_at, now);
	return batchref;
}

/*
 * AlInsertHold: record the hold line (holdid, sku) of qty on batchref until
 * expires_at, count it in the batch's holds_quantity (settling the batch at
 * clock now), and record Held.  The caller knows the batch has room.
 */
void
AlInsertHold(text *holdid, text *sku, int32 qty, text *batchref, TimestampTz expires_at,
			 TimestampTz now)
{
	Datum		args[5];

	args[0] = PointerGetDatum(holdid);
	args[1] = PointerGetDatum(sku);
	args[2] = Int32GetDatum(qty);
	args[3] = PointerGetDatum(batchref);
	args[4] = TimestampTzGetDatum(expires_at);
	AlExecute(AL_STMT_INSERT_HOLD, args, NULL, 0);
	AlAdjustBatch(batchref, 0, qty, now);
	AlRecordHeld(holdid, sku, qty, batchref, expires_at);
}

/*
 * AlPlaceHold: a new line of a hold (place_hold), expiring with the hold
 * (hold_expiry); OutOfStock when no batch can take it.  The caller holds
 * the product lock and knows the line is not held.
 */
text *
AlPlaceHold(text *holdid, text *sku, int32 qty, int64 ttl_usecs, TimestampTz now)
{
	text	   *batchref = place_hold(holdid, sku, qty, hold_expiry(holdid, ttl_usecs, now), now);

	if (batchref == NULL)
		AlRecordOutOfStock(sku);
	return batchref;
}

/*
 * allocation.hold(holdid text, sku text, qty integer, ttl interval)
 * RETURNS text
 *
 * Holds qty of sku on the batch the rule of allocate picks, until ttl from
 * now, and returns its reference; NULL (and OutOfStock) when no batch can
 * take it.  Holding the line (holdid, sku) again with the same qty returns
 * its batch and keeps its expiry; another qty is AL003.  A line added to a
 * live hold expires with it (hold_expiry).  Raises 22023 for a
 * ttl that is not more than 0 and at most a day.  Locks the product.
 */
PG_FUNCTION_INFO_V1(allocation_hold);
Datum
allocation_hold(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	text	   *sku = AlIdentifierArg(fcinfo, 1, "sku");
	int32		qty = AlQuantityArg(fcinfo, 2, "qty", 1);
	int64		ttl_usecs = AlTtlArg(fcinfo, 3, "ttl");
	int64		version;
	TimestampTz now;
	text	   *batchref;

	AlConnect();
	version = AlTakeProduct(sku, &now, true);
	if (!AlFindHold(holdid, sku, qty, now, &batchref))
	{
		batchref = AlPlaceHold(holdid, sku, qty, ttl_usecs, now);
		if (batchref != NULL)
			AlBumpVersion(sku, version);
	}

	if (batchref != NULL)
		batchref = (text *) DatumGetPointer(SPI_datumTransfer(PointerGetDatum(batchref), false, -1));
	AlFinish();

	if (batchref == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(batchref);
}

/*
 * lock_hold: lock the products of a hold's lines in byte order of sku (the
 * order of allocate_order), read the clock, then read the hold's lines
 * under the locks.  (No reclaiming here: a confirm must see every line of
 * the hold to refuse an expired one.)  Returns how many; the
 * lines are in byte order of sku, and versions[i] is the version of
 * (*lines)[i]'s product.
 *
 * The skus are read before the locks, so a line added meanwhile is locked
 * after the others, out of order; such a race with itself is the caller's.
 */
static int
lock_hold(text *holdid, HoldLine **lines, int64 **versions, TimestampTz *now)
{
	Datum		args[1] = {PointerGetDatum(holdid)};
	AlOrderLine *products;
	uint64		nproducts;
	uint64		n;
	uint64		row;
	int			nlocked;
	int			i;
	bool		isnull;
	SPITupleTable *read;

	nproducts = AlExecute(AL_STMT_HOLD_SKUS, args, NULL, 0);
	products = palloc0(Max(nproducts, 1) * sizeof(AlOrderLine));
	for (row = 0; row < nproducts; row++)
		products[row].sku = DatumGetTextPP(AlValue(row, 1, &isnull));
	nlocked = AlSortLines(products, (int) nproducts, true);
	for (i = 0; i < nlocked; i++)
	{
		CHECK_FOR_INTERRUPTS();
		products[i].version = AlLockProduct(products[i].sku, nlocked == 1);
	}
	*now = AlClock();

	/* Both in byte order of sku: one walk pairs each line with its product. */
	n = AlExecute(AL_STMT_HOLD_LINES, args, NULL, 0);
	read = SPI_tuptable;
	*lines = palloc0(Max(n, 1) * sizeof(HoldLine));
	*versions = palloc0(Max(n, 1) * sizeof(int64));
	i = 0;
	for (row = 0; row < n; row++)
	{
		HeapTuple	tuple = read->vals[row];
		HoldLine   *line = &(*lines)[row];

		line->sku = DatumGetTextPP(SPI_getbinval(tuple, read->tupdesc, 1, &isnull));
		line->qty = DatumGetInt32(SPI_getbinval(tuple, read->tupdesc, 2, &isnull));
		line->batchref = DatumGetTextPP(SPI_getbinval(tuple, read->tupdesc, 3, &isnull));
		line->expires_at = DatumGetTimestampTz(SPI_getbinval(tuple, read->tupdesc, 4, &isnull));
		line->orderid = (text *) DatumGetPointer(SPI_getbinval(tuple, read->tupdesc, 5, &isnull));
		if (isnull)
			line->orderid = NULL;
		while (i < nlocked && AlCompareBytes(products[i].sku, line->sku) < 0)
			i++;
		if (i < nlocked && AlCompareBytes(products[i].sku, line->sku) == 0)
			(*versions)[row] = products[i].version;
		else
			(*versions)[row] = AlLockProduct(line->sku, false);
	}
	return (int) n;
}

/*
 * hold_not_live: AL004 naming the hold.
 */
static void
hold_not_live(text *holdid, const char *why)
{
	ereport(ERROR,
			errcode(ERRCODE_AL_HOLD_NOT_LIVE),
			errmsg("hold %s %s", text_to_cstring(holdid), why));
}

/*
 * allocation.confirm_hold(holdid text, orderid text)
 * RETURNS TABLE (sku text, batchref text)
 *
 * Turns every line of a live hold into an allocated line of orderid on the
 * same batch (Released, confirmed, then Allocated for each), atomically, and
 * returns the lines in byte order of sku.  Confirming the same hold again
 * for the same order returns the same rows and changes nothing.
 *
 * Raises AL004, changing nothing, when the hold does not exist, when any of
 * its lines has expired, or when it was confirmed for another order; AL003
 * when the order already has a line of one of its skus.  Locks the hold's
 * products in byte order of sku.
 */
PG_FUNCTION_INFO_V1(allocation_confirm_hold);
Datum
allocation_confirm_hold(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	text	   *orderid = AlIdentifierArg(fcinfo, 1, "orderid");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HoldLine   *lines;
	int64	   *versions;
	TimestampTz now;
	int			nlines;
	int			nconfirmed = 0;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	AlConnect();
	nlines = lock_hold(holdid, &lines, &versions, &now);

	if (nlines == 0)
		hold_not_live(holdid, "does not exist");
	for (i = 0; i < nlines; i++)
	{
		if (lines[i].expires_at <= now)
			hold_not_live(holdid, "has expired");
		if (lines[i].orderid != NULL)
		{
			if (AlCompareBytes(lines[i].orderid, orderid) != 0)
				ereport(ERROR,
						errcode(ERRCODE_AL_HOLD_NOT_LIVE),
						errmsg("hold %s was confirmed for order %s",
							   text_to_cstring(holdid), text_to_cstring(lines[i].orderid)));
			nconfirmed++;
		}
	}

	/* Confirmed as a whole or not at all, so all lines are or none is. */
	if (nconfirmed == 0)
	{
		for (i = 0; i < nlines; i++)
		{
			HoldLine   *line = &lines[i];
			Datum		args[4];

			CHECK_FOR_INTERRUPTS();
			args[0] = PointerGetDatum(orderid);
			args[1] = PointerGetDatum(line->sku);
			if (AlExecute(AL_STMT_FIND_LINE, args, NULL, 1) > 0)
				ereport(ERROR,
						errcode(ERRCODE_AL_QTY_MISMATCH),
						errmsg("order line %s/%s is already allocated",
							   text_to_cstring(orderid), text_to_cstring(line->sku)),
						errhint("Deallocate the line before confirming hold %s into order %s.",
								text_to_cstring(holdid), text_to_cstring(orderid)));

			args[0] = PointerGetDatum(holdid);
			args[1] = PointerGetDatum(line->sku);
			args[2] = PointerGetDatum(orderid);
			AlExecute(AL_STMT_CONFIRM_HOLD_LINE, args, NULL, 0);
			AlRecordReleased(holdid, line->sku, line->qty, "confirmed");

			/* The hold counted against the batch, so the line fits there. */
			AlAdjustBatch(line->batchref, line->qty, -line->qty, now);
			AlInsertLine(orderid, line->sku, line->qty, line->batchref);
			AlBumpVersion(line->sku, versions[i]);
		}
	}
	else if (nconfirmed != nlines)
		elog(ERROR, "allocation: hold %s is partly confirmed", text_to_cstring(holdid));

	for (i = 0; i < nlines; i++)
	{
		Datum		values[2] = {PointerGetDatum(lines[i].sku), PointerGetDatum(lines[i].batchref)};
		bool		nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AlFinish();
	return (Datum) 0;
}

/*
 * allocation.release_hold(holdid text) RETURNS integer
 *
 * Frees every live line of the hold (Released, released) and returns how
 * many; 0 for an unknown hold.  Lines that expired are reclaimed on the way
 * (Released, expired) and not counted; confirmed lines are order lines now
 * and stay (deallocate frees them).  Locks the hold's products in byte
 * order of sku.
 */
PG_FUNCTION_INFO_V1(allocation_release_hold);
Datum
allocation_release_hold(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	HoldLine   *lines;
	int64	   *versions;
	TimestampTz now;
	int			nlines;
	int			released = 0;
	int			i;

	AlConnect();
	nlines = lock_hold(holdid, &lines, &versions, &now);
	for (i = 0; i < nlines; i++)
	{
		Datum		args[2] = {PointerGetDatum(holdid), PointerGetDatum(lines[i].sku)};

		if (lines[i].orderid != NULL)
			continue;
		CHECK_FOR_INTERRUPTS();
		AlExecute(AL_STMT_DELETE_HOLD, args, NULL, 0);
		AlAdjustBatch(lines[i].batchref, 0, -lines[i].qty, now);
		if (lines[i].expires_at <= now)
			AlRecordReleased(holdid, lines[i].sku, lines[i].qty, "expired");
		else
		{
			AlRecordReleased(holdid, lines[i].sku, lines[i].qty, "released");
			AlBumpVersion(lines[i].sku, versions[i]);
			released++;
		}
	}
	AlFinish();
	PG_RETURN_INT32(released);
}
