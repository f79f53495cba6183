/*-------------------------------------------------------------------------
 *
 * src/allocate.c
 *		allocate and deallocate: the product lock, the batch choice and
 *		idempotent re-allocation of an order line.
 *
 * The product (sku) is the aggregate.  Every change to a product's lines or
 * batches happens under its row lock (FOR NO KEY UPDATE on
 * allocation.products), taken before anything the decision depends on is
 * read.  Under READ COMMITTED every later statement takes a fresh snapshot,
 * so it sees what the previous lock holder committed; under REPEATABLE READ
 * the lock of a row changed since the snapshot raises 40001.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * queue_for_product: wait in the product's own heavyweight lock queue, until
 * the end of the transaction.
 *
 * Under a flash sale many sessions wait for one product.  Waiting on its
 * row lock wakes every waiter at each commit to fight for the row again;
 * a heavyweight lock hands itself to the next waiter only, in order.  The
 * lock is a "userlock" (the lock type no SQL function takes, unlike the
 * advisory locks an application may use), keyed by the database and a
 * 64-bit hash of the sku: two skus sharing a hash would only share a queue.
 * lock_timeout (55P03), deadlock detection and cancel apply as to any lock.
 */
static void
queue_for_product(text *sku)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) VARDATA_ANY(sku),
										   VARSIZE_ANY_EXHDR(sku), AL_LOCK_HASH_SEED);
	LOCKTAG		tag;

	tag.locktag_field1 = MyDatabaseId;
	tag.locktag_field2 = (uint32) (hash >> 32);
	tag.locktag_field3 = (uint32) hash;
	tag.locktag_field4 = AL_LOCK_FIELD4;
	tag.locktag_type = LOCKTAG_USERLOCK;
	tag.locktag_lockmethodid = DEFAULT_LOCKMETHOD;
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * AlLockProduct: lock a product for the rest of the transaction and return
 * its version_number.  A call on one product queues first
 * (queue_for_product), then takes the product's row lock, which is free by
 * then but still decides what the isolation level sees.  A call on many
 * products (an order) takes only the row locks, in its global order: a
 * heavyweight lock per line would exhaust the shared lock table for a big
 * order, and flash sales are single-product calls.  Waiting for a row lock
 * while holding a queue lock of the same product never closes a cycle,
 * since no order waits for a queue.
 *
 * Raises AL001 ("Invalid sku <sku>") when the product does not exist.
 * Honours lock_timeout (55P03) and, under REPEATABLE READ or SERIALIZABLE,
 * raises 40001 when another transaction changed the product since our
 * snapshot.
 */
int64
AlLockProduct(text *sku, bool queue)
{
	Datum		args[1] = {PointerGetDatum(sku)};
	bool		isnull;
	int64		version;

	if (queue)
		queue_for_product(sku);

	if (AlExecute(AL_STMT_LOCK_PRODUCT, args, NULL, 1) == 0)
		ereport(ERROR,
				errcode(ERRCODE_AL_INVALID_SKU),
				errmsg("Invalid sku %s", text_to_cstring(sku)));
	version = DatumGetInt64(AlValue(0, 1, &isnull));
	/* An order locks many products: keep no result per product. */
	SPI_freetuptable(SPI_tuptable);
	return version;
}

/*
 * AlTakeProduct: lock a product (AlLockProduct), read the clock that holds
 * expire by, once the lock is ours, and, for a call on holds, reclaim a
 * bounded share of the product's expired holds (AlReclaimExpired).
 * Returns the version; *now is the clock.
 *
 * Reading the clock under the lock orders it with every other change of the
 * product: no call can judge a hold live after another call has used its
 * stock as expired.
 */
int64
AlTakeProduct(text *sku, TimestampTz *now, bool reclaim)
{
	int64		version = AlLockProduct(sku, true);

	*now = AlClock();
	if (reclaim)
		AlReclaimExpired(sku, *now);
	return version;
}

/*
 * AlBumpVersion: record one more change of a locked product whose version
 * was read as version.
 */
void
AlBumpVersion(text *sku, int64 version)
{
	Datum		args[2];

	if (pg_add_s64_overflow(version, 1, &version))
		ereport(ERROR,
				errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				errmsg("version_number of sku %s is out of range",
					   text_to_cstring(sku)));
	args[0] = PointerGetDatum(sku);
	args[1] = Int64GetDatum(version);
	AlExecute(AL_STMT_SET_VERSION, args, NULL, 0);
}

/*
 * AlCheckHeldQty: an order line already held with held_qty may be allocated
 * again only with the same qty; else AL003.
 */
void
AlCheckHeldQty(text *orderid, text *sku, int32 held_qty, int32 qty)
{
	if (held_qty != qty)
		ereport(ERROR,
				errcode(ERRCODE_AL_QTY_MISMATCH),
				errmsg("order line %s/%s is already allocated with qty %d",
					   text_to_cstring(orderid), text_to_cstring(sku), held_qty),
				errhint("Deallocate the line before allocating it with qty %d.", qty));
}

/*
 * AlPlaceLine: allocate a new order line of a locked product to the best
 * batch that can take it (live holds at clock now take their share), and
 * record Allocated; or record OutOfStock.
 *
 * Returns a palloc'd copy of the chosen batch reference, or NULL.  The caller
 * holds the product lock and knows the line is not allocated.
 */
text *
AlPlaceLine(text *orderid, text *sku, int32 qty, TimestampTz now)
{
	Datum		args[3];
	bool		isnull;
	text	   *batchref;
	int32		room;

	args[0] = PointerGetDatum(sku);
	args[1] = Int32GetDatum(qty);
	args[2] = TimestampTzGetDatum(now);
	if (AlExecute(AL_STMT_PLACE_ON_BEST_BATCH, args, NULL, 0) == 0)
	{
		AlRecordOutOfStock(sku);
		return NULL;
	}
	/* A copy, so that callers placing many lines can free it and the result. */
	batchref = DatumGetTextPCopy(AlValue(0, 1, &isnull));
	room = DatumGetInt32(AlValue(0, 2, &isnull));
	SPI_freetuptable(SPI_tuptable);

	AlSettleBatch(batchref, room, now);
	AlInsertLine(orderid, sku, qty, batchref);
	return batchref;
}

/*
 * AlInsertLine: record the order line (orderid, sku) of qty on batchref,
 * with its Allocated event.  The caller has counted qty in the batch's
 * allocated_quantity, or does so.
 */
void
AlInsertLine(text *orderid, text *sku, int32 qty, text *batchref)
{
	Datum		args[4];

	args[0] = PointerGetDatum(orderid);
	args[1] = PointerGetDatum(sku);
	args[2] = Int32GetDatum(qty);
	args[3] = PointerGetDatum(batchref);
	AlExecute(AL_STMT_INSERT_LINE, args, NULL, 0);
	AlRecordAllocated(orderid, sku, qty, batchref);
}

/*
 * allocation.allocate(orderid text, sku text, qty integer) RETURNS text
 *
 * Allocates the line (orderid, sku) to the best batch and returns its
 * reference, or NULL when no batch can take it.  Allocating a line again
 * with the same qty returns the batch it holds and changes nothing; with
 * another qty it raises AL003.  Locks the product.
 */
PG_FUNCTION_INFO_V1(allocation_allocate);
Datum
allocation_allocate(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	text	   *sku = AlIdentifierArg(fcinfo, 1, "sku");
	int32		qty = AlQuantityArg(fcinfo, 2, "qty", 1);
	Datum		args[2] = {PointerGetDatum(orderid), PointerGetDatum(sku)};
	int64		version;
	TimestampTz now;
	bool		isnull;
	text	   *batchref;

	AlConnect();
	version = AlTakeProduct(sku, &now, false);

	/* Looked up only under the lock, so a concurrent twin cannot slip in. */
	if (AlExecute(AL_STMT_FIND_LINE, args, NULL, 1) > 0)
	{
		int32		held_qty = DatumGetInt32(AlValue(0, 2, &isnull));

		AlCheckHeldQty(orderid, sku, held_qty, qty);
		batchref = DatumGetTextPP(AlValue(0, 1, &isnull));
	}
	else
	{
		batchref = AlPlaceLine(orderid, sku, qty, now);
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
	Datum		args[2] = {PointerGetDatum(orderid), PointerGetDatum(sku)};
	int64		version;
	TimestampTz now;
	bool		isnull;
	text	   *batchref = NULL;

	AlConnect();
	version = AlTakeProduct(sku, &now, false);

	if (AlExecute(AL_STMT_DELETE_LINE, args, NULL, 0) > 0)
	{
		int32		qty = DatumGetInt32(AlValue(0, 2, &isnull));

		batchref = DatumGetTextPP(AlValue(0, 1, &isnull));
		AlAdjustBatch(batchref, -qty, 0, now);
		AlRecordDeallocated(orderid, sku, qty);
		AlBumpVersion(sku, version);
		batchref = (text *) DatumGetPointer(SPI_datumTransfer(PointerGetDatum(batchref), false, -1));
	}
	AlFinish();

	if (batchref == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(batchref);
}
