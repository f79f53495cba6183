/* allocation--1.5.sql: a fresh install of 1.5 (1.4 plus allocation--1.4--1.5.sql) */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION allocation" to load this file. \quit

-- Every name from outside the extension is schema-qualified, operators
-- included, so that objects planted in other schemas change nothing here
-- (PostgreSQL documentation, "Security Considerations for Extension Scripts").

-------------------------------------------------------------------------------
-- the schema
-------------------------------------------------------------------------------

-- The functions run as the extension's owner and name their tables
-- allocation.*, so whoever owns schema allocation decides what they run.
-- CREATE EXTENSION reuses an existing schema of that name: accept only an
-- empty one that the installing role owns, never one another role made.
DO $$
DECLARE
    schema_owner name;
BEGIN
    SELECT pg_catalog.pg_get_userbyid(nspowner) INTO schema_owner
    FROM pg_catalog.pg_namespace
    WHERE nspname OPERATOR(pg_catalog.=) 'allocation';
    IF schema_owner OPERATOR(pg_catalog.<>) CURRENT_USER THEN
        RAISE EXCEPTION 'schema "allocation" already exists and is owned by role "%"', schema_owner
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = 'The extension''s functions run as its owner, so its schema must not belong to another role.',
                  HINT = 'Drop or rename that schema, then install again: CREATE EXTENSION creates it.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_class
               WHERE relnamespace OPERATOR(pg_catalog.=) 'allocation'::pg_catalog.regnamespace)
       OR EXISTS (SELECT FROM pg_catalog.pg_proc
                  WHERE pronamespace OPERATOR(pg_catalog.=) 'allocation'::pg_catalog.regnamespace)
       OR EXISTS (SELECT FROM pg_catalog.pg_type
                  WHERE typnamespace OPERATOR(pg_catalog.=) 'allocation'::pg_catalog.regnamespace) THEN
        RAISE EXCEPTION 'schema "allocation" already exists and is not empty'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'Drop or rename that schema, then install again: CREATE EXTENSION creates it.';
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- tables
-------------------------------------------------------------------------------

-- The aggregate: one row per sku, locked by every change to its stock.
-- Free space on each page lets the version updates stay HOT.
CREATE TABLE allocation.products (
    sku            text   PRIMARY KEY,
    version_number bigint NOT NULL DEFAULT 0
) WITH (fillfactor = 50);

-- allocated_quantity is the sum of the batch's lines, kept by the functions
-- under the product lock; the CHECK makes an oversell impossible to commit.
-- in_stock changes only when a batch runs out or gets stock again, so the
-- update of allocated_quantity that every allocation makes touches no
-- indexed column and stays HOT (no index entries, no index bloat).
-- holds_quantity is the sum of the batch's holds not confirmed nor yet
-- reclaimed, live or expired: a batch with room beside it needs no look at
-- its holds, and expired holds are reclaimed when their stock is needed.
CREATE TABLE allocation.batches (
    reference          text    PRIMARY KEY,
    sku                text    NOT NULL REFERENCES allocation.products (sku),
    eta                date,
    purchased_quantity integer NOT NULL,
    allocated_quantity integer NOT NULL DEFAULT 0,
    in_stock           boolean NOT NULL GENERATED ALWAYS AS (
                           allocated_quantity OPERATOR(pg_catalog.<) purchased_quantity) STORED,
    holds_quantity     integer NOT NULL DEFAULT 0 CHECK (holds_quantity OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT batches_quantities_check CHECK (
        allocated_quantity OPERATOR(pg_catalog.>=) 0
        AND allocated_quantity OPERATOR(pg_catalog.<=) purchased_quantity)
) WITH (fillfactor = 50);

-- id orders the lines of a batch by allocation time (most recent last).
CREATE SEQUENCE allocation.order_lines_id_seq;

CREATE TABLE allocation.order_lines (
    orderid         text    NOT NULL,
    sku             text    NOT NULL,
    qty             integer NOT NULL CHECK (qty OPERATOR(pg_catalog.>) 0),
    batch_reference text    NOT NULL REFERENCES allocation.batches (reference),
    id              bigint  NOT NULL
                    DEFAULT pg_catalog.nextval('allocation.order_lines_id_seq'::pg_catalog.regclass),
    PRIMARY KEY (orderid, sku)
);

ALTER SEQUENCE allocation.order_lines_id_seq OWNED BY allocation.order_lines.id;

-- The outbox.  Ids are taken under the product lock, so one product's
-- events are in the order of its changes.
CREATE SEQUENCE allocation.events_id_seq;

CREATE TABLE allocation.events (
    id          bigint      PRIMARY KEY
                DEFAULT pg_catalog.nextval('allocation.events_id_seq'::pg_catalog.regclass),
    occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    event       text        NOT NULL,
    payload     jsonb       NOT NULL
);

ALTER SEQUENCE allocation.events_id_seq OWNED BY allocation.events.id;

-- Stock held for a checkout until expires_at.  A hold counts only while it
-- is live (expires_at after the clock, not confirmed): nothing has to run at
-- expiry.  Confirming makes it an order line of orderid; the row stays
-- until its expiry so that a repeated confirm returns the same rows.  Rows
-- of expired holds are reclaimed lazily by the calls on their sku.  id comes
-- from the lines' sequence: a shrinking batch takes off its most recent
-- lines and holds first.
CREATE TABLE allocation.holds (
    holdid          text        NOT NULL,
    sku             text        NOT NULL,
    qty             integer     NOT NULL CHECK (qty OPERATOR(pg_catalog.>) 0),
    batch_reference text        NOT NULL REFERENCES allocation.batches (reference),
    expires_at      timestamptz NOT NULL,
    orderid         text,
    id              bigint      NOT NULL
                    DEFAULT pg_catalog.nextval('allocation.order_lines_id_seq'::pg_catalog.regclass),
    PRIMARY KEY (holdid, sku)
);

-- The inbox of a message bus's commands (apply_command): one row per
-- request, written in the command's own transaction with its outcome, so
-- that a command delivered again is answered the same and never runs twice.
CREATE TABLE allocation.inbox (
    request    text        PRIMARY KEY,
    command    text,
    status     text        CHECK (status IN ('ok', 'error')),
    sqlstate   text,
    message    text,
    result     jsonb,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- What routers (allocation_router) keep on their shards.  An order that
-- spans shards is placed in steps that each commit on their own; its
-- decision lives on the shard hashtext(orderid) picks, so that any router
-- finishes what another left (decisions.c).
CREATE TABLE allocation.order_decisions (
    orderid    text        PRIMARY KEY,
    holdid     text        NOT NULL,
    skus       text[]      NOT NULL,
    qtys       integer[]   NOT NULL,
    state      text        NOT NULL
               CHECK (state IN ('holding', 'decided', 'done', 'released', 'undone')),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Batch references claimed across shards, on the shard hashtext(reference)
-- picks: a reference is unique across all of them, and names its sku's
-- shard (directory.c).  placed: the batch exists on that shard.
CREATE TABLE allocation.batch_claims (
    reference  text        PRIMARY KEY,
    sku        text        NOT NULL,
    qty        integer     NOT NULL,
    eta        date,
    placed     boolean     NOT NULL DEFAULT false,
    claimed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-------------------------------------------------------------------------------
-- indexes
-------------------------------------------------------------------------------

-- The batch choice reads only batches that still have stock, in choice
-- order, so its cost does not grow with exhausted batches.
-- Ties go by reference in byte order, whatever the database's collation.
CREATE INDEX batches_in_stock_idx
    ON allocation.batches (sku, eta NULLS FIRST, reference COLLATE pg_catalog."C")
    WHERE in_stock;

-- Reallocation takes a batch's most recent lines first.
CREATE INDEX order_lines_batch_idx
    ON allocation.order_lines (batch_reference, id);

-- What a batch has held: live holds only, so the sum costs nothing for
-- holds that have expired but are not reclaimed yet; and a batch's expired
-- holds, earliest first, when their stock is needed.
CREATE INDEX holds_live_idx
    ON allocation.holds (batch_reference, expires_at, id) INCLUDE (qty)
    WHERE orderid IS NULL;

-- A shrinking batch takes off its most recent holds first.
CREATE INDEX holds_recent_idx
    ON allocation.holds (batch_reference, id)
    WHERE orderid IS NULL;

-- Reclaiming a sku's expired holds, earliest expiry first.  Every hold has
-- qty > 0 (CHECK), but only the reclaiming statements say so: a lookup by
-- hold can then never take this index for its sku (a plan made while the
-- table looked empty could, and keep it for the life of its backend).
CREATE INDEX holds_reclaim_idx
    ON allocation.holds (sku, expires_at, id)
    WHERE qty OPERATOR(pg_catalog.>) 0;

-- recover() reads the unfinished decisions and claims only.
CREATE INDEX order_decisions_pending_idx
    ON allocation.order_decisions (updated_at)
    WHERE state IN ('holding', 'decided');
CREATE INDEX batch_claims_pending_idx
    ON allocation.batch_claims (claimed_at)
    WHERE NOT placed;

-- prune_inbox deletes the oldest requests.
CREATE INDEX inbox_applied_idx
    ON allocation.inbox (applied_at);

-------------------------------------------------------------------------------
-- views
-------------------------------------------------------------------------------

-- The clock holds expire by: the time plus allocation.clock_offset, a
-- setting only a superuser can change (tests move time forward with it).
CREATE FUNCTION allocation.clock()
RETURNS timestamptz
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'allocation_clock';

CREATE VIEW allocation.batch_stock AS
SELECT reference,
       sku,
       eta,
       purchased_quantity,
       allocated_quantity,
       purchased_quantity OPERATOR(pg_catalog.-) allocated_quantity
           OPERATOR(pg_catalog.-) (SELECT COALESCE(pg_catalog.sum(h.qty), 0)::integer
                                   FROM allocation.holds AS h
                                   WHERE h.batch_reference OPERATOR(pg_catalog.=) b.reference
                                     AND h.orderid IS NULL
                                     AND h.expires_at OPERATOR(pg_catalog.>) allocation.clock())
           AS available_quantity,
       (SELECT COALESCE(pg_catalog.sum(h.qty), 0)::integer
        FROM allocation.holds AS h
        WHERE h.batch_reference OPERATOR(pg_catalog.=) b.reference
          AND h.orderid IS NULL
          AND h.expires_at OPERATOR(pg_catalog.>) allocation.clock()) AS held_quantity
FROM allocation.batches AS b;

-- The read model: always the write side itself, so never stale.
CREATE VIEW allocation.allocations_view AS
SELECT orderid,
       sku,
       batch_reference AS batchref
FROM allocation.order_lines;

-- Live holds: an expired one is gone from here the moment it expires.
CREATE VIEW allocation.holds_view AS
SELECT holdid,
       sku,
       batch_reference AS batchref,
       qty,
       expires_at
FROM allocation.holds
WHERE orderid IS NULL
  AND expires_at OPERATOR(pg_catalog.>) allocation.clock();

-------------------------------------------------------------------------------
-- functions
-------------------------------------------------------------------------------

-- The writers run as the extension owner: they are the only write path.
-- Their statements are planned and run in planner settings of their own
-- (src/plans.c), whatever the caller, the role or the server set.
CREATE FUNCTION allocation.add_batch(ref text, sku text, qty integer, eta date DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_add_batch';

CREATE FUNCTION allocation.allocate(orderid text, sku text, qty integer)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_allocate';

CREATE FUNCTION allocation.deallocate(orderid text, sku text)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_deallocate';

CREATE FUNCTION allocation.change_batch_quantity(ref text, qty integer)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_change_batch_quantity';

CREATE FUNCTION allocation.allocations(orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_allocations';

-- All or nothing, locking the order's products in byte order of sku.
CREATE FUNCTION allocation.allocate_order(orderid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_allocate_order';

-- Reads under the caller's snapshot and takes no locks.
CREATE FUNCTION allocation.check()
RETURNS TABLE (problem text, detail jsonb)
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_check';

CREATE FUNCTION allocation.hold(holdid text, sku text, qty integer, ttl interval)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_hold';

-- All or nothing, locking the products in byte order of sku.
CREATE FUNCTION allocation.hold_order(holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_hold_order';

CREATE FUNCTION allocation.confirm_hold(holdid text, orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_confirm_hold';

CREATE FUNCTION allocation.release_hold(holdid text)
RETURNS integer
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_release_hold';

-- Run by a superuser: creating a publication and a replication slot needs
-- the privileges of one, so these run as their caller.
CREATE FUNCTION allocation.stream_setup(slot name DEFAULT 'allocation_events')
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_stream_setup';

CREATE FUNCTION allocation.stream_teardown(slot name DEFAULT 'allocation_events')
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_stream_teardown';

-- Takes no product lock: it runs beside allocations.
CREATE FUNCTION allocation.prune_events(older_than interval)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_prune_events';

-- The inbox: runs once per request, whatever the bus delivers again.
CREATE FUNCTION allocation.apply_command(request text, command text, payload text)
RETURNS TABLE (status text, sqlstate text, message text, result jsonb)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_apply_command';

CREATE FUNCTION allocation.prune_inbox(older_than interval)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_prune_inbox';

-- What a router (allocation_router) calls on a shard.
CREATE FUNCTION allocation.hold_lines(holdid text)
RETURNS TABLE (sku text, qty integer, batchref text, expires_at timestamptz, orderid text)
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_hold_lines';

CREATE FUNCTION allocation.release_hold_lines(holdid text, skus text[])
RETURNS integer
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_release_hold_lines';

CREATE FUNCTION allocation.order_prepare(orderid text, holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_prepare';

CREATE FUNCTION allocation.order_commit(orderid text, holdid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_commit';

CREATE FUNCTION allocation.order_hold(orderid text, holdid text, skus text[], qtys integer[], ttl interval,
                                      decision_sku text, order_skus text[], order_qtys integer[])
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_hold';

CREATE FUNCTION allocation.order_decide(orderid text, holdid text, skus text[], qtys integer[],
                                        decision_skus text[], decision_qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_decide';

CREATE FUNCTION allocation.order_place(orderid text, holdid text, skus text[], qtys integer[],
                                       decision_skus text[], decision_qtys integer[])
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_place';

CREATE FUNCTION allocation.order_undo(orderid text, skus text[])
RETURNS integer
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_undo';

CREATE FUNCTION allocation.decision_begin(orderid text, holdid text, skus text[], qtys integer[],
                                          state text, wait boolean)
RETURNS TABLE (locked boolean, holdid text, skus text[], qtys integer[], state text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_decision_begin';

CREATE FUNCTION allocation.decision_record(orderid text, holdid text, skus text[], qtys integer[], state text)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_decision_record';

CREATE FUNCTION allocation.decision_set(orderid text, holdid text, from_state text, to_state text,
                                        unlock boolean)
RETURNS boolean
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_decision_set';

CREATE FUNCTION allocation.decision_unlock()
RETURNS boolean
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_decision_unlock';

CREATE FUNCTION allocation.decisions_pending()
RETURNS TABLE (orderid text, holdid text, skus text[], qtys integer[], state text, updated_at timestamptz)
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_decisions_pending';

CREATE FUNCTION allocation.batch_claim(ref text, sku text, qty integer, eta date, placed boolean)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_batch_claim';

CREATE FUNCTION allocation.batch_locate(ref text)
RETURNS text
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_batch_locate';

CREATE FUNCTION allocation.batch_placed(ref text)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_batch_placed';

CREATE FUNCTION allocation.batch_place(ref text, sku text, qty integer, eta date)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_batch_place';

CREATE FUNCTION allocation.batch_claims_pending()
RETURNS TABLE (ref text, sku text, qty integer, eta date)
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_batch_claims_pending';

CREATE FUNCTION allocation.batch_references()
RETURNS TABLE (ref text, sku text)
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_batch_references';

-------------------------------------------------------------------------------
-- comments
-------------------------------------------------------------------------------

COMMENT ON TABLE allocation.products IS 'one row per sku: the aggregate whose row lock guards its batches and lines';
COMMENT ON TABLE allocation.batches IS 'stock: purchased and allocated quantity per batch';
COMMENT ON TABLE allocation.order_lines IS 'order lines allocated to batches';
COMMENT ON TABLE allocation.events IS 'outbox of domain events, in commit-safe id order per product';
COMMENT ON VIEW allocation.batch_stock IS 'batches with their held and available quantity';
COMMENT ON VIEW allocation.allocations_view IS 'read model: (orderid, sku, batchref) of every allocated line';
COMMENT ON FUNCTION allocation.add_batch(text, text, integer, date) IS 'add a batch of stock, creating the product on its first batch';
COMMENT ON FUNCTION allocation.allocate(text, text, integer) IS 'allocate an order line to the best batch; returns its reference or NULL when out of stock';
COMMENT ON FUNCTION allocation.deallocate(text, text) IS 'free an order line; returns the batch it held or NULL';
COMMENT ON FUNCTION allocation.change_batch_quantity(text, integer) IS 'set a batch''s purchased quantity, reallocating lines it can no longer hold';
COMMENT ON FUNCTION allocation.allocations(text) IS 'the batches an order''s lines are allocated to, by sku';
COMMENT ON FUNCTION allocation.allocate_order(text, text[], integer[]) IS 'allocate every line of an order, or none; returns (sku, batchref) by sku';
COMMENT ON FUNCTION allocation.check() IS 'one row per violated invariant of the stored data; none when consistent';
COMMENT ON TABLE allocation.holds IS 'stock held for a checkout until it expires, or confirmed into an order line';
COMMENT ON VIEW allocation.holds_view IS 'live holds: (holdid, sku, batchref, qty, expires_at)';
COMMENT ON FUNCTION allocation.clock() IS 'the time holds expire by: now plus allocation.clock_offset';
COMMENT ON FUNCTION allocation.hold(text, text, integer, interval) IS 'hold stock of a sku until ttl from now; returns the batch or NULL when out of stock';
COMMENT ON FUNCTION allocation.hold_order(text, text[], integer[], interval) IS 'hold every line of an order, or none; returns (sku, batchref) by sku';
COMMENT ON FUNCTION allocation.confirm_hold(text, text) IS 'turn every line of a live hold into an allocated line of an order, atomically';
COMMENT ON FUNCTION allocation.release_hold(text) IS 'free every line of a hold; returns how many';
COMMENT ON FUNCTION allocation.stream_setup(name) IS 'create publication allocation_events and a pgoutput slot for a relay, if missing';
COMMENT ON FUNCTION allocation.stream_teardown(name) IS 'drop a relay''s slot, and the publication when no pgoutput slot of the database is left';
COMMENT ON FUNCTION allocation.prune_events(interval) IS 'delete events older than the given age, except those check() needs';

COMMENT ON TABLE allocation.inbox IS 'commands of a message bus applied once each, with their outcome';
COMMENT ON TABLE allocation.order_decisions IS 'decisions of orders a router placed over several shards';
COMMENT ON TABLE allocation.batch_claims IS 'batch references claimed by routers, unique across shards, with their sku';
COMMENT ON FUNCTION allocation.apply_command(text, text, text) IS 'run a command of a message bus once per request; returns its outcome';
COMMENT ON FUNCTION allocation.prune_inbox(interval) IS 'delete the inbox''s records of commands applied longer ago than the given age';
COMMENT ON FUNCTION allocation.hold_lines(text) IS 'the lines of a hold (for routers)';
COMMENT ON FUNCTION allocation.release_hold_lines(text, text[]) IS 'free the live lines of some skus of a hold (for routers)';
COMMENT ON FUNCTION allocation.order_prepare(text, text, text[], integer[], interval) IS 'hold the new lines of an order on this shard, all or none (for routers)';
COMMENT ON FUNCTION allocation.order_commit(text, text, text[], integer[]) IS 'confirm an order''s hold on this shard, allocating afresh where it expired (for routers)';
COMMENT ON FUNCTION allocation.order_hold(text, text, text[], integer[], interval, text, text[], integer[]) IS 'hold the new lines of an order on this shard, all or none, and on the order''s own shard also take its lock and record the attempt (for routers)';
COMMENT ON FUNCTION allocation.order_decide(text, text, text[], integer[], text[], integer[]) IS 'on the order''s own shard, confirm its hold here and record the order decided, in one transaction (for routers)';
COMMENT ON FUNCTION allocation.order_place(text, text, text[], integer[], text[], integer[]) IS 'on the order''s own shard, once its other lines are held elsewhere: take its lock, allocate its lines here and record the order decided, in one transaction (for routers)';
COMMENT ON FUNCTION allocation.order_undo(text, text[]) IS 'free an order''s lines of the given skus on this shard (for routers)';
COMMENT ON FUNCTION allocation.decision_begin(text, text, text[], integer[], text, boolean) IS 'take an order''s lock for the session and record a new attempt, or return an unfinished one (for routers)';
COMMENT ON FUNCTION allocation.decision_record(text, text, text[], integer[], text) IS 'record a new attempt at an order whose lock the session holds (for routers)';
COMMENT ON FUNCTION allocation.decision_set(text, text, text, text, boolean) IS 'move an attempt at an order from one state to another, if it is there (for routers)';
COMMENT ON FUNCTION allocation.decision_unlock() IS 'give back the order lock the session holds (for routers)';
COMMENT ON FUNCTION allocation.decisions_pending() IS 'attempts at orders no router finished (for recover())';
COMMENT ON FUNCTION allocation.batch_claim(text, text, integer, date, boolean) IS 'claim a batch reference for a sku across shards (for routers)';
COMMENT ON FUNCTION allocation.batch_locate(text) IS 'the sku a batch reference was claimed for (for routers)';
COMMENT ON FUNCTION allocation.batch_placed(text) IS 'mark a claimed batch placed on its sku''s shard (for routers)';
COMMENT ON FUNCTION allocation.batch_place(text, text, integer, date) IS 'add a claimed batch, or nothing when it exists for that sku (for routers)';
COMMENT ON FUNCTION allocation.batch_claims_pending() IS 'claims whose batch is not placed yet (for recover())';
COMMENT ON FUNCTION allocation.batch_references() IS 'every batch of this shard with its sku (for routers adopting existing batches)';

-------------------------------------------------------------------------------
-- dump
-------------------------------------------------------------------------------

-- pg_dump keeps the data of these (sequences too, or ids would restart).
SELECT pg_catalog.pg_extension_config_dump('allocation.products', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.batches', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.order_lines', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.order_lines_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.events', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.events_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.holds', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.inbox', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.order_decisions', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.batch_claims', '');

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- Nobody but the owner reads or writes anything until a DBA grants it
-- (see README, "Security"); the functions are the only write path.
REVOKE ALL ON SCHEMA allocation FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA allocation FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA allocation FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA allocation FROM PUBLIC;

-- Anyone who may read the views may read the clock they use.
GRANT EXECUTE ON FUNCTION allocation.clock() TO PUBLIC;
