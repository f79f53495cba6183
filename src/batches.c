/*-------------------------------------------------------------------------
 *
 * src/batches.c
 *		add_batch and change_batch_quantity, with the reallocation of the
 *		lines a shrunken batch can no longer hold.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/portal.h"
#include "utils/timestamp.h"

#include "allocation.h"

/* An order line or a hold line taken off a batch, waiting to be placed again. */
typedef struct TakenLine
{
	bool		is_hold;
	text	   *key;			/* orderid, or holdid */
	int32		qty;
	TimestampTz expires_at;		/* a hold's */
} TakenLine;

/* Rows read at a time from the batch's most recent lines and holds. */
#define TAKE_OFF_FETCH 64

/*
 * allocation.add_batch(ref text, sku text, qty integer, eta date DEFAULT NULL)
 * RETURNS void
 *
 * Adds a batch, creating the product on its first batch.  Takes no product
 * lock: a new batch cannot invalidate any allocation, so it never waits for
 * allocations of the same sku.  Raises 23505 when the reference exists.
 */
PG_FUNCTION_INFO_V1(allocation_add_batch);
Datum
allocation_add_batch(PG_FUNCTION_ARGS)
{
	text	   *ref = AlIdentifierArg(fcinfo, 0, "ref");
	text	   *sku = AlIdentifierArg(fcinfo, 1, "sku");
	int32		qty = AlQuantityArg(fcinfo, 2, "qty", 0);
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	args[0] = PointerGetDatum(ref);
	args[1] = PointerGetDatum(sku);
	args[2] = Int32GetDatum(qty);
	args[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	if (PG_ARGISNULL(3))
		nulls[3] = 'n';

	AlConnect();
	AlFree(AlExecute(AL_STMT_INSERT_PRODUCT, &args[1], NULL, 0));
	if (AlExecute(AL_STMT_INSERT_BATCH, args, nulls, 0).n == 0)
		AlBatchExists(ref);
	AlFinish();

	PG_RETURN_VOID();
}

/*
 * take_lines_off: take the batch's most recent lines and live holds off
 * until what it has allocated and held fits in purchased, recording
 * Deallocated for each line (a hold records its fate when placed again).
 * Returns the new allocated quantity, in *taken what was taken off in that
 * order, and in *held_taken the units of holds among it.  The caller holds
 * the product lock.
 *
 * One cursor walks down the batch's lines and holds, most recent first, so
 * the work is linear in what is taken off, however much the same
 * transaction took off before.
 */
static int32
take_lines_off(text *ref, text *sku, int32 allocated, int32 purchased, TimestampTz now,
			   List **taken, int32 *held_taken)
{
	Datum		args[2] = {PointerGetDatum(ref), TimestampTzGetDatum(now)};
	AlResult	held = AlExecute(AL_STMT_BATCH_HELD, args, NULL, 1);
	int64		excess;
	bool		isnull;
	Portal		portal;

	excess = (int64) allocated + DatumGetInt32(AlValue(held, 0, 1, &isnull)) - purchased;
	AlFree(held);
	if (excess <= 0)
		return allocated;

	portal = AlOpenCursor(AL_STMT_RECENT_ON_BATCH, args);
	while (excess > 0)
	{
		AlResult	recent = AlFetch(portal, TAKE_OFF_FETCH);
		uint64		row;

		if (recent.n == 0)
			elog(ERROR, "allocation: batch \"%s\" counts " INT64_FORMAT " units more than its lines and holds",
				 text_to_cstring(ref), excess);
		for (row = 0; row < recent.n && excess > 0; row++)
		{
			TakenLine  *line = palloc(sizeof(TakenLine));
			Datum		keys[2];

			CHECK_FOR_INTERRUPTS();
			line->is_hold = DatumGetBool(AlValue(recent, row, 1, &isnull));
			line->key = AlTextCopy(recent, row, 2);
			line->qty = DatumGetInt32(AlValue(recent, row, 3, &isnull));
			line->expires_at = DatumGetTimestampTz(AlValue(recent, row, 4, &isnull));

			keys[0] = PointerGetDatum(line->key);
			keys[1] = PointerGetDatum(sku);
			if (line->is_hold)
			{
				/* Its fate is recorded when it is placed again. */
				AlFree(AlExecute(AL_STMT_DELETE_HOLD, keys, NULL, 0));
				*held_taken += line->qty;
			}
			else
			{
				AlFree(AlExecute(AL_STMT_DELETE_LINE, keys, NULL, 0));
				allocated -= line->qty;
			}
			excess -= line->qty;
			*taken = lappend(*taken, line);
		}
		AlFree(recent);
	}
	AlCloseCursor(portal);
	return allocated;
}

/* A batch that may take lines again, and the room it has left. */
typedef struct Room
{
	text	   *batchref;
	int64		room;
	int64		added;			/* units of lines placed on it here */
} Room;

/*
 * place_again: place what a shrinking batch took off again, in the order
 * taken off, each on the first batch in rule order with room for it (back
 * on the shrunk batch if it fits): Allocated for a line, Held (with its
 * expiry) for a hold; OutOfStock for a line, Released (out_of_stock) for a
 * hold that fits nowhere.
 *
 * The batches' room is read once and kept here, and each batch's allocated
 * quantity updated once at the end: updating the same row once per line
 * would make each later read walk all its versions (quadratic time).
 */
static void
place_again(text *sku, List *taken, TimestampTz now)
{
	Datum		args[2] = {PointerGetDatum(sku), TimestampTzGetDatum(now)};
	AlResult	read;
	Room	   *rooms;
	int			nrooms;
	int			i;
	ListCell   *lc;

	if (taken == NIL)
		return;
	read = AlExecute(AL_STMT_BATCH_ROOM, args, NULL, 0);
	nrooms = (int) read.n;
	rooms = palloc0((nrooms + 1) * sizeof(Room));
	for (i = 0; i < nrooms; i++)
	{
		bool		isnull;

		rooms[i].batchref = AlTextCopy(read, i, 1);
		rooms[i].room = DatumGetInt32(AlValue(read, i, 2, &isnull));
	}
	AlFree(read);

	foreach(lc, taken)
	{
		TakenLine  *line = (TakenLine *) lfirst(lc);
		Room	   *fit = NULL;

		CHECK_FOR_INTERRUPTS();
		/* The rule on the rooms read in its order (BATCH_ROOM): the first that fits. */
		for (i = 0; i < nrooms && fit == NULL; i++)
		{
			if (rooms[i].room >= line->qty)
				fit = &rooms[i];
		}
		if (fit == NULL && line->is_hold)
			AlRecordReleased(line->key, sku, line->qty, "out_of_stock");
		else if (fit == NULL)
			AlRecordOutOfStock(sku);
		else
		{
			fit->room -= line->qty;
			if (line->is_hold)
				AlInsertHold(line->key, sku, line->qty, fit->batchref, line->expires_at, now);
			else
			{
				fit->added += line->qty;
				AlInsertLine(line->key, sku, line->qty, fit->batchref);
			}
		}
		pfree(line->key);
	}

	for (i = 0; i < nrooms; i++)
	{
		if (rooms[i].added > 0)
			AlAdjustBatch(rooms[i].batchref, (int32) rooms[i].added, 0, now);
	}
}

/*
 * allocation.change_batch_quantity(ref text, qty integer) RETURNS void
 *
 * Sets the batch's purchased quantity.  When its lines and live holds no
 * longer fit, the most recent of them are taken off until they do, then
 * each is placed again by the rule, in the order taken off (to
 * another batch, back to this one if it fits, or OutOfStock for a line and
 * Released, out_of_stock, for a hold, which keeps its expiry).  The
 * product's version goes up by one.  Raises AL002 for an unknown batch.
 * Locks the product.
 */
PG_FUNCTION_INFO_V1(allocation_change_batch_quantity);
Datum
allocation_change_batch_quantity(PG_FUNCTION_ARGS)
{
	text	   *ref = AlIdentifierArg(fcinfo, 0, "ref");
	int32		qty = AlQuantityArg(fcinfo, 1, "qty", 0);
	Datum		args[1] = {PointerGetDatum(ref)};
	AlResult	found;
	AlResult	quantities;
	bool		isnull;
	text	   *sku;
	int64		version;
	TimestampTz now;
	int32		allocated;
	int32		room;
	int32		held_taken = 0;
	Datum		set_args[4];
	List	   *taken = NIL;

	AlConnect();

	/* A batch never changes sku, so this read needs no lock. */
	found = AlExecute(AL_STMT_BATCH_SKU, args, NULL, 1);
	if (found.n == 0)
		ereport(ERROR,
				errcode(ERRCODE_AL_UNKNOWN_BATCH),
				errmsg("unknown batch \"%s\"", text_to_cstring(ref)));
	sku = AlTextCopy(found, 0, 1);
	AlFree(found);
	version = AlLockProduct(sku, true);
	now = AlClock();
	AlReclaimExpired(sku, now);

	/* Read under the lock: this is what we decide on. */
	quantities = AlExecute(AL_STMT_BATCH_QUANTITIES, args, NULL, 1);
	allocated = DatumGetInt32(AlValue(quantities, 0, 2, &isnull));
	AlFree(quantities);

	allocated = take_lines_off(ref, sku, allocated, qty, now, &taken, &held_taken);
	set_args[0] = PointerGetDatum(ref);
	set_args[1] = Int32GetDatum(qty);
	set_args[2] = Int32GetDatum(allocated);
	set_args[3] = Int32GetDatum(held_taken);
	quantities = AlExecute(AL_STMT_SET_BATCH_QUANTITIES, set_args, NULL, 1);
	room = DatumGetInt32(AlValue(quantities, 0, 1, &isnull));
	AlFree(quantities);
	/* What is left may still count expired holds: reclaim what is needed. */
	AlSettleBatch(ref, room, now);

	place_again(sku, taken, now);

	AlBumpVersion(sku, version);
	AlFinish();

	PG_RETURN_VOID();
}
