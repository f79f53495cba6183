/*-------------------------------------------------------------------------
 *
 * src/retention.c
 *		prune_events and prune_inbox: keeping the outbox and the inbox from
 *		growing forever.
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

#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "allocation.h"

/*
 * age_arg: the older_than argument (22004 for NULL, 22023 when negative).
 */
static Interval *
age_arg(FunctionCallInfo fcinfo)
{
	Interval   *older_than;
	Interval	zero = {0};

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
	return older_than;
}

/*
 * prune: delete with a retention statement, return how many rows went.
 */
static int64
prune(AlStatementId id, Interval *older_than)
{
	Datum		args[1] = {IntervalPGetDatum(older_than)};
	AlResult	pruned;

	AlConnect();
	pruned = AlExecute(id, args, NULL, 0);
	AlFree(pruned);
	AlFinish();
	return (int64) pruned.n;
}

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
	PG_RETURN_INT64(prune(AL_STMT_PRUNE_EVENTS, age_arg(fcinfo)));
}

/*
 * allocation.prune_inbox(older_than interval) RETURNS bigint
 *
 * Deletes the inbox's record of the commands applied longer than
 * older_than ago and returns how many went.  A command entry is redelivered
 * only until its result is in the results stream, so its record is needed
 * for minutes at most; keep it longer than any consumer may stay down.
 * Raises 22004 for NULL and 22023 for a negative age.
 */
PG_FUNCTION_INFO_V1(allocation_prune_inbox);
Datum
allocation_prune_inbox(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(prune(AL_STMT_PRUNE_INBOX, age_arg(fcinfo)));
}
