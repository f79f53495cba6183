/*-------------------------------------------------------------------------
 *
 * src/commands.c
 *		apply_command: the inbox that makes a message bus's commands run
 *		exactly once.
 *
 * A consumer (allocation-consumer) reads commands from a Redis stream and
 * passes each with its entry ID.  The inbox row for that ID is written in
 * the command's own transaction, with the command's outcome: a command
 * delivered again (the consumer died before acknowledging it) finds its
 * row and gets the same outcome without running again.  A command that
 * fails (bad JSON, unknown command, a missing field, AL001, ...) is rolled
 * back to a savepoint and its error becomes its outcome, so that it is
 * answered once like any other and never blocks the stream.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <string.h>

#include "access/tupdesc.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"

#include "allocation.h"

/* A command's name and the statement that runs it. */
typedef struct Command
{
	const char *name;
	AlStatementId statement;
} Command;

static const Command commands[] = {
	{"add_batch", AL_STMT_COMMAND_ADD_BATCH},
	{"allocate", AL_STMT_COMMAND_ALLOCATE},
	{"deallocate", AL_STMT_COMMAND_DEALLOCATE},
	{"change_batch_quantity", AL_STMT_COMMAND_CHANGE_BATCH_QUANTITY},
	{"hold", AL_STMT_COMMAND_HOLD},
	{"confirm_hold", AL_STMT_COMMAND_CONFIRM_HOLD},
	{"release_hold", AL_STMT_COMMAND_RELEASE_HOLD},
};

/* An outcome: status "ok" with a result, or "error" with its SQLSTATE. */
typedef struct Outcome
{
	bool		ok;
	char	   *sqlstate;
	char	   *message;
	Datum		result;			/* jsonb, when ok */
} Outcome;

/*
 * run_command: run one command on its payload (JSON text) and return its
 * result (jsonb, in the caller's memory).  Raises 22023 for an unknown
 * command or a payload that is not a JSON object, 22P02 for text that is
 * not JSON, and whatever the call raises.
 */
static Datum
run_command(text *command, text *payload)
{
	const Command *found = NULL;
	Datum		json;
	Datum		args[1];
	AlResult	ran;
	Datum		result;
	bool		isnull;
	char	   *name;
	int			i;

	if (command == NULL)
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("command must not be null"));
	if (payload == NULL)
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("payload must not be null"));
	name = text_to_cstring(command);
	for (i = 0; i < (int) lengthof(commands) && found == NULL; i++)
	{
		if (strcmp(commands[i].name, name) == 0)
			found = &commands[i];
	}
	if (found == NULL)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("unknown command \"%s\"", name),
				errhint("The commands are add_batch, allocate, deallocate, change_batch_quantity, hold, confirm_hold and release_hold."));

	json = DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(payload)));
	if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(json)))
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("payload of command \"%s\" must be a JSON object", name));

	args[0] = json;
	ran = AlExecute(found->statement, args, NULL, 1);
	result = datumCopy(AlValue(ran, 0, ran.tuptable->tupdesc->natts, &isnull), false, -1);
	AlFree(ran);
	return result;
}

/*
 * is_transient: errors that say nothing about the command but about this
 * attempt (serialization failure, deadlock, lock timeout, cancel, shutdown,
 * lack of memory or disk, I/O): they abort the consumer's transaction so
 * that the command is delivered and tried again, rather than becoming its
 * answer.  Everything else, internal errors and program limits included,
 * would fail again the same way: it becomes the command's answer, so that
 * one bad command never blocks the stream.
 */
static bool
is_transient(int sqlerrcode)
{
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_TRANSACTION_ROLLBACK:	/* 40 */
		case ERRCODE_INSUFFICIENT_RESOURCES:	/* 53 */
		case ERRCODE_OPERATOR_INTERVENTION:	/* 57 */
		case ERRCODE_SYSTEM_ERROR:	/* 58 */
			return true;
	}
	return sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
}

/*
 * apply: run a command in a subtransaction, as a plpgsql EXCEPTION block
 * does, and return its outcome; a transient error is raised again.
 */
static Outcome
apply(text *command, text *payload)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Outcome		outcome = {0};

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		outcome.result = run_command(command, payload);
		outcome.ok = true;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		if (is_transient(error->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		outcome.sqlstate = pstrdup(unpack_sql_state(error->sqlerrcode));
		outcome.message = pstrdup(error->message);
		FreeErrorData(error);
	}
	PG_END_TRY();
	return outcome;
}

/*
 * allocation.apply_command(request text, command text, payload text)
 * RETURNS TABLE (status text, sqlstate text, message text, result jsonb)
 *
 * Runs a command of a message bus exactly once per request (the consumer
 * passes its stream and entry ID) and returns its outcome: status "ok"
 * with the call's result as JSON (allocate: {"batchref": ...}), or "error"
 * with the SQLSTATE and message of what it raised, having changed nothing.
 * The same request again returns the same outcome and runs nothing; a
 * second consumer applying it at the same time waits for the first's
 * transaction.  The commands, each the API function of its name on the
 * fields of the JSON object payload: add_batch {ref, sku, qty, eta},
 * allocate {orderid, sku, qty}, deallocate {orderid, sku},
 * change_batch_quantity {batchref, qty}, hold {holdid, sku, qty, ttl},
 * confirm_hold {holdid, orderid}, release_hold {holdid}.  Raises 22004 for
 * a NULL request and 22023 for a bad one; errors of this attempt rather
 * than of the command (40001, 40P01, 55P03, cancel) are raised as they are,
 * so that the command is tried again.
 */
PG_FUNCTION_INFO_V1(allocation_apply_command);
Datum
allocation_apply_command(PG_FUNCTION_ARGS)
{
	text	   *request = AlIdentifierArg(fcinfo, 0, "request");
	text	   *command = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	text	   *payload = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);
	Datum		claim_args[2] = {PointerGetDatum(request), PointerGetDatum(command)};
	char		claim_nulls[2] = {' ', command == NULL ? 'n' : ' '};
	ReturnSetInfo *rsinfo;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	AlResult	claimed;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	AlConnect();
	claimed = AlExecute(AL_STMT_CLAIM_REQUEST, claim_args, claim_nulls, 0);
	if (claimed.n == 0)
	{
		/* Applied before: its recorded outcome. */
		AlResult	found = AlExecute(AL_STMT_FIND_REQUEST, claim_args, NULL, 1);
		int			i;

		if (found.n == 0)
			elog(ERROR, "allocation: request \"%s\" is claimed but not found",
				 text_to_cstring(request));
		for (i = 0; i < 4; i++)
			values[i] = AlValue(found, 0, i + 1, &nulls[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		AlFree(found);
	}
	else
	{
		Outcome		outcome = apply(command, payload);
		Datum		record[5];
		char		record_nulls[5] = {' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(outcome.ok ? "ok" : "error");
		values[1] = outcome.ok ? (Datum) 0 : CStringGetTextDatum(outcome.sqlstate);
		values[2] = outcome.ok ? (Datum) 0 : CStringGetTextDatum(outcome.message);
		values[3] = outcome.ok ? outcome.result : (Datum) 0;
		nulls[1] = nulls[2] = outcome.ok;
		nulls[3] = !outcome.ok;
		record[0] = PointerGetDatum(request);
		memcpy(&record[1], values, sizeof(values));
		record_nulls[2] = record_nulls[3] = outcome.ok ? 'n' : ' ';
		record_nulls[4] = outcome.ok ? ' ' : 'n';
		AlFree(AlExecute(AL_STMT_RECORD_RESULT, record, record_nulls, 0));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AlFree(claimed);
	AlFinish();
	return (Datum) 0;
}
