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

#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"

#include "allocation.h"

/* An order line taken off a batch, waiting to be allocated again. */
typedef struct TakenLine
{
	text	   *orderid;
	int32		qty;
} TakenLine;

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
	AlExecute(AL_STMT_INSERT_PRODUCT, &args[1], NULL, 0);
	if (AlExecute(AL_STMT_INSERT_BATCH, args, nulls, 0) == 0)
		ereport(ERROR,
				errcode(ERRCODE_UNIQUE_VIOLATION),
				errmsg("batch %s already exists", text_to_cstring(ref)));
	AlFinish();

	PG_RETURN_VOID();
}

/*
 * take_lines_off: remove the batch's most recently allocated lines until
 * its allocated quantity is at most purchased, recording Deallocated for
 * each.  Returns the new allocated quantity and, in *taken, the lines in
 * the order they were taken off.  The caller holds the product lock.
 */
static int32
take_lines_off(text *ref, text *sku, int32 allocated, int32 purchased, List **taken)
{
	Datum		args[1] = {PointerGetDatum(ref)};
	bool		isnull;

	while (allocated > purchased)
	{
		TakenLine  *line = palloc(sizeof(TakenLine));

		CHECK_FOR_INTERRUPTS();
		if (AlExecute(AL_STMT_TAKE_LATEST_LINE, args, NULL, 0) == 0)
			elog(ERROR, "allocation: batch %s is allocated %d units but holds no line",
				 text_to_cstring(ref), allocated);
		line->orderid = DatumGetTextPCopy(AlValue(0, 1, &isnull));
		line->qty = DatumGetInt32(AlValue(0, 2, &isnull));
		SPI_freetuptable(SPI_tuptable);

		allocated -= line->qty;
		AlRecordDeallocated(line->orderid, sku, line->qty);
		*taken = lappend(*taken, line);
	}
	return allocated;
}

/*
 * allocation.change_batch_quantity(ref text, qty integer) RETURNS void
 *
 * Sets the batch's purchased quantity.  When that leaves the batch
 * over-allocated, its most recently allocated lines are taken off until it
 * is not, then each is allocated again by the usual rule, in the order taken
 * off (to another batch, back to this one if it fits, or OutOfStock).  The
 * product's version goes up by one.  Raises AL002 for an unknown batch.
 * Locks the product.
 */
PG_FUNCTION_INFO_V1(allocation_change_batch_quantity);
Datum
allocation_change_batch_quantity(PG_FUNCTION_ARGS)
{
	text	   *ref = AlIdentifierArg(fcinfo, 0, "ref");
	int32		qty = AlQuantityArg(fcinfo, 1, "qty", 0);
	Datum		args[3] = {PointerGetDatum(ref)};
	bool		isnull;
	text	   *sku;
	int64		version;
	int32		allocated;
	List	   *taken = NIL;
	ListCell   *lc;

	AlConnect();

	/* A batch never changes sku, so this read needs no lock. */
	if (AlExecute(AL_STMT_BATCH_SKU, args, NULL, 1) == 0)
		ereport(ERROR,
				errcode(ERRCODE_AL_UNKNOWN_BATCH),
				errmsg("unknown batch %s", text_to_cstring(ref)));
	sku = DatumGetTextPP(AlValue(0, 1, &isnull));
	version = AlLockProduct(sku);

	/* Read under the lock: this is what we decide on. */
	AlExecute(AL_STMT_BATCH_QUANTITIES, args, NULL, 1);
	allocated = DatumGetInt32(AlValue(0, 2, &isnull));

	allocated = take_lines_off(ref, sku, allocated, qty, &taken);
	args[1] = Int32GetDatum(qty);
	args[2] = Int32GetDatum(allocated);
	AlExecute(AL_STMT_SET_BATCH_QUANTITIES, args, NULL, 0);

	foreach(lc, taken)
	{
		TakenLine  *line = (TakenLine *) lfirst(lc);
		text	   *batchref;

		CHECK_FOR_INTERRUPTS();
		batchref = AlPlaceLine(line->orderid, sku, line->qty);
		if (batchref != NULL)
			pfree(batchref);
		pfree(line->orderid);
	}

	AlBumpVersion(sku, version);
	AlFinish();

	PG_RETURN_VOID();
}
