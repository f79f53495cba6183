/*-------------------------------------------------------------------------
 *
 * src/plans.c
 *		The statement registry: every SQL statement the extension runs,
 *		prepared once per backend and kept.
 *
 * Each text names every relation, function and operator with its schema,
 * so that neither the caller's search_path nor an object shadowing a
 * catalog name can change what runs.  Caller values are always $n
 * parameters.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type_d.h"
#include "executor/spi.h"

#include "allocation.h"

#define AL_MAX_ARGS 4

typedef struct AlStatement
{
	const char *name;			/* for error messages */
	const char *sql;
	int			nargs;
	Oid			argtypes[AL_MAX_ARGS];
	int			expected;		/* the SPI_OK_* code a success returns */
	bool		read_only;		/* run from a STABLE function */
} AlStatement;

static const AlStatement statements[AL_STMT_COUNT] = {
	[AL_STMT_LOCK_PRODUCT] = {
		"lock product",
		"SELECT version_number\n"
		"FROM allocation.products\n"
		"WHERE sku OPERATOR(pg_catalog.=) $1\n"
		"FOR NO KEY UPDATE",
		1, {TEXTOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_SET_VERSION] = {
		"set version",
		"UPDATE allocation.products\n"
		"SET version_number = $2\n"
		"WHERE sku OPERATOR(pg_catalog.=) $1",
		2, {TEXTOID, INT8OID}, SPI_OK_UPDATE, false
	},
	/*
	 * ON CONFLICT alone would wait for any transaction that has changed the
	 * existing product (its unique check sees the new row version), so an
	 * existing product is skipped first and add_batch never waits for an
	 * allocation.  ON CONFLICT still settles two first batches at once.
	 */
	[AL_STMT_INSERT_PRODUCT] = {
		"insert product",
		"INSERT INTO allocation.products (sku)\n"
		"SELECT $1\n"
		"WHERE NOT EXISTS (SELECT\n"
		"                  FROM allocation.products\n"
		"                  WHERE sku OPERATOR(pg_catalog.=) $1)\n"
		"ON CONFLICT (sku) DO NOTHING",
		1, {TEXTOID}, SPI_OK_INSERT, false
	},
	[AL_STMT_INSERT_BATCH] = {
		"insert batch",
		"INSERT INTO allocation.batches (reference, sku, purchased_quantity, eta)\n"
		"VALUES ($1, $2, $3, $4)\n"
		"ON CONFLICT (reference) DO NOTHING",
		4, {TEXTOID, TEXTOID, INT4OID, DATEOID}, SPI_OK_INSERT, false
	},
	[AL_STMT_BATCH_SKU] = {
		"batch sku",
		"SELECT sku\n"
		"FROM allocation.batches\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_BATCH_QUANTITIES] = {
		"batch quantities",
		"SELECT purchased_quantity, allocated_quantity\n"
		"FROM allocation.batches\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_SET_BATCH_QUANTITIES] = {
		"set batch quantities",
		"UPDATE allocation.batches\n"
		"SET purchased_quantity = $2, allocated_quantity = $3\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		3, {TEXTOID, INT4OID, INT4OID}, SPI_OK_UPDATE, false
	},
	[AL_STMT_FIND_LINE] = {
		"find line",
		"SELECT batch_reference, qty\n"
		"FROM allocation.order_lines\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID}, SPI_OK_SELECT, false
	},

	/*
	 * The batch choice rule: warehouse stock (eta NULL) first, then the
	 * earliest eta, ties by reference in byte order (the same answer in
	 * every database, whatever its collation).  "in_stock" is the predicate of
	 * batches_in_stock_idx, so only batches with stock are ever read,
	 * however many exhausted batches the product has.
	 */
	[AL_STMT_PLACE_ON_BEST_BATCH] = {
		"place on best batch",
		"UPDATE allocation.batches\n"
		"SET allocated_quantity = allocated_quantity OPERATOR(pg_catalog.+) $2\n"
		"WHERE reference OPERATOR(pg_catalog.=) (\n"
		"    SELECT reference\n"
		"    FROM allocation.batches\n"
		"    WHERE sku OPERATOR(pg_catalog.=) $1\n"
		"      AND in_stock\n"
		"      AND (purchased_quantity OPERATOR(pg_catalog.-) allocated_quantity)\n"
		"          OPERATOR(pg_catalog.>=) $2\n"
		"    ORDER BY eta NULLS FIRST, reference COLLATE pg_catalog.\"C\"\n"
		"    LIMIT 1)\n"
		"RETURNING reference",
		2, {TEXTOID, INT4OID}, SPI_OK_UPDATE_RETURNING, false
	},
	[AL_STMT_INSERT_LINE] = {
		"insert line",
		"INSERT INTO allocation.order_lines (orderid, sku, qty, batch_reference)\n"
		"VALUES ($1, $2, $3, $4)",
		4, {TEXTOID, TEXTOID, INT4OID, TEXTOID}, SPI_OK_INSERT, false
	},
	[AL_STMT_DELETE_LINE] = {
		"delete line",
		"DELETE FROM allocation.order_lines\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2\n"
		"RETURNING batch_reference, qty",
		2, {TEXTOID, TEXTOID}, SPI_OK_DELETE_RETURNING, false
	},
	[AL_STMT_RELEASE_FROM_BATCH] = {
		"release from batch",
		"UPDATE allocation.batches\n"
		"SET allocated_quantity = allocated_quantity OPERATOR(pg_catalog.-) $2\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		2, {TEXTOID, INT4OID}, SPI_OK_UPDATE, false
	},
	/* The batch's most recently allocated line, found through its index. */
	[AL_STMT_TAKE_LATEST_LINE] = {
		"take latest line",
		"DELETE FROM allocation.order_lines AS l\n"
		"USING (SELECT orderid, sku\n"
		"       FROM allocation.order_lines\n"
		"       WHERE batch_reference OPERATOR(pg_catalog.=) $1\n"
		"       ORDER BY id DESC\n"
		"       LIMIT 1) AS latest\n"
		"WHERE l.orderid OPERATOR(pg_catalog.=) latest.orderid\n"
		"  AND l.sku OPERATOR(pg_catalog.=) latest.sku\n"
		"RETURNING l.orderid, l.qty",
		1, {TEXTOID}, SPI_OK_DELETE_RETURNING, false
	},
	[AL_STMT_INSERT_EVENT] = {
		"insert event",
		"INSERT INTO allocation.events (event, payload)\n"
		"VALUES ($1, $2)",
		2, {TEXTOID, JSONBOID}, SPI_OK_INSERT, false
	},
	[AL_STMT_ORDER_ALLOCATIONS] = {
		"order allocations",
		"SELECT sku, batch_reference\n"
		"FROM allocation.order_lines\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"ORDER BY sku COLLATE pg_catalog.\"C\"",
		1, {TEXTOID}, SPI_OK_SELECT, true
	},
	/*
	 * The new lines of an order that no batch of their sku can take, in the
	 * order given.  Each sku appears once in an order, so a line's fit does
	 * not depend on the other lines.
	 */
	[AL_STMT_SHORT_LINES] = {
		"short lines",
		"SELECT l.sku\n"
		"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))\n"
		"     WITH ORDINALITY AS l(sku, qty, n)\n"
		"WHERE NOT EXISTS (\n"
		"    SELECT\n"
		"    FROM allocation.batches AS b\n"
		"    WHERE b.sku OPERATOR(pg_catalog.=) l.sku\n"
		"      AND b.in_stock\n"
		"      AND (b.purchased_quantity OPERATOR(pg_catalog.-) b.allocated_quantity)\n"
		"          OPERATOR(pg_catalog.>=) l.qty)\n"
		"ORDER BY l.n",
		2, {TEXTARRAYOID, INT4ARRAYOID}, SPI_OK_SELECT, false
	},

	/*
	 * Every invariant the functions keep, as one row per violation.  A
	 * line's latest Allocated/Deallocated event (by id, which follows the
	 * product's changes) must be the Allocated that put it where it is.
	 */
	[AL_STMT_CHECK] = {
		"check",
		"WITH sums AS (\n"
		"    SELECT batch_reference, pg_catalog.sum(qty) AS total\n"
		"    FROM allocation.order_lines\n"
		"    GROUP BY batch_reference\n"
		"), last_events AS (\n"
		"    SELECT DISTINCT ON (orderid, sku) id, event, orderid, sku, batchref, qty\n"
		"    FROM (SELECT id, event,\n"
		"                 payload OPERATOR(pg_catalog.->>) 'orderid'::pg_catalog.text AS orderid,\n"
		"                 payload OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text AS sku,\n"
		"                 payload OPERATOR(pg_catalog.->>) 'batchref'::pg_catalog.text AS batchref,\n"
		"                 payload OPERATOR(pg_catalog.->>) 'qty'::pg_catalog.text AS qty\n"
		"          FROM allocation.events\n"
		"          WHERE event OPERATOR(pg_catalog.=) 'Allocated'::pg_catalog.text\n"
		"             OR event OPERATOR(pg_catalog.=) 'Deallocated'::pg_catalog.text) AS e\n"
		"    ORDER BY orderid, sku, id DESC\n"
		")\n"
		"SELECT problem, detail\n"
		"FROM (\n"
		"    SELECT 'allocated_quantity is not the sum of the batch''s lines'::pg_catalog.text,\n"
		"           pg_catalog.jsonb_build_object('batch', b.reference,\n"
		"               'allocated_quantity', b.allocated_quantity,\n"
		"               'sum_of_lines', COALESCE(s.total, 0::pg_catalog.int8))\n"
		"    FROM allocation.batches AS b\n"
		"    LEFT JOIN sums AS s ON s.batch_reference OPERATOR(pg_catalog.=) b.reference\n"
		"    WHERE b.allocated_quantity::pg_catalog.int8\n"
		"          OPERATOR(pg_catalog.<>) COALESCE(s.total, 0::pg_catalog.int8)\n"
		"    UNION ALL\n"
		"    SELECT 'allocated_quantity exceeds purchased_quantity',\n"
		"           pg_catalog.jsonb_build_object('batch', reference,\n"
		"               'allocated_quantity', allocated_quantity,\n"
		"               'purchased_quantity', purchased_quantity)\n"
		"    FROM allocation.batches\n"
		"    WHERE allocated_quantity OPERATOR(pg_catalog.>) purchased_quantity\n"
		"    UNION ALL\n"
		"    SELECT 'line refers to a missing batch',\n"
		"           pg_catalog.jsonb_build_object('orderid', l.orderid, 'sku', l.sku,\n"
		"               'batch', l.batch_reference)\n"
		"    FROM allocation.order_lines AS l\n"
		"    LEFT JOIN allocation.batches AS b\n"
		"           ON b.reference OPERATOR(pg_catalog.=) l.batch_reference\n"
		"    WHERE b.reference IS NULL\n"
		"    UNION ALL\n"
		"    SELECT 'line refers to a batch of another sku',\n"
		"           pg_catalog.jsonb_build_object('orderid', l.orderid, 'sku', l.sku,\n"
		"               'batch', b.reference, 'batch_sku', b.sku)\n"
		"    FROM allocation.order_lines AS l\n"
		"    JOIN allocation.batches AS b\n"
		"      ON b.reference OPERATOR(pg_catalog.=) l.batch_reference\n"
		"    WHERE b.sku OPERATOR(pg_catalog.<>) l.sku\n"
		"    UNION ALL\n"
		"    SELECT 'line without its Allocated event',\n"
		"           pg_catalog.jsonb_build_object('orderid', l.orderid, 'sku', l.sku,\n"
		"               'batch', l.batch_reference, 'qty', l.qty)\n"
		"    FROM allocation.order_lines AS l\n"
		"    LEFT JOIN last_events AS e\n"
		"           ON e.orderid OPERATOR(pg_catalog.=) l.orderid\n"
		"          AND e.sku OPERATOR(pg_catalog.=) l.sku\n"
		"    WHERE e.id IS NULL\n"
		"       OR e.event OPERATOR(pg_catalog.<>) 'Allocated'::pg_catalog.text\n"
		"       OR e.batchref OPERATOR(pg_catalog.<>) l.batch_reference\n"
		"       OR e.qty OPERATOR(pg_catalog.<>) l.qty::pg_catalog.text\n"
		"    UNION ALL\n"
		"    SELECT 'Allocated event without its line',\n"
		"           pg_catalog.jsonb_build_object('orderid', e.orderid, 'sku', e.sku,\n"
		"               'event_id', e.id)\n"
		"    FROM last_events AS e\n"
		"    LEFT JOIN allocation.order_lines AS l\n"
		"           ON l.orderid OPERATOR(pg_catalog.=) e.orderid\n"
		"          AND l.sku OPERATOR(pg_catalog.=) e.sku\n"
		"    WHERE e.event OPERATOR(pg_catalog.=) 'Allocated'::pg_catalog.text\n"
		"      AND l.orderid IS NULL\n"
		") AS violations (problem, detail)\n"
		"ORDER BY problem COLLATE pg_catalog.\"C\",\n"
		"         detail::pg_catalog.text COLLATE pg_catalog.\"C\"",
		0, {InvalidOid}, SPI_OK_SELECT, true
	},
};

/* Plans kept for the life of the backend; the plan cache revalidates them. */
static SPIPlanPtr plans[AL_STMT_COUNT];

/*
 * prepared_plan: the kept plan of a statement, prepared on first use and
 * planned once per backend.
 */
static SPIPlanPtr
prepared_plan(AlStatementId id)
{
	const AlStatement *stmt = &statements[id];
	SPIPlanPtr	plan;

	if (plans[id] != NULL)
		return plans[id];

	/*
	 * Generic plans only: every statement is a key lookup whose best plan
	 * does not depend on the values, and a custom plan would be planned
	 * again on every call for a sku the statistics call common.
	 */
	plan = SPI_prepare_cursor(stmt->sql, stmt->nargs, (Oid *) stmt->argtypes,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "allocation: could not prepare \"%s\": %s",
			 stmt->name, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "allocation: could not keep plan \"%s\"", stmt->name);
	plans[id] = plan;
	return plan;
}

/*
 * AlExecute: run a registered statement with the given parameters.
 *
 * nulls follows SPI's convention (NULL when no parameter is null, else 'n'
 * marks a null).  tcount limits the rows returned, 0 for all.  Returns the
 * number of rows processed; anything but the statement's expected SPI code
 * is an internal error.
 */
uint64
AlExecute(AlStatementId id, Datum *values, const char *nulls, long tcount)
{
	const AlStatement *stmt = &statements[id];
	int			rc;

	rc = SPI_execute_plan(prepared_plan(id), values, nulls, stmt->read_only, tcount);
	if (rc != stmt->expected)
		elog(ERROR, "allocation: \"%s\" failed: %s",
			 stmt->name, SPI_result_code_string(rc));
	return SPI_processed;
}

/*
 * AlValue: a column (1-based) of a row of the last statement's result.
 * Read it before the next AlExecute, which replaces that result; the value
 * itself lives in SPI memory until AlFinish.
 */
Datum
AlValue(uint64 row, int column, bool *isnull)
{
	if (SPI_tuptable == NULL || row >= SPI_processed)
		elog(ERROR, "allocation: no row " UINT64_FORMAT " in the last result", row);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
						 column, isnull);
}
