/*-------------------------------------------------------------------------
 *
 * src/stock.c
 *		Stock of a locked product: finding the lines and holds it has,
 *		placing new ones on the batch the rule picks, and keeping each batch
 *		within its stock (adjusting, settling, reclaiming expired holds).
 *
 * Every function here expects its products locked (product.c) and the
 * clock read under the locks.  A hold never has to be removed at its
 * expiry: every decision counts only the holds that are live at the clock
 * (expires_at after it, not confirmed), so an expired hold stops counting
 * the moment it expires, with no background process.  Rows of expired
 * holds are reclaimed lazily, each with its Released event: a bounded
 * number per product a call on holds locks (AlReclaimExpired), and whenever
 * their stock is needed (AlSettleBatch).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "datatype/timestamp.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * AlCheckLineQty: an order line allocated with line_qty may be allocated
 * again only with the same qty; else AL003.
 */
void
AlCheckLineQty(text *orderid, text *sku, int32 line_qty, int32 qty)
{
	if (line_qty != qty)
		ereport(ERROR,
				errcode(ERRCODE_AL_QTY_MISMATCH),
				errmsg("order line \"%s\"/\"%s\" is already allocated with qty %d",
					   text_to_cstring(orderid), text_to_cstring(sku), line_qty),
				errhint("Deallocate the line before allocating it with qty %d.", qty));
}

/*
 * AlCheckHoldQty: a hold line held with held_qty may be held again only
 * with the same qty; else AL003.
 */
void
AlCheckHoldQty(text *holdid, text *sku, int32 held_qty, int32 qty)
{
	if (held_qty != qty)
		ereport(ERROR,
				errcode(ERRCODE_AL_QTY_MISMATCH),
				errmsg("hold line \"%s\"/\"%s\" is already held with qty %d",
					   text_to_cstring(holdid), text_to_cstring(sku), held_qty),
				errhint("Release the hold before holding the line with qty %d.", qty));
}

/*
 * AlFindLine: whether the order line (orderid, sku) is allocated, and on
 * which batch (a palloc'd copy in *batchref); AL003 when it is, with another
 * qty.
 */
bool
AlFindLine(text *orderid, text *sku, int32 qty, text **batchref)
{
	Datum		args[2] = {PointerGetDatum(orderid), PointerGetDatum(sku)};
	AlResult	line = AlExecute(AL_STMT_FIND_LINE, args, NULL, 1);
	bool		isnull;

	if (line.n == 0)
		return false;
	AlCheckLineQty(orderid, sku, DatumGetInt32(AlValue(line, 0, 2, &isnull)), qty);
	*batchref = AlTextCopy(line, 0, 1);
	AlFree(line);
	return true;
}

/*
 * AlLineBatch: the batch the order line (orderid, sku) is allocated to now
 * (a palloc'd copy), or NULL when the order has no such line.
 */
text *
AlLineBatch(text *orderid, text *sku)
{
	Datum		args[2] = {PointerGetDatum(orderid), PointerGetDatum(sku)};
	AlResult	line = AlExecute(AL_STMT_FIND_LINE, args, NULL, 1);
	text	   *batchref = line.n > 0 ? AlTextCopy(line, 0, 1) : NULL;

	AlFree(line);
	return batchref;
}

/*
 * AlFindHold: whether the hold line (holdid, sku) exists and has not
 * expired by now (live, or confirmed), and on which batch (*batchref); AL003
 * when it does, with another qty.  An expired one is deleted here
 * (Released, expired, if it still held stock), so that the line can be held
 * afresh.
 *
 * For a line to hold afresh, *expires_at is when it expires: a hold expires
 * as a whole, so a line added to a live hold takes its expiry and no line of
 * a hold is ever reclaimed while another can still be confirmed; a new hold
 * expires ttl_usecs after now.  AL004 when the hold was confirmed already.
 */
bool
AlFindHold(text *holdid, text *sku, int32 qty, int64 ttl_usecs, TimestampTz now,
		   text **batchref, TimestampTz *expires_at)
{
	Datum		args[3] = {PointerGetDatum(holdid), PointerGetDatum(sku), TimestampTzGetDatum(now)};
	AlResult	hold = AlExecute(AL_STMT_FIND_HOLD, args, NULL, 1);
	bool		has_line;
	bool		hold_live;
	bool		isnull;
	bool		hold_confirmed;
	int32		held_qty;

	(void) AlValue(hold, 0, 1, &isnull);
	has_line = !isnull;
	*expires_at = DatumGetTimestampTz(AlValue(hold, 0, 5, &isnull));
	hold_live = !isnull;
	hold_confirmed = hold_live && DatumGetBool(AlValue(hold, 0, 6, &isnull));

	if (has_line && DatumGetTimestampTz(AlValue(hold, 0, 3, &isnull)) > now)
	{
		held_qty = DatumGetInt32(AlValue(hold, 0, 2, &isnull));
		AlCheckHoldQty(holdid, sku, held_qty, qty);
		*batchref = AlTextCopy(hold, 0, 1);
		AlFree(hold);
		return true;
	}
	AlFree(hold);

	if (has_line)
	{
		/* Expired: its row goes, with Released (expired) if it held stock. */
		Datum		release_args[4] = {PointerGetDatum(holdid), PointerGetDatum(sku),
		TimestampTzGetDatum(now), Int64GetDatum(0)};

		AlFree(AlExecute(AL_STMT_RELEASE_HOLD_LINE, release_args, NULL, 0));
	}
	if (hold_confirmed)
		ereport(ERROR,
				errcode(ERRCODE_AL_HOLD_NOT_LIVE),
				errmsg("hold \"%s\" was confirmed already", text_to_cstring(holdid)),
				errhint("Use a new hold for more lines."));
	if (!hold_live)
		*expires_at = now + ttl_usecs;
	return false;
}

/*
 * What the placing statement of a hold (AL_STMT_PLACE_HOLD) did: the
 * batch it chose (NULL: OutOfStock), the room the batch has left beside
 * all its holds, and the event it wrote (NULL when the batch must be
 * settled first).
 */
typedef struct Placed
{
	text	   *batchref;
	int32		room;
	bool		recorded;
} Placed;

/*
 * read_placed: what row 0 of a placing statement's result says (columns
 * batch, room, event, payload), notifying its event; frees the result.
 */
static Placed
read_placed(AlResult result)
{
	Placed		placed;
	bool		isnull;
	Datum		event = AlValue(result, 0, 3, &isnull);

	placed.batchref = AlTextCopy(result, 0, 1);
	placed.recorded = !isnull;
	placed.room = placed.batchref == NULL ? 0 : DatumGetInt32(AlValue(result, 0, 2, &isnull));
	if (placed.recorded)
		AlNotify(TextDatumGetCString(event), AlValue(result, 0, 4, &isnull));
	AlFree(result);
	return placed;
}

/*
 * AlPlaceLine: allocate the order line (orderid, sku) of qty to the best
 * batch that can take it at clock now, with its Allocated event, the
 * product's version going from version to the next; or record OutOfStock.
 * Returns a palloc'd copy of the batch reference, or NULL.  The caller
 * knows the order has no such line (AlFindLine).
 *
 * Three short statements (the stock taken from the batch, the line with
 * its event, the version), not one: 1.3 to 1.5 did all of it, the line's
 * lookup included, in one statement of five parts, which measured slower
 * (README, Performance).
 */
text *
AlPlaceLine(text *orderid, text *sku, int32 qty, int64 version, TimestampTz now)
{
	Datum		args[3] = {PointerGetDatum(sku), Int32GetDatum(qty), TimestampTzGetDatum(now)};
	AlResult	taken = AlExecute(AL_STMT_ALLOCATE, args, NULL, 1);
	text	   *batchref;
	int32		room;
	bool		isnull;

	if (taken.n == 0)
	{
		AlFree(taken);
		AlRecordOutOfStock(sku);
		return NULL;
	}
	batchref = AlTextCopy(taken, 0, 1);
	room = DatumGetInt32(AlValue(taken, 0, 2, &isnull));
	AlFree(taken);
	AlSettleBatch(batchref, room, now);
	AlInsertLine(orderid, sku, qty, batchref);
	AlBumpVersion(sku, version);
	return batchref;
}

/*
 * AlFreeLine: free the order line (orderid, sku) of a locked product whose
 * version was read as version, with its Deallocated event.  Returns a
 * palloc'd copy of the batch it held, or NULL when the order has no such
 * line.  Freeing stock never leaves a batch short: nothing to settle.
 */
text *
AlFreeLine(text *orderid, text *sku, int64 version)
{
	Datum		args[3] = {PointerGetDatum(orderid), PointerGetDatum(sku),
	Int64GetDatum(AlNextVersion(sku, version))};
	AlResult	freed = AlExecute(AL_STMT_DEALLOCATE, args, NULL, 0);
	text	   *batchref = freed.n > 0 ? AlTextCopy(freed, 0, 1) : NULL;

	AlFree(freed);
	return batchref;
}

/*
 * AlPlaceHold: hold qty of sku until expires_at on the batch the rule picks
 * at clock now, with its Held event, the product's version going from
 * version to the next; or record OutOfStock.  Returns a palloc'd copy of
 * the batch reference, or NULL.  The caller knows the line is not held.
 */
text *
AlPlaceHold(text *holdid, text *sku, int32 qty, TimestampTz expires_at, int64 version,
			TimestampTz now)
{
	Datum		args[6] = {PointerGetDatum(holdid), PointerGetDatum(sku), Int32GetDatum(qty),
		TimestampTzGetDatum(now), TimestampTzGetDatum(expires_at),
	Int64GetDatum(AlNextVersion(sku, version))};
	Placed		placed = read_placed(AlExecute(AL_STMT_PLACE_HOLD, args, NULL, 0));

	if (placed.batchref != NULL && !placed.recorded)
	{
		AlSettleBatch(placed.batchref, placed.room, now);
		AlRecordHeld(holdid, sku, qty, placed.batchref, expires_at);
	}
	return placed.batchref;
}

/*
 * AlInsertLine: record the order line (orderid, sku) of qty on batchref,
 * with its Allocated event.  The caller counts qty in the batch's
 * allocated_quantity.
 */
void
AlInsertLine(text *orderid, text *sku, int32 qty, text *batchref)
{
	Datum		args[4] = {PointerGetDatum(orderid), PointerGetDatum(sku), Int32GetDatum(qty),
	PointerGetDatum(batchref)};
	AlResult	inserted = AlExecute(AL_STMT_INSERT_LINE, args, NULL, 0);
	bool		isnull;

	AlNotify("Allocated", AlValue(inserted, 0, 1, &isnull));
	AlFree(inserted);
}

/*
 * AlInsertHold: record the hold line (holdid, sku) of qty on batchref until
 * expires_at, counted in the batch's holds_quantity (settled at clock now),
 * then its Held event.  The caller knows the batch has room for it.
 */
void
AlInsertHold(text *holdid, text *sku, int32 qty, text *batchref, TimestampTz expires_at,
			 TimestampTz now)
{
	Datum		args[5] = {PointerGetDatum(holdid), PointerGetDatum(sku), Int32GetDatum(qty),
	PointerGetDatum(batchref), TimestampTzGetDatum(expires_at)};
	AlResult	adjusted = AlExecute(AL_STMT_INSERT_HOLD, args, NULL, 1);
	bool		isnull;
	int32		room = DatumGetInt32(AlValue(adjusted, 0, 1, &isnull));

	AlFree(adjusted);
	AlSettleBatch(batchref, room, now);
	AlRecordHeld(holdid, sku, qty, batchref, expires_at);
}

/*
 * AlAdjustBatch: count allocated more units (fewer when negative) on a
 * batch and held more, then settle it (AlSettleBatch).
 */
void
AlAdjustBatch(text *batchref, int32 allocated, int32 held, TimestampTz now)
{
	Datum		args[3] = {PointerGetDatum(batchref), Int32GetDatum(allocated), Int32GetDatum(held)};
	AlResult	adjusted = AlExecute(AL_STMT_ADJUST_BATCH, args, NULL, 1);
	bool		isnull;
	int32		room = DatumGetInt32(AlValue(adjusted, 0, 1, &isnull));

	AlFree(adjusted);
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
	AlResult	reclaimed;
	bool		isnull;
	int64		freed;

	if (room >= 0)
		return;
	args[0] = PointerGetDatum(batchref);
	args[1] = TimestampTzGetDatum(now);
	args[2] = Int64GetDatum(-(int64) room);
	reclaimed = AlExecute(AL_STMT_RECLAIM_ON_BATCH, args, NULL, 1);
	freed = DatumGetInt64(AlValue(reclaimed, 0, 1, &isnull));
	AlFree(reclaimed);
	if (freed < -(int64) room)
		elog(ERROR, "allocation: batch \"%s\" is short of " INT64_FORMAT " units beside its live holds",
			 text_to_cstring(batchref), -(int64) room - freed);
}

/*
 * AlReclaimExpired: delete up to AL_RECLAIM_PER_CALL of a locked product's
 * holds that expired by now, earliest first, recording Released (reason
 * expired) for those that still held stock.  Expired holds count for
 * nothing already; this only keeps their rows from piling up, so only the
 * calls on holds and change_batch_quantity do it.  A probe goes first:
 * nearly always none has expired, and the reclaiming statement costs more
 * to start than the probe to run.
 */
void
AlReclaimExpired(text *sku, TimestampTz now)
{
	Datum		args[3] = {PointerGetDatum(sku), TimestampTzGetDatum(now),
	Int64GetDatum(AL_RECLAIM_PER_CALL)};
	AlResult	probe = AlExecute(AL_STMT_ANY_EXPIRED, args, NULL, 1);
	bool		isnull;
	bool		any = DatumGetBool(AlValue(probe, 0, 1, &isnull));

	AlFree(probe);
	if (any)
		AlFree(AlExecute(AL_STMT_RECLAIM_EXPIRED, args, NULL, 1));
}

/*
 * AlShortLines: record OutOfStock for every new line (not held) of an
 * order that no batch can take at clock now.  Returns true when there was
 * any.  nnew is the number of new lines.
 */
bool
AlShortLines(AlOrderLine *lines, int nlines, int nnew, TimestampTz now)
{
	Datum	   *skus = palloc(nnew * sizeof(Datum));
	Datum	   *qtys = palloc(nnew * sizeof(Datum));
	Datum		args[3];
	AlResult	recorded;
	uint64		row;
	int			n = 0;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		if (lines[i].held)
			continue;
		skus[n] = PointerGetDatum(lines[i].sku);
		qtys[n] = Int32GetDatum(lines[i].qty);
		n++;
	}
	args[0] = PointerGetDatum(construct_array(skus, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[1] = PointerGetDatum(construct_array(qtys, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
	args[2] = TimestampTzGetDatum(now);
	pfree(skus);
	pfree(qtys);

	recorded = AlExecute(AL_STMT_SHORT_LINES, args, NULL, 0);
	for (row = 0; row < recorded.n; row++)
	{
		bool		isnull;

		AlNotify("OutOfStock", AlValue(recorded, row, 1, &isnull));
	}
	AlFree(recorded);
	return recorded.n > 0;
}
