/*-------------------------------------------------------------------------
 *
 * src/read.c
 *		The read side: allocations(orderid), check() and hold_lines(holdid),
 *		as materialised set-returning functions.  All read under the
 *		caller's snapshot and take no locks.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "funcapi.h"
#include "nodes/execnodes.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/*
 * AlMaterialize: return every row of a registered statement as the result
 * set of the calling set-returning function, whose columns match it.
 */
void
AlMaterialize(FunctionCallInfo fcinfo, AlStatementId id, Datum *args)
{
	ReturnSetInfo *rsinfo;
	int			ncolumns;
	AlResult	read;
	Datum	   *values;
	bool	   *nulls;
	uint64		row;

	/* The tuplestore is made in the query's memory, before SPI's. */
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ncolumns = rsinfo->setDesc->natts;
	values = palloc(ncolumns * sizeof(Datum));
	nulls = palloc(ncolumns * sizeof(bool));

	AlConnect();
	read = AlExecute(id, args, NULL, 0);
	for (row = 0; row < read.n; row++)
	{
		int			column;

		for (column = 0; column < ncolumns; column++)
			values[column] = AlValue(read, row, column + 1, &nulls[column]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AlFree(read);
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

/*
 * allocation.hold_lines(holdid text)
 * RETURNS TABLE (sku text, qty integer, batchref text, expires_at timestamptz,
 *                orderid text)
 *
 * The lines of a hold by sku, live, expired or confirmed (orderid), for a
 * router that must learn which shards a hold spans.
 */
PG_FUNCTION_INFO_V1(allocation_hold_lines);
Datum
allocation_hold_lines(PG_FUNCTION_ARGS)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 0, "holdid");
	Datum		args[1] = {PointerGetDatum(holdid)};

	AlMaterialize(fcinfo, AL_STMT_HOLD_LINES, args);
	return (Datum) 0;
}
