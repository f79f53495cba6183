/*-------------------------------------------------------------------------
 *
 * src/allocation.c
 *		Module magic and the argument checks every entry point uses.
 *
 * The SQL functions are declared without STRICT, so a NULL argument reaches
 * these checks and becomes a clear 22004 instead of a silent NULL result.
 *
 * Licence: PostgreSQL Licence.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "parser/scansup.h"

#include "allocation.h"

PG_MODULE_MAGIC;

/*
 * is_blank: true when the text is empty or only ASCII white space.
 */
static bool
is_blank(text *value)
{
	const char *p = VARDATA_ANY(value);
	const char *end = p + VARSIZE_ANY_EXHDR(value);

	for (; p < end; p++)
	{
		if (!scanner_isspace(*p))
			return false;
	}
	return true;
}

/*
 * AlIdentifierArg: argument argno as a sku, batch reference or order id.
 *
 * Raises 22004 for NULL and 22023 for a blank identifier or one longer than
 * AL_MAX_IDENTIFIER_CHARS characters.
 */
text *
AlIdentifierArg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	text	   *value;
	int			chars;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("%s must not be null", argname));

	value = PG_GETARG_TEXT_PP(argno);
	if (is_blank(value))
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s must not be empty or blank", argname));

	chars = pg_mbstrlen_with_len(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	if (chars > AL_MAX_IDENTIFIER_CHARS)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s is too long", argname),
				errdetail("It has %d characters; at most %d are allowed.",
						  chars, AL_MAX_IDENTIFIER_CHARS));
	return value;
}

/*
 * AlQuantityArg: argument argno as a quantity of at least minimum.
 *
 * Raises 22004 for NULL and 22023 below the minimum.
 */
int32
AlQuantityArg(FunctionCallInfo fcinfo, int argno, const char *argname, int32 minimum)
{
	int32		value;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				errmsg("%s must not be null", argname));

	value = PG_GETARG_INT32(argno);
	if (value < minimum)
		ereport(ERROR,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("%s must be at least %d, not %d", argname, minimum, value));
	return value;
}

/*
 * AlConnect: open SPI for one entry point.  Errors unwind it for us.
 */
void
AlConnect(void)
{
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
