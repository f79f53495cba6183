/*-------------------------------------------------------------------------
 *
 * src/orders.c
 *		Multi-line orders, all or nothing: allocate_order and hold_order,
 *		and the steps a router runs on each shard an order spans
 *		(order_prepare, order_hold, order_place, order_decide,
 *		order_commit, order_undo).  Every call locks its products in one
 *		global order, so orders never deadlock.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "datatype/timestamp.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/*
 * What an order call finds and places.  It finds the lines that orderid
 * has already (order lines), or, without an orderid, the lines of hold
 * holdid; it places new lines as holds of holdid, or, without a holdid, as
 * order lines of orderid.  allocate_order: orderid only; hold_order: holdid
 * only; order_prepare: the order's lines found, the new ones held.
 */
typedef struct OrderCall
{
	text	   *orderid;
	text	   *holdid;
	int64		ttl_usecs;		/* holds placed expire this long after the clock */
} OrderCall;

/*
 * order_lines_args: the skus and qtys arguments (argument skus_arg and the
 * next) as lines sorted in lock order.
 *
 * Raises 22004 when an array is NULL, and 22023 when the arrays differ in
 * length, are empty, hold a NULL, a bad sku or qty, or the same sku twice.
 */
static AlOrderLine *
order_lines_args(FunctionCallInfo fcinfo, int skus_arg, int *nlines)
{
	Datum	   *skus;
	Datum	   *qtys;
	bool	   *sku_nulls;
	bool	   *qty_nulls;
	int			nskus;
	int			nqtys;
	AlOrderLine *lines;
	int			i;

	AlArrayArg(fcinfo, skus_arg, "skus", TEXTOID, &skus, &sku_nulls, &nskus);
	AlArrayArg(fcinfo, skus_arg + 1, "qtys", INT4OID, &qtys, &qty_nulls, &nqtys);
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
		if (sku_nulls[i])
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("skus must not contain NULL"));
		if (qty_nulls[i])
			ereport(ERROR,
					errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("qtys must not contain NULL"));
		lines[i].sku = DatumGetTextPP(skus[i]);
		lines[i].qty = DatumGetInt32(qtys[i]);
		AlCheckIdentifier(lines[i].sku, "sku");
		AlCheckQuantity(lines[i].qty, "qty", 1);
	}
	*nlines = AlSortLines(lines, nskus, false);
	return lines;
}

/*
 * place_lines: place every new line of an order whose products are locked,
 * by the rule of allocate, or none.
 *
 * Marks the lines the order has already (held, with their batch: AL003
 * for another qty).  When a new line fits nowhere at clock now, records
 * OutOfStock for each short sku, places none of the new lines, leaves them
 * with a NULL batchref and returns false; otherwise places each and
 * returns true.
 */
static bool
place_lines(const OrderCall *call, AlOrderLine *lines, int nlines, TimestampTz now)
{
	TimestampTz expires_at = now + call->ttl_usecs;
	int			nnew = 0;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (call->orderid != NULL)
			lines[i].held = AlFindLine(call->orderid, lines[i].sku, lines[i].qty, &lines[i].batchref);
		else
			lines[i].held = AlFindHold(call->holdid, lines[i].sku, lines[i].qty, call->ttl_usecs,
									   now, &lines[i].batchref, &expires_at);
		if (!lines[i].held)
			nnew++;
	}
	if (nnew == 0)
		return true;
	if (AlShortLines(lines, nlines, nnew, now))
		return false;

	for (i = 0; i < nlines; i++)
	{
		if (lines[i].held)
			continue;
		CHECK_FOR_INTERRUPTS();
		if (call->holdid != NULL)
			lines[i].batchref = AlPlaceHold(call->holdid, lines[i].sku, lines[i].qty, expires_at,
											lines[i].version, now);
		else
			lines[i].batchref = AlPlaceLine(call->orderid, lines[i].sku, lines[i].qty,
											lines[i].version, now);
		if (lines[i].batchref == NULL)
			elog(ERROR, "allocation: line \"%s\" of a checked order did not fit",
				 text_to_cstring(lines[i].sku));
	}
	return true;
}

/*
 * return_lines: the lines as the rows (sku, batchref) of the calling
 * set-returning function, plus "existing" (the order had the line) when it
 * has a third column.  The tuplestore copies each row before SPI's memory
 * goes.
 */
static void
return_lines(FunctionCallInfo fcinfo, AlOrderLine *lines, int nlines)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		Datum		values[3] = {PointerGetDatum(lines[i].sku), PointerGetDatum(lines[i].batchref),
		BoolGetDatum(lines[i].held)};
		bool		nulls[3] = {false, lines[i].batchref == NULL, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * lock_and_place: inside an SPI connection, lock the order's products in
 * lock order, and only those (a single product queues first), read the
 * clock, reclaim expired holds when placing holds, then place_lines, whose
 * answer it returns.
 */
static bool
lock_and_place(const OrderCall *call, AlOrderLine *lines, int nlines)
{
	TimestampTz now;
	int			i;

	AlLockProducts(lines, nlines);
	now = AlClock();
	for (i = 0; i < nlines && call->holdid != NULL; i++)
		AlReclaimExpired(lines[i].sku, now);
	return place_lines(call, lines, nlines, now);
}

/*
 * place_order: the body of allocate_order, hold_order and order_prepare
 * (see OrderCall): lock the hold when placing holds, then lock_and_place.
 * Rows come in byte order of sku.
 */
static void
place_order(FunctionCallInfo fcinfo, const OrderCall *call, int skus_arg)
{
	AlOrderLine *lines;
	int			nlines;

	lines = order_lines_args(fcinfo, skus_arg, &nlines);
	InitMaterializedSRF(fcinfo, 0);

	AlConnect();
	if (call->holdid != NULL)
		AlLockHold(call->holdid, false);
	(void) lock_and_place(call, lines, nlines);
	return_lines(fcinfo, lines, nlines);
	AlFinish();
}

/*
 * allocation.allocate_order(orderid text, skus text[], qtys integer[])
 * RETURNS TABLE (sku text, batchref text)
 *
 * Allocates every line of the order by the rule of allocate, or none: when
 * a line fits nowhere, OutOfStock for each short sku and the new lines come
 * back with a NULL batchref.  Lines the order already has with the same qty
 * keep their batch.  Raises AL001 for an unknown sku and AL003 for a line
 * allocated with another qty, changing nothing.
 */
PG_FUNCTION_INFO_V1(allocation_allocate_order);
Datum
allocation_allocate_order(PG_FUNCTION_ARGS)
{
	OrderCall	call = {AlIdentifierArg(fcinfo, 0, "orderid"), NULL, 0};

	place_order(fcinfo, &call, 1);
	return (Datum) 0;
}

/*
 * allocation.hold_order(holdid text, skus text[], qtys integer[], ttl interval)
 * RETURNS TABLE (sku text, batchref text)
 *
 * Holds every line of the order until ttl from now, or none: the
 * multi-line form of hold, with the lock order and errors of
 * allocate_order.
 */
PG_FUNCTION_INFO_V1(allocation_hold_order);
Datum
allocation_hold_order(PG_FUNCTION_ARGS)
{
	OrderCall	call = {NULL, AlIdentifierArg(fcinfo, 0, "holdid"), AlTtlArg(fcinfo, 3, "ttl")};

	place_order(fcinfo, &call, 1);
	return (Datum) 0;
}

/*
 * allocation.order_prepare(orderid text, holdid text, skus text[],
 *                          qtys integer[], ttl interval)
 * RETURNS TABLE (sku text, batchref text, existing boolean)
 *
 * A router's first step on each shard an order spans: the lines the order
 * has already keep their batch (existing; AL003 for another qty), and the
 * new ones are held under holdid until ttl from now, all or none (NULL
 * batchrefs and OutOfStock when one fits nowhere).  Commits without
 * waiting for the WAL flush (AlCommitWithoutFlush).
 */
PG_FUNCTION_INFO_V1(allocation_order_prepare);
Datum
allocation_order_prepare(PG_FUNCTION_ARGS)
{
	OrderCall	call = {AlIdentifierArg(fcinfo, 0, "orderid"), AlIdentifierArg(fcinfo, 1, "holdid"),
	AlTtlArg(fcinfo, 4, "ttl")};

	/* Held stock lost in a crash is no harm: the router's commit allocates afresh. */
	AlCommitWithoutFlush();
	place_order(fcinfo, &call, 2);
	return (Datum) 0;
}

/*
 * confirmed_batches: each line's batch from the hold lines confirmed just
 * now (both in byte order of sku); NULL where the hold had no line of its
 * sku.
 */
static void
confirmed_batches(AlOrderLine *lines, int nlines, AlHoldLine *held, int nheld)
{
	int			j = 0;
	int			i;

	for (i = 0; i < nlines; i++)
	{
		while (j < nheld && AlCompareBytes(held[j].sku, lines[i].sku) < 0)
			j++;
		lines[i].batchref = j < nheld && AlCompareBytes(held[j].sku, lines[i].sku) == 0 ? held[j].batchref : NULL;
	}
}

/*
 * commit_lines: inside an SPI connection, the lines held under holdid
 * become lines of orderid (confirm_hold); where the hold expired (or was
 * reclaimed) before that, its rows go (Released, expired) and the lines are
 * allocated afresh by the rule of allocate_order, all or none.  Done
 * already, it changes nothing.  Sets each line's batch now, NULL where the
 * order has none, and returns whether every line has one.
 */
static bool
commit_lines(text *orderid, text *holdid, AlOrderLine *lines, int nlines)
{
	OrderCall	call = {orderid, NULL, 0};
	AlHoldLine *held;
	TimestampTz now;
	bool		live = false;
	bool		confirmed = false;
	bool		complete = true;
	int			nheld;
	int			i;

	nheld = AlLockHoldLines(holdid, lines, nlines, &held, &now);
	for (i = 0; i < nheld; i++)
	{
		live |= held[i].orderid == NULL && held[i].expires_at > now;
		confirmed |= held[i].orderid != NULL && held[i].expires_at > now;
	}
	if (live || confirmed)
	{
		if (AlConfirmHold(holdid, orderid, held, nheld, now))
			confirmed_batches(lines, nlines, held, nheld);
		else
		{
			/* confirmed before: what the order has now */
			for (i = 0; i < nlines; i++)
				lines[i].batchref = AlLineBatch(orderid, lines[i].sku);
		}
	}
	else
	{
		for (i = 0; i < nheld; i++)
		{
			Datum		args[4] = {PointerGetDatum(holdid), PointerGetDatum(held[i].sku),
			TimestampTzGetDatum(now), Int64GetDatum(held[i].version)};

			AlFree(AlExecute(AL_STMT_RELEASE_HOLD_LINE, args, NULL, 0));
		}
		place_lines(&call, lines, nlines, now);
	}
	for (i = 0; i < nlines; i++)
		complete &= lines[i].batchref != NULL;
	return complete;
}

/*
 * commit_order: the body of order_commit and order_decide: commit_lines
 * for the lines of the arguments (orderid, holdid, skus, qtys) and, with
 * decide, when every line has its batch, the decision of arguments 4 and 5
 * (AlDecide) in the same transaction.  Rows (sku, batchref) in
 * byte order of sku.
 */
static void
commit_order(FunctionCallInfo fcinfo, bool decide)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	text	   *holdid = AlIdentifierArg(fcinfo, 1, "holdid");
	AlOrderLine *lines;
	int			nlines;

	lines = order_lines_args(fcinfo, 2, &nlines);
	if (decide)
		AlCheckDecision(fcinfo, orderid, 4);
	InitMaterializedSRF(fcinfo, 0);

	AlConnect();
	if (commit_lines(orderid, holdid, lines, nlines) && decide)
		AlDecide(orderid, holdid, PG_GETARG_DATUM(4), PG_GETARG_DATUM(5));
	return_lines(fcinfo, lines, nlines);
	AlFinish();
}

/*
 * allocation.order_commit(orderid text, holdid text, skus text[], qtys integer[])
 * RETURNS TABLE (sku text, batchref text)
 *
 * A router's step on each shard of an order it decided: commit_lines.
 * Returns each line's batch now, NULL where the order has none; AL004 when
 * the hold was confirmed for another order.  Locks the hold exclusively,
 * then the products of its lines and of skus, in lock order.
 */
PG_FUNCTION_INFO_V1(allocation_order_commit);
Datum
allocation_order_commit(PG_FUNCTION_ARGS)
{
	commit_order(fcinfo, false);
	return (Datum) 0;
}

/*
 * allocation.order_hold(orderid text, holdid text, skus text[],
 *                       qtys integer[], ttl interval, decision_sku text,
 *                       order_skus text[], order_qtys integer[])
 * RETURNS TABLE (sku text, batchref text, existing boolean)
 *
 * order_prepare, which on the shard that keeps the order's decisions (the
 * one whose lines include decision_sku) also begins the attempt in the same
 * transaction: takes the order's lock for the session and records the
 * attempt (holdid, order_skus, order_qtys: every line of the order) as
 * holding (AlBeginAttempt; 55000 when another attempt is unfinished).  One
 * call instead of decision_begin and order_prepare.  Commits without
 * waiting for the WAL flush.
 */
PG_FUNCTION_INFO_V1(allocation_order_hold);
Datum
allocation_order_hold(PG_FUNCTION_ARGS)
{
	OrderCall	call = {AlIdentifierArg(fcinfo, 0, "orderid"), AlIdentifierArg(fcinfo, 1, "holdid"),
	AlTtlArg(fcinfo, 4, "ttl")};
	bool		decides = false;

	if (!PG_ARGISNULL(5))
	{
		text	   *decision_sku = PG_GETARG_TEXT_PP(5);
		int			nskus;
		AlOrderLine *skus = AlSkusArg(fcinfo, 2, "skus", &nskus);
		int			i;

		for (i = 0; i < nskus && !decides; i++)
			decides = AlCompareBytes(skus[i].sku, decision_sku) == 0;
	}

	/* Held stock lost in a crash is no harm: the router's commit allocates afresh. */
	AlCommitWithoutFlush();
	if (!decides)
	{
		place_order(fcinfo, &call, 2);
		return (Datum) 0;
	}
	/* A session lock outlives an error: give it back on one. */
	PG_TRY();
	{
		AlConnect();
		AlBeginAttempt(fcinfo, call.orderid, call.holdid, 6);
		AlFinish();
		place_order(fcinfo, &call, 2);
	}
	PG_CATCH();
	{
		AlGiveBackOrder();
		PG_RE_THROW();
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * allocation.order_decide(orderid text, holdid text, skus text[],
 *                         qtys integer[], decision_skus text[],
 *                         decision_qtys integer[])
 * RETURNS TABLE (sku text, batchref text)
 *
 * On the shard that keeps the order's decisions, whose lock this session
 * took in order_hold (55000 otherwise): commit_lines for this shard's new
 * lines (skus, qtys) and, when every one has its batch, records the
 * attempt decided with every new line of the order (decision_skus,
 * decision_qtys), in one transaction: the order's commit point and this
 * shard's commit together.  When a line is short, nothing is decided and
 * the router releases the attempt.  One call instead of decision_record and
 * this shard's order_commit.
 */
PG_FUNCTION_INFO_V1(allocation_order_decide);
Datum
allocation_order_decide(PG_FUNCTION_ARGS)
{
	commit_order(fcinfo, true);
	return (Datum) 0;
}

/*
 * new_decision: the decision's lines (decision_skus, decision_qtys:
 * arguments skus_arg and the next) less the lines this shard's order had
 * already (lines held), as arrays in *skus and *qtys; returns how many.
 */
static int
new_decision(FunctionCallInfo fcinfo, int skus_arg, AlOrderLine *lines, int nlines,
			 Datum *skus, Datum *qtys)
{
	Datum	   *dskus;
	Datum	   *dqtys;
	bool	   *sku_nulls;
	bool	   *qty_nulls;
	int			nskus;
	int			nqtys;
	int			n = 0;
	int			i;

	AlArrayArg(fcinfo, skus_arg, "decision_skus", TEXTOID, &dskus, &sku_nulls, &nskus);
	AlArrayArg(fcinfo, skus_arg + 1, "decision_qtys", INT4OID, &dqtys, &qty_nulls, &nqtys);
	for (i = 0; i < nskus; i++)
	{
		bool		had = false;
		int			j;

		for (j = 0; j < nlines && !sku_nulls[i] && !had; j++)
			had = lines[j].held && AlCompareBytes(lines[j].sku, DatumGetTextPP(dskus[i])) == 0;
		if (had)
			continue;
		dskus[n] = dskus[i];
		sku_nulls[n] = sku_nulls[i];
		dqtys[n] = dqtys[i];
		qty_nulls[n] = qty_nulls[i];
		n++;
	}
	if (n > 0)
	{
		int			dims[1] = {n};
		int			lbs[1] = {1};

		*skus = PointerGetDatum(construct_md_array(dskus, sku_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
		*qtys = PointerGetDatum(construct_md_array(dqtys, qty_nulls, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	}
	return n;
}

/*
 * allocation.order_place(orderid text, holdid text, skus text[],
 *                        qtys integer[], decision_skus text[],
 *                        decision_qtys integer[])
 * RETURNS TABLE (sku text, batchref text, existing boolean)
 *
 * On the shard that keeps the order's decisions, once the order's lines on
 * the other shards are held under holdid: takes the order's lock for the
 * session (55000 when another attempt at it is unfinished), places this
 * shard's lines (skus, qtys) as allocate_order does (existing: the order
 * had the line), and, when every one has its batch and the order has a new
 * line anywhere, records the attempt decided with the order's new lines
 * (decision_skus and decision_qtys less the lines found here), in one
 * transaction: the order's commit point and this shard's allocation
 * together.  Otherwise it records nothing and gives the lock back.  One
 * call instead of order_hold and order_decide: this shard's lines are
 * allocated, never held.
 */
PG_FUNCTION_INFO_V1(allocation_order_place);
Datum
allocation_order_place(PG_FUNCTION_ARGS)
{
	OrderCall	call = {AlIdentifierArg(fcinfo, 0, "orderid"), NULL, 0};
	text	   *holdid = AlIdentifierArg(fcinfo, 1, "holdid");
	AlOrderLine *lines;
	int			nlines;
	Datum		decision_skus = (Datum) 0;
	Datum		decision_qtys = (Datum) 0;

	lines = order_lines_args(fcinfo, 2, &nlines);
	InitMaterializedSRF(fcinfo, 0);

	/* A session lock outlives an error: give it back on one. */
	PG_TRY();
	{
		AlConnect();
		AlTakeOrder(fcinfo, call.orderid, holdid, 4);
		if (lock_and_place(&call, lines, nlines) && new_decision(fcinfo, 4, lines, nlines, &decision_skus, &decision_qtys) > 0)
			AlDecide(call.orderid, holdid, decision_skus, decision_qtys);
		else
			AlGiveBackOrder();
		return_lines(fcinfo, lines, nlines);
		AlFinish();
	}
	PG_CATCH();
	{
		AlGiveBackOrder();
		PG_RE_THROW();
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * allocation.order_undo(orderid text, skus text[]) RETURNS integer
 *
 * A router's step on each shard of an order it could not finish: frees the
 * order's lines of skus (Deallocated each) and returns how many it freed;
 * 22023 for a sku that is not an identifier, freeing none.  Locks the
 * products in lock order.
 */
PG_FUNCTION_INFO_V1(allocation_order_undo);
Datum
allocation_order_undo(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	int			nskus;
	AlOrderLine *lines = AlSkusArg(fcinfo, 1, "skus", &nskus);
	int			nlines;
	int			freed = 0;
	int			i;

	nlines = AlSortLines(lines, nskus, true);

	AlConnect();
	AlLockProducts(lines, nlines);
	for (i = 0; i < nlines; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (AlFreeLine(orderid, lines[i].sku, lines[i].version) != NULL)
			freed++;
	}
	AlFinish();
	PG_RETURN_INT32(freed);
}
