/*-------------------------------------------------------------------------
 *
 * src/allocate.c
 *		allocate and deallocate: one order line of one product, under the
 *		product's lock.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "allocation.h"

/*
 * allocation.allocate(orderid text, sku text, qty integer) RETURNS text
 *
 * Allocates the line (orderid, sku) to the best batch and returns its
 * reference, or NULL (and OutOfStock) when no batch can take it.
 * Allocating a line again with the same qty returns the batch it holds and
 * changes nothing; with another qty it raises AL003.  Raises AL001 for an
 * unknown sku.  Locks the product; the line is looked up only under the
 * lock, so a concurrent twin cannot slip in.
 */
PG_FUNCTION_INFO_V1(allocation_allocate);
Datum
allocation_allocate(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	text	   *sku = AlIdentifierArg(fcinfo, 1, "sku");
	int32		qty = AlQuantityArg(fcinfo, 2, "qty", 1);
	int64		version;
	text	   *batchref;

	AlConnect();
	version = AlLockProduct(sku, true);
	if (!AlFindLine(orderid, sku, qty, &batchref))
		batchref = AlPlaceLine(orderid, sku, qty, version, AlClock());
	batchref = AlReturnText(batchref);
	AlFinish();

	if (batchref == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(batchref);
}

/*
 * allocation.deallocate(orderid text, sku text) RETURNS text
 *
 * Frees the line (orderid, sku) and returns the batch it held, recording
 * Deallocated; returns NULL when the line is not allocated.  Raises AL001
 * for an unknown sku.  Locks the product.
 */
PG_FUNCTION_INFO_V1(allocation_deallocate);
Datum
allocation_deallocate(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	text	   *sku = AlIdentifierArg(fcinfo, 1, "sku");
	text	   *batchref;

	AlConnect();
	batchref = AlReturnText(AlFreeLine(orderid, sku, AlLockProduct(sku, true)));
	AlFinish();

	if (batchref == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(batchref);
}
