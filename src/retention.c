/*-------------------------------------------------------------------------
 *
 * src/retention.c
 *		prune_events: keeping the outbox from growing forever.
 *
 * The stream reads events from the WAL, not from the table, so a row can
 * go once it is older than any consumer's lag.  check() compares each order
 * line with its latest Allocated/Deallocated event, so that event is kept
 * when it is an Allocated; everything else older than the given age goes.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * allocation.prune_events(older_than interval) RETURNS bigint
 *
 * Deletes the events that occurred longer than older_than ago, except each
 * order line's latest Allocated/Deallocated event when it is an Allocated,
 * and returns how many went.  Takes no product lock: allocations go on
 * beside it (they only insert events, which it never waits for).  Raises
 * 22004 for NULL and 22023 for a negative age.
 */
PG_FUNCTION_INFO_V1(allocation_prune_events);
Datum
allocation_prune_events(PG_FUNCTION_ARGS)
{
	Interval   *older_than;
	Interval	zero = {0};
	Datum		args[1];
	uint64		pruned;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("older_than must not be null"));
	older_than = PG_GETARG_INTERVAL_P(0);
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(older_than),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("older_than must not be negative"));

	args[0] = IntervalPGetDatum(older_than);
	AlConnect();
	pruned = AlExecute(AL_STMT_PRUNE_EVENTS, args, NULL, 0);
	AlFinish();

	PG_RETURN_INT64((int64) pruned);
}
