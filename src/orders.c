/*-------------------------------------------------------------------------
 *
 * src/orders.c
 *		allocate_order: all-or-nothing allocation of a multi-line order,
 *		locking its products in one global order so that orders never
 *		deadlock.
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
#include "utils/tuplestore.h"

#include "allocation.h"

/* One line of an order, and what became of it. */
typedef struct OrderLine
{
	text	   *sku;
	int32		qty;
	bool		held;			/* already allocated before this call */
	int64		version;		/* the product's version, read under its lock */
	text	   *batchref;		/* the answer: the batch, or NULL */
} OrderLine;

/*
 * compare_sku_bytes: qsort order of lines by sku, byte by byte, shorter
 * first on a common prefix.  This is the global lock order: it is the same
 * in every database whatever its collation.
 */
static int
compare_sku_bytes(const void *a, const void *b)
{
	const text *x = ((const OrderLine *) a)->sku;
	const text *y = ((const OrderLine *) b)->sku;
	int			xlen = VARSIZE_ANY_EXHDR(x);
	int			ylen = VARSIZE_ANY_EXHDR(y);
	int			cmp = memcmp(VARDATA_ANY(x), VARDATA_ANY(y), Min(xlen, ylen));

	if (cmp != 0)
		return cmp;
	return (xlen > ylen) - (xlen < ylen);
}

/*
 * order_lines_args: the skus and qtys arguments as lines sorted by sku.
 *
 * Raises 22004 when an array is NULL, and 22023 when the arrays differ in
 * length, are empty, hold a NULL, a bad sku or qty, or the same sku twice.
 */
static OrderLine *
order_lines_args(FunctionCallInfo fcinfo, int *nlines)
{
	Datum	   *skus;
	Datum	   *qtys;
	bool	   *sku_nulls;
	bool	   *qty_nulls;
	int			nskus;
	int			nqtys;
	OrderLine  *lines;
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

	lines = palloc0(nskus * sizeof(OrderLine));
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

	qsort(lines, nskus, sizeof(OrderLine), compare_sku_bytes);
	for (i = 1; i < nskus; i++)
	{
		if (compare_sku_bytes(&lines[i - 1], &lines[i]) == 0)
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("sku %s appears twice in the order",
						   text_to_cstring(lines[i].sku)),
					errhint("An order line is identified by (orderid, sku); add up the quantities."));
	}
	*nlines = nskus;
	return lines;
}

/*
 * find_held_lines: mark the lines this order already holds, with their
 * batch; raise AL003 for one held with another qty.  Returns how many
 * lines are new.  The caller holds every product's lock.
 */
static int
find_held_lines(text *orderid, OrderLine *lines, int nlines)
{
	int			nnew = 0;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		Datum		args[2] = {PointerGetDatum(orderid), PointerGetDatum(lines[i].sku)};
		bool		isnull;

		if (AlExecute(AL_STMT_FIND_LINE, args, NULL, 1) == 0)
		{
			nnew++;
			continue;
		}
		AlCheckHeldQty(orderid, lines[i].sku, DatumGetInt32(AlValue(0, 2, &isnull)),
					   lines[i].qty);
		lines[i].held = true;
		lines[i].batchref = DatumGetTextPP(AlValue(0, 1, &isnull));
	}
	return nnew;
}

/*
 * record_short_lines: record OutOfStock for every new line no batch can
 * take.  Returns true when there was any.  The caller holds the locks.
 */
static bool
record_short_lines(OrderLine *lines, int nlines, int nnew)
{
	Datum	   *skus = palloc(nnew * sizeof(Datum));
	Datum	   *qtys = palloc(nnew * sizeof(Datum));
	Datum		args[2];
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
 * allocation.allocate_order(orderid text, skus text[], qtys integer[])
 * RETURNS TABLE (sku text, batchref text)
 *
 * Allocates every line of the order by the rule of allocate, or none: when
 * a line fits nowhere, records OutOfStock for each short sku, allocates
 * none of the new lines and returns them with a NULL batchref.  Lines the
 * order already holds with the same qty keep their batch, and are returned
 * with it either way.  Rows come in byte order of sku.
 *
 * Locks the order's products, and only those, in byte order of sku: two
 * orders over the same skus wait for each other but never deadlock.
 * Raises AL001 for an unknown sku and AL003 for a line held with another
 * qty, changing nothing.
 */
PG_FUNCTION_INFO_V1(allocation_allocate_order);
Datum
allocation_allocate_order(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	OrderLine  *lines;
	int			nlines;
	int			nnew;
	int			i;

	lines = order_lines_args(fcinfo, &nlines);
	InitMaterializedSRF(fcinfo, 0);

	AlConnect();
	for (i = 0; i < nlines; i++)
	{
		CHECK_FOR_INTERRUPTS();
		lines[i].version = AlLockProduct(lines[i].sku);
	}

	nnew = find_held_lines(orderid, lines, nlines);
	if (nnew > 0 && record_short_lines(lines, nlines, nnew))
	{
		/* Nothing new is allocated; lines held before keep their batch. */
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
			lines[i].batchref = AlPlaceLine(orderid, lines[i].sku, lines[i].qty);
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

	return (Datum) 0;
}
