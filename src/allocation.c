/*-------------------------------------------------------------------------
 *
 * src/allocation.c
 *		Module magic and the argument checks every entry point uses.
 *
 * The SQL functions are declared without STRICT, so a NULL argument reaches
 * these checks and becomes a clear 22004 instead of a silent NULL result.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/int.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "postgres_ext.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "allocation.h"

PG_MODULE_MAGIC;

/*
 * allocation.notify: whether events are also sent with NOTIFY at commit.
 * Off by default: PostgreSQL serializes the commits of every notifying
 * transaction in the cluster, and logical decoding is the delivery path.
 */
bool		AlNotifyEnabled = false;

/*
 * allocation.clock_offset: seconds added to the clock that holds expire by.
 * Only a superuser may set it, so no role can expire another's hold early;
 * tests use it to let time pass without waiting.
 */
int			AlClockOffsetSeconds = 0;

void		_PG_init(void);

/*
 * _PG_init: define the module's settings when the library is loaded.
 */
void
_PG_init(void)
{
	DefineCustomBoolVariable("allocation.notify",
							 "Sends line_allocated and out_of_stock notifications at commit.",
							 "A wake-up for small set-ups: any role that can connect may "
							 "listen to them or send forged ones, and PostgreSQL serializes "
							 "the commits of all transactions that notify.",
							 &AlNotifyEnabled,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("allocation.clock_offset",
							"Moves the clock that holds expire by forward.",
							"For tests: lets time pass without waiting.  Only a superuser may set it.",
							&AlClockOffsetSeconds,
							0, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("allocation");
	AlPlannerInit();
}

/*
 * is_white_space: whether a Unicode code point has the White_Space
 * property (ASCII blanks, NEL, NBSP, the typographic spaces, line and
 * paragraph separators, ideographic space).
 */
static bool
is_white_space(pg_wchar c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
		c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
		c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/*
 * is_blank: true when the text is empty or only white space: any Unicode
 * white space in a UTF8 database, ASCII white space in others.
 */
static bool
is_blank(text *value)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(value);
	const unsigned char *end = p + VARSIZE_ANY_EXHDR(value);
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	while (p < end)
	{
		int			len = utf8 ? pg_utf_mblen(p) : 1;
		pg_wchar	c = (utf8 && len <= end - p) ? utf8_to_unicode(p) : *p;

		if (!is_white_space(c))
			return false;
		p += len;
	}
	return true;
}

/*
 * AlCheckIdentifier: a sku, batch reference or order id is neither blank nor
 * longer than AL_MAX_IDENTIFIER_CHARS characters; else 22023 naming it.
 */
void
AlCheckIdentifier(text *value, const char *name)
{
	int			chars;

	if (is_blank(value))
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s must not be empty or blank", name));

	chars = pg_mbstrlen_with_len(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	if (chars > AL_MAX_IDENTIFIER_CHARS)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s is too long", name),
				errdetail("It has %d characters; at most %d are allowed.",
						  chars, AL_MAX_IDENTIFIER_CHARS));
}

/*
 * AlCheckQuantity: a quantity is at least minimum; else 22023 naming it.
 */
void
AlCheckQuantity(int32 value, const char *name, int32 minimum)
{
	if (value < minimum)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s must be at least %d, not %d", name, minimum, value));
}

/*
 * check_not_null: argument argno is not NULL; else 22004 naming it.
 */
static void
check_not_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("%s must not be null", argname));
}

/*
 * AlIdentifierArg: argument argno as a sku, batch reference or order id
 * (22004 for NULL, else AlCheckIdentifier).
 */
text *
AlIdentifierArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	text	   *value;

	check_not_null(fcinfo, argno, argname);
	value = PG_GETARG_TEXT_PP(argno);
	AlCheckIdentifier(value, argname);
	return value;
}

/*
 * AlQuantityArg: argument argno as a quantity of at least minimum (22004
 * for NULL, else AlCheckQuantity).
 */
int32
AlQuantityArg(FunctionCallInfo fcinfo, int argno, const char *argname, int32 minimum)
{
	int32		value;

	check_not_null(fcinfo, argno, argname);
	value = PG_GETARG_INT32(argno);
	AlCheckQuantity(value, argname, minimum);
	return value;
}

/*
 * AlArrayArg: argument argno as a one-dimensional array of element type
 * elemtype, deconstructed (22004 for NULL, 22023 for more dimensions).
 */
void
AlArrayArg(FunctionCallInfo fcinfo, int argno, const char *argname, Oid elemtype,
		   Datum **elems, bool **nulls, int *nelems)
{
	ArrayType  *array;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	check_not_null(fcinfo, argno, argname);
	array = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s must be a one-dimensional array", argname));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, elems, nulls, nelems);
}

/*
 * AlTtlArg: argument argno as the length of a hold, in microseconds: more
 * than zero and at most AL_MAX_HOLD_USECS (22004 for NULL, else 22023).
 * A month counts as 30 days and a day as 24 hours, as interval comparison
 * does.
 */
int64
AlTtlArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	Interval   *ttl;
	int64		usecs;

	check_not_null(fcinfo, argno, argname);
	ttl = PG_GETARG_INTERVAL_P(argno);
	if (pg_mul_s64_overflow((int64) ttl->month * DAYS_PER_MONTH + ttl->day, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, ttl->time, &usecs) ||
		usecs <= 0 || usecs > AL_MAX_HOLD_USECS)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s must be more than 0 and at most 1 day, not %s", argname,
					   DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(ttl)))));
	return usecs;
}

/*
 * AlConnect: check the schema, then open SPI for one entry point.  Errors
 * unwind it for us.
 */
void
AlConnect(void)
{
	AlCheckSchema();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "allocation: SPI_connect failed");
}

/*
 * AlFinish: close SPI on the success path, freeing its memory.
 */
void
AlFinish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "allocation: SPI_finish failed");
}

/*
 * AlReturnText: a copy of a text (or NULL) in the caller's memory, so that
 * an entry point can return it after AlFinish.
 */
text *
AlReturnText(text *value)
{
	if (value == NULL)
		return NULL;
	return (text *) DatumGetPointer(SPI_datumTransfer(PointerGetDatum(value), false, -1));
}

/*
 * AlCommitWithoutFlush: let the caller's transaction commit without
 * waiting for its WAL to reach disk (synchronous_commit = off for this
 * transaction only), for a step whose loss in a crash is repaired by
 * itself: held stock expires, an undecided attempt is released by
 * recover().  A crash loses at most the last moments of such commits,
 * never a commit that follows one that waited.
 */
void
AlCommitWithoutFlush(void)
{
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * AlBatchExists: 23505 for a batch reference that is taken, naming the
 * constraint it would break, as the server's own unique violation does.
 */
void
AlBatchExists(text *ref)
{
	ereport(ERROR,
			errcode(ERRCODE_UNIQUE_VIOLATION),
			errmsg("batch \"%s\" already exists", text_to_cstring(ref)),
			err_generic_string(PG_DIAG_SCHEMA_NAME, "allocation"),
			err_generic_string(PG_DIAG_TABLE_NAME, "batches"),
			err_generic_string(PG_DIAG_CONSTRAINT_NAME, "batches_pkey"));
}
