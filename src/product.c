/*-------------------------------------------------------------------------
 *
 * src/product.c
 *		The aggregate's concurrency: the product's lock queue and row lock,
 *		a hold's own lock, the clock holds expire by, the product's version,
 *		and the global lock order of multi-product calls.
 *
 * The product (sku) is the aggregate.  Every change to a product's lines,
 * holds or batches happens under its row lock (FOR NO KEY UPDATE on
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

#include <stdlib.h>
#include <string.h>

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * locktag_field4 of our "userlock" locks, one lock space each: the product
 * queue ("AL") and a hold's lock ("AH").  The router's order locks use "AO"
 * (decisions.c).
 */
#define AL_LOCK_PRODUCT 0x414C
#define AL_LOCK_HOLD 0x4148

/* The seed of the 64-bit hash that keys our locks by an identifier. */
#define AL_LOCK_HASH_SEED UINT64CONST(0x616c6c6f63617465)

/*
 * AlLockTag: a "userlock" lock tag of lock space field4 for an identifier:
 * the lock type no SQL function takes, unlike the advisory locks an
 * application may use, keyed by the database and a 64-bit hash (seed) of
 * the identifier.  Two identifiers sharing a hash would only share a lock.
 * method is DEFAULT_LOCKMETHOD for transaction locks, USER_LOCKMETHOD for
 * session locks, which go when the backend exits.
 */
void
AlLockTag(LOCKTAG *tag, text *key, uint64 seed, uint16 field4, LOCKMETHODID method)
{
	uint64		hash = hash_bytes_extended((const unsigned char *) VARDATA_ANY(key),
										   VARSIZE_ANY_EXHDR(key), seed);

	tag->locktag_field1 = MyDatabaseId;
	tag->locktag_field2 = (uint32) (hash >> 32);
	tag->locktag_field3 = (uint32) hash;
	tag->locktag_field4 = field4;
	tag->locktag_type = LOCKTAG_USERLOCK;
	tag->locktag_lockmethodid = method;
}

/*
 * AlLockProduct: lock a product for the rest of the transaction and return
 * its version_number.
 *
 * A call on one product first waits in the product's own heavyweight lock
 * queue (queue true).  Under a flash sale many sessions wait for one
 * product: waiting on its row lock would wake every waiter at each commit
 * to fight for the row again, while a heavyweight lock hands itself to the
 * next waiter only, in order.  The row lock, free by then, still decides
 * what the isolation level sees.  A call on many products (an order) takes
 * only the row locks, in lock order (AlSortLines): a heavyweight lock per
 * line would exhaust the shared lock table for a big order, and flash sales
 * are single-product calls.  Waiting for a row lock while holding a queue
 * lock of the same product never closes a cycle, since no order waits for
 * a queue.
 *
 * Raises AL001 ("Invalid sku <sku>") when the product does not exist.
 * Honours lock_timeout (55P03), deadlock detection and cancel, and under
 * REPEATABLE READ or SERIALIZABLE raises 40001 when another transaction
 * changed the product since our snapshot.
 */
int64
AlLockProduct(text *sku, bool queue)
{
	Datum		args[1] = {PointerGetDatum(sku)};
	AlResult	locked;
	bool		isnull;
	int64		version;

	if (queue)
	{
		LOCKTAG		tag;

		AlLockTag(&tag, sku, AL_LOCK_HASH_SEED, AL_LOCK_PRODUCT, DEFAULT_LOCKMETHOD);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}

	locked = AlExecute(AL_STMT_LOCK_PRODUCT, args, NULL, 1);
	if (locked.n == 0)
		ereport(ERROR,
				errcode(ERRCODE_AL_INVALID_SKU),
				errmsg("Invalid sku %s", text_to_cstring(sku)));
	version = DatumGetInt64(AlValue(locked, 0, 1, &isnull));
	AlFree(locked);
	return version;
}

/*
 * AlLockProducts: lock the products of lines sorted in lock order
 * (AlSortLines), reading each one's version; a single product queues first.
 */
void
AlLockProducts(AlOrderLine *lines, int nlines)
{
	int			i;

	for (i = 0; i < nlines; i++)
	{
		CHECK_FOR_INTERRUPTS();
		lines[i].version = AlLockProduct(lines[i].sku, nlines == 1);
	}
}

/*
 * AlLockHold: lock a hold until the end of the transaction, before any of
 * its products: shared by the calls that add lines to it (they may run
 * side by side on different skus), exclusive for the calls that confirm or
 * release it as a whole.  Without it, a line added on another sku while a
 * confirm is in flight would leave the hold partly confirmed.
 */
void
AlLockHold(text *holdid, bool exclusive)
{
	LOCKTAG		tag;

	AlLockTag(&tag, holdid, AL_LOCK_HASH_SEED, AL_LOCK_HOLD, DEFAULT_LOCKMETHOD);
	(void) LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, false);
}

/*
 * AlClock: the clock holds expire by, for a call that holds its product
 * locks: now plus allocation.clock_offset.  Reading it under the locks
 * orders it with every other change of the product: no call can judge a
 * hold live after another call has used its stock as expired.
 */
TimestampTz
AlClock(void)
{
	return GetCurrentTimestamp() + (TimestampTz) AlClockOffsetSeconds * USECS_PER_SEC;
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
	PG_RETURN_TIMESTAMPTZ(GetCurrentStatementStartTimestamp() +
						  (TimestampTz) AlClockOffsetSeconds * USECS_PER_SEC);
}

/*
 * AlNextVersion: the version_number a locked product read as version gets
 * with its next change; 22003 naming the sku past the largest bigint.
 */
int64
AlNextVersion(text *sku, int64 version)
{
	if (pg_add_s64_overflow(version, 1, &version))
		ereport(ERROR,
				errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				errmsg("version_number of sku \"%s\" is out of range", text_to_cstring(sku)));
	return version;
}

/*
 * AlBumpVersion: record one more change of a locked product whose version
 * was read as version, for the calls whose statements do not set it
 * themselves.
 */
void
AlBumpVersion(text *sku, int64 version)
{
	Datum		args[2] = {PointerGetDatum(sku), Int64GetDatum(AlNextVersion(sku, version))};

	AlFree(AlExecute(AL_STMT_SET_VERSION, args, NULL, 0));
}

/*
 * AlCompareBytes: the order of two texts byte by byte, shorter first on a
 * common prefix: COLLATE "C", whatever the database's collation.
 */
int
AlCompareBytes(const text *x, const text *y)
{
	int			xlen = VARSIZE_ANY_EXHDR(x);
	int			ylen = VARSIZE_ANY_EXHDR(y);
	int			cmp = memcmp(VARDATA_ANY(x), VARDATA_ANY(y), Min(xlen, ylen));

	if (cmp != 0)
		return cmp;
	return (xlen > ylen) - (xlen < ylen);
}

/*
 * compare_sku_bytes: qsort order of lines by sku in bytes.  This is the
 * global lock order: the same in every database whatever its collation, so
 * two calls over the same products wait for each other but never deadlock.
 */
static int
compare_sku_bytes(const void *a, const void *b)
{
	return AlCompareBytes(((const AlOrderLine *) a)->sku, ((const AlOrderLine *) b)->sku);
}

/*
 * AlSkusArg: a text[] argument of skus as lines (sku set, all else zero),
 * in the caller's order, with a spare zeroed entry; 22023 for a NULL
 * element or one that is not an identifier (AlCheckIdentifier).
 */
AlOrderLine *
AlSkusArg(FunctionCallInfo fcinfo, int argno, const char *argname, int *nskus)
{
	Datum	   *elems;
	bool	   *nulls;
	AlOrderLine *lines;
	int			i;

	AlArrayArg(fcinfo, argno, argname, TEXTOID, &elems, &nulls, nskus);
	lines = palloc0((*nskus + 1) * sizeof(AlOrderLine));
	for (i = 0; i < *nskus; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s must not contain NULL", argname));
		lines[i].sku = DatumGetTextPP(elems[i]);
		AlCheckIdentifier(lines[i].sku, "sku");
	}
	return lines;
}

/*
 * AlSortLines: sort lines in lock order, in place, and return how many are
 * left.  With skip_duplicates a sku given twice becomes one line (the first
 * one); without, it raises 22023.
 */
int
AlSortLines(AlOrderLine *lines, int nlines, bool skip_duplicates)
{
	int			n = 0;
	int			i;

	qsort(lines, nlines, sizeof(AlOrderLine), compare_sku_bytes);
	for (i = 0; i < nlines; i++)
	{
		if (n > 0 && compare_sku_bytes(&lines[n - 1], &lines[i]) == 0)
		{
			if (skip_duplicates)
				continue;
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("sku \"%s\" appears twice in the order",
						   text_to_cstring(lines[i].sku)),
					errhint("An order line is identified by (orderid, sku); add up the quantities."));
		}
		lines[n++] = lines[i];
	}
	return n;
}
