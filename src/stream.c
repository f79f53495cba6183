/*-------------------------------------------------------------------------
 *
 * src/stream.c
 *		The event stream: setting up and tearing down the publication of
 *		allocation.events and the pgoutput slot a relay reads it through.
 *
 * Events leave through PostgreSQL's logical decoding, so every committed
 * event is delivered once per slot, in commit order, and a relay that was
 * down resumes where it acknowledged; the allocation transaction does
 * nothing more than insert its events.  Both functions are idempotent and
 * run as their caller, who needs to be a superuser (a publication of the
 * extension's table and a replication slot need one).
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "allocation.h"

/* The publication every relay of the database reads. */
#define AL_PUBLICATION "allocation_events"

/*
 * slot_arg: the slot name argument (22004 for NULL, 22023 for an empty one).
 */
static Name
slot_arg(FunctionCallInfo fcinfo)
{
	Name		slot;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("slot must not be null"));
	slot = PG_GETARG_NAME(0);
	if (NameStr(*slot)[0] == '\0')
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("slot must not be empty"));
	return slot;
}

/*
 * check_ours: a slot found (AL_STMT_SLOT) must be one stream_setup could
 * have made: a logical pgoutput slot of this database; else 55000.
 */
static void
check_ours(AlResult found, Name slot)
{
	bool		isnull;

	if (!DatumGetBool(AlValue(found, 0, 1, &isnull)))
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("replication slot \"%s\" exists but is not a pgoutput slot of this database",
					   NameStr(*slot)),
				errhint("Choose another slot name, or drop that slot."));
}

/*
 * allocation.stream_setup(slot name DEFAULT 'allocation_events') RETURNS void
 *
 * Creates what a relay needs, when missing: the logical replication slot
 * (plugin pgoutput, in this database) and the publication allocation_events
 * of the inserts into allocation.events.  Calling it again changes nothing.
 *
 * Raises 55000 when wal_level is not logical, or when a slot of that name
 * exists for another database or plugin, or the publication exists without
 * publishing the outbox's inserts.  The slot is created first: PostgreSQL
 * creates one only in a transaction that has written nothing.
 */
PG_FUNCTION_INFO_V1(allocation_stream_setup);
Datum
allocation_stream_setup(PG_FUNCTION_ARGS)
{
	Name		slot = slot_arg(fcinfo);
	Datum		args[1] = {NameGetDatum(slot)};
	AlResult	found;

	if (!XLogLogicalInfoActive())
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("the event stream needs wal_level = logical, not %s",
					   GetConfigOption("wal_level", false, false)),
				errhint("Set wal_level = logical in postgresql.conf and restart the server."));

	AlConnect();
	found = AlExecute(AL_STMT_SLOT, args, NULL, 1);
	if (found.n == 0)
		AlFree(AlExecute(AL_STMT_CREATE_SLOT, args, NULL, 0));
	else
		check_ours(found, slot);
	AlFree(found);

	found = AlExecute(AL_STMT_PUBLICATION, NULL, NULL, 1);
	if (found.n == 0)
		AlFree(AlExecute(AL_STMT_CREATE_PUBLICATION, NULL, NULL, 0));
	else
	{
		bool		isnull;

		if (!DatumGetBool(AlValue(found, 0, 1, &isnull)))
			ereport(ERROR,
					errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("publication \"%s\" exists but does not publish the inserts into allocation.events",
						   AL_PUBLICATION),
					errhint("Drop that publication, then run allocation.stream_setup() again."));
	}
	AlFree(found);
	AlFinish();

	PG_RETURN_VOID();
}

/*
 * allocation.stream_teardown(slot name DEFAULT 'allocation_events') RETURNS void
 *
 * Drops the slot if it exists (55006 while a relay is connected to it),
 * then the publication, unless another pgoutput slot of this database is
 * left that may read it.  Refuses (55000, changing nothing) a slot that
 * stream_setup would not have made: a physical slot, or a logical one of
 * another database or plugin.  Calling it again changes nothing.
 */
PG_FUNCTION_INFO_V1(allocation_stream_teardown);
Datum
allocation_stream_teardown(PG_FUNCTION_ARGS)
{
	Name		slot = slot_arg(fcinfo);
	Datum		args[1] = {NameGetDatum(slot)};
	AlResult	found;
	bool		isnull;

	AlConnect();
	found = AlExecute(AL_STMT_SLOT, args, NULL, 1);
	if (found.n > 0)
	{
		check_ours(found, slot);
		AlFree(AlExecute(AL_STMT_DROP_SLOT, args, NULL, 0));
	}
	AlFree(found);
	found = AlExecute(AL_STMT_OTHER_STREAM_SLOTS, args, NULL, 1);
	if (DatumGetInt64(AlValue(found, 0, 1, &isnull)) == 0)
	{
		AlResult	publication = AlExecute(AL_STMT_PUBLICATION, NULL, NULL, 1);

		if (publication.n > 0)
			AlFree(AlExecute(AL_STMT_DROP_PUBLICATION, NULL, NULL, 0));
		AlFree(publication);
	}
	AlFree(found);
	AlFinish();

	PG_RETURN_VOID();
}
