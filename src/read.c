/*-------------------------------------------------------------------------
 *
 * src/read.c
 *		The read side: allocations(orderid) and check(), as materialised
 *		set-returning functions.  Both read under the caller's snapshot and
 *		take no locks.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/*
 * AlMaterialize: return every row of a registered statement as the result
 * set of the calling set-returning function, whose columns match it.
 */
void
AlMaterialize(FunctionCallInfo fcinfo, AlStatementId id, Datum *args)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			ncolumns;
	uint64		nrows;
	uint64		row;

	/* The tuplestore is made in the query's memory, before SPI's. */
	InitMaterializedSRF(fcinfo, 0);
	ncolumns = rsinfo->setDesc->natts;

	AlConnect();
	nrows = AlExecute(id, args, NULL, 0);
	for (row = 0; row < nrows; row++)
	{
		Datum	   *values = palloc(ncolumns * sizeof(Datum));
		bool	   *nulls = palloc(ncolumns * sizeof(bool));
		int			column;

		for (column = 0; column < ncolumns; column++)
			values[column] = AlValue(row, column + 1, &nulls[column]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(values);
		pfree(nulls);
	}
	AlFinish();
}

/*
 * allocation.allocations(orderid text) RETURNS TABLE (sku text, batchref text)
 *
 * The order's allocated lines, ordered by sku.
 */
PG_FUNCTION_INFO_V1(allocation_allocations);
Datum
allocation_allocations(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	Datum		args[1] = {PointerGetDatum(orderid)};

	AlMaterialize(fcinfo, AL_STMT_ORDER_ALLOCATIONS, args);
	return (Datum) 0;
}

/*
 * allocation.check() RETURNS TABLE (problem text, detail jsonb)
 *
 * One row per violated invariant; none when the data is consistent.  Holds
 * are judged live by the statement's clock (allocation.clock()).
 */
PG_FUNCTION_INFO_V1(allocation_check);
Datum
allocation_check(PG_FUNCTION_ARGS)
{
	Datum		args[1] = {DirectFunctionCall1(allocation_clock, (Datum) 0)};

	AlMaterialize(fcinfo, AL_STMT_CHECK, args);
	return (Datum) 0;
}
