/*-------------------------------------------------------------------------
 *
 * src/read.c
 *		The read side: allocations(orderid) as a materialised
 *		set-returning function.
 *
 * Licence: PostgreSQL Licence.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/*
 * allocation.allocations(orderid text) RETURNS TABLE (sku text, batchref text)
 *
 * The order's allocated lines, ordered by sku.  Takes no locks.
 */
PG_FUNCTION_INFO_V1(allocation_allocations);
Datum
allocation_allocations(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		args[1] = {PointerGetDatum(orderid)};
	uint64		nrows;
	uint64		row;

	/* The tuplestore is made in the query's memory, before SPI's. */
	InitMaterializedSRF(fcinfo, 0);

	AlConnect();
	nrows = AlExecute(AL_STMT_ORDER_ALLOCATIONS, args, NULL, 0);
	for (row = 0; row < nrows; row++)
	{
		Datum		values[2];
		bool		nulls[2];

		values[0] = AlValue(row, 1, &nulls[0]);
		values[1] = AlValue(row, 2, &nulls[1]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AlFinish();

	return (Datum) 0;
}
