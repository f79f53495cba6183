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

#define AL_MAX_ARGS 5

/*
 * The batch of sku $1 that the rule picks for qty $2 at clock $3: see
 * AL_STMT_PLACE_ON_BEST_BATCH.
 */
#define BEST_BATCH_SQL \
	"SELECT b.reference\n" \
	"FROM allocation.batches AS b\n" \
	"WHERE b.sku OPERATOR(pg_catalog.=) $1\n" \
	"  AND b.in_stock\n" \
	"  AND (" ROOM_SQL("b") " OPERATOR(pg_catalog.>=) $2\n" \
	"       OR b.holds_quantity OPERATOR(pg_catalog.>) 0\n" \
	"          AND (b.purchased_quantity OPERATOR(pg_catalog.-) b.allocated_quantity\n" \
	"               OPERATOR(pg_catalog.-) " LIVE_HELD_SQL("b.reference", "$3") ")\n" \
	"              OPERATOR(pg_catalog.>=) $2)\n" \
	"ORDER BY b.eta NULLS FIRST, b.reference COLLATE pg_catalog.\"C\"\n" \
	"LIMIT 1"

/*
 * What a batch has left beside its lines and every hold not reclaimed yet,
 * live or expired: when that is enough, its holds need no look.
 */
#define ROOM_SQL(b) \
	"(" b ".purchased_quantity OPERATOR(pg_catalog.-) " b ".allocated_quantity\n" \
	"  OPERATOR(pg_catalog.-) " b ".holds_quantity)"

/* What the live holds of a batch take from it at a clock (holds_live_idx). */
#define LIVE_HELD_SQL(batch, clock) \
	"(SELECT COALESCE(pg_catalog.sum(h.qty), 0)::pg_catalog.int4\n" \
	"        FROM allocation.holds AS h\n" \
	"        WHERE h.batch_reference OPERATOR(pg_catalog.=) " batch "\n" \
	"          AND h.orderid IS NULL\n" \
	"          AND h.expires_at OPERATOR(pg_catalog.>) " clock ")"

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
		"SET purchased_quantity = $2, allocated_quantity = $3,\n"
		"    holds_quantity = holds_quantity OPERATOR(pg_catalog.-) $4\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1\n"
		"RETURNING " ROOM_SQL("batches"),
		4, {TEXTOID, INT4OID, INT4OID, INT4OID}, SPI_OK_UPDATE_RETURNING, false
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
	 * every database, whatever its collation).  "in_stock" is the predicate
	 * of batches_in_stock_idx, so only batches with unallocated stock are
	 * read, however many exhausted batches the product has.  Live holds
	 * ($3 is the clock) take their share; expired ones cost nothing, and are
	 * looked at only for a batch whose room is not enough beside them all.
	 * Returns the room the batch has left beside all its holds: below zero,
	 * expired ones must be reclaimed (AlSettleBatch).
	 */
	[AL_STMT_PLACE_ON_BEST_BATCH] = {
		"place on best batch",
		"UPDATE allocation.batches\n"
		"SET allocated_quantity = allocated_quantity OPERATOR(pg_catalog.+) $2\n"
		"WHERE reference OPERATOR(pg_catalog.=) (\n"
		BEST_BATCH_SQL
		")\n"
		"RETURNING reference, " ROOM_SQL("batches"),
		3, {TEXTOID, INT4OID, TIMESTAMPTZOID}, SPI_OK_UPDATE_RETURNING, false
	},
	[AL_STMT_BEST_BATCH] = {
		"best batch",
		BEST_BATCH_SQL,
		3, {TEXTOID, INT4OID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
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
	/*
	 * A batch's lines and live holds (at clock $2), most recent first: one
	 * walk down two indexes, read through a cursor by change_batch_quantity.
	 */
	[AL_STMT_RECENT_ON_BATCH] = {
		"recent on batch",
		"SELECT is_hold, key, qty, expires_at\n"
		"FROM (SELECT false AS is_hold, orderid AS key, qty,\n"
		"             NULL::pg_catalog.timestamptz AS expires_at, id\n"
		"      FROM allocation.order_lines\n"
		"      WHERE batch_reference OPERATOR(pg_catalog.=) $1\n"
		"      UNION ALL\n"
		"      SELECT true, holdid, qty, expires_at, id\n"
		"      FROM allocation.holds\n"
		"      WHERE batch_reference OPERATOR(pg_catalog.=) $1\n"
		"        AND orderid IS NULL\n"
		"        AND expires_at OPERATOR(pg_catalog.>) $2) AS recent\n"
		"ORDER BY id DESC",
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_BATCH_HELD] = {
		"batch held",
		"SELECT " LIVE_HELD_SQL("$1", "$2"),
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
	},
	/*
	 * The room left in each batch of sku $1 that has unallocated stock, at
	 * clock $2, in the order of the batch choice rule (BEST_BATCH_SQL).
	 */
	[AL_STMT_BATCH_ROOM] = {
		"batch room",
		"SELECT b.reference,\n"
		"       b.purchased_quantity OPERATOR(pg_catalog.-) b.allocated_quantity\n"
		"       OPERATOR(pg_catalog.-) " LIVE_HELD_SQL("b.reference", "$2") "\n"
		"FROM allocation.batches AS b\n"
		"WHERE b.sku OPERATOR(pg_catalog.=) $1\n"
		"  AND b.in_stock\n"
		"ORDER BY b.eta NULLS FIRST, b.reference COLLATE pg_catalog.\"C\"",
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
	},
	/*
	 * $2 units more (or fewer, when negative) allocated on batch $1, and $3
	 * more held; returns the room left beside all holds (AlSettleBatch).
	 */
	[AL_STMT_ADJUST_BATCH] = {
		"adjust batch",
		"UPDATE allocation.batches\n"
		"SET allocated_quantity = allocated_quantity OPERATOR(pg_catalog.+) $2,\n"
		"    holds_quantity = holds_quantity OPERATOR(pg_catalog.+) $3\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1\n"
		"RETURNING " ROOM_SQL("batches"),
		3, {TEXTOID, INT4OID, INT4OID}, SPI_OK_UPDATE_RETURNING, false
	},
	/*
	 * Up to $3 of the batch's expired holds (at clock $2), earliest first,
	 * deleted and taken off its holds_quantity: their stock is needed.
	 */
	[AL_STMT_RECLAIM_ON_BATCH] = {
		"reclaim on batch",
		"WITH gone AS (\n"
		"    DELETE FROM allocation.holds\n"
		"    WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(\n"
		"        SELECT ctid\n"
		"        FROM allocation.holds\n"
		"        WHERE batch_reference OPERATOR(pg_catalog.=) $1\n"
		"          AND orderid IS NULL\n"
		"          AND expires_at OPERATOR(pg_catalog.<=) $2\n"
		"        ORDER BY expires_at, id\n"
		"        LIMIT $3))\n"
		"    RETURNING holdid, sku, qty, expires_at, id\n"
		"), taken AS (\n"
		"    UPDATE allocation.batches\n"
		"    SET holds_quantity = holds_quantity OPERATOR(pg_catalog.-)\n"
		"                         (SELECT pg_catalog.sum(qty)::pg_catalog.int4 FROM gone)\n"
		"    WHERE reference OPERATOR(pg_catalog.=) $1\n"
		"      AND EXISTS (SELECT FROM gone)\n"
		")\n"
		"SELECT holdid, sku, qty\n"
		"FROM gone\n"
		"ORDER BY expires_at, id",
		3, {TEXTOID, TIMESTAMPTZOID, INT8OID}, SPI_OK_SELECT, false
	},
	[AL_STMT_FIND_HOLD] = {
		"find hold",
		"SELECT batch_reference, qty, expires_at, orderid\n"
		"FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID}, SPI_OK_SELECT, false
	},
	/* Any line of the hold that has not expired at clock $2. */
	[AL_STMT_HOLD_EXPIRY] = {
		"hold expiry",
		"SELECT expires_at, orderid\n"
		"FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"  AND expires_at OPERATOR(pg_catalog.>) $2\n"
		"LIMIT 1",
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_INSERT_HOLD] = {
		"insert hold",
		"INSERT INTO allocation.holds (holdid, sku, qty, batch_reference, expires_at)\n"
		"VALUES ($1, $2, $3, $4, $5)",
		5, {TEXTOID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID}, SPI_OK_INSERT, false
	},
	[AL_STMT_DELETE_HOLD] = {
		"delete hold",
		"DELETE FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID}, SPI_OK_DELETE, false
	},
	[AL_STMT_CONFIRM_HOLD_LINE] = {
		"confirm hold line",
		"UPDATE allocation.holds\n"
		"SET orderid = $3\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2",
		3, {TEXTOID, TEXTOID, TEXTOID}, SPI_OK_UPDATE, false
	},
	/* Read without a lock, to learn which products to lock. */
	[AL_STMT_HOLD_SKUS] = {
		"hold skus",
		"SELECT sku\n"
		"FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_HOLD_LINES] = {
		"hold lines",
		"SELECT sku, qty, batch_reference, expires_at, orderid\n"
		"FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"ORDER BY sku COLLATE pg_catalog.\"C\"",
		1, {TEXTOID}, SPI_OK_SELECT, false
	},
	/*
	 * A bounded share of a sku's expired holds (at clock $2), earliest
	 * expiry first, deleted; "live" says whether one still held stock (not
	 * confirmed) and so needs its Released event.
	 */
	[AL_STMT_RECLAIM_EXPIRED] = {
		"reclaim expired",
		"WITH gone AS (\n"
		"    DELETE FROM allocation.holds\n"
		"    WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(\n"
		"        SELECT ctid\n"
		"        FROM allocation.holds\n"
		"        WHERE sku OPERATOR(pg_catalog.=) $1\n"
		"          AND expires_at OPERATOR(pg_catalog.<=) $2\n"
		"        ORDER BY expires_at, id\n"
		"        LIMIT " CppAsString2(AL_RECLAIM_PER_CALL) "))\n"
		"    RETURNING holdid, qty, orderid IS NULL AS live, batch_reference, expires_at, id\n"
		"), taken AS (\n"
		"    UPDATE allocation.batches AS b\n"
		"    SET holds_quantity = b.holds_quantity OPERATOR(pg_catalog.-) g.qty\n"
		"    FROM (SELECT batch_reference, pg_catalog.sum(qty)::pg_catalog.int4 AS qty\n"
		"          FROM gone\n"
		"          WHERE live\n"
		"          GROUP BY batch_reference) AS g\n"
		"    WHERE b.reference OPERATOR(pg_catalog.=) g.batch_reference\n"
		")\n"
		"SELECT holdid, qty, live\n"
		"FROM gone\n"
		"ORDER BY expires_at, id",
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
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
	 * not depend on the other lines.  OFFSET 0 keeps NOT EXISTS a probe of
	 * batches_in_stock_idx per line: turned into an anti join, a plan made
	 * while statistics said no batch had stock could read every batch in
	 * stock for each order, for the life of the backend.
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
		"      AND (" ROOM_SQL("b") " OPERATOR(pg_catalog.>=) l.qty\n"
		"           OR b.holds_quantity OPERATOR(pg_catalog.>) 0\n"
		"              AND (b.purchased_quantity OPERATOR(pg_catalog.-) b.allocated_quantity\n"
		"                   OPERATOR(pg_catalog.-) " LIVE_HELD_SQL("b.reference", "$3") ")\n"
		"                  OPERATOR(pg_catalog.>=) l.qty)\n"
		"    OFFSET 0)\n"
		"ORDER BY l.n",
		3, {TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false
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
		"    SELECT 'holds_quantity is not the sum of the batch''s holds',\n"
		"           pg_catalog.jsonb_build_object('batch', b.reference,\n"
		"               'holds_quantity', b.holds_quantity,\n"
		"               'sum_of_holds', COALESCE(h.total, 0::pg_catalog.int8))\n"
		"    FROM allocation.batches AS b\n"
		"    LEFT JOIN (SELECT batch_reference, pg_catalog.sum(qty) AS total\n"
		"               FROM allocation.holds\n"
		"               WHERE orderid IS NULL\n"
		"               GROUP BY batch_reference) AS h\n"
		"           ON h.batch_reference OPERATOR(pg_catalog.=) b.reference\n"
		"    WHERE b.holds_quantity::pg_catalog.int8\n"
		"          OPERATOR(pg_catalog.<>) COALESCE(h.total, 0::pg_catalog.int8)\n"
		"    UNION ALL\n"
		"    SELECT 'live holds exceed what the batch has left',\n"
		"           pg_catalog.jsonb_build_object('batch', b.reference,\n"
		"               'purchased_quantity', b.purchased_quantity,\n"
		"               'allocated_quantity', b.allocated_quantity,\n"
		"               'held_quantity', held.quantity)\n"
		"    FROM allocation.batches AS b,\n"
		"         LATERAL (SELECT " LIVE_HELD_SQL("b.reference", "$1") " AS quantity) AS held\n"
		"    WHERE held.quantity OPERATOR(pg_catalog.>) 0\n"
		"      AND b.allocated_quantity::pg_catalog.int8 OPERATOR(pg_catalog.+) held.quantity\n"
		"          OPERATOR(pg_catalog.>) b.purchased_quantity\n"
		"    UNION ALL\n"
		"    SELECT 'hold on a batch of another sku',\n"
		"           pg_catalog.jsonb_build_object('holdid', h.holdid, 'sku', h.sku,\n"
		"               'batch', b.reference, 'batch_sku', b.sku)\n"
		"    FROM allocation.holds AS h\n"
		"    JOIN allocation.batches AS b\n"
		"      ON b.reference OPERATOR(pg_catalog.=) h.batch_reference\n"
		"    WHERE b.sku OPERATOR(pg_catalog.<>) h.sku\n"
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
		1, {TIMESTAMPTZOID}, SPI_OK_SELECT, true
	},

	/*
	 * Retention: events older than the clock minus $1, except each order
	 * line's latest Allocated/Deallocated event when it is an Allocated:
	 * that is all check() compares a line with, and it lets check() still
	 * see a line or an Allocated that lost its partner.
	 */
	[AL_STMT_PRUNE_EVENTS] = {
		"prune events",
		"WITH kept AS (\n"
		"    SELECT id, event\n"
		"    FROM (SELECT DISTINCT ON (payload OPERATOR(pg_catalog.->>) 'orderid'::pg_catalog.text,\n"
		"                              payload OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text)\n"
		"                 id, event\n"
		"          FROM allocation.events\n"
		"          WHERE event OPERATOR(pg_catalog.=) 'Allocated'::pg_catalog.text\n"
		"             OR event OPERATOR(pg_catalog.=) 'Deallocated'::pg_catalog.text\n"
		"          ORDER BY payload OPERATOR(pg_catalog.->>) 'orderid'::pg_catalog.text,\n"
		"                   payload OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text,\n"
		"                   id DESC) AS latest\n"
		"    WHERE event OPERATOR(pg_catalog.=) 'Allocated'::pg_catalog.text\n"
		")\n"
		"DELETE FROM allocation.events\n"
		"WHERE occurred_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)\n"
		"  AND id NOT IN (SELECT id FROM kept)",
		1, {INTERVALOID}, SPI_OK_DELETE, false
	},

	/* The event stream: a pgoutput slot and the publication it reads. */
	[AL_STMT_SLOT] = {
		"slot",
		"SELECT COALESCE(database OPERATOR(pg_catalog.=) pg_catalog.current_database()\n"
		"                AND plugin OPERATOR(pg_catalog.=) 'pgoutput', false) AS ours\n"
		"FROM pg_catalog.pg_replication_slots\n"
		"WHERE slot_name OPERATOR(pg_catalog.=) $1",
		1, {NAMEOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_CREATE_SLOT] = {
		"create slot",
		"SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')",
		1, {NAMEOID}, SPI_OK_SELECT, false
	},
	[AL_STMT_DROP_SLOT] = {
		"drop slot",
		"SELECT pg_catalog.pg_drop_replication_slot($1)",
		1, {NAMEOID}, SPI_OK_SELECT, false
	},
	/* The publication, and whether it publishes the outbox's inserts. */
	[AL_STMT_PUBLICATION] = {
		"publication",
		"SELECT p.pubinsert AND EXISTS (\n"
		"           SELECT FROM pg_catalog.pg_publication_rel AS r\n"
		"           WHERE r.prpubid OPERATOR(pg_catalog.=) p.oid\n"
		"             AND r.prrelid OPERATOR(pg_catalog.=) 'allocation.events'::pg_catalog.regclass)\n"
		"FROM pg_catalog.pg_publication AS p\n"
		"WHERE p.pubname OPERATOR(pg_catalog.=) 'allocation_events'",
		0, {InvalidOid}, SPI_OK_SELECT, false
	},
	[AL_STMT_CREATE_PUBLICATION] = {
		"create publication",
		"CREATE PUBLICATION allocation_events FOR TABLE allocation.events\n"
		"WITH (publish = 'insert')",
		0, {InvalidOid}, SPI_OK_UTILITY, false
	},
	[AL_STMT_DROP_PUBLICATION] = {
		"drop publication",
		"DROP PUBLICATION allocation_events",
		0, {InvalidOid}, SPI_OK_UTILITY, false
	},
	/* Other pgoutput slots of this database, which may read the publication. */
	[AL_STMT_OTHER_STREAM_SLOTS] = {
		"other stream slots",
		"SELECT pg_catalog.count(*)\n"
		"FROM pg_catalog.pg_replication_slots\n"
		"WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()\n"
		"  AND plugin OPERATOR(pg_catalog.=) 'pgoutput'\n"
		"  AND slot_name OPERATOR(pg_catalog.<>) $1",
		1, {NAMEOID}, SPI_OK_SELECT, false
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
 * is an internal error.  A caller that reads a result frees it when done
 * (SPI_freetuptable) if it runs per line of a call.
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
	/* An empty result has nothing to read: free it now (8 kB each). */
	if (SPI_processed == 0 && SPI_tuptable != NULL)
		SPI_freetuptable(SPI_tuptable);
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

/*
 * AlOpenCursor: open a cursor on a registered statement, to read a result
 * too large to hold at once with SPI_cursor_fetch.  The caller closes it.
 */
Portal
AlOpenCursor(AlStatementId id, Datum *values)
{
	const AlStatement *stmt = &statements[id];
	Portal		portal;

	portal = SPI_cursor_open(NULL, prepared_plan(id), values, NULL, stmt->read_only);
	if (portal == NULL)
		elog(ERROR, "allocation: could not open a cursor on \"%s\": %s",
			 stmt->name, SPI_result_code_string(SPI_result));
	return portal;
}
