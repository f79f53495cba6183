/* allocation--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation UPDATE TO '1.3'" to load this file. \quit

-------------------------------------------------------------------------------
-- tables
-------------------------------------------------------------------------------

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

-- Reclaiming a sku's expired holds, earliest expiry first.  Every hold has
-- qty > 0 (CHECK), but only the reclaiming statements say so: a lookup by
-- hold can then never take this index for its sku (a plan made while the
-- table looked empty could, and keep it for the life of its backend).
DROP INDEX allocation.holds_expiry_idx;
CREATE INDEX holds_reclaim_idx
    ON allocation.holds (sku, expires_at, id)
    WHERE qty OPERATOR(pg_catalog.>) 0;

-------------------------------------------------------------------------------
-- functions
-------------------------------------------------------------------------------

-- The planner settings of every statement are pinned by the library now
-- (src/plans.c), all of them and whatever the caller set, rather than three
-- of them by each function's SET clauses.
ALTER FUNCTION allocation.add_batch(text, text, integer, date)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.allocate(text, text, integer)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.deallocate(text, text)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.change_batch_quantity(text, integer)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.allocations(text)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.allocate_order(text, text[], integer[])
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.hold(text, text, integer, interval)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.hold_order(text, text[], integer[], interval)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.confirm_hold(text, text)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;
ALTER FUNCTION allocation.release_hold(text)
    RESET enable_seqscan RESET enable_hashjoin RESET enable_mergejoin;

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

COMMENT ON TABLE allocation.inbox IS 'commands of a message bus applied once each, with their outcome';
COMMENT ON TABLE allocation.order_decisions IS 'decisions of orders a router placed over several shards';
COMMENT ON TABLE allocation.batch_claims IS 'batch references claimed by routers, unique across shards, with their sku';
COMMENT ON FUNCTION allocation.apply_command(text, text, text) IS 'run a command of a message bus once per request; returns its outcome';
COMMENT ON FUNCTION allocation.prune_inbox(interval) IS 'delete the inbox''s records of commands applied longer ago than the given age';
COMMENT ON FUNCTION allocation.hold_lines(text) IS 'the lines of a hold (for routers)';
COMMENT ON FUNCTION allocation.release_hold_lines(text, text[]) IS 'free the live lines of some skus of a hold (for routers)';
COMMENT ON FUNCTION allocation.order_prepare(text, text, text[], integer[], interval) IS 'hold the new lines of an order on this shard, all or none (for routers)';
COMMENT ON FUNCTION allocation.order_commit(text, text, text[], integer[]) IS 'confirm an order''s hold on this shard, allocating afresh where it expired (for routers)';
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

SELECT pg_catalog.pg_extension_config_dump('allocation.inbox', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.order_decisions', '');
SELECT pg_catalog.pg_extension_config_dump('allocation.batch_claims', '');

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- Nobody but the owner reads or writes the new objects, or calls the new
-- functions, until a DBA grants them: the consumer's, the routers' and the
-- maintenance role's lines in the README.  No new function copies the
-- grants of an application's function.
REVOKE ALL ON TABLE allocation.inbox, allocation.order_decisions, allocation.batch_claims FROM PUBLIC;
REVOKE ALL ON FUNCTION
    allocation.apply_command(text, text, text),
    allocation.prune_inbox(interval),
    allocation.hold_lines(text),
    allocation.release_hold_lines(text, text[]),
    allocation.order_prepare(text, text, text[], integer[], interval),
    allocation.order_commit(text, text, text[], integer[]),
    allocation.order_undo(text, text[]),
    allocation.decision_begin(text, text, text[], integer[], text, boolean),
    allocation.decision_record(text, text, text[], integer[], text),
    allocation.decision_set(text, text, text, text, boolean),
    allocation.decision_unlock(),
    allocation.decisions_pending(),
    allocation.batch_claim(text, text, integer, date, boolean),
    allocation.batch_locate(text),
    allocation.batch_placed(text),
    allocation.batch_place(text, text, integer, date),
    allocation.batch_claims_pending(),
    allocation.batch_references()
    FROM PUBLIC;

-- The update to 1.2 gave prune_events, stream_setup and stream_teardown the
-- grants of change_batch_quantity, so an application role could delete the
-- outbox (prune_events runs as the owner).  They are maintenance functions:
-- taken from every role that may call change_batch_quantity; the README's
-- maintenance line grants them to the role that needs them.  The initial
-- privileges PostgreSQL records for these REVOKEs are a fresh install's.
DO $$
DECLARE
    revoke_command text;
BEGIN
    FOR revoke_command IN
        SELECT pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', f.maintenance,
                   pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)))
        FROM pg_catalog.pg_proc AS m,
             pg_catalog.aclexplode(m.proacl) AS g,
             (VALUES ('allocation.prune_events(interval)'), ('allocation.stream_setup(name)'),
                     ('allocation.stream_teardown(name)')) AS f (maintenance)
        WHERE m.oid OPERATOR(pg_catalog.=) 'allocation.change_batch_quantity(text,integer)'::pg_catalog.regprocedure
          AND g.grantee OPERATOR(pg_catalog.<>) m.proowner
          AND g.grantee OPERATOR(pg_catalog.<>) 0
          AND g.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
    LOOP
        EXECUTE revoke_command;
    END LOOP;
END
$$;
