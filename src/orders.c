/*-------------------------------------------------------------------------
 *
 * src/orders.c
 *		allocate_order and hold_order: all-or-nothing allocation (or hold)
 *		of a multi-line order, locking its products in one global order so
 *		that orders never deadlock.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/*
 * What an order places: order lines (allocate_order) or hold lines
 * (hold_order).  find tells whether the order already has the line, with
 * its batch (raising AL003 for another qty); place puts a new line on the
 * best batch, or records OutOfStock and returns NULL.
 */
typedef struct OrderKind
{
	bool		(*find) (text *key, text *sku, int32 qty, TimestampTz now, text **batchref);
	text	   *(*place) (text *key, text *sku, int32 qty, int64 ttl_usecs, TimestampTz now);
	bool		reclaim;		/* a call on holds: reclaim expired ones (AlTakeProduct) */
} OrderKind;

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
 * compare_sku_bytes: qsort order of lines by sku in bytes (AlCompareBytes).
 * This is the global lock order: it is the same in every database whatever
 * its collation.
 */
static int
compare_sku_bytes(const void *a, const void *b)
{
	return AlCompareBytes(((const AlOrderLine *) a)->sku, ((const AlOrderLine *) b)->sku);
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
					errmsg("sku %s appears twice in the order",
						   text_to_cstring(lines[i].sku)),
					errhint("An order line is identified by (orderid, sku); add up the quantities."));
		}
		lines[n++] = lines[i];
	}
	return n;
}

/*
 * order_lines_args: the skus and qtys arguments (argument 1 and 2) as lines
 * sorted by sku.
 *
 * Raises 22004 when an array is NULL, and 22023 when the arrays differ in
 * length, are empty, hold a NULL, a bad sku or qty, or the same sku twice.
 */
static AlOrderLine *
order_lines_args(FunctionCallInfo fcinfo, int *nlines)
{
	Datum	   *skus;
	Datum	   *qtys;
	bool	   *sku_nulls;
	bool	   *qty_nulls;
	int			nskus;
	int			nqtys;
	AlOrderLine *lines;
	int			i;

	AlArrayArg(fcinfo, 1, "skus", TEXTOID, &skus, &sku_nulls, &nskus);
	AlArrayArg(fcinfo, 2, "qtys", INT4OID, &qtys, &qty_nulls, &nqtys);
	if (nskus != nqtys)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("skus and qtys must have the same length"),
				errdetail("skus has %d elements, qtys has %d.", nskus, nqtys));
	if (nskus == 0)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("an order must have at least one line"));

	lines = palloc0(nskus * sizeof(AlOrderLine));
	for (i = 0; i < nskus; i++)
	{
		if (sku_nulls[i] || qty_nulls[i])
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("%s must not contain NULL", sku_nulls[i] ? "skus" : "qtys"));
		lines[i].sku = DatumGetTextPP(skus[i]);
		lines[i].qty = DatumGetInt32(qtys[i]);
		AlCheckIdentifier(lines[i].sku, "sku");
		AlCheckQuantity(lines[i].qty, "qty", 1);
	}
	*nlines = AlSortLines(lines, nskus, false);
	return lines;
}

/*
 * find_existing_lines: mark the lines the order already has, with their
 * batch (find raises AL003 for one with another qty).  Returns how many
 * lines are new.  The caller holds every product's lock.
 */
static int
find_existing_lines(const OrderKind *kind, text *key, AlOrderLine *lines, int nlines,
					TimestampTz now)
{
	int			nnew = 0;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		lines[i].held = kind->find(key, lines[i].sku, lines[i].qty, now, &lines[i].batchref);
		if (!lines[i].held)
			nnew++;
	}
	return nnew;
}

/*
 * record_short_lines: record OutOfStock for every new line no batch can
 * take at clock now.  Returns true when there was any.  The caller holds
 * the locks.
 */
static bool
record_short_lines(AlOrderLine *lines, int nlines, int nnew, TimestampTz now)
{
	Datum	   *skus = palloc(nnew * sizeof(Datum));
	Datum	   *qtys = palloc(nnew * sizeof(Datum));
	Datum		args[3];
	uint64		nshort;
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

	/* Recording an event replaces SPI's result, so collect the skus first. */
	nshort = AlExecute(AL_STMT_SHORT_LINES, args, NULL, 0);
	for (row = 0; row < nshort; row++)
	{
		bool		isnull;

		skus[row] = AlValue(row, 1, &isnull);
	}
	for (row = 0; row < nshort; row++)
		AlRecordOutOfStock(DatumGetTextPP(skus[row]));
	return nshort > 0;
}

/*
 * place_order: the body of allocate_order and hold_order.
 *
 * Places every new line of the order (key) by the rule of allocate, or none:
 * when a line fits nowhere, records OutOfStock for each short sku, places
 * none of the new lines and returns them with a NULL batchref.  Lines the
 * order already has with the same qty keep their batch, and are returned
 * with it either way.  Rows come in byte order of sku.  Holds placed expire
 * ttl_usecs after the clock (or with the hold they join).
 *
 * Locks the order's products, and only those, in byte order of sku: two
 * orders over the same skus wait for each other but never deadlock.
 */
static void
place_order(FunctionCallInfo fcinfo, const OrderKind *kind, text *key, int64 ttl_usecs)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	AlOrderLine *lines;
	int			nlines;
	int			nnew;
	TimestampTz now;
	int			i;

	lines = order_lines_args(fcinfo, &nlines);
	InitMaterializedSRF(fcinfo, 0);

	AlConnect();
	for (i = 0; i < nlines; i++)
	{
		CHECK_FOR_INTERRUPTS();
		lines[i].version = AlLockProduct(lines[i].sku, nlines == 1);
	}
	now = AlClock();
	for (i = 0; i < nlines && kind->reclaim; i++)
		AlReclaimExpired(lines[i].sku, now);

	nnew = find_existing_lines(kind, key, lines, nlines, now);
	if (nnew > 0 && record_short_lines(lines, nlines, nnew, now))
	{
		/* Nothing new is placed; lines the order had keep their batch. */
		for (i = 0; i < nlines; i++)
		{
			if (!lines[i].held)
				lines[i].batchref = NULL;
		}
	}
	else
	{
		for (i = 0; i < nlines; i++)
		{
			if (lines[i].held)
				continue;
			CHECK_FOR_INTERRUPTS();
			lines[i].batchref = kind->place(key, lines[i].sku, lines[i].qty, ttl_usecs, now);
			if (lines[i].batchref == NULL)
				elog(ERROR, "allocation: line %s of a checked order did not fit",
					 text_to_cstring(lines[i].sku));
			AlBumpVersion(lines[i].sku, lines[i].version);
		}
	}

	/* The tuplestore copies each row before SPI's memory goes. */
	for (i = 0; i < nlines; i++)
	{
		Datum		values[2] = {PointerGetDatum(lines[i].sku),
		PointerGetDatum(lines[i].batchref)};
		bool		nulls[2] = {false, lines[i].batchref == NULL};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AlFinish();
}

/*
 * find_order_line: whether the order line (orderid, sku) is allocated, and
 * where; AL003 when it is, with another qty.
 */
static bool
find_order_line(text *orderid, text *sku, int32 qty, TimestampTz now, text **batchref)
{
	Datum		args[2] = {PointerGetDatum(orderid), PointerGetDatum(sku)};
	bool		isnull;

	(void) now;
	if (AlExecute(AL_STMT_FIND_LINE, args, NULL, 1) == 0)
		return false;
	AlCheckHeldQty(orderid, sku, DatumGetInt32(AlValue(0, 2, &isnull)), qty);
	/* A copy, so that an order keeps no result per line. */
	*batchref = DatumGetTextPCopy(AlValue(0, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* place_order_line: AlPlaceLine, for an order (lines do not expire). */
static text *
place_order_line(text *orderid, text *sku, int32 qty, int64 ttl_usecs, TimestampTz now)
{
	(void) ttl_usecs;
	return AlPlaceLine(orderid, sku, qty, now);
}

static const OrderKind order_lines = {find_order_line, place_order_line, false};
static const OrderKind hold_lines = {AlFindHold, AlPlaceHold, true};

/*
 * allocation.allocate_order(orderid text, skus text[], qtys integer[])
 * RETURNS TABLE (sku text, batchref text)
 *
 * Allocates every line of the order by the rule of allocate, or none (see
 * place_order).  Raises AL001 for an unknown sku and AL003 for a line
 * allocated with another qty, changing nothing.
 */
PG_FUNCTION_INFO_V1(allocation_allocate_order);
Datum
allocation_allocate_order(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");

	place_order(fcinfo, &order_lines, orderid, 0);
	return (Datum) 0;
}

/*
 * allocation.hold_order(holdid text, skus text[], qtys integer[], ttl interval)
 * RETURNS TABLE (sku text, batchref text)
 *
 * Holds every line of the order until ttl from now, or none (see
 * place_order): the multi-line form of hold, with the lock order and errors
 * of allocate_order.
 */
PG_FUNCTION_INFO_V1(allocation_hold_order);
Datum
allocation_hold_order(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	int64		ttl_usecs = AlTtlArg(fcinfo, 3, "ttl");

	place_order(fcinfo, &hold_lines, holdid, ttl_usecs);
	return (Datum) 0;
}
