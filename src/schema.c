/*-------------------------------------------------------------------------
 *
 * src/schema.c
 *		The guard on the extension's schema: every statement names
 *		allocation.*, so that name must keep meaning the extension's own
 *		schema, owned by the extension's owner.
 *
 * The install script refuses a schema another role made; this check also
 * covers databases installed before it, where a schema made by a database
 * owner may have been reused.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <string.h>

#include "access/genam.h"
#include "access/htup.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_extension_d.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "storage/lockdefs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "allocation.h"

/*
 * The extension's schema, owner and version, as pg_extension says; read
 * again whenever schema "allocation" does not match them (after DROP and
 * CREATE EXTENSION, say) or the version was not the library's (until ALTER
 * EXTENSION UPDATE).
 */
static Oid	extension_schema = InvalidOid;
static Oid	extension_owner = InvalidOid;
static char *extension_version = NULL;
static bool version_ok = false;

/*
 * read_extension: fill extension_schema, extension_owner and
 * extension_version from pg_extension.
 */
static void
read_extension(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Datum		version;
	bool		isnull;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("allocation"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "allocation: extension allocation is not installed in this database");
	extension_schema = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	extension_owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	version = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);
	if (extension_version != NULL)
		pfree(extension_version);
	extension_version = MemoryContextStrdup(TopMemoryContext,
											isnull ? "" : TextDatumGetCString(version));
	version_ok = strcmp(extension_version, AL_LIBRARY_VERSION) == 0;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * schema_owner: the owner of a schema, InvalidOid if there is none.
 */
static Oid
schema_owner(Oid schema)
{
	HeapTuple	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(schema));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * check_version: the library's statements use the objects of its own
 * version; a database still at an older one gets a clear error (55000)
 * until ALTER EXTENSION allocation UPDATE, rather than a missing relation.
 */
static void
check_version(void)
{
	if (!version_ok)
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("extension allocation is installed at version %s, its library is version %s",
					   extension_version, AL_LIBRARY_VERSION),
				errhint("Run ALTER EXTENSION allocation UPDATE in this database."));
}

/*
 * AlCheckSchema: the statements name allocation.*, so before any runs the
 * schema of that name must be the extension's own and belong to the
 * extension's owner.  Otherwise its owner could have renamed it and put
 * look-alike tables with triggers in its place, to run them as our
 * (superuser) owner.  Raises 42501.  Two syscache lookups per call.
 */
void
AlCheckSchema(void)
{
	Oid			schema = get_namespace_oid("allocation", true);

	if (version_ok && schema == extension_schema && schema_owner(schema) == extension_owner)
		return;
	read_extension();
	if (schema != extension_schema)
		ereport(ERROR,
				errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				errmsg("schema \"allocation\" is not the schema of extension allocation"),
				errdetail("The extension was installed in schema \"%s\".",
						  get_namespace_name(extension_schema)),
				errhint("Someone renamed the extension's schema: check both schemas for objects you did not create."));
	if (schema_owner(schema) != extension_owner)
		ereport(ERROR,
				errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				errmsg("schema \"allocation\" is owned by role \"%s\", not by the extension's owner \"%s\"",
					   GetUserNameFromId(schema_owner(schema), false),
					   GetUserNameFromId(extension_owner, false)),
				errhint("Check the schema for objects you did not create, then run ALTER SCHEMA allocation OWNER TO %s.",
						quote_identifier(GetUserNameFromId(extension_owner, false))));
	check_version();
}
