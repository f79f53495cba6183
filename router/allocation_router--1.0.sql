/* router/allocation_router--1.0.sql: the allocation API on a router database */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION allocation_router" to load this file. \quit

-- The router offers schema allocation with the functions of the allocation
-- extension, same signatures, results and SQLSTATEs, routing each call by
-- sku to the partition PL/Proxy's hashtext(sku) picks in the cluster
-- allocation_cluster (SQL/MED: CREATE SERVER allocation_cluster FOREIGN
-- DATA WRAPPER plproxy OPTIONS (p0 '...', p1 '...'); a power of two of
-- partitions, several may share a database).  Shards run the unchanged
-- allocation extension.  Every name from outside is schema-qualified.

-------------------------------------------------------------------------------
-- the schema
-------------------------------------------------------------------------------

-- As for the allocation extension: the order functions run as the owner, so
-- schema allocation must be the one CREATE EXTENSION made, empty.
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
                  HINT = 'Drop or rename that schema, then install again: CREATE EXTENSION creates it.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_class
               WHERE relnamespace OPERATOR(pg_catalog.=) 'allocation'::pg_catalog.regnamespace)
       OR EXISTS (SELECT FROM pg_catalog.pg_proc
                  WHERE pronamespace OPERATOR(pg_catalog.=) 'allocation'::pg_catalog.regnamespace) THEN
        RAISE EXCEPTION 'schema "allocation" already exists and is not empty'
            USING ERRCODE = 'duplicate_schema';
    END IF;
END
$$;

-------------------------------------------------------------------------------
-- tables
-------------------------------------------------------------------------------

-- Orders over several partitions, all or nothing without two-phase commit:
-- every line is held on its partition, and only when all are held is the
-- order decided and every hold confirmed; otherwise what was held is
-- released.  The state is written in its own transaction (dblink) before
-- each step, so it survives the router's crash; recover() finishes
-- decided orders and releases undecided ones.
CREATE TABLE allocation.router_orders (
    orderid    text        PRIMARY KEY,
    holdid     text        NOT NULL,
    skus       text[]      NOT NULL,
    qtys       integer[]   NOT NULL,
    state      text        NOT NULL CHECK (state IN ('holding', 'decided', 'done', 'released', 'undone')),
    updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-------------------------------------------------------------------------------
-- routing
-------------------------------------------------------------------------------

-- PL/Proxy's partition key of a sku (NULL routes anywhere: the shard then
-- raises 22004 as the extension does).
CREATE FUNCTION allocation.router_route(sku text)
RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.hashtext(COALESCE(sku, '')) $$;

-- The number of partitions of allocation_cluster.
CREATE FUNCTION allocation.router_partitions()
RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.count(*)::integer
    FROM pg_catalog.pg_foreign_server AS s, pg_catalog.unnest(s.srvoptions) AS o (option)
    WHERE s.srvname OPERATOR(pg_catalog.=) 'allocation_cluster'
      AND o.option OPERATOR(pg_catalog.~) '^p[0-9]+='
$$;

-- The partition a sku lives on.
CREATE FUNCTION allocation.router_partition(sku text)
RETURNS integer
LANGUAGE sql STABLE
AS $$ SELECT allocation.router_route(sku) OPERATOR(pg_catalog.&) (allocation.router_partitions() OPERATOR(pg_catalog.-) 1) $$;

-------------------------------------------------------------------------------
-- the single-sku calls: one partition, one call
-------------------------------------------------------------------------------

CREATE FUNCTION allocation.add_batch(ref text, sku text, qty integer, eta date DEFAULT NULL)
RETURNS void
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON allocation.router_route(sku); $$;

CREATE FUNCTION allocation.allocate(orderid text, sku text, qty integer)
RETURNS text
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON allocation.router_route(sku); $$;

CREATE FUNCTION allocation.deallocate(orderid text, sku text)
RETURNS text
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON allocation.router_route(sku); $$;

CREATE FUNCTION allocation.hold(holdid text, sku text, qty integer, ttl interval)
RETURNS text
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON allocation.router_route(sku); $$;

-------------------------------------------------------------------------------
-- calls on one partition or all of them (building blocks)
-------------------------------------------------------------------------------

CREATE FUNCTION allocation.router_allocate_order_on(part integer, orderid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT o.sku, o.batchref FROM allocation.allocate_order(orderid, skus, qtys) AS o;
$$;

CREATE FUNCTION allocation.router_hold_order_on(part integer, holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT o.sku, o.batchref FROM allocation.hold_order(holdid, skus, qtys, ttl) AS o;
$$;

CREATE FUNCTION allocation.router_confirm_hold_on(part integer, holdid text, orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT c.sku, c.batchref FROM allocation.confirm_hold(holdid, orderid) AS c;
$$;

CREATE FUNCTION allocation.router_release_hold_on(part integer, holdid text)
RETURNS integer
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT allocation.release_hold(holdid);
$$;

CREATE FUNCTION allocation.router_release_hold_all(holdid text)
RETURNS SETOF integer
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT allocation.release_hold(holdid);
$$;

CREATE FUNCTION allocation.router_allocations_all(orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT a.sku, a.batchref FROM allocation.allocations(orderid) AS a;
$$;

-- An order's lines with their qty, from every partition.
CREATE FUNCTION allocation.router_order_lines_all(orderid text)
RETURNS TABLE (sku text, qty integer, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT l.sku, l.qty, l.batch_reference AS batchref FROM allocation.order_lines AS l WHERE l.orderid = orderid;
$$;

-- A hold's lines with their qty and the order they were confirmed into.
CREATE FUNCTION allocation.router_hold_lines_all(holdid text)
RETURNS TABLE (sku text, qty integer, orderid text, live boolean)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT h.sku, h.qty, h.orderid, h.expires_at > allocation.clock() AS live
    FROM allocation.holds AS h WHERE h.holdid = holdid;
$$;

CREATE FUNCTION allocation.router_check_all()
RETURNS TABLE (problem text, detail jsonb)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT c.problem, c.detail FROM allocation.check() AS c;
$$;

CREATE FUNCTION allocation.router_batch_sku_all(ref text)
RETURNS SETOF text
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT b.sku FROM allocation.batches AS b WHERE b.reference = ref;
$$;

CREATE FUNCTION allocation.router_change_batch_quantity_on(part integer, ref text, qty integer)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT allocation.change_batch_quantity(ref, qty);
$$;

-------------------------------------------------------------------------------
-- the calls over every partition
-------------------------------------------------------------------------------

-- Several partitions may share a database: the same row comes once.
CREATE FUNCTION allocation.allocations(orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE sql
AS $$
    SELECT d.sku, d.batchref
    FROM (SELECT DISTINCT a.sku, a.batchref FROM allocation.router_allocations_all(orderid) AS a) AS d
    ORDER BY d.sku COLLATE pg_catalog."C"
$$;

CREATE FUNCTION allocation.check()
RETURNS TABLE (problem text, detail jsonb)
LANGUAGE sql
AS $$
    SELECT d.problem, d.detail
    FROM (SELECT DISTINCT c.problem, c.detail FROM allocation.router_check_all() AS c) AS d
    ORDER BY d.problem COLLATE pg_catalog."C", d.detail::pg_catalog.text COLLATE pg_catalog."C"
$$;

-- The batch's partition is its sku's: found on every partition, then the
-- call goes there.  An unknown batch (or a bad argument) goes to partition
-- 0, whose extension raises AL002 (or 22004, 22023) itself.
CREATE FUNCTION allocation.change_batch_quantity(ref text, qty integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    batch_sku text;
BEGIN
    SELECT pg_catalog.min(s) INTO batch_sku FROM allocation.router_batch_sku_all(ref) AS s;
    PERFORM allocation.router_change_batch_quantity_on(
        CASE WHEN batch_sku IS NULL THEN 0 ELSE allocation.router_partition(batch_sku) END, ref, qty);
END
$$;

CREATE FUNCTION allocation.release_hold(holdid text)
RETURNS integer
LANGUAGE sql
AS $$ SELECT COALESCE(pg_catalog.sum(n), 0)::integer FROM allocation.router_release_hold_all(holdid) AS n $$;

-------------------------------------------------------------------------------
-- orders over several partitions
-------------------------------------------------------------------------------

-- A connection string to this database as the extension's owner, for the
-- steps of an order that must commit on their own (dblink).
CREATE FUNCTION allocation.router_self()
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT pg_catalog.format('dbname=%s port=%s host=%s user=%s',
               pg_catalog.quote_literal(pg_catalog.current_database()),
               pg_catalog.current_setting('port'),
               pg_catalog.split_part(pg_catalog.current_setting('unix_socket_directories'), ',', 1),
               pg_catalog.quote_literal(CURRENT_USER))
$$;

-- Record an order's state in its own transaction: it survives whatever
-- happens to the caller's.
CREATE FUNCTION allocation.router_record(orderid text, holdid text, skus text[], qtys integer[], state text)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT FROM public.dblink_exec(allocation.router_self(), pg_catalog.format(
        'INSERT INTO allocation.router_orders (orderid, holdid, skus, qtys, state) VALUES (%L, %L, %L, %L, %L) '
        'ON CONFLICT (orderid) DO UPDATE SET holdid = EXCLUDED.holdid, skus = EXCLUDED.skus, '
        'qtys = EXCLUDED.qtys, state = EXCLUDED.state, updated_at = pg_catalog.now()',
        orderid, holdid, skus, qtys, state))
$$;

-- An order's record, for the roles that place orders.
CREATE FUNCTION allocation.router_order(orderid text)
RETURNS SETOF allocation.router_orders
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM allocation.router_orders AS r WHERE r.orderid OPERATOR(pg_catalog.=) $1 $$;

-- The order's lock on the router, held by the call placing it until its
-- transaction ends: recover() leaves alone an order in flight.  Key class
-- 0x524F5554 ("ROUT").
CREATE FUNCTION allocation.router_order_lock(orderid text, wait boolean)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    IF wait THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(1380931924, pg_catalog.hashtext(orderid));
        RETURN true;
    END IF;
    RETURN pg_catalog.pg_try_advisory_xact_lock(1380931924, pg_catalog.hashtext(orderid));
END
$$;

-- Finish one order left holding or decided: release an undecided one
-- everywhere; confirm a decided one everywhere, allocating afresh where its
-- hold expired, and undoing it everywhere if that fails.  Returns the state
-- it ends in.
CREATE FUNCTION allocation.router_finish(o allocation.router_orders)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part integer;
    short boolean := false;
    i integer;
BEGIN
    IF o.state OPERATOR(pg_catalog.=) 'holding' THEN
        FOR part IN SELECT DISTINCT allocation.router_partition(s) FROM pg_catalog.unnest(o.skus) AS s LOOP
            PERFORM allocation.router_release_hold_on(part, o.holdid);
        END LOOP;
        PERFORM allocation.router_record(o.orderid, o.holdid, o.skus, o.qtys, 'released');
        RETURN 'released';
    END IF;
    IF o.state OPERATOR(pg_catalog.<>) 'decided' THEN
        RETURN o.state;
    END IF;
    FOR part IN SELECT DISTINCT allocation.router_partition(s) FROM pg_catalog.unnest(o.skus) AS s LOOP
        BEGIN
            PERFORM allocation.router_confirm_hold_on(part, o.holdid, o.orderid);
        EXCEPTION WHEN SQLSTATE 'AL004' THEN
            -- the hold expired before its confirm: allocate those lines afresh
            SELECT short OR pg_catalog.bool_or(a.batchref IS NULL) INTO short
            FROM allocation.router_allocate_order_on(part,
                     o.orderid,
                     ARRAY(SELECT s FROM pg_catalog.unnest(o.skus) AS s
                           WHERE allocation.router_partition(s) OPERATOR(pg_catalog.=) part),
                     ARRAY(SELECT q FROM ROWS FROM (pg_catalog.unnest(o.skus), pg_catalog.unnest(o.qtys)) AS l (s, q)
                           WHERE allocation.router_partition(s) OPERATOR(pg_catalog.=) part)) AS a;
        END;
    END LOOP;
    IF short THEN
        FOR i IN 1 .. pg_catalog.array_length(o.skus, 1) LOOP
            PERFORM allocation.deallocate(o.orderid, o.skus[i]);
        END LOOP;
        PERFORM allocation.router_record(o.orderid, o.holdid, o.skus, o.qtys, 'undone');
        RETURN 'undone';
    END IF;
    PERFORM allocation.router_record(o.orderid, o.holdid, o.skus, o.qtys, 'done');
    RETURN 'done';
END
$$;

-- Orders whose lines live on several partitions are held on each, then
-- confirmed on each; single-partition orders stay a single call.  Lines the
-- order already has keep their batch (AL003 for another qty); when a new
-- line fits nowhere, nothing new is allocated anywhere and the new lines
-- come back with a NULL batchref.  Rows in byte order of sku.  Runs as its
-- caller: the shards see the caller's role.
CREATE FUNCTION allocation.allocate_order(orderid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- a hold of its own per attempt: an order may get more lines later
    holdid text := pg_catalog.format('router:%s:%s', orderid, pg_catalog.gen_random_uuid());
    ttl interval := COALESCE(NULLIF(pg_catalog.current_setting('allocation_router.hold_ttl', true), '')::interval,
                             '1 minute');
    parts integer[];
    part integer;
    had_skus text[];
    had_qtys integer[];
    had_refs text[];
    new_skus text[];
    new_qtys integer[];
    i integer;
    short boolean := false;
    final_state text;
BEGIN
    -- Arguments a partition would refuse, and orders on one partition: one
    -- call, which answers exactly as the extension.
    SELECT pg_catalog.array_agg(DISTINCT allocation.router_partition(s)) INTO parts
    FROM pg_catalog.unnest(skus) AS s;
    IF orderid IS NULL OR qtys IS NULL OR COALESCE(pg_catalog.cardinality(parts), 0) OPERATOR(pg_catalog.<) 2
       OR pg_catalog.cardinality(skus) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(qtys) THEN
        RETURN QUERY SELECT * FROM allocation.router_allocate_order_on(COALESCE(parts[1], 0), orderid, skus, qtys);
        RETURN;
    END IF;

    -- One call per order at a time; recover() leaves it alone meanwhile.
    PERFORM allocation.router_order_lock(orderid, true);
    PERFORM allocation.router_finish(r) FROM allocation.router_order(orderid) AS r
    WHERE r.state OPERATOR(pg_catalog.=) ANY (ARRAY['holding', 'decided']);

    -- Lines the order has already: the same qty keeps its batch; another
    -- is AL003, as the extension says it.
    SELECT pg_catalog.array_agg(l.sku), pg_catalog.array_agg(l.qty), pg_catalog.array_agg(l.batchref)
    INTO had_skus, had_qtys, had_refs
    FROM (SELECT DISTINCT * FROM allocation.router_order_lines_all(orderid)) AS l;
    FOR i IN 1 .. pg_catalog.cardinality(skus) LOOP
        part := pg_catalog.array_position(had_skus, skus[i]);
        IF part IS NULL THEN
            new_skus := new_skus OPERATOR(pg_catalog.||) skus[i];
            new_qtys := new_qtys OPERATOR(pg_catalog.||) qtys[i];
        ELSIF had_qtys[part] OPERATOR(pg_catalog.<>) qtys[i] THEN
            RAISE EXCEPTION 'order line %/% is already allocated with qty %', orderid, skus[i], had_qtys[part]
                USING ERRCODE = 'AL003',
                      HINT = pg_catalog.format('Deallocate the line before allocating it with qty %s.', qtys[i]);
        END IF;
    END LOOP;

    IF new_skus IS NOT NULL THEN
        -- Hold every new line on its partition, recorded first: a crash
        -- leaves holds that recover() releases, or that expire by themselves.
        PERFORM allocation.router_record(orderid, holdid, new_skus, new_qtys, 'holding');
        BEGIN
            FOR part IN SELECT DISTINCT allocation.router_partition(s) FROM pg_catalog.unnest(new_skus) AS s LOOP
                SELECT pg_catalog.bool_or(h.batchref IS NULL) INTO short
                FROM allocation.router_hold_order_on(part, holdid,
                    ARRAY(SELECT s FROM pg_catalog.unnest(new_skus) AS s
                          WHERE allocation.router_partition(s) OPERATOR(pg_catalog.=) part),
                    ARRAY(SELECT q FROM ROWS FROM (pg_catalog.unnest(new_skus), pg_catalog.unnest(new_qtys)) AS l (s, q)
                          WHERE allocation.router_partition(s) OPERATOR(pg_catalog.=) part),
                    ttl) AS h;
                EXIT WHEN short;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            PERFORM allocation.router_finish(r) FROM allocation.router_order(orderid) AS r;
            RAISE;
        END;
        IF NOT short THEN
            -- every line is held: the decision, then the confirms
            PERFORM allocation.router_record(orderid, holdid, new_skus, new_qtys, 'decided');
        END IF;
        SELECT allocation.router_finish(r) INTO final_state FROM allocation.router_order(orderid) AS r;
    END IF;

    RETURN QUERY
        SELECT l.s, a.batchref
        FROM pg_catalog.unnest(skus) AS l (s)
        LEFT JOIN allocation.allocations(orderid) AS a ON a.sku OPERATOR(pg_catalog.=) l.s
        ORDER BY l.s COLLATE pg_catalog."C";
END
$$;

-- A hold over several partitions: every line held on its partition, or
-- none (what was held is released); single-partition holds are one call.
CREATE FUNCTION allocation.hold_order(holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts integer[];
    part integer;
    rows_of_part text[];
    held text[] := '{}';
    refs text[] := '{}';
    short boolean := false;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT allocation.router_partition(s)) INTO parts
    FROM pg_catalog.unnest(skus) AS s;
    IF holdid IS NULL OR qtys IS NULL OR COALESCE(pg_catalog.cardinality(parts), 0) OPERATOR(pg_catalog.<) 2
       OR pg_catalog.cardinality(skus) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(qtys) THEN
        RETURN QUERY SELECT * FROM allocation.router_hold_order_on(COALESCE(parts[1], 0), holdid, skus, qtys, ttl);
        RETURN;
    END IF;
    BEGIN
        FOREACH part IN ARRAY parts LOOP
            FOR sku, batchref IN
                SELECT * FROM allocation.router_hold_order_on(part, holdid,
                    ARRAY(SELECT s FROM pg_catalog.unnest(skus) AS s
                          WHERE allocation.router_partition(s) OPERATOR(pg_catalog.=) part),
                    ARRAY(SELECT q FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(qtys)) AS l (s, q)
                          WHERE allocation.router_partition(s) OPERATOR(pg_catalog.=) part),
                    ttl)
            LOOP
                held := held OPERATOR(pg_catalog.||) sku;
                refs := refs OPERATOR(pg_catalog.||) batchref;
                short := short OR batchref IS NULL;
            END LOOP;
            EXIT WHEN short;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        FOREACH part IN ARRAY parts LOOP
            PERFORM allocation.router_release_hold_on(part, holdid);
        END LOOP;
        RAISE;
    END;
    IF short THEN
        FOREACH part IN ARRAY parts LOOP
            PERFORM allocation.router_release_hold_on(part, holdid);
        END LOOP;
        RETURN QUERY SELECT s, NULL::text FROM pg_catalog.unnest(skus) AS s ORDER BY s COLLATE pg_catalog."C";
        RETURN;
    END IF;
    RETURN QUERY SELECT h.s, h.r FROM ROWS FROM (pg_catalog.unnest(held), pg_catalog.unnest(refs)) AS h (s, r)
                 ORDER BY h.s COLLATE pg_catalog."C";
END
$$;

-- Confirming a hold over several partitions is decided like an order: the
-- decision is recorded, then every partition confirms (recover() finishes
-- it after a crash).  An expired or unknown hold is AL004 from its
-- partition, with nothing changed.
CREATE FUNCTION allocation.confirm_hold(holdid text, orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    parts integer[];
    expired_part integer;
    line_skus text[];
    line_qtys integer[];
    confirmed boolean;
    final_state text;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT allocation.router_partition(h.sku)),
           pg_catalog.array_agg(h.sku ORDER BY h.sku), pg_catalog.array_agg(h.qty ORDER BY h.sku),
           pg_catalog.min(allocation.router_partition(h.sku)) FILTER (WHERE NOT h.live),
           pg_catalog.bool_or(h.orderid IS NOT NULL)
    INTO parts, line_skus, line_qtys, expired_part, confirmed
    FROM (SELECT DISTINCT * FROM allocation.router_hold_lines_all(holdid)) AS h;
    -- unknown, on one partition, or with an expired line: that partition
    -- answers (AL004 for the unknown or expired, nothing changed)
    IF COALESCE(pg_catalog.cardinality(parts), 0) OPERATOR(pg_catalog.<) 2 OR expired_part IS NOT NULL THEN
        RETURN QUERY SELECT * FROM allocation.router_confirm_hold_on(COALESCE(expired_part, parts[1], 0), holdid, orderid);
        RETURN;
    END IF;
    PERFORM allocation.router_order_lock(orderid, true);
    IF NOT confirmed THEN
        PERFORM allocation.router_record(orderid, holdid, line_skus, line_qtys, 'decided');
    END IF;
    -- decided: confirm on every partition (again, it returns the same rows)
    SELECT allocation.router_finish(r) INTO final_state FROM allocation.router_order(orderid) AS r
    WHERE r.holdid OPERATOR(pg_catalog.=) confirm_hold.holdid;
    IF final_state IS NULL THEN
        RETURN QUERY SELECT * FROM allocation.router_confirm_hold_on(parts[1], holdid, orderid);
        RETURN;
    END IF;
    IF final_state OPERATOR(pg_catalog.<>) 'done' THEN
        RAISE EXCEPTION 'hold % expired while it was being confirmed; nothing of it is allocated', holdid
            USING ERRCODE = 'AL004';
    END IF;
    RETURN QUERY SELECT a.sku, a.batchref FROM allocation.allocations(orderid) AS a
                 WHERE a.sku OPERATOR(pg_catalog.=) ANY (line_skus) ORDER BY a.sku COLLATE pg_catalog."C";
END
$$;

-- Finishes every order left holding or decided (by a router that crashed,
-- or a shard that failed), leaving alone those whose call is in flight.
-- Idempotent: run it at any time, from cron or at start-up.  Returns the
-- orders it finished and how.
CREATE FUNCTION allocation.recover()
RETURNS TABLE (orderid text, state text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o allocation.router_orders;
BEGIN
    FOR o IN SELECT * FROM allocation.router_orders AS r
             WHERE r.state OPERATOR(pg_catalog.=) ANY (ARRAY['holding', 'decided'])
             ORDER BY r.updated_at LOOP
        CONTINUE WHEN NOT allocation.router_order_lock(o.orderid, false);
        orderid := o.orderid;
        state := allocation.router_finish(o);
        RETURN NEXT;
    END LOOP;
END
$$;

-------------------------------------------------------------------------------
-- comments
-------------------------------------------------------------------------------

COMMENT ON TABLE allocation.router_orders IS 'orders over several partitions and the step each reached';
COMMENT ON FUNCTION allocation.allocate_order(text, text[], integer[]) IS 'allocate every line of an order over the partitions, or none; returns (sku, batchref) by sku';
COMMENT ON FUNCTION allocation.recover() IS 'finish the orders a router left holding or decided; safe at any time';

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- As for the extension: a DBA grants EXECUTE to the application role.
REVOKE ALL ON SCHEMA allocation FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA allocation FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA allocation FROM PUBLIC;
