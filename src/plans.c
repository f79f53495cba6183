/*-------------------------------------------------------------------------
 *
 * src/plans.c
 *		The statement registry: every SQL statement the extension runs,
 *		prepared once per backend, kept, and run in planner settings of its
 *		own, whatever the caller set.
 *
 * Each text names every relation, function and operator with its schema,
 * so that neither the caller's search_path nor an object shadowing a
 * catalog name can change what runs.  Caller values are always $n
 * parameters.  Event payloads are built here too, with
 * pg_catalog.jsonb_build_object, so each event is written by the statement
 * that makes the change it records.
 *
 * Copyright (c) 2026, The allocation developers.  PostgreSQL Licence (LICENSE).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "optimizer/planner.h"
#include "utils/guc.h"
#include "utils/plancache.h"
#include "utils/guc_tables.h"
#include "utils/memutils.h"
#include "utils/portal.h"

#include "allocation.h"

#define AL_MAX_ARGS 7

/*
 * The batch choice rule, spelled once: the batches of a sku that may take
 * stock (CANDIDATES_SQL: "in_stock" is the predicate of
 * batches_in_stock_idx, so exhausted batches are never read), whether one
 * has room for a qty at a clock (FITS_SQL), and their order (RULE_ORDER_SQL:
 * warehouse stock, eta NULL, first, then the earliest eta, ties by
 * reference in byte order, the same in every database whatever its
 * collation).  Live holds take their share of a batch; its holds are looked
 * at only when what it has beside all of them, live or expired, is not
 * enough (ROOM_SQL).
 */
#define CANDIDATES_SQL(sku) \
	"FROM allocation.batches AS b\n" \
	"WHERE b.sku OPERATOR(pg_catalog.=) " sku "\n" \
	"  AND b.in_stock\n"
#define FITS_SQL(qty, clock) \
	"(" ROOM_SQL("b") " OPERATOR(pg_catalog.>=) " qty "\n" \
	"       OR b.holds_quantity OPERATOR(pg_catalog.>) 0\n" \
	"          AND " LIVE_ROOM_SQL(clock) " OPERATOR(pg_catalog.>=) " qty ")\n"
#define RULE_ORDER_SQL \
	"ORDER BY b.eta NULLS FIRST, b.reference COLLATE pg_catalog.\"C\"\n"

/* The reference of the batch of sku the rule picks for qty at clock. */
#define BEST_BATCH_SQL(sku, qty, clock) \
	"SELECT b.reference\n" \
	CANDIDATES_SQL(sku) \
	"  AND " FITS_SQL(qty, clock) \
	RULE_ORDER_SQL \
	"LIMIT 1"

/* What batch b has left beside its lines and all its holds, live or expired. */
#define ROOM_SQL(b) \
	"(" b ".purchased_quantity OPERATOR(pg_catalog.-) " b ".allocated_quantity\n" \
	"  OPERATOR(pg_catalog.-) " b ".holds_quantity)"

/* What batch b has left beside its lines and its live holds at a clock. */
#define LIVE_ROOM_SQL(clock) \
	"(b.purchased_quantity OPERATOR(pg_catalog.-) b.allocated_quantity\n" \
	"  OPERATOR(pg_catalog.-) " LIVE_HELD_SQL("b.reference", clock) ")"

/* What the live holds of a batch take from it at a clock (holds_live_idx). */
#define LIVE_HELD_SQL(batch, clock) \
	"(SELECT COALESCE(pg_catalog.sum(h.qty), 0)::pg_catalog.int4\n" \
	"        FROM allocation.holds AS h\n" \
	"        WHERE h.batch_reference OPERATOR(pg_catalog.=) " batch "\n" \
	"          AND h.orderid IS NULL\n" \
	"          AND h.expires_at OPERATOR(pg_catalog.>) " clock ")"

/* A timestamptz as ISO 8601 in UTC, whatever the session's DateStyle and TimeZone. */
#define ISO_UTC_SQL(time) \
	"pg_catalog.to_char(pg_catalog.timezone('UTC', " time "), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The product sku $2 changed: its version becomes $n when cond holds. */
#define SET_VERSION_SQL(version, cond) \
	"UPDATE allocation.products\n" \
	"    SET version_number = " version "\n" \
	"    WHERE sku OPERATOR(pg_catalog.=) $2\n" \
	"      AND " cond "\n"

/* Event payloads. */
#define ALLOCATED_SQL(orderid, sku, qty, batchref) \
	"pg_catalog.jsonb_build_object('orderid', " orderid ", 'sku', " sku ", 'qty', " qty \
	", 'batchref', " batchref ")"
#define RELEASED_SQL(holdid, sku, qty, reason) \
	"pg_catalog.jsonb_build_object('holdid', " holdid ", 'sku', " sku ", 'qty', " qty \
	", 'reason', " reason "::pg_catalog.text)"

/*
 * Expired holds deleted (gone: holdid, sku, qty, unconfirmed,
 * batch_reference, expires_at, id), taken off their batches' holds_quantity
 * and recorded as Released (expired) when they still held stock.  The
 * statement selects from "gone".
 */
#define RECLAIM_SQL(which) \
	"WITH gone AS (\n" \
	"    DELETE FROM allocation.holds\n" \
	"    WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY(\n" \
	"        SELECT ctid\n" \
	"        FROM allocation.holds\n" \
	which \
	"        ORDER BY expires_at, id\n" \
	"        LIMIT $3))\n" \
	"    RETURNING holdid, sku, qty, orderid IS NULL AS unconfirmed, batch_reference, expires_at, id\n" \
	"), freed AS (\n" \
	"    UPDATE allocation.batches AS b\n" \
	"    SET holds_quantity = b.holds_quantity OPERATOR(pg_catalog.-) g.qty\n" \
	"    FROM (SELECT batch_reference, pg_catalog.sum(qty)::pg_catalog.int4 AS qty\n" \
	"          FROM gone\n" \
	"          WHERE unconfirmed\n" \
	"          GROUP BY batch_reference) AS g\n" \
	"    WHERE b.reference OPERATOR(pg_catalog.=) g.batch_reference\n" \
	"), released AS (\n" \
	"    INSERT INTO allocation.events (event, payload)\n" \
	"    SELECT 'Released', " RELEASED_SQL("holdid", "sku", "qty", "'expired'") "\n" \
	"    FROM gone\n" \
	"    WHERE unconfirmed\n" \
	"    ORDER BY expires_at, id\n" \
	")\n"

/* Which planner settings a statement is made and run with (pinned_settings). */
typedef enum AlPlanning
{
	AL_PLAN_LOOKUP,				/* index paths only: a key lookup */
	AL_PLAN_SCAN				/* the planner's defaults: reads many rows */
} AlPlanning;

typedef struct AlStatement
{
	const char *name;			/* for error messages */
	const char *sql;
	int			nargs;
	Oid			argtypes[AL_MAX_ARGS];
	int			expected;		/* the SPI_OK_* code a success returns */
	bool		read_only;		/* run from a STABLE function */
	AlPlanning	planning;
} AlStatement;

static const AlStatement statements[AL_STMT_COUNT] = {

	/* -- products and batches ------------------------------------------ */

	[AL_STMT_LOCK_PRODUCT] = {
		"lock product",
		"SELECT version_number\n"
		"FROM allocation.products\n"
		"WHERE sku OPERATOR(pg_catalog.=) $1\n"
		"FOR NO KEY UPDATE",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
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
		1, {TEXTOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_INSERT_BATCH] = {
		"insert batch",
		"INSERT INTO allocation.batches (reference, sku, purchased_quantity, eta)\n"
		"VALUES ($1, $2, $3, $4)\n"
		"ON CONFLICT (reference) DO NOTHING",
		4, {TEXTOID, TEXTOID, INT4OID, DATEOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_BATCH_SKU] = {
		"batch sku",
		"SELECT sku\n"
		"FROM allocation.batches\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_BATCH_QUANTITIES] = {
		"batch quantities",
		"SELECT purchased_quantity, allocated_quantity\n"
		"FROM allocation.batches\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_SET_BATCH_QUANTITIES] = {
		"set batch quantities",
		"UPDATE allocation.batches\n"
		"SET purchased_quantity = $2, allocated_quantity = $3,\n"
		"    holds_quantity = holds_quantity OPERATOR(pg_catalog.-) $4\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1\n"
		"RETURNING " ROOM_SQL("batches"),
		4, {TEXTOID, INT4OID, INT4OID, INT4OID}, SPI_OK_UPDATE_RETURNING, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_SET_VERSION] = {
		"set version",
		"UPDATE allocation.products\n"
		"SET version_number = $2\n"
		"WHERE sku OPERATOR(pg_catalog.=) $1",
		2, {TEXTOID, INT8OID}, SPI_OK_UPDATE, false, AL_PLAN_LOOKUP
	},

	/* -- order lines --------------------------------------------------- */

	/*
	 * allocate's stock, under the product's lock: qty $2 of sku $1 counted
	 * on the batch the rule picks at clock $3.  Returns the batch and the
	 * room it has left beside all its holds: below zero, expired ones must be
	 * reclaimed (AlSettleBatch) before the line and its Allocated are
	 * recorded (AL_STMT_INSERT_LINE), so that events keep the order of the
	 * stock.  No row: no batch can take it.
	 */
	[AL_STMT_ALLOCATE] = {
		"allocate",
		"UPDATE allocation.batches\n"
		"SET allocated_quantity = allocated_quantity OPERATOR(pg_catalog.+) $2\n"
		"WHERE reference OPERATOR(pg_catalog.=) (\n" BEST_BATCH_SQL("$1", "$2", "$3") ")\n"
		"RETURNING reference, " ROOM_SQL("batches"),
		3, {TEXTOID, INT4OID, TIMESTAMPTZOID}, SPI_OK_UPDATE_RETURNING, false, AL_PLAN_LOOKUP
	},
	/*
	 * deallocate in one statement, under the product's lock: the line
	 * (orderid $1, sku $2) goes, its batch gets the stock back, Deallocated
	 * is recorded and the product's version becomes $3.  Freeing stock never
	 * leaves a batch short, so nothing needs settling.
	 */
	[AL_STMT_DEALLOCATE] = {
		"deallocate",
		"WITH gone AS (\n"
		"    DELETE FROM allocation.order_lines\n"
		"    WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"      AND sku OPERATOR(pg_catalog.=) $2\n"
		"    RETURNING batch_reference, qty\n"
		"), freed AS (\n"
		"    UPDATE allocation.batches AS b\n"
		"    SET allocated_quantity = b.allocated_quantity OPERATOR(pg_catalog.-) g.qty\n"
		"    FROM gone AS g\n"
		"    WHERE b.reference OPERATOR(pg_catalog.=) g.batch_reference\n"
		"), version AS (\n"
		SET_VERSION_SQL("$3", "EXISTS (SELECT FROM gone)")
		"), event AS (\n"
		"    INSERT INTO allocation.events (event, payload)\n"
		"    SELECT 'Deallocated', pg_catalog.jsonb_build_object('orderid', $1, 'sku', $2, 'qty', qty)\n"
		"    FROM gone\n"
		")\n"
		"SELECT batch_reference\n"
		"FROM gone",
		3, {TEXTOID, TEXTOID, INT8OID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_FIND_LINE] = {
		"find line",
		"SELECT batch_reference, qty\n"
		"FROM allocation.order_lines\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/* The line (orderid $1, sku $2) of qty $3 on batch $4, with its Allocated. */
	[AL_STMT_INSERT_LINE] = {
		"insert line",
		"WITH line AS (\n"
		"    INSERT INTO allocation.order_lines (orderid, sku, qty, batch_reference)\n"
		"    VALUES ($1, $2, $3, $4)\n"
		")\n"
		"INSERT INTO allocation.events (event, payload)\n"
		"VALUES ('Allocated', " ALLOCATED_SQL("$1", "$2", "$3", "$4") ")\n"
		"RETURNING payload",
		4, {TEXTOID, TEXTOID, INT4OID, TEXTOID}, SPI_OK_INSERT_RETURNING, false, AL_PLAN_LOOKUP
	},
	/* The line (orderid $1, sku $2) taken off its batch, with its Deallocated. */
	[AL_STMT_DELETE_LINE] = {
		"delete line",
		"WITH gone AS (\n"
		"    DELETE FROM allocation.order_lines\n"
		"    WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"      AND sku OPERATOR(pg_catalog.=) $2\n"
		"    RETURNING qty\n"
		"), event AS (\n"
		"    INSERT INTO allocation.events (event, payload)\n"
		"    SELECT 'Deallocated', pg_catalog.jsonb_build_object('orderid', $1, 'sku', $2, 'qty', qty)\n"
		"    FROM gone\n"
		")\n"
		"SELECT qty\n"
		"FROM gone",
		2, {TEXTOID, TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * The new lines of an order that no batch of their sku can take at clock
	 * $3, each recorded as OutOfStock, in the order given.  Each sku appears
	 * once in an order, so a line's fit does not depend on the other lines.
	 * OFFSET 0 keeps NOT EXISTS a probe of batches_in_stock_idx per line:
	 * turned into an anti join, a plan made while statistics said no batch
	 * had stock could read every batch in stock for each order.
	 */
	[AL_STMT_SHORT_LINES] = {
		"short lines",
		"INSERT INTO allocation.events (event, payload)\n"
		"SELECT 'OutOfStock', pg_catalog.jsonb_build_object('sku', l.sku)\n"
		"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))\n"
		"     WITH ORDINALITY AS l(sku, qty, n)\n"
		"WHERE NOT EXISTS (\n"
		"    SELECT\n"
		"    " CANDIDATES_SQL("l.sku")
		"      AND " FITS_SQL("l.qty", "$3")
		"    OFFSET 0)\n"
		"ORDER BY l.n\n"
		"RETURNING payload",
		3, {TEXTARRAYOID, INT4ARRAYOID, TIMESTAMPTZOID}, SPI_OK_INSERT_RETURNING, false, AL_PLAN_LOOKUP
	},

	/* -- holds --------------------------------------------------------- */

	/*
	 * The line (holdid $1, sku $2), and any line of the hold that is live at
	 * clock $3, with its expiry and whether it was confirmed.
	 */
	[AL_STMT_FIND_HOLD] = {
		"find hold",
		"SELECT l.batch_reference, l.qty, l.expires_at, l.orderid,\n"
		"       h.expires_at AS hold_expires_at, h.orderid IS NOT NULL AS hold_confirmed\n"
		"FROM (SELECT) AS one\n"
		"LEFT JOIN allocation.holds AS l\n"
		"       ON l.holdid OPERATOR(pg_catalog.=) $1\n"
		"      AND l.sku OPERATOR(pg_catalog.=) $2\n"
		"LEFT JOIN LATERAL (SELECT expires_at, orderid\n"
		"                   FROM allocation.holds\n"
		"                   WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"                     AND expires_at OPERATOR(pg_catalog.>) $3\n"
		"                   LIMIT 1) AS h ON true",
		3, {TEXTOID, TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * A new hold line (holdid $1, sku $2) of qty $3 on the batch the rule
	 * picks at clock $4, until $5, with its Held event, and the product's
	 * version becomes $6; or OutOfStock.  "room" is what the batch has left
	 * beside all its holds: below zero, expired ones must be reclaimed first
	 * (AlSettleBatch), and the caller records Held after their Released, so
	 * that events keep the order of the stock.
	 */
	[AL_STMT_PLACE_HOLD] = {
		"place hold",
		"WITH chosen AS (\n"
		"    UPDATE allocation.batches\n"
		"    SET holds_quantity = holds_quantity OPERATOR(pg_catalog.+) $3\n"
		"    WHERE reference OPERATOR(pg_catalog.=) (\n" BEST_BATCH_SQL("$2", "$3", "$4") ")\n"
		"    RETURNING reference, " ROOM_SQL("batches") " AS room\n"
		"), hold AS (\n"
		"    INSERT INTO allocation.holds (holdid, sku, qty, batch_reference, expires_at)\n"
		"    SELECT $1, $2, $3, reference, $5\n"
		"    FROM chosen\n"
		"), version AS (\n"
		SET_VERSION_SQL("$6", "EXISTS (SELECT FROM chosen)")
		"), event AS (\n"
		"    INSERT INTO allocation.events (event, payload)\n"
		"    SELECT CASE WHEN c.reference IS NULL THEN 'OutOfStock' ELSE 'Held' END,\n"
		"           CASE WHEN c.reference IS NULL THEN pg_catalog.jsonb_build_object('sku', $2)\n"
		"                ELSE pg_catalog.jsonb_build_object('holdid', $1, 'sku', $2, 'qty', $3,\n"
		"                         'batchref', c.reference, 'expires_at', " ISO_UTC_SQL("$5") ") END\n"
		"    FROM (SELECT) AS one\n"
		"    LEFT JOIN chosen AS c ON true\n"
		"    WHERE COALESCE(c.room, 0) OPERATOR(pg_catalog.>=) 0\n"
		"    RETURNING event, payload\n"
		")\n"
		"SELECT c.reference, c.room, e.event, e.payload\n"
		"FROM (SELECT) AS one\n"
		"LEFT JOIN chosen AS c ON true\n"
		"LEFT JOIN event AS e ON true",
		6, {TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
		SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * The hold line (holdid $1, sku $2) of qty $3 on batch $4 until $5,
	 * counted in the batch's holds_quantity; returns the batch's room beside
	 * all its holds (AlSettleBatch).  Its Held event comes after settling.
	 */
	[AL_STMT_INSERT_HOLD] = {
		"insert hold",
		"WITH hold AS (\n"
		"    INSERT INTO allocation.holds (holdid, sku, qty, batch_reference, expires_at)\n"
		"    VALUES ($1, $2, $3, $4, $5)\n"
		")\n"
		"UPDATE allocation.batches\n"
		"SET holds_quantity = holds_quantity OPERATOR(pg_catalog.+) $3\n"
		"WHERE reference OPERATOR(pg_catalog.=) $4\n"
		"RETURNING " ROOM_SQL("batches"),
		5, {TEXTOID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID}, SPI_OK_UPDATE_RETURNING, false, AL_PLAN_LOOKUP
	},
	/* The line (holdid $1, sku $2) taken off its batch, without an event. */
	[AL_STMT_DELETE_HOLD] = {
		"delete hold",
		"DELETE FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"  AND sku OPERATOR(pg_catalog.=) $2",
		2, {TEXTOID, TEXTOID}, SPI_OK_DELETE, false, AL_PLAN_LOOKUP
	},
	/*
	 * The line (holdid $1, sku $2) deleted.  One that was not confirmed gives
	 * its stock back with Released: "released" while live at clock $3, and
	 * then the product's version becomes $4; "expired" after.  A confirmed
	 * one is an order line now and only its row goes.
	 */
	[AL_STMT_RELEASE_HOLD_LINE] = {
		"release hold line",
		"WITH gone AS (\n"
		"    DELETE FROM allocation.holds\n"
		"    WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"      AND sku OPERATOR(pg_catalog.=) $2\n"
		"    RETURNING qty, batch_reference, orderid IS NULL AS unconfirmed,\n"
		"              expires_at OPERATOR(pg_catalog.>) $3 AS live\n"
		"), freed AS (\n"
		"    UPDATE allocation.batches AS b\n"
		"    SET holds_quantity = b.holds_quantity OPERATOR(pg_catalog.-) g.qty\n"
		"    FROM gone AS g\n"
		"    WHERE b.reference OPERATOR(pg_catalog.=) g.batch_reference\n"
		"      AND g.unconfirmed\n"
		"), version AS (\n"
		SET_VERSION_SQL("$4", "EXISTS (SELECT FROM gone WHERE unconfirmed AND live)")
		"), event AS (\n"
		"    INSERT INTO allocation.events (event, payload)\n"
		"    SELECT 'Released', " RELEASED_SQL("$1", "$2", "qty",
											  "CASE WHEN live THEN 'released' ELSE 'expired' END") "\n"
		"    FROM gone\n"
		"    WHERE unconfirmed\n"
		")\n"
		"SELECT unconfirmed, live\n"
		"FROM gone",
		4, {TEXTOID, TEXTOID, TIMESTAMPTZOID, INT8OID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/* Read without a product lock, to learn which products to lock. */
	[AL_STMT_HOLD_SKUS] = {
		"hold skus",
		"SELECT sku\n"
		"FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_HOLD_LINES] = {
		"hold lines",
		"SELECT sku, qty, batch_reference, expires_at, orderid\n"
		"FROM allocation.holds\n"
		"WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"ORDER BY sku COLLATE pg_catalog.\"C\"",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * The live hold line (holdid $1, sku $2) becomes the order line (orderid
	 * $3, sku $2) on the same batch: Released (confirmed), then Allocated,
	 * and the product's version becomes $4.  The hold counted against the
	 * batch, so the line fits there and the room does not change.  Nothing
	 * happens when the order has a line of that sku already ("taken").
	 */
	[AL_STMT_CONFIRM_HOLD_LINE] = {
		"confirm hold line",
		"WITH existing AS (\n"
		"    SELECT\n"
		"    FROM allocation.order_lines\n"
		"    WHERE orderid OPERATOR(pg_catalog.=) $3\n"
		"      AND sku OPERATOR(pg_catalog.=) $2\n"
		"), confirmed AS (\n"
		"    UPDATE allocation.holds\n"
		"    SET orderid = $3\n"
		"    WHERE holdid OPERATOR(pg_catalog.=) $1\n"
		"      AND sku OPERATOR(pg_catalog.=) $2\n"
		"      AND NOT EXISTS (SELECT FROM existing)\n"
		"    RETURNING qty, batch_reference\n"
		"), moved AS (\n"
		"    UPDATE allocation.batches AS b\n"
		"    SET allocated_quantity = b.allocated_quantity OPERATOR(pg_catalog.+) c.qty,\n"
		"        holds_quantity = b.holds_quantity OPERATOR(pg_catalog.-) c.qty\n"
		"    FROM confirmed AS c\n"
		"    WHERE b.reference OPERATOR(pg_catalog.=) c.batch_reference\n"
		"), line AS (\n"
		"    INSERT INTO allocation.order_lines (orderid, sku, qty, batch_reference)\n"
		"    SELECT $3, $2, qty, batch_reference\n"
		"    FROM confirmed\n"
		"), version AS (\n"
		SET_VERSION_SQL("$4", "EXISTS (SELECT FROM confirmed)")
		"), event AS (\n"
		"    INSERT INTO allocation.events (event, payload)\n"
		"    SELECT e.event, e.payload\n"
		"    FROM confirmed AS c,\n"
		"         LATERAL (VALUES (1, 'Released', " RELEASED_SQL("$1", "$2", "c.qty", "'confirmed'") "),\n"
		"                         (2, 'Allocated', " ALLOCATED_SQL("$3", "$2", "c.qty", "c.batch_reference") "))\n"
		"             AS e (n, event, payload)\n"
		"    ORDER BY e.n\n"
		"    RETURNING event, payload\n"
		")\n"
		"SELECT EXISTS (SELECT FROM existing) AS taken, e.payload\n"
		"FROM (SELECT) AS one\n"
		"LEFT JOIN event AS e ON e.event OPERATOR(pg_catalog.=) 'Allocated'::pg_catalog.text",
		4, {TEXTOID, TEXTOID, TEXTOID, INT8OID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * Whether sku $1 has a hold that expired by clock $2.  Most calls on
	 * holds find none, and this probe costs a fraction of starting
	 * RECLAIM_EXPIRED's three changes.  "qty > 0", true of every hold, is
	 * the predicate of holds_reclaim_idx: only these two statements may use
	 * that index.
	 */
	[AL_STMT_ANY_EXPIRED] = {
		"any expired",
		"SELECT EXISTS (\n"
		"    SELECT\n"
		"    FROM allocation.holds\n"
		"    WHERE sku OPERATOR(pg_catalog.=) $1\n"
		"      AND expires_at OPERATOR(pg_catalog.<=) $2\n"
		"      AND qty OPERATOR(pg_catalog.>) 0)",
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * Up to $3 of sku $1's holds that expired by clock $2, earliest expiry
	 * first (RECLAIM_SQL), through holds_reclaim_idx.
	 */
	[AL_STMT_RECLAIM_EXPIRED] = {
		"reclaim expired",
		RECLAIM_SQL("        WHERE sku OPERATOR(pg_catalog.=) $1\n"
					"          AND expires_at OPERATOR(pg_catalog.<=) $2\n"
					"          AND qty OPERATOR(pg_catalog.>) 0\n")
		"SELECT pg_catalog.count(*)\n"
		"FROM gone",
		3, {TEXTOID, TIMESTAMPTZOID, INT8OID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/*
	 * Up to $3 of batch $1's holds that expired by clock $2, earliest first
	 * (RECLAIM_SQL): their stock is needed.  Returns the units freed.
	 */
	[AL_STMT_RECLAIM_ON_BATCH] = {
		"reclaim on batch",
		RECLAIM_SQL("        WHERE batch_reference OPERATOR(pg_catalog.=) $1\n"
					"          AND orderid IS NULL\n"
					"          AND expires_at OPERATOR(pg_catalog.<=) $2\n")
		"SELECT COALESCE(pg_catalog.sum(qty), 0)::pg_catalog.int8\n"
		"FROM gone",
		3, {TEXTOID, TIMESTAMPTZOID, INT8OID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},

	/* -- batches that change size -------------------------------------- */

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
		3, {TEXTOID, INT4OID, INT4OID}, SPI_OK_UPDATE_RETURNING, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_BATCH_HELD] = {
		"batch held",
		"SELECT " LIVE_HELD_SQL("$1", "$2"),
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
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
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/* The candidates of sku $1 in rule order, with their room at clock $2. */
	[AL_STMT_BATCH_ROOM] = {
		"batch room",
		"SELECT b.reference, " LIVE_ROOM_SQL("$2") "\n"
		CANDIDATES_SQL("$1")
		RULE_ORDER_SQL,
		2, {TEXTOID, TIMESTAMPTZOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},

	/* -- the outbox and the read side ---------------------------------- */

	[AL_STMT_RECORD_OUT_OF_STOCK] = {
		"record out of stock",
		"INSERT INTO allocation.events (event, payload)\n"
		"VALUES ('OutOfStock', pg_catalog.jsonb_build_object('sku', $1))\n"
		"RETURNING payload",
		1, {TEXTOID}, SPI_OK_INSERT_RETURNING, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_RECORD_HELD] = {
		"record held",
		"INSERT INTO allocation.events (event, payload)\n"
		"VALUES ('Held', pg_catalog.jsonb_build_object('holdid', $1, 'sku', $2, 'qty', $3,\n"
		"            'batchref', $4, 'expires_at', " ISO_UTC_SQL("$5") "))",
		5, {TEXTOID, TEXTOID, INT4OID, TEXTOID, TIMESTAMPTZOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_RECORD_RELEASED] = {
		"record released",
		"INSERT INTO allocation.events (event, payload)\n"
		"VALUES ('Released', " RELEASED_SQL("$1", "$2", "$3", "$4") ")",
		4, {TEXTOID, TEXTOID, INT4OID, TEXTOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_ORDER_ALLOCATIONS] = {
		"order allocations",
		"SELECT sku, batch_reference\n"
		"FROM allocation.order_lines\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"ORDER BY sku COLLATE pg_catalog.\"C\"",
		1, {TEXTOID}, SPI_OK_SELECT, true, AL_PLAN_LOOKUP
	},

	/*
	 * Every invariant the functions keep, as one row per violation.  A
	 * line's latest Allocated/Deallocated event (by id, which follows the
	 * product's changes) must be the Allocated that put it where it is.
	 * Holds are judged at clock $1.
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
		"    SELECT 'hold is partly confirmed',\n"
		"           pg_catalog.jsonb_build_object('holdid', holdid,\n"
		"               'confirmed_lines', pg_catalog.count(orderid),\n"
		"               'lines', pg_catalog.count(*))\n"
		"    FROM allocation.holds\n"
		"    WHERE expires_at OPERATOR(pg_catalog.>) $1\n"
		"    GROUP BY holdid\n"
		"    HAVING pg_catalog.count(orderid) OPERATOR(pg_catalog.>) 0\n"
		"       AND pg_catalog.count(orderid) OPERATOR(pg_catalog.<) pg_catalog.count(*)\n"
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
		1, {TIMESTAMPTZOID}, SPI_OK_SELECT, true, AL_PLAN_SCAN
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
		1, {INTERVALOID}, SPI_OK_DELETE, false, AL_PLAN_SCAN
	},
	[AL_STMT_PRUNE_INBOX] = {
		"prune inbox",
		"DELETE FROM allocation.inbox\n"
		"WHERE applied_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
		1, {INTERVALOID}, SPI_OK_DELETE, false, AL_PLAN_SCAN
	},

	/* -- the event stream: a pgoutput slot and the publication it reads - */

	/* The slot of that name, and whether stream_setup could have made it. */
	[AL_STMT_SLOT] = {
		"slot",
		"SELECT COALESCE(slot_type OPERATOR(pg_catalog.=) 'logical'\n"
		"                AND database OPERATOR(pg_catalog.=) pg_catalog.current_database()\n"
		"                AND plugin OPERATOR(pg_catalog.=) 'pgoutput', false) AS ours\n"
		"FROM pg_catalog.pg_replication_slots\n"
		"WHERE slot_name OPERATOR(pg_catalog.=) $1",
		1, {NAMEOID}, SPI_OK_SELECT, false, AL_PLAN_SCAN
	},
	[AL_STMT_CREATE_SLOT] = {
		"create slot",
		"SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')",
		1, {NAMEOID}, SPI_OK_SELECT, false, AL_PLAN_SCAN
	},
	[AL_STMT_DROP_SLOT] = {
		"drop slot",
		"SELECT pg_catalog.pg_drop_replication_slot($1)",
		1, {NAMEOID}, SPI_OK_SELECT, false, AL_PLAN_SCAN
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
		0, {InvalidOid}, SPI_OK_SELECT, false, AL_PLAN_SCAN
	},
	[AL_STMT_CREATE_PUBLICATION] = {
		"create publication",
		"CREATE PUBLICATION allocation_events FOR TABLE allocation.events\n"
		"WITH (publish = 'insert')",
		0, {InvalidOid}, SPI_OK_UTILITY, false, AL_PLAN_SCAN
	},
	[AL_STMT_DROP_PUBLICATION] = {
		"drop publication",
		"DROP PUBLICATION allocation_events",
		0, {InvalidOid}, SPI_OK_UTILITY, false, AL_PLAN_SCAN
	},
	/* Other pgoutput slots of this database, which may read the publication. */
	[AL_STMT_OTHER_STREAM_SLOTS] = {
		"other stream slots",
		"SELECT pg_catalog.count(*)\n"
		"FROM pg_catalog.pg_replication_slots\n"
		"WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()\n"
		"  AND plugin OPERATOR(pg_catalog.=) 'pgoutput'\n"
		"  AND slot_name OPERATOR(pg_catalog.<>) $1",
		1, {NAMEOID}, SPI_OK_SELECT, false, AL_PLAN_SCAN
	},

	/* -- the inbox of commands ----------------------------------------- */

	/*
	 * The request $1 (command $2) claimed: a second claim waits for the
	 * first's transaction, then finds the request taken.
	 */
	[AL_STMT_CLAIM_REQUEST] = {
		"claim request",
		"INSERT INTO allocation.inbox (request, command)\n"
		"VALUES ($1, $2)\n"
		"ON CONFLICT (request) DO NOTHING",
		2, {TEXTOID, TEXTOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_FIND_REQUEST] = {
		"find request",
		"SELECT status, sqlstate, message, result\n"
		"FROM allocation.inbox\n"
		"WHERE request OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_RECORD_RESULT] = {
		"record result",
		"UPDATE allocation.inbox\n"
		"SET status = $2, sqlstate = $3, message = $4, result = $5\n"
		"WHERE request OPERATOR(pg_catalog.=) $1",
		5, {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID}, SPI_OK_UPDATE, false, AL_PLAN_LOOKUP
	},
	/*
	 * The commands, each the API call its name says on the fields of the
	 * payload $1: a missing field is NULL and gets the call's 22004, a field
	 * of the wrong type the cast's error.
	 */
	[AL_STMT_COMMAND_ADD_BATCH] = {
		"command add_batch",
		"SELECT allocation.add_batch(p OPERATOR(pg_catalog.->>) 'ref'::pg_catalog.text,\n"
		"                            p OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text,\n"
		"                            (p OPERATOR(pg_catalog.->>) 'qty'::pg_catalog.text)::pg_catalog.int4,\n"
		"                            (p OPERATOR(pg_catalog.->>) 'eta'::pg_catalog.text)::pg_catalog.date),\n"
		"       '{}'::pg_catalog.jsonb\n"
		"FROM (SELECT $1) AS c (p)",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_COMMAND_ALLOCATE] = {
		"command allocate",
		"SELECT pg_catalog.jsonb_build_object('batchref',\n"
		"           allocation.allocate(p OPERATOR(pg_catalog.->>) 'orderid'::pg_catalog.text,\n"
		"                               p OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text,\n"
		"                               (p OPERATOR(pg_catalog.->>) 'qty'::pg_catalog.text)::pg_catalog.int4))\n"
		"FROM (SELECT $1) AS c (p)",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_COMMAND_DEALLOCATE] = {
		"command deallocate",
		"SELECT pg_catalog.jsonb_build_object('batchref',\n"
		"           allocation.deallocate(p OPERATOR(pg_catalog.->>) 'orderid'::pg_catalog.text,\n"
		"                                 p OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text))\n"
		"FROM (SELECT $1) AS c (p)",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_COMMAND_CHANGE_BATCH_QUANTITY] = {
		"command change_batch_quantity",
		"SELECT allocation.change_batch_quantity(p OPERATOR(pg_catalog.->>) 'batchref'::pg_catalog.text,\n"
		"           (p OPERATOR(pg_catalog.->>) 'qty'::pg_catalog.text)::pg_catalog.int4),\n"
		"       '{}'::pg_catalog.jsonb\n"
		"FROM (SELECT $1) AS c (p)",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_COMMAND_HOLD] = {
		"command hold",
		"SELECT pg_catalog.jsonb_build_object('batchref',\n"
		"           allocation.hold(p OPERATOR(pg_catalog.->>) 'holdid'::pg_catalog.text,\n"
		"                           p OPERATOR(pg_catalog.->>) 'sku'::pg_catalog.text,\n"
		"                           (p OPERATOR(pg_catalog.->>) 'qty'::pg_catalog.text)::pg_catalog.int4,\n"
		"                           (p OPERATOR(pg_catalog.->>) 'ttl'::pg_catalog.text)::pg_catalog.interval))\n"
		"FROM (SELECT $1) AS c (p)",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_COMMAND_CONFIRM_HOLD] = {
		"command confirm_hold",
		"SELECT pg_catalog.jsonb_build_object('lines', COALESCE(pg_catalog.jsonb_agg(\n"
		"           pg_catalog.jsonb_build_object('sku', h.sku, 'batchref', h.batchref)), '[]'))\n"
		"FROM (SELECT $1) AS c (p),\n"
		"     allocation.confirm_hold(p OPERATOR(pg_catalog.->>) 'holdid'::pg_catalog.text,\n"
		"                             p OPERATOR(pg_catalog.->>) 'orderid'::pg_catalog.text) AS h",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_COMMAND_RELEASE_HOLD] = {
		"command release_hold",
		"SELECT pg_catalog.jsonb_build_object('released',\n"
		"           allocation.release_hold(p OPERATOR(pg_catalog.->>) 'holdid'::pg_catalog.text))\n"
		"FROM (SELECT $1) AS c (p)",
		1, {JSONBOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},

	/* -- what routers keep on their shards ----------------------------- */

	/*
	 * The order's last attempt, locked; the caller looks at its state (a
	 * condition on it here would let the pending index compete).
	 */
	[AL_STMT_PENDING_DECISION] = {
		"pending decision",
		"SELECT holdid, skus, qtys, state\n"
		"FROM allocation.order_decisions\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"FOR UPDATE",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	/* A new attempt at order $1, replacing a finished one. */
	[AL_STMT_RECORD_DECISION] = {
		"record decision",
		"INSERT INTO allocation.order_decisions (orderid, holdid, skus, qtys, state)\n"
		"VALUES ($1, $2, $3, $4, $5)\n"
		"ON CONFLICT (orderid) DO UPDATE\n"
		"SET holdid = EXCLUDED.holdid, skus = EXCLUDED.skus, qtys = EXCLUDED.qtys,\n"
		"    state = EXCLUDED.state, updated_at = pg_catalog.now()",
		5, {TEXTOID, TEXTOID, TEXTARRAYOID, INT4ARRAYOID, TEXTOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	/* The attempt ($1, hold $2) goes from state $3 to $4, if it is in $3. */
	[AL_STMT_SET_DECISION] = {
		"set decision",
		"UPDATE allocation.order_decisions\n"
		"SET state = $4, updated_at = pg_catalog.now()\n"
		"WHERE orderid OPERATOR(pg_catalog.=) $1\n"
		"  AND holdid OPERATOR(pg_catalog.=) $2\n"
		"  AND state OPERATOR(pg_catalog.=) $3",
		4, {TEXTOID, TEXTOID, TEXTOID, TEXTOID}, SPI_OK_UPDATE, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_PENDING_DECISIONS] = {
		"pending decisions",
		"SELECT orderid, holdid, skus, qtys, state, updated_at\n"
		"FROM allocation.order_decisions\n"
		"WHERE state OPERATOR(pg_catalog.=) ANY ('{holding,decided}'::pg_catalog.text[])\n"
		"ORDER BY updated_at, orderid COLLATE pg_catalog.\"C\"",
		0, {InvalidOid}, SPI_OK_SELECT, true, AL_PLAN_SCAN
	},
	/*
	 * Reference $1 claimed for sku $2 (qty $3, eta $4), placed already ($5)
	 * or not; a second claim waits for the first's transaction.
	 */
	[AL_STMT_CLAIM_BATCH] = {
		"claim batch",
		"INSERT INTO allocation.batch_claims (reference, sku, qty, eta, placed)\n"
		"VALUES ($1, $2, $3, $4, $5)\n"
		"ON CONFLICT (reference) DO NOTHING",
		5, {TEXTOID, TEXTOID, INT4OID, DATEOID, BOOLOID}, SPI_OK_INSERT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_LOCATE_BATCH] = {
		"locate batch",
		"SELECT sku\n"
		"FROM allocation.batch_claims\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_MARK_BATCH_PLACED] = {
		"mark batch placed",
		"UPDATE allocation.batch_claims\n"
		"SET placed = true\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1\n"
		"  AND NOT placed",
		1, {TEXTOID}, SPI_OK_UPDATE, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_PENDING_CLAIMS] = {
		"pending claims",
		"SELECT reference, sku, qty, eta\n"
		"FROM allocation.batch_claims\n"
		"WHERE NOT placed\n"
		"ORDER BY claimed_at, reference COLLATE pg_catalog.\"C\"",
		0, {InvalidOid}, SPI_OK_SELECT, true, AL_PLAN_SCAN
	},
	[AL_STMT_PLACED_BATCH] = {
		"placed batch",
		"SELECT sku\n"
		"FROM allocation.batches\n"
		"WHERE reference OPERATOR(pg_catalog.=) $1",
		1, {TEXTOID}, SPI_OK_SELECT, false, AL_PLAN_LOOKUP
	},
	[AL_STMT_BATCH_REFERENCES] = {
		"batch references",
		"SELECT reference, sku\n"
		"FROM allocation.batches\n"
		"ORDER BY reference COLLATE pg_catalog.\"C\"",
		0, {InvalidOid}, SPI_OK_SELECT, true, AL_PLAN_SCAN
	},
};

/* -- planner settings ----------------------------------------------------- */

/*
 * A planner setting, and the value our statements are planned and run
 * with: its built-in default, except the few pinned_value overrides.
 */
typedef struct PinnedSetting
{
	struct config_generic *setting;
	char	   *lookup_value;	/* for AL_PLAN_LOOKUP, as text */
	char	   *scan_value;		/* for AL_PLAN_SCAN */
} PinnedSetting;

static PinnedSetting *pinned = NULL;
static int	npinned = 0;

/*
 * pinned_value: what a planner setting is for our statements.  Key
 * lookups use plain index scans only, so that a kept plan never depends on
 * the statistics seen when it was made (a table analyzed empty would get
 * sequential scans for good, a table that looked empty bitmap scans).  JIT is off for all: our statements are small,
 * and a plan that costs more than jit_above_cost would be compiled on every
 * run.  Everything else is the built-in default, whatever the caller, the
 * role or the server's configuration set.
 */
static const char *
pinned_value(const char *name, AlPlanning planning)
{
	if (strcmp(name, "jit") == 0)
		return "off";
	if (planning == AL_PLAN_LOOKUP &&
		(strcmp(name, "enable_seqscan") == 0 ||
		 strcmp(name, "enable_bitmapscan") == 0 ||
		 strcmp(name, "enable_hashjoin") == 0 ||
		 strcmp(name, "enable_mergejoin") == 0))
		return "off";
	return NULL;
}

/*
 * boot_value: a setting's built-in default, as text for set_config_option.
 */
static char *
boot_value(struct config_generic *setting)
{
	switch (setting->vartype)
	{
		case PGC_BOOL:
			return pstrdup(((struct config_bool *) setting)->boot_val ? "on" : "off");
		case PGC_INT:
			return psprintf("%d", ((struct config_int *) setting)->boot_val);
		case PGC_REAL:
			return psprintf("%.17g", ((struct config_real *) setting)->boot_val);
		case PGC_ENUM:
			return pstrdup(config_enum_lookup_by_value((struct config_enum *) setting,
													   ((struct config_enum *) setting)->boot_val));
		case PGC_STRING:
			return pstrdup(((struct config_string *) setting)->boot_val ?
						   ((struct config_string *) setting)->boot_val : "");
	}
	return NULL;
}

/*
 * find_planner_settings: every setting of the planner's groups (methods,
 * costs, GEQO, other), read once per backend from the server's own table,
 * so that each server version's settings are all covered.
 */
static void
find_planner_settings(void)
{
	struct config_generic **settings;
	int			nsettings;
	int			i;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

#if PG_VERSION_NUM >= 160000
	settings = get_guc_variables(&nsettings);
#else
	settings = get_guc_variables();
	nsettings = GetNumConfigOptions();
#endif
	pinned = palloc0(nsettings * sizeof(PinnedSetting));
	for (i = 0; i < nsettings; i++)
	{
		struct config_generic *setting = settings[i];
		PinnedSetting *pin;
		const char *value;

		if (setting->group != QUERY_TUNING_METHOD && setting->group != QUERY_TUNING_COST &&
			setting->group != QUERY_TUNING_GEQO && setting->group != QUERY_TUNING_OTHER)
			continue;
		if (setting->context != PGC_USERSET && setting->context != PGC_SUSET)
			continue;			/* not a setting a session can change */
		pin = &pinned[npinned++];
		pin->setting = setting;
		value = pinned_value(setting->name, AL_PLAN_LOOKUP);
		pin->lookup_value = value ? pstrdup(value) : boot_value(setting);
		value = pinned_value(setting->name, AL_PLAN_SCAN);
		pin->scan_value = value ? pstrdup(value) : boot_value(setting);
	}
	MemoryContextSwitchTo(old);
}

/*
 * differs: whether a setting's current value is not the wanted one.  Read
 * from the variable itself: comparing values costs nanoseconds, so the
 * common case (nothing set) costs nothing more.
 */
static bool
differs(PinnedSetting *pin, const char *wanted)
{
	struct config_generic *setting = pin->setting;

	switch (setting->vartype)
	{
		case PGC_BOOL:
			return *((struct config_bool *) setting)->variable != (strcmp(wanted, "on") == 0);
		case PGC_INT:
			return *((struct config_int *) setting)->variable != atoi(wanted);
		case PGC_REAL:
			return *((struct config_real *) setting)->variable != strtod(wanted, NULL);
		case PGC_ENUM:
			return strcmp(config_enum_lookup_by_value((struct config_enum *) setting,
													  *((struct config_enum *) setting)->variable),
						  wanted) != 0;
		case PGC_STRING:
			return strcmp(*((struct config_string *) setting)->variable ?
						  *((struct config_string *) setting)->variable : "", wanted) != 0;
	}
	return false;
}

/*
 * pin_settings: set every planner setting that is not what a statement
 * wants, in a GUC nest level of its own, the way a function's SET clause
 * does.  Returns the level to close with unpin_settings, or 0 when nothing
 * differed.
 */
static int
pin_settings(AlPlanning planning)
{
	int			level = 0;
	int			i;

	if (pinned == NULL)
		find_planner_settings();
	for (i = 0; i < npinned; i++)
	{
		const char *wanted = planning == AL_PLAN_LOOKUP ? pinned[i].lookup_value : pinned[i].scan_value;

		if (!differs(&pinned[i], wanted))
			continue;
		if (level == 0)
			level = NewGUCNestLevel();
		(void) set_config_option(pinned[i].setting->name, wanted, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	return level;
}

/* unpin_settings: give back the caller's settings (pin_settings). */
static void
unpin_settings(int level)
{
	if (level > 0)
		AtEOXact_GUC(true, level);
}

/*
 * Settings matter only while a statement is planned: at its first use in a
 * backend, and whenever the plan cache plans it again after an
 * invalidation (an ANALYZE, a DDL), which can happen inside any execution.
 * So the settings are pinned by a planner hook, for the statements planned
 * while one of ours runs, and nothing is done for an execution that plans
 * nothing: a caller's SET, a role's or a pooled connection's settings then
 * change neither the plan made nor its cost, and cost nothing.
 */
static planner_hook_type prev_planner_hook = NULL;
static int	ours_running = 0;		/* our statements being run, nested */
static AlPlanning ours_planning = AL_PLAN_LOOKUP;

/*
 * plan_ours: the planner hook; pins the settings when planning for one of
 * our statements (or a statement our statements run).
 */
static PlannedStmt *
plan_ours(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	int			level = ours_running > 0 ? pin_settings(ours_planning) : 0;
	PlannedStmt *planned;

	if (prev_planner_hook)
		planned = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
	else
		planned = standard_planner(parse, query_string, cursorOptions, boundParams);
	unpin_settings(level);
	return planned;
}

/*
 * AlPlannerInit: install the planner hook, after any installed before it;
 * from _PG_init.
 */
void
AlPlannerInit(void)
{
	prev_planner_hook = planner_hook;
	planner_hook = plan_ours;
}

/* -- running statements --------------------------------------------------- */

/* Plans kept for the life of the backend; the plan cache revalidates them. */
static SPIPlanPtr plans[AL_STMT_COUNT];

/*
 * prepared_plan: the kept plan of a statement, prepared on first use and
 * planned once per backend, inside run_ours.
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
 * What run_ours runs: a statement, and what it returns.
 */
typedef struct Run
{
	AlStatementId id;
	Datum	   *values;
	const char *nulls;
	long		tcount;
	bool		cursor;			/* open a cursor rather than execute */
	int			rc;
	Portal		portal;
} Run;

/*
 * run_counted: execute a statement (or open a cursor on it) as one of
 * ours, so that whatever is planned meanwhile is planned with our settings
 * (plan_ours); the count is restored whatever happens.
 */
static void
run_counted(Run *run)
{
	const AlStatement *stmt = &statements[run->id];
	AlPlanning	outer = ours_planning;

	ours_running++;
	ours_planning = stmt->planning;
	PG_TRY();
	{
		SPIPlanPtr	plan = prepared_plan(run->id);

		if (run->cursor)
			run->portal = SPI_cursor_open(NULL, plan, run->values, NULL, stmt->read_only);
		else
			run->rc = SPI_execute_plan(plan, run->values, run->nulls, stmt->read_only, run->tcount);
	}
	PG_FINALLY();
	{
		ours_running--;
		ours_planning = outer;
	}
	PG_END_TRY();
}

/*
 * run_ours: run_counted, and one setting more.  plan_cache_mode decides
 * planning outside the planner: force_custom_plan overrides our kept
 * generic plans and plans every execution anew.  It is set back to auto
 * around the execution, only when a caller set it.
 */
static void
run_ours(Run *run)
{
	int			level = 0;

	if (plan_cache_mode == PLAN_CACHE_MODE_FORCE_CUSTOM_PLAN)
	{
		level = NewGUCNestLevel();
		(void) set_config_option("plan_cache_mode", "auto", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	run_counted(run);
	unpin_settings(level);
}

/*
 * AlExecute: run a registered statement with the given parameters and
 * return its rows.
 *
 * nulls follows SPI's convention (NULL when no parameter is null, else 'n'
 * marks a null).  tcount limits the rows returned, 0 for all.  Anything but
 * the statement's expected SPI code is an internal error.  The caller reads
 * the result with AlValue and frees it with AlFree, always; an empty result
 * holds nothing.
 */
AlResult
AlExecute(AlStatementId id, Datum *values, const char *nulls, long tcount)
{
	const AlStatement *stmt = &statements[id];
	Run			run = {id, values, nulls, tcount, false, 0, NULL};
	AlResult	result;

	run_ours(&run);
	if (run.rc != stmt->expected)
		elog(ERROR, "allocation: \"%s\" failed: %s",
			 stmt->name, SPI_result_code_string(run.rc));
	result.tuptable = SPI_tuptable;
	result.n = SPI_processed;
	if (result.n == 0 && result.tuptable != NULL)
	{
		/* An empty result has nothing to read: free it now (8 kB each). */
		SPI_freetuptable(result.tuptable);
		result.tuptable = NULL;
	}
	return result;
}

/*
 * AlValue: a column (1-based) of a row of a result.  The value lives in
 * SPI memory until AlFree (by reference) or AlFinish.
 */
Datum
AlValue(AlResult result, uint64 row, int column, bool *isnull)
{
	if (result.tuptable == NULL || row >= result.n)
		elog(ERROR, "allocation: no row " UINT64_FORMAT " in a result of " UINT64_FORMAT,
			 row, result.n);
	return SPI_getbinval(result.tuptable->vals[row], result.tuptable->tupdesc,
						 column, isnull);
}

/*
 * AlTextCopy: a text column of a result, copied into the current memory
 * context so that it outlives AlFree; NULL for a null.
 */
text *
AlTextCopy(AlResult result, uint64 row, int column)
{
	bool		isnull;
	Datum		value = AlValue(result, row, column, &isnull);

	return isnull ? NULL : DatumGetTextPCopy(value);
}

/* AlFree: free a result (nothing for an empty one). */
void
AlFree(AlResult result)
{
	if (result.tuptable != NULL)
		SPI_freetuptable(result.tuptable);
}

/*
 * AlOpenCursor: open a cursor on a registered statement, to read a result
 * too large to hold at once with AlFetch.  The caller closes it with
 * AlCloseCursor.
 */
Portal
AlOpenCursor(AlStatementId id, Datum *values)
{
	Run			run = {id, values, NULL, 0, true, 0, NULL};

	run_ours(&run);
	if (run.portal == NULL)
		elog(ERROR, "allocation: could not open a cursor on \"%s\": %s",
			 statements[id].name, SPI_result_code_string(SPI_result));
	return run.portal;
}

/* AlFetch: the next count rows of a cursor, as a result to free with AlFree. */
AlResult
AlFetch(Portal portal, long count)
{
	AlResult	result;

	SPI_cursor_fetch(portal, true, count);
	result.tuptable = SPI_tuptable;
	result.n = SPI_processed;
	return result;
}

/* AlCloseCursor: close a cursor of AlOpenCursor. */
void
AlCloseCursor(Portal portal)
{
	SPI_cursor_close(portal);
}
