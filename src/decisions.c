/*-------------------------------------------------------------------------
 *
 * src/decisions.c
 *		The decision log of orders that span shards, kept on a shard for
 *		the routers (allocation_router), and the order lock that keeps two
 *		routers off one order.
 *
 * A router places an order over several shards in steps, each a call that
 * commits on its own: hold every line (state "holding"), record the
 * decision ("decided"), confirm every hold, record the end ("done"; or
 * "released" or "undone" when it cannot).  The log lives on the shard that
 * hashtext(orderid) picks, so any router, or a new one, finds and finishes
 * what another left.  Each change of state is conditional on the state it
 * leaves, under the row's lock.  Router 1.3 takes the order's lock and
 * records the decision in the call that allocates the order's lines on that
 * shard, once the others are held (order_place, through AlTakeOrder and
 * AlDecide); router 1.2 began the attempt in the call that held them there
 * (order_hold, through AlBeginAttempt) and decided in the one that
 * confirmed them (order_decide, through AlCheckDecision and AlDecide).
 * decision_begin and decision_record remain for orders with no line on that
 * shard, and for finishing what another router left.
 *
 * The order lock is a session-level "userlock" (a lock type no SQL
 * function takes: no role can block an order with an advisory lock) held
 * by the router's connection to this shard from decision_begin until
 * decision_set(..., unlock) or decision_unlock, across the router's calls.
 * A router that dies closes that connection, and the lock goes with it
 * (the user lock method's session locks are released at backend exit,
 * the default method's are not): recover() on any router then finds the
 * order free.  A connection holds
 * at most one order lock: taking one gives back any it still held (a call
 * that failed before unlocking).  So the router's connections to shards
 * must keep their session (no transaction-pooling PgBouncer between).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <string.h>

#include "catalog/pg_type_d.h"
#include "funcapi.h"
#include "nodes/execnodes.h"
#include "storage/lock.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/* locktag_field4 of the order locks ("AO"); seed of their hash. */
#define AL_LOCK_ORDER 0x414F
#define AL_ORDER_HASH_SEED UINT64CONST(0x6f72646572736c6b)

/* The order lock this session holds, if any. */
static LOCKTAG held_order;
static bool holding_order = false;

/*
 * order_tag: the lock tag of an order's lock, a session lock
 * (USER_LOCKMETHOD: a backend's session locks of it go when it exits).
 */
static void
order_tag(LOCKTAG *tag, text *orderid)
{
	AlLockTag(tag, orderid, AL_ORDER_HASH_SEED, AL_LOCK_ORDER, USER_LOCKMETHOD);
}

/* unlock_order: give back the order lock this session holds, if any. */
static bool
unlock_order(void)
{
	if (!holding_order)
		return false;
	holding_order = false;
	return LockRelease(&held_order, ExclusiveLock, true);
}

/*
 * lock_order: take an order's lock for the session, after giving back any
 * other.  Waits when wait is true (lock_timeout, deadlock detection and
 * cancel apply); else returns false at once when another session holds it.
 */
static bool
lock_order(text *orderid, bool wait)
{
	LOCKTAG		tag;

	order_tag(&tag, orderid);
	if (holding_order && memcmp(&tag, &held_order, sizeof(LOCKTAG)) == 0)
		return true;
	unlock_order();
	if (LockAcquire(&tag, ExclusiveLock, true, !wait) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	held_order = tag;
	holding_order = true;
	return true;
}

/*
 * state_arg: a decision's state is one of the five it can be in; else
 * 22023.
 */
static text *
state_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	static const char *const states[] = {"holding", "decided", "done", "released", "undone"};
	text	   *state = AlIdentifierArg(fcinfo, argno, argname);
	char	   *name = text_to_cstring(state);
	int			i;

	for (i = 0; i < (int) lengthof(states); i++)
	{
		if (strcmp(states[i], name) == 0)
			return state;
	}
	ereport(ERROR,
			errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			errmsg("%s must be holding, decided, done, released or undone, not \"%s\"", argname, name));
}

/*
 * unfinished: whether an order's last attempt (row 0 of result, state in
 * column 4) was left holding or decided.
 */
static bool
unfinished(AlResult last)
{
	bool		isnull;
	char	   *state = TextDatumGetCString(AlValue(last, 0, 4, &isnull));

	return strcmp(state, "holding") == 0 || strcmp(state, "decided") == 0;
}

/*
 * attempt_arrays: the skus and qtys of an attempt (arguments skus_arg and
 * the next, named skus_name and qtys_name): both given, as long as each
 * other, not empty; else 22004 or 22023.
 */
static void
attempt_arrays(FunctionCallInfo fcinfo, int skus_arg, const char *skus_name, const char *qtys_name)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nskus;
	int			nqtys;

	AlArrayArg(fcinfo, skus_arg, skus_name, TEXTOID, &elems, &nulls, &nskus);
	AlArrayArg(fcinfo, skus_arg + 1, qtys_name, INT4OID, &elems, &nulls, &nqtys);
	if (nskus != nqtys || nskus == 0)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s and %s must have the same length, at least 1", skus_name, qtys_name));
}

/*
 * record_attempt: the attempt (holdid, skus, qtys) at orderid in state,
 * replacing a finished one; the caller holds the order lock.  An undecided
 * one ("holding") commits without waiting for the WAL flush; a decision
 * waits.
 */
static void
record_attempt(text *orderid, text *holdid, Datum skus, Datum qtys, const char *state)
{
	Datum		args[5] = {PointerGetDatum(orderid), PointerGetDatum(holdid), skus, qtys,
	CStringGetTextDatum(state)};

	AlFree(AlExecute(AL_STMT_RECORD_DECISION, args, NULL, 0));
	/* An undecided attempt lost in a crash is no harm: its holds expire. */
	if (strcmp(state, "holding") == 0)
		AlCommitWithoutFlush();
}

/*
 * record_new: the attempt a caller of decision_begin or decision_record
 * gives (holdid, skus, qtys, state: arguments 1 to 4).
 */
static void
record_new(FunctionCallInfo fcinfo, text *orderid)
{
	text	   *holdid = AlIdentifierArg(fcinfo, 1, "holdid");

	attempt_arrays(fcinfo, 2, "skus", "qtys");
	record_attempt(orderid, holdid, PG_GETARG_DATUM(2), PG_GETARG_DATUM(3),
				   text_to_cstring(state_arg(fcinfo, 4, "state")));
}

/*
 * require_order_lock: 55000 unless this session holds the order's lock.
 */
static void
require_order_lock(text *orderid)
{
	LOCKTAG		tag;

	order_tag(&tag, orderid);
	if (!holding_order || memcmp(&tag, &held_order, sizeof(LOCKTAG)) != 0)
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("this session does not hold the lock of order \"%s\"", text_to_cstring(orderid)),
				errhint("Call allocation.decision_begin first."));
}

/*
 * take_order: take the order's lock for the session (waiting) and return
 * whether attempt holdid is the one recorded unfinished at the order.
 * 55000 when a router left another attempt at it unfinished: the router
 * finishes that one first (decision_begin).  On any error the caller gives
 * the lock back (AlGiveBackOrder).
 */
static bool
take_order(text *orderid, text *holdid)
{
	Datum		args[1] = {PointerGetDatum(orderid)};
	AlResult	last;
	bool		ours = false;

	lock_order(orderid, true);
	last = AlExecute(AL_STMT_PENDING_DECISION, args, NULL, 1);
	if (last.n > 0 && unfinished(last))
	{
		bool		isnull;

		ours = AlCompareBytes(DatumGetTextPP(AlValue(last, 0, 1, &isnull)), holdid) == 0;
		if (!ours)
			ereport(ERROR,
					errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("order \"%s\" has an unfinished attempt", text_to_cstring(orderid)),
					errhint("Finish it first: allocation.decision_begin returns it."));
	}
	AlFree(last);
	return ours;
}

/*
 * AlBeginAttempt: for order_hold on the order's own shard, inside its SPI
 * connection: take the order's lock (take_order) and record the attempt
 * (holdid, order_skus and order_qtys: arguments skus_arg and the next)
 * "holding", unless this attempt is recorded already.
 */
void
AlBeginAttempt(FunctionCallInfo fcinfo, text *orderid, text *holdid, int skus_arg)
{
	attempt_arrays(fcinfo, skus_arg, "order_skus", "order_qtys");
	if (!take_order(orderid, holdid))
		record_attempt(orderid, holdid, PG_GETARG_DATUM(skus_arg), PG_GETARG_DATUM(skus_arg + 1), "holding");
}

/*
 * AlTakeOrder: for order_place, inside its SPI connection: the decision's
 * skus and qtys (arguments skus_arg and the next) are well formed, and the
 * order's lock is this session's (take_order), with no other attempt
 * unfinished.
 */
void
AlTakeOrder(FunctionCallInfo fcinfo, text *orderid, text *holdid, int skus_arg)
{
	attempt_arrays(fcinfo, skus_arg, "decision_skus", "decision_qtys");
	(void) take_order(orderid, holdid);
}

/*
 * AlDecide: for order_place after AlTakeOrder, or order_decide after
 * AlCheckDecision: the attempt (holdid) is decided with the order's new
 * lines, skus and qtys.
 */
void
AlDecide(text *orderid, text *holdid, Datum skus, Datum qtys)
{
	record_attempt(orderid, holdid, skus, qtys, "decided");
}

/*
 * AlCheckDecision: for order_decide, before it confirms anything: the
 * session holds the order's lock (55000 otherwise) and the decision's skus
 * and qtys (arguments skus_arg and the next) are well formed.
 */
void
AlCheckDecision(FunctionCallInfo fcinfo, text *orderid, int skus_arg)
{
	require_order_lock(orderid);
	attempt_arrays(fcinfo, skus_arg, "decision_skus", "decision_qtys");
}

/*
 * AlGiveBackOrder: give back the order lock this session holds, if any (an
 * attempt that failed before it was recorded).
 */
void
AlGiveBackOrder(void)
{
	unlock_order();
}

/*
 * allocation.decision_begin(orderid text, holdid text, skus text[],
 *                           qtys integer[], state text, wait boolean)
 * RETURNS TABLE (locked boolean, holdid text, skus text[], qtys integer[],
 *                state text)
 *
 * Takes the order's lock for this session (waiting when wait is true, else
 * locked is false and nothing else happens).  When a router left an
 * attempt at the order unfinished (holding or decided), returns it, and
 * the caller finishes it first; otherwise records the new attempt (holdid,
 * skus, qtys, state) when holdid is given, and returns NULLs.
 */
PG_FUNCTION_INFO_V1(allocation_decision_begin);
Datum
allocation_decision_begin(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");
	bool		wait;
	ReturnSetInfo *rsinfo;
	Datum		values[5] = {0};
	bool		nulls[5] = {false, true, true, true, true};

	if (PG_ARGISNULL(5))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("wait must not be null"));
	wait = PG_GETARG_BOOL(5);
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	AlConnect();
	values[0] = BoolGetDatum(lock_order(orderid, wait));
	if (DatumGetBool(values[0]))
	{
		/* A session lock outlives an error: give it back on one. */
		PG_TRY();
		{
			Datum		args[1] = {PointerGetDatum(orderid)};
			AlResult	last = AlExecute(AL_STMT_PENDING_DECISION, args, NULL, 1);
			bool		pending = last.n > 0 && unfinished(last);
			int			i;

			for (i = 1; i < 5 && pending; i++)
				values[i] = datumCopy(AlValue(last, 0, i, &nulls[i]), false, -1);
			if (!pending && !PG_ARGISNULL(1))
				record_new(fcinfo, orderid);
			AlFree(last);
		}
		PG_CATCH();
		{
			unlock_order();
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	AlFinish();
	return (Datum) 0;
}

/*
 * allocation.decision_record(orderid text, holdid text, skus text[],
 *                            qtys integer[], state text) RETURNS void
 *
 * Records a new attempt at the order, replacing a finished one.  The caller
 * holds the order's lock (decision_begin); 55000 otherwise.
 */
PG_FUNCTION_INFO_V1(allocation_decision_record);
Datum
allocation_decision_record(PG_FUNCTION_ARGS)
{
	text	   *orderid = AlIdentifierArg(fcinfo, 0, "orderid");

	require_order_lock(orderid);
	AlConnect();
	record_new(fcinfo, orderid);
	AlFinish();
	PG_RETURN_VOID();
}

/*
 * allocation.decision_set(orderid text, holdid text, from_state text,
 *                         to_state text, unlock boolean) RETURNS boolean
 *
 * Moves the attempt (orderid, holdid) from from_state to to_state, and
 * returns true; false, changing nothing, when it is not in from_state (some
 * other router finished it).  With unlock, gives back the order's lock
 * afterwards.
 */
PG_FUNCTION_INFO_V1(allocation_decision_set);
Datum
allocation_decision_set(PG_FUNCTION_ARGS)
{
	Datum		args[4];
	AlResult	set;
	char	   *to_state;
	bool		unlock;

	args[0] = PointerGetDatum(AlIdentifierArg(fcinfo, 0, "orderid"));
	args[1] = PointerGetDatum(AlIdentifierArg(fcinfo, 1, "holdid"));
	args[2] = PointerGetDatum(state_arg(fcinfo, 2, "from_state"));
	args[3] = PointerGetDatum(state_arg(fcinfo, 3, "to_state"));
	to_state = TextDatumGetCString(args[3]);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("unlock must not be null"));
	unlock = PG_GETARG_BOOL(4);

	AlConnect();
	set = AlExecute(AL_STMT_SET_DECISION, args, NULL, 0);
	/*
	 * "done" or "released" lost in a crash of this server leaves the
	 * attempt as a router that died one step earlier leaves it, for
	 * recover().  The other moves wait for the flush.
	 */
	if (strcmp(to_state, "done") == 0 || strcmp(to_state, "released") == 0)
		AlCommitWithoutFlush();
	AlFree(set);
	AlFinish();
	if (unlock)
		unlock_order();
	PG_RETURN_BOOL(set.n > 0);
}

/*
 * allocation.decision_unlock() RETURNS boolean
 *
 * Gives back the order lock this session holds; false when it holds none.
 */
PG_FUNCTION_INFO_V1(allocation_decision_unlock);
Datum
allocation_decision_unlock(PG_FUNCTION_ARGS)
{
	AlCheckSchema();
	PG_RETURN_BOOL(unlock_order());
}

/*
 * allocation.decisions_pending()
 * RETURNS TABLE (orderid text, holdid text, skus text[], qtys integer[],
 *                state text, updated_at timestamptz)
 *
 * The attempts routers have not finished (holding or decided), oldest
 * first: what recover() works through.
 */
PG_FUNCTION_INFO_V1(allocation_decisions_pending);
Datum
allocation_decisions_pending(PG_FUNCTION_ARGS)
{
	AlMaterialize(fcinfo, AL_STMT_PENDING_DECISIONS, NULL);
	return (Datum) 0;
}
