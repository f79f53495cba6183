/* allocation--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation UPDATE TO '1.2'" to load this file. \quit

-------------------------------------------------------------------------------
-- the schema
-------------------------------------------------------------------------------

-- The functions run as the extension's owner and name their tables
-- allocation.*: a role that owns schema allocation could rename it and put
-- look-alike tables (with triggers) in its place.  Up to 1.1, CREATE
-- EXTENSION silently reused a schema of that name made by anyone, so an
-- install may carry such a schema: refuse to update it.
DO $$
DECLARE
    schema_owner name;
    extension_owner name;
BEGIN
    SELECT pg_catalog.pg_get_userbyid(n.nspowner), pg_catalog.pg_get_userbyid(e.extowner)
    INTO schema_owner, extension_owner
    FROM pg_catalog.pg_extension AS e
    JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
    WHERE e.extname OPERATOR(pg_catalog.=) 'allocation';
    IF schema_owner OPERATOR(pg_catalog.<>) extension_owner THEN
        RAISE EXCEPTION 'schema "allocation" is owned by role "%", not by the extension''s owner "%"',
                        schema_owner, extension_owner
            USING ERRCODE = 'insufficient_privilege',
                  HINT = pg_catalog.format('Check the schema for objects you did not create, then run ALTER SCHEMA allocation OWNER TO %I.',
                                           extension_owner);
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- tables
-------------------------------------------------------------------------------

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

-- The sum of the batch's holds not confirmed nor yet reclaimed, live or
-- expired: a batch with room beside it needs no look at its holds, and
-- expired holds are reclaimed when their stock is needed.
ALTER TABLE allocation.batches
    ADD COLUMN holds_quantity integer NOT NULL DEFAULT 0 CHECK (holds_quantity OPERATOR(pg_catalog.>=) 0);

-------------------------------------------------------------------------------
-- indexes
-------------------------------------------------------------------------------

-- Ties between batches go by reference in byte order, whatever the
-- database's collation, so the same data gives the same batch everywhere.
DROP INDEX allocation.batches_in_stock_idx;
CREATE INDEX batches_in_stock_idx
    ON allocation.batches (sku, eta NULLS FIRST, reference COLLATE pg_catalog."C")
    WHERE in_stock;

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

-- Reclaiming a sku's expired holds, earliest expiry first.
CREATE INDEX holds_expiry_idx
    ON allocation.holds (sku, expires_at, id);

-------------------------------------------------------------------------------
-- views
-------------------------------------------------------------------------------

-- The clock holds expire by: the time plus allocation.clock_offset, a
-- setting only a superuser can change (tests move time forward with it).
CREATE FUNCTION allocation.clock()
RETURNS timestamptz
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'allocation_clock';

-- Live holds count against a batch's stock.
CREATE OR REPLACE VIEW allocation.batch_stock AS
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

-- Every function that serves an application's calls plans its statements
-- with index paths only (no sequential scan, hash or merge join): they are
-- key lookups, and a plan kept for the life of a backend must not depend on
-- the statistics seen when it was made (a table analyzed empty would get
-- sequential scans for good).
ALTER FUNCTION allocation.add_batch(text, text, integer, date)
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION allocation.allocate(text, text, integer)
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION allocation.deallocate(text, text)
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION allocation.change_batch_quantity(text, integer)
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION allocation.allocations(text)
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;
ALTER FUNCTION allocation.allocate_order(text, text[], integer[])
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off;


CREATE FUNCTION allocation.hold(holdid text, sku text, qty integer, ttl interval)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS 'MODULE_PATHNAME', 'allocation_hold';

-- All or nothing, locking the products in byte order of sku.
CREATE FUNCTION allocation.hold_order(holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS 'MODULE_PATHNAME', 'allocation_hold_order';

CREATE FUNCTION allocation.confirm_hold(holdid text, orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS 'MODULE_PATHNAME', 'allocation_confirm_hold';

CREATE FUNCTION allocation.release_hold(holdid text)
RETURNS integer
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
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

-------------------------------------------------------------------------------
-- comments
-------------------------------------------------------------------------------

COMMENT ON VIEW allocation.batch_stock IS 'batches with their held and available quantity';
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

-------------------------------------------------------------------------------
-- dump
-------------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('allocation.holds', '');

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- Nobody but the owner reads or writes the new objects until granted.
REVOKE ALL ON TABLE allocation.holds, allocation.holds_view FROM PUBLIC;
REVOKE ALL ON FUNCTION allocation.hold(text, text, integer, interval),
    allocation.hold_order(text, text[], integer[], interval),
    allocation.confirm_hold(text, text), allocation.release_hold(text),
    allocation.stream_setup(name), allocation.stream_teardown(name),
    allocation.prune_events(interval), allocation.clock() FROM PUBLIC;
-- Anyone who may read the views may read the clock they use.
GRANT EXECUTE ON FUNCTION allocation.clock() TO PUBLIC;

-- A role that could call every function before an update can call every
-- function after it, and read every view: each object an update adds gets
-- the grants of a model (writers: allocate; readers: allocations;
-- maintenance: change_batch_quantity; views: batch_stock).  1.0 to 1.1 did
-- not do this, so allocate_order and check are done here too.
--
-- PostgreSQL records every GRANT run by an extension script as the object's
-- initial privilege (pg_init_privs), which pg_dump leaves out; the initial
-- privileges are set back to a fresh install's so that a dump keeps these
-- grants like the ones the DBA made.
DO $$
DECLARE
    copy record;
    grant_command text;
BEGIN
    FOR copy IN
        SELECT f.added, 'FUNCTION' AS kind, 'pg_catalog.pg_proc'::pg_catalog.regclass AS catalog,
               f.added::pg_catalog.regprocedure::pg_catalog.oid AS added_oid,
               m.proacl AS model_acl, m.proowner AS owner, a.proacl AS fresh_acl
        FROM (VALUES ('allocation.allocate(text,text,integer)', 'allocation.allocate_order(text,text[],integer[])'),
                     ('allocation.allocations(text)', 'allocation.check()'),
                     ('allocation.allocate(text,text,integer)', 'allocation.hold(text,text,integer,interval)'),
                     ('allocation.allocate(text,text,integer)', 'allocation.hold_order(text,text[],integer[],interval)'),
                     ('allocation.allocate(text,text,integer)', 'allocation.confirm_hold(text,text)'),
                     ('allocation.allocate(text,text,integer)', 'allocation.release_hold(text)'),
                     ('allocation.change_batch_quantity(text,integer)', 'allocation.stream_setup(name)'),
                     ('allocation.change_batch_quantity(text,integer)', 'allocation.stream_teardown(name)'),
                     ('allocation.change_batch_quantity(text,integer)', 'allocation.prune_events(interval)'))
             AS f (model, added)
        JOIN pg_catalog.pg_proc AS m ON m.oid OPERATOR(pg_catalog.=) f.model::pg_catalog.regprocedure
        JOIN pg_catalog.pg_proc AS a ON a.oid OPERATOR(pg_catalog.=) f.added::pg_catalog.regprocedure
        UNION ALL
        SELECT f.added, 'TABLE', 'pg_catalog.pg_class'::pg_catalog.regclass,
               f.added::pg_catalog.regclass::pg_catalog.oid,
               m.relacl, m.relowner, a.relacl
        FROM (VALUES ('allocation.batch_stock', 'allocation.holds_view')) AS f (model, added)
        JOIN pg_catalog.pg_class AS m ON m.oid OPERATOR(pg_catalog.=) f.model::pg_catalog.regclass
        JOIN pg_catalog.pg_class AS a ON a.oid OPERATOR(pg_catalog.=) f.added::pg_catalog.regclass
    LOOP
        FOR grant_command IN
            SELECT pg_catalog.format('GRANT %s ON %s %s TO %s%s', g.privilege_type, copy.kind, copy.added,
                       CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
            FROM pg_catalog.aclexplode(copy.model_acl) AS g
            WHERE g.grantee OPERATOR(pg_catalog.<>) copy.owner
        LOOP
            EXECUTE grant_command;
        END LOOP;
        UPDATE pg_catalog.pg_init_privs
        SET initprivs = copy.fresh_acl
        WHERE objoid OPERATOR(pg_catalog.=) copy.added_oid
          AND classoid OPERATOR(pg_catalog.=) copy.catalog
          AND objsubid OPERATOR(pg_catalog.=) 0;
    END LOOP;
END
$$;
