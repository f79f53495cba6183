/* router/allocation_router--1.3.sql: the allocation API on a router database */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION allocation_router" to load this file. \quit

-- The router offers schema allocation with the functions of the allocation
-- extension, same signatures, results and SQLSTATEs, routing each call by
-- sku to the partition PL/Proxy's hashtext(sku) picks in the cluster
-- allocation_cluster (SQL/MED: CREATE SERVER allocation_cluster FOREIGN
-- DATA WRAPPER plproxy OPTIONS (p0 '...', p1 '...'); a power of two of
-- partitions, several may share a database; CREATE USER MAPPING FOR PUBLIC
-- SERVER allocation_cluster OPTIONS (user '...'): the role every call
-- reaches the shards as).
-- Shards run the allocation extension (1.5 or later), which also keeps
-- what the router must remember: the router itself has no tables.
--
-- Security.  The functions that place a call on one partition are PL/Proxy
-- functions that run as their caller.  The others (orders, holds and
-- confirms over several partitions, add_batch, change_batch_quantity, the
-- reads over every partition, recover) are SECURITY DEFINER, only so that
-- they may call the helpers below, which no other role may call; they name
-- nothing outside pg_catalog and this schema, fix search_path, use no
-- dblink, no temporary table and build no connection string: PL/Proxy
-- connects to the shards as the role the user mapping names, never as the
-- owner (checked by router_cluster), and the shards grant that role the
-- API and the functions a router calls, nothing more.

-------------------------------------------------------------------------------
-- the schema
-------------------------------------------------------------------------------

-- Schema allocation must be the one CREATE EXTENSION made, empty.
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
-- the cluster
-------------------------------------------------------------------------------

-- The number of partitions of allocation_cluster, after checking the
-- role PL/Proxy connects to the shards as.  Inside the SECURITY DEFINER
-- functions the current user is the extension's owner: without a "user"
-- option, PL/Proxy would connect under the owner's name, a superuser's.
-- The user mapping that applies must name a role, and not a superuser.
CREATE FUNCTION allocation.router_cluster()
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    server oid;
    options text[];
    mapped text;
BEGIN
    SELECT s.oid, s.srvoptions INTO server, options
    FROM pg_catalog.pg_foreign_server AS s
    WHERE s.srvname OPERATOR(pg_catalog.=) 'allocation_cluster';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'server "allocation_cluster" does not exist'
            USING ERRCODE = 'undefined_object',
                  HINT = 'CREATE SERVER allocation_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (p0 ''...'', ...)';
    END IF;
    SELECT pg_catalog.substr(o.option, 6) INTO mapped
    FROM pg_catalog.pg_user_mapping AS m, pg_catalog.unnest(m.umoptions) AS o (option)
    WHERE m.umserver OPERATOR(pg_catalog.=) server
      AND m.umuser OPERATOR(pg_catalog.=) ANY (ARRAY[0, (SELECT r.oid FROM pg_catalog.pg_roles AS r
                                                         WHERE r.rolname OPERATOR(pg_catalog.=) CURRENT_USER)])
      AND o.option OPERATOR(pg_catalog.^@) 'user='
    ORDER BY m.umuser DESC
    LIMIT 1;
    IF mapped IS NULL OR EXISTS (SELECT FROM pg_catalog.pg_roles AS r
                                 WHERE r.rolname OPERATOR(pg_catalog.=) mapped AND r.rolsuper) THEN
        RAISE EXCEPTION 'server "allocation_cluster" must connect to the shards as a role of its own, not a superuser'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'The router''s functions would otherwise reach the shards as the extension''s owner.',
                  HINT = 'CREATE USER MAPPING FOR PUBLIC SERVER allocation_cluster OPTIONS (user ''allocation_router'');';
    END IF;
    RETURN (SELECT pg_catalog.count(*)::integer
            FROM pg_catalog.unnest(options) AS o (option)
            WHERE o.option OPERATOR(pg_catalog.~) '^p[0-9]+=');
END
$$;

-- The partition a key (sku, order id, batch reference) lives on, of n,
-- as PL/Proxy's RUN ON hashtext(key) picks it.
CREATE FUNCTION allocation.router_partition(key text, n integer)
RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$ SELECT pg_catalog.hashtext(key) OPERATOR(pg_catalog.&) (n OPERATOR(pg_catalog.-) 1) $$;

-- How long the holds of an order over several partitions last at most
-- (allocation_router.hold_ttl, default 1 minute): a router that dies
-- leaves nothing held for longer.
CREATE FUNCTION allocation.router_hold_ttl()
RETURNS interval
LANGUAGE sql STABLE
AS $$
    SELECT COALESCE(NULLIF(pg_catalog.current_setting('allocation_router.hold_ttl', true), '')::pg_catalog.interval,
                    '1 minute')
$$;

-------------------------------------------------------------------------------
-- the single-partition calls: PL/Proxy, as the caller
-------------------------------------------------------------------------------

-- A NULL key routes to some partition, whose extension raises 22004.
CREATE FUNCTION allocation.allocate(orderid text, sku text, qty integer)
RETURNS text
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(coalesce(sku, '')); $$;

CREATE FUNCTION allocation.deallocate(orderid text, sku text)
RETURNS text
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(coalesce(sku, '')); $$;

CREATE FUNCTION allocation.hold(holdid text, sku text, qty integer, ttl interval)
RETURNS text
LANGUAGE plproxy
AS $$ CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(coalesce(sku, '')); $$;

-------------------------------------------------------------------------------
-- helpers: the shards' functions, on the partition of a key, on the
-- partitions of an order's skus (SPLIT: each gets its own lines, all at
-- once), or on every partition.  No role but the owner may call them.
-------------------------------------------------------------------------------

CREATE FUNCTION allocation.router_allocate_order_on(route text, orderid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(route);
    SELECT o.sku, o.batchref FROM allocation.allocate_order(orderid, skus, qtys) AS o;
$$;

CREATE FUNCTION allocation.router_hold_order_on(route text, holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(route);
    SELECT o.sku, o.batchref FROM allocation.hold_order(holdid, skus, qtys, ttl) AS o;
$$;

CREATE FUNCTION allocation.router_hold_order_split(holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus, qtys; RUN ON pg_catalog.hashtext(skus);
    SELECT o.sku, o.batchref FROM allocation.hold_order(holdid, skus, qtys, ttl) AS o;
$$;

CREATE FUNCTION allocation.router_release_hold_lines_split(holdid text, skus text[])
RETURNS SETOF integer
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus; RUN ON pg_catalog.hashtext(skus);
    SELECT allocation.release_hold_lines(holdid, skus);
$$;

CREATE FUNCTION allocation.router_release_hold_split(holdid text, skus text[])
RETURNS SETOF integer
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus; RUN ON pg_catalog.hashtext(skus);
    SELECT allocation.release_hold(holdid);
$$;

CREATE FUNCTION allocation.router_release_hold_all(holdid text)
RETURNS SETOF integer
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT allocation.release_hold(holdid);
$$;

CREATE FUNCTION allocation.router_confirm_hold_on(route text, holdid text, orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(route);
    SELECT c.sku, c.batchref FROM allocation.confirm_hold(holdid, orderid) AS c;
$$;

-- A hold's lines, live or not by their own partition's clock.
CREATE FUNCTION allocation.router_hold_lines_all(holdid text)
RETURNS TABLE (sku text, qty integer, live boolean, orderid text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT h.sku, h.qty, h.expires_at > allocation.clock() AS live, h.orderid FROM allocation.hold_lines(holdid) AS h;
$$;

CREATE FUNCTION allocation.router_allocations_all(orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT a.sku, a.batchref FROM allocation.allocations(orderid) AS a;
$$;

CREATE FUNCTION allocation.router_check_all()
RETURNS TABLE (problem text, detail jsonb)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON ALL;
    SELECT c.problem, c.detail FROM allocation.check() AS c;
$$;

-- An order's steps, each on the partitions of its skus.
CREATE FUNCTION allocation.router_order_prepare(orderid text, holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus, qtys; RUN ON pg_catalog.hashtext(skus);
    SELECT p.sku, p.batchref, p.existing FROM allocation.order_prepare(orderid, holdid, skus, qtys, ttl) AS p;
$$;

CREATE FUNCTION allocation.router_order_place(orderid text, holdid text, skus text[], qtys integer[],
                                              decision_skus text[], decision_qtys integer[])
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(orderid);
    SELECT p.sku, p.batchref, p.existing
    FROM allocation.order_place(orderid, holdid, skus, qtys, decision_skus, decision_qtys) AS p;
$$;

CREATE FUNCTION allocation.router_order_commit(orderid text, holdid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus, qtys; RUN ON pg_catalog.hashtext(skus);
    SELECT c.sku, c.batchref FROM allocation.order_commit(orderid, holdid, skus, qtys) AS c;
$$;

CREATE FUNCTION allocation.router_order_undo(orderid text, skus text[])
RETURNS SETOF integer
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus; RUN ON pg_catalog.hashtext(skus);
    SELECT allocation.order_undo(orderid, skus);
$$;

-- The decision log, on the partition of the order id.
CREATE FUNCTION allocation.router_decision_begin(orderid text, holdid text, skus text[], qtys integer[],
                                                 state text, wait boolean)
RETURNS TABLE (locked boolean, holdid text, skus text[], qtys integer[], state text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(orderid);
    SELECT d.locked, d.holdid, d.skus, d.qtys, d.state
    FROM allocation.decision_begin(orderid, holdid, skus, qtys, state, wait) AS d;
$$;

CREATE FUNCTION allocation.router_decision_record(orderid text, holdid text, skus text[], qtys integer[], state text)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(orderid);
    SELECT allocation.decision_record(orderid, holdid, skus, qtys, state);
$$;

CREATE FUNCTION allocation.router_decision_set(orderid text, holdid text, from_state text, to_state text,
                                               unlock boolean)
RETURNS boolean
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(orderid);
    SELECT allocation.decision_set(orderid, holdid, from_state, to_state, unlock);
$$;

CREATE FUNCTION allocation.router_decision_unlock(orderid text)
RETURNS boolean
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(orderid);
    SELECT allocation.decision_unlock();
$$;

CREATE FUNCTION allocation.router_decisions_pending_on(part integer)
RETURNS TABLE (orderid text, holdid text, skus text[], qtys integer[], state text, updated_at timestamptz)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT d.orderid, d.holdid, d.skus, d.qtys, d.state, d.updated_at FROM allocation.decisions_pending() AS d;
$$;

-- The batch directory, on the partition of the reference; batches, on
-- the partition of their sku.
CREATE FUNCTION allocation.router_batch_claim(ref text, sku text, qty integer, eta date, placed boolean)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(coalesce(ref, ''));
    SELECT allocation.batch_claim(ref, sku, qty, eta, placed);
$$;

CREATE FUNCTION allocation.router_batch_locate(ref text)
RETURNS text
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(coalesce(ref, ''));
    SELECT allocation.batch_locate(ref);
$$;

CREATE FUNCTION allocation.router_batch_placed(ref text)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(ref);
    SELECT allocation.batch_placed(ref);
$$;

CREATE FUNCTION allocation.router_batch_place(ref text, sku text, qty integer, eta date)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(sku);
    SELECT allocation.batch_place(ref, sku, qty, eta);
$$;

CREATE FUNCTION allocation.router_batch_claims_pending_on(part integer)
RETURNS TABLE (ref text, sku text, qty integer, eta date)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT c.ref, c.sku, c.qty, c.eta FROM allocation.batch_claims_pending() AS c;
$$;

CREATE FUNCTION allocation.router_batch_references_on(part integer)
RETURNS TABLE (ref text, sku text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON part;
    SELECT b.ref, b.sku FROM allocation.batch_references() AS b;
$$;

CREATE FUNCTION allocation.router_change_batch_quantity_on(route text, ref text, qty integer)
RETURNS void
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(route);
    SELECT allocation.change_batch_quantity(ref, qty);
$$;

-------------------------------------------------------------------------------
-- batches: references unique across partitions
-------------------------------------------------------------------------------

-- The reference is claimed on its own partition first (23505 when any
-- partition's batch has it, also when two routers race), then the batch
-- is added on its sku's partition and the claim marked placed.  A router
-- that dies between leaves the claim: recover() adds the batch.  The
-- arguments are checked by the claim as add_batch checks them.
CREATE FUNCTION allocation.add_batch(ref text, sku text, qty integer, eta date DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM allocation.router_cluster();
    PERFORM allocation.router_batch_claim(ref, sku, qty, eta, false);
    PERFORM allocation.router_batch_place(ref, sku, qty, eta);
    PERFORM allocation.router_batch_placed(ref);
END
$$;

-- The batch's sku comes from the directory on the reference's partition,
-- then the call goes to the sku's partition: two partitions at most, never
-- all of them.  AL002 for a reference no router added.
CREATE FUNCTION allocation.change_batch_quantity(ref text, qty integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM allocation.router_cluster();
    IF qty IS NULL OR qty OPERATOR(pg_catalog.<) 0 THEN
        -- the shard's own 22004 or 22023
        PERFORM allocation.router_change_batch_quantity_on(COALESCE(ref, ''), ref, qty);
        RETURN;
    END IF;
    PERFORM allocation.router_change_batch_quantity_on(allocation.router_batch_locate(ref), ref, qty);
END
$$;

-------------------------------------------------------------------------------
-- reads over every partition
-------------------------------------------------------------------------------

-- Several partitions may share a database: the same row comes once.
CREATE FUNCTION allocation.allocations(orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.sku, d.batchref
    FROM (SELECT DISTINCT a.sku, a.batchref FROM allocation.router_allocations_all(orderid) AS a) AS d
    WHERE allocation.router_cluster() OPERATOR(pg_catalog.>) 0
    ORDER BY d.sku COLLATE pg_catalog."C"
$$;

CREATE FUNCTION allocation.check()
RETURNS TABLE (problem text, detail jsonb)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.problem, d.detail
    FROM (SELECT DISTINCT c.problem, c.detail FROM allocation.router_check_all() AS c) AS d
    WHERE allocation.router_cluster() OPERATOR(pg_catalog.>) 0
    ORDER BY d.problem COLLATE pg_catalog."C", d.detail::pg_catalog.text COLLATE pg_catalog."C"
$$;

CREATE FUNCTION allocation.release_hold(holdid text)
RETURNS integer
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(pg_catalog.sum(n), 0)::integer
    FROM allocation.router_release_hold_all(holdid) AS n
    WHERE allocation.router_cluster() OPERATOR(pg_catalog.>) 0
$$;

-------------------------------------------------------------------------------
-- orders over several partitions, all or nothing, without two-phase commit
-------------------------------------------------------------------------------

-- Finish an attempt at an order whose lock this session holds: undecided
-- ("holding"), release its holds everywhere; decided, confirm them
-- everywhere (allocated afresh where a hold expired) or, when that comes up
-- short, undo it everywhere.  Each move of the decision is conditional on
-- the state it leaves.  Returns the state it ends in.
CREATE FUNCTION allocation.router_finish(orderid text, holdid text, skus text[], qtys integer[], state text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    short boolean;
BEGIN
    IF state OPERATOR(pg_catalog.=) 'holding' THEN
        PERFORM allocation.router_release_hold_split(holdid, skus);
        PERFORM allocation.router_decision_set(orderid, holdid, 'holding', 'released', false);
        RETURN 'released';
    END IF;
    SELECT pg_catalog.bool_or(c.batchref IS NULL) INTO short
    FROM allocation.router_order_commit(orderid, holdid, skus, qtys) AS c;
    IF short THEN
        PERFORM allocation.router_order_undo(orderid, skus);
        PERFORM allocation.router_decision_set(orderid, holdid, 'decided', 'undone', false);
        RETURN 'undone';
    END IF;
    PERFORM allocation.router_decision_set(orderid, holdid, 'decided', 'done', false);
    RETURN 'done';
END
$$;

-- Take an order's lock on its partition, finishing first what another
-- router left of it, and record this attempt (holdid, skus, qtys) in state.
CREATE FUNCTION allocation.router_begin(orderid text, holdid text, skus text[], qtys integer[], state text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    prior record;
BEGIN
    SELECT * INTO prior FROM allocation.router_decision_begin(orderid, holdid, skus, qtys, state, true);
    IF prior.holdid IS NOT NULL THEN
        BEGIN
            PERFORM allocation.router_finish(orderid, prior.holdid, prior.skus, prior.qtys, prior.state);
            PERFORM allocation.router_decision_record(orderid, holdid, skus, qtys, state);
        EXCEPTION WHEN OTHERS OR query_canceled THEN
            PERFORM allocation.router_abandon(orderid, NULL, NULL, NULL);
            RAISE;
        END;
    END IF;
END
$$;

-- After an error: release an undecided attempt's holds (from_state
-- "holding") and record it released, or leave a decided one to recover();
-- give the order's lock back either way.  Best effort: a shard that fails
-- here leaves holds that expire and a decision recover() finishes, and the
-- caller raises the error it had.
CREATE FUNCTION allocation.router_abandon(orderid text, holdid text, skus text[], from_state text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF from_state OPERATOR(pg_catalog.=) 'holding' THEN
        PERFORM allocation.router_release_hold_split(holdid, skus);
        PERFORM allocation.router_decision_set(orderid, holdid, 'holding', 'released', true);
    END IF;
    PERFORM allocation.router_decision_unlock(orderid);
EXCEPTION WHEN OTHERS OR query_canceled THEN
    NULL;
END
$$;

-- Lines the order has already keep their batch (AL003 for another qty);
-- the new lines are placed, on each partition all or none.  The order's
-- own partition (the one hashtext(orderid) picks) keeps its decision.
-- When it has lines of the order, the lines on the other partitions are
-- held first, under a hold of this attempt's own; then one call there
-- takes the order's lock, allocates its lines and records the decision in
-- one transaction; then every other hold is confirmed.  (When it has none,
-- the lock and the attempt come first, every line is held, and the
-- decision is a call of its own.)  When a new line fits nowhere, what was
-- held is released and the new lines come back with a NULL batchref.
-- Single-partition orders are one call.  Rows in byte order of sku.  A
-- router that dies at any step leaves the order to recover(), its holds to
-- expire.
CREATE FUNCTION allocation.allocate_order(orderid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := allocation.router_cluster();
    holdid text := 'router:' OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::text;
    own integer := allocation.router_partition(orderid, n);
    own_all_skus text[];      -- every line on the order's own partition
    own_all_qtys integer[];
    held_skus text[];         -- every line on the others, held
    held_qtys integer[];
    got_skus text[];          -- what the partitions answered, line by line
    got_refs text[];
    got_existing boolean[];
    line_skus text[];         -- every line, in byte order of sku
    line_refs text[];         -- its batch (NULL: short)
    line_existing boolean[];  -- the order had it already
    new_skus text[];
    new_qtys integer[];
    own_skus text[];          -- the new lines on the order's own partition
    own_refs text[];
    other_skus text[];        -- and on the others
    other_qtys integer[];
    short boolean;
    retried boolean := false;
    step text := 'holding';
BEGIN
    -- Arguments a partition would refuse, and orders on one partition: one
    -- call, which answers exactly as the extension.
    IF orderid IS NULL OR skus IS NULL OR qtys IS NULL
       OR pg_catalog.cardinality(skus) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(qtys)
       OR pg_catalog.array_position(skus, NULL) IS NOT NULL
       OR (SELECT pg_catalog.count(DISTINCT allocation.router_partition(s, n)) FROM pg_catalog.unnest(skus) AS s)
          OPERATOR(pg_catalog.<) 2 THEN
        RETURN QUERY SELECT * FROM allocation.router_allocate_order_on(COALESCE(skus[1], ''), orderid, skus, qtys);
        RETURN;
    END IF;

    SELECT pg_catalog.array_agg(l.s) FILTER (WHERE l.o), pg_catalog.array_agg(l.q) FILTER (WHERE l.o),
           pg_catalog.array_agg(l.s) FILTER (WHERE NOT l.o), pg_catalog.array_agg(l.q) FILTER (WHERE NOT l.o)
    INTO own_all_skus, own_all_qtys, held_skus, held_qtys
    FROM (SELECT q.s, q.q, allocation.router_partition(q.s, n) OPERATOR(pg_catalog.=) own AS o
          FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(qtys)) AS q (s, q)) AS l;
    IF own_all_skus IS NULL THEN
        PERFORM allocation.router_begin(orderid, holdid, skus, qtys, 'holding');
    END IF;
    BEGIN
        LOOP
            BEGIN
                -- the other partitions' lines held
                SELECT pg_catalog.array_agg(h.sku), pg_catalog.array_agg(h.batchref), pg_catalog.array_agg(h.existing)
                INTO got_skus, got_refs, got_existing
                FROM allocation.router_order_prepare(orderid, holdid, held_skus, held_qtys,
                                                     allocation.router_hold_ttl()) AS h;
                short := pg_catalog.array_position(got_refs, NULL) IS NOT NULL;
                SELECT pg_catalog.array_agg(g.s), pg_catalog.array_agg(l.q) INTO other_skus, other_qtys
                FROM ROWS FROM (pg_catalog.unnest(got_skus), pg_catalog.unnest(got_existing)) AS g (s, e)
                JOIN ROWS FROM (pg_catalog.unnest(held_skus), pg_catalog.unnest(held_qtys)) AS l (s, q)
                  ON l.s OPERATOR(pg_catalog.=) g.s
                WHERE NOT g.e;
                -- then the own partition's: placed there with the decision,
                -- in one call; after a short line, held, to answer as a
                -- hold would, and released with the others
                IF own_all_skus IS NOT NULL THEN
                    SELECT got_skus OPERATOR(pg_catalog.||) pg_catalog.array_agg(d.sku),
                           got_refs OPERATOR(pg_catalog.||) pg_catalog.array_agg(d.batchref),
                           got_existing OPERATOR(pg_catalog.||) pg_catalog.array_agg(d.existing),
                           pg_catalog.array_agg(d.sku) FILTER (WHERE NOT d.existing),
                           pg_catalog.array_agg(d.batchref) FILTER (WHERE NOT d.existing),
                           short OR pg_catalog.bool_or(d.batchref IS NULL)
                    INTO got_skus, got_refs, got_existing, own_skus, own_refs, short
                    FROM (SELECT p.sku, p.batchref, p.existing
                          FROM allocation.router_order_place(orderid, holdid, own_all_skus, own_all_qtys,
                                   own_all_skus OPERATOR(pg_catalog.||) COALESCE(other_skus, '{}'),
                                   own_all_qtys OPERATOR(pg_catalog.||) COALESCE(other_qtys, '{}')) AS p
                          WHERE NOT short
                          UNION ALL
                          SELECT h.sku, h.batchref, h.existing
                          FROM allocation.router_order_prepare(orderid, holdid, own_all_skus, own_all_qtys,
                                                                allocation.router_hold_ttl()) AS h
                          WHERE short) AS d;
                END IF;
                EXIT;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                -- another attempt at the order is unfinished: finish it
                -- first, then start again
                IF retried OR own_all_skus IS NULL THEN
                    RAISE;
                END IF;
                retried := true;
                PERFORM allocation.router_release_hold_split(holdid, held_skus);
                PERFORM allocation.router_begin(orderid, holdid, skus, qtys, 'holding');
            END;
        END LOOP;
        SELECT pg_catalog.array_agg(g.s ORDER BY g.s COLLATE pg_catalog."C"),
               pg_catalog.array_agg(g.r ORDER BY g.s COLLATE pg_catalog."C"),
               pg_catalog.array_agg(g.e ORDER BY g.s COLLATE pg_catalog."C"),
               pg_catalog.array_agg(g.s) FILTER (WHERE NOT g.e),
               pg_catalog.array_agg(q.q) FILTER (WHERE NOT g.e)
        INTO line_skus, line_refs, line_existing, new_skus, new_qtys
        FROM ROWS FROM (pg_catalog.unnest(got_skus), pg_catalog.unnest(got_refs), pg_catalog.unnest(got_existing))
             AS g (s, r, e)
        JOIN ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(qtys)) AS q (s, q) ON q.s OPERATOR(pg_catalog.=) g.s;
        IF new_skus IS NULL OR short THEN
            -- nothing new, or a new line fits nowhere: release what was
            -- held (the own partition decided nothing and gave the lock
            -- back; an attempt recorded first is finished here)
            PERFORM allocation.router_release_hold_split(holdid, skus);
            IF own_all_skus IS NULL OR retried THEN
                PERFORM allocation.router_decision_set(orderid, holdid, 'holding',
                            CASE WHEN short THEN 'released' ELSE 'done' END, true);
            END IF;
            RETURN QUERY SELECT l.s, CASE WHEN l.e THEN l.r END
                         FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs),
                                         pg_catalog.unnest(line_existing)) AS l (s, r, e);
            RETURN;
        END IF;
        IF own_all_skus IS NULL THEN
            PERFORM allocation.router_decision_record(orderid, holdid, new_skus, new_qtys, 'decided');
        END IF;
        step := 'decided';

        SELECT pg_catalog.array_agg(COALESCE(c.batchref, CASE WHEN l.e THEN l.r END) ORDER BY l.s COLLATE pg_catalog."C"),
               pg_catalog.bool_or(c.sku IS NOT NULL AND c.batchref IS NULL)
        INTO line_refs, short
        FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs),
                        pg_catalog.unnest(line_existing)) AS l (s, r, e)
        LEFT JOIN (SELECT d.s, d.r FROM ROWS FROM (pg_catalog.unnest(own_skus), pg_catalog.unnest(own_refs)) AS d (s, r)
                   UNION ALL
                   SELECT o.sku, o.batchref
                   FROM allocation.router_order_commit(orderid, holdid, other_skus, other_qtys) AS o
                   WHERE other_skus IS NOT NULL) AS c (sku, batchref)
               ON c.sku OPERATOR(pg_catalog.=) l.s;
        IF short THEN
            -- a hold expired and its stock was taken meanwhile: undo
            PERFORM allocation.router_order_undo(orderid, new_skus);
            SELECT pg_catalog.array_agg(CASE WHEN l.e THEN l.r END ORDER BY l.s COLLATE pg_catalog."C")
            INTO line_refs
            FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs),
                            pg_catalog.unnest(line_existing)) AS l (s, r, e);
        END IF;
        PERFORM allocation.router_decision_set(orderid, holdid, 'decided',
                    CASE WHEN short THEN 'undone' ELSE 'done' END, true);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM allocation.router_abandon(orderid, holdid, skus, step);
        RAISE;
    END;
    RETURN QUERY SELECT l.s, l.r FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs)) AS l (s, r);
END
$$;

-- A hold over several partitions: every new line held on its partition, or
-- none (the new lines held are released; the lines the hold had before
-- stay).  Single-partition holds are one call.
CREATE FUNCTION allocation.hold_order(holdid text, skus text[], qtys integer[], ttl interval)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := allocation.router_cluster();
    had text[];
    new_skus text[];
    line_skus text[];
    line_refs text[];
    short boolean;
BEGIN
    IF holdid IS NULL OR skus IS NULL OR qtys IS NULL OR ttl IS NULL
       OR pg_catalog.cardinality(skus) OPERATOR(pg_catalog.<>) pg_catalog.cardinality(qtys)
       OR pg_catalog.array_position(skus, NULL) IS NOT NULL
       OR (SELECT pg_catalog.count(DISTINCT allocation.router_partition(s, n)) FROM pg_catalog.unnest(skus) AS s)
          OPERATOR(pg_catalog.<) 2 THEN
        RETURN QUERY SELECT * FROM allocation.router_hold_order_on(COALESCE(skus[1], ''), holdid, skus, qtys, ttl);
        RETURN;
    END IF;
    -- the lines the hold has already (live) are not new
    SELECT pg_catalog.array_agg(h.sku) INTO had FROM allocation.router_hold_lines_all(holdid) AS h WHERE h.live;
    SELECT pg_catalog.array_agg(s) INTO new_skus
    FROM pg_catalog.unnest(skus) AS s
    WHERE NOT s OPERATOR(pg_catalog.=) ANY (COALESCE(had, '{}'));

    BEGIN
        SELECT pg_catalog.array_agg(h.sku ORDER BY h.sku COLLATE pg_catalog."C"),
               pg_catalog.array_agg(h.batchref ORDER BY h.sku COLLATE pg_catalog."C"),
               pg_catalog.bool_or(h.batchref IS NULL)
        INTO line_skus, line_refs, short
        FROM allocation.router_hold_order_split(holdid, skus, qtys, ttl) AS h;
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        IF new_skus IS NOT NULL THEN
            BEGIN
                PERFORM allocation.router_release_hold_lines_split(holdid, new_skus);
            EXCEPTION WHEN OTHERS OR query_canceled THEN
                NULL;    -- they expire
            END;
        END IF;
        RAISE;
    END;
    IF short THEN
        IF new_skus IS NOT NULL THEN
            PERFORM allocation.router_release_hold_lines_split(holdid, new_skus);
        END IF;
        SELECT pg_catalog.array_agg(CASE WHEN l.s OPERATOR(pg_catalog.=) ANY (new_skus) THEN NULL ELSE l.r END
                                    ORDER BY l.s COLLATE pg_catalog."C")
        INTO line_refs
        FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs)) AS l (s, r);
    END IF;
    RETURN QUERY SELECT l.s, l.r FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs)) AS l (s, r);
END
$$;

-- Confirming a hold over several partitions is decided like an order: the
-- decision is recorded, then every partition confirms (recover() finishes
-- it after a crash).  An unknown hold, an expired line or a hold confirmed
-- for another order is AL004 from its partition, with nothing changed.
CREATE FUNCTION allocation.confirm_hold(holdid text, orderid text)
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := allocation.router_cluster();
    line_skus text[];
    line_qtys integer[];
    line_refs text[];
    parts integer;
    refused text;
    short boolean;
BEGIN
    IF holdid IS NULL OR orderid IS NULL THEN
        RETURN QUERY SELECT * FROM allocation.router_confirm_hold_on('', holdid, orderid);
        RETURN;
    END IF;
    SELECT pg_catalog.array_agg(h.sku ORDER BY h.sku COLLATE pg_catalog."C"),
           pg_catalog.array_agg(h.qty ORDER BY h.sku COLLATE pg_catalog."C"),
           pg_catalog.count(DISTINCT allocation.router_partition(h.sku, n)),
           pg_catalog.min(h.sku) FILTER (WHERE NOT h.live OR h.orderid OPERATOR(pg_catalog.<>) confirm_hold.orderid)
    INTO line_skus, line_qtys, parts, refused
    FROM (SELECT DISTINCT * FROM allocation.router_hold_lines_all(holdid)) AS h;
    -- unknown, on one partition, expired or taken: that partition answers
    IF COALESCE(parts, 0) OPERATOR(pg_catalog.<) 2 OR refused IS NOT NULL THEN
        RETURN QUERY SELECT * FROM allocation.router_confirm_hold_on(COALESCE(refused, line_skus[1], ''),
                                                                     holdid, orderid);
        RETURN;
    END IF;

    PERFORM allocation.router_begin(orderid, holdid, line_skus, line_qtys, 'decided');
    BEGIN
        SELECT pg_catalog.array_agg(c.batchref ORDER BY c.sku COLLATE pg_catalog."C"),
               pg_catalog.bool_or(c.batchref IS NULL)
        INTO line_refs, short
        FROM allocation.router_order_commit(orderid, holdid, line_skus, line_qtys) AS c;
        IF short THEN
            PERFORM allocation.router_order_undo(orderid, line_skus);
        END IF;
        PERFORM allocation.router_decision_set(orderid, holdid, 'decided',
                    CASE WHEN short THEN 'undone' ELSE 'done' END, true);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        PERFORM allocation.router_abandon(orderid, holdid, line_skus, 'decided');
        RAISE;
    END;
    IF short THEN
        RAISE EXCEPTION 'hold "%" expired while it was being confirmed; nothing of it is allocated', holdid
            USING ERRCODE = 'AL004';
    END IF;
    RETURN QUERY SELECT l.s, l.r FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs)) AS l (s, r);
END
$$;

-------------------------------------------------------------------------------
-- recovery
-------------------------------------------------------------------------------

-- Finishes what any router left: orders over several partitions held or
-- decided by a router that died (undecided released, decided confirmed
-- everywhere, or undone everywhere when that comes up short), and batches
-- whose reference was claimed but not added.  An order another call holds
-- is skipped as in flight; an order, a batch or a partition that fails is
-- reported with its reason and never stops the others.  Idempotent; run it
-- from cron and at start-up, from any router.
CREATE FUNCTION allocation.recover()
RETURNS TABLE (kind text, key text, state text, reason text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := allocation.router_cluster();
    part integer;
    orders jsonb := '[]';
    claims jsonb := '[]';
    o record;
    c record;
    lk record;
    code text;
    message text;
BEGIN
    -- what every partition has pending (several may share a database)
    FOR part IN 0 .. n OPERATOR(pg_catalog.-) 1 LOOP
        BEGIN
            orders := orders OPERATOR(pg_catalog.||) COALESCE(
                (SELECT pg_catalog.jsonb_agg(d) FROM allocation.router_decisions_pending_on(part) AS d), '[]');
            claims := claims OPERATOR(pg_catalog.||) COALESCE(
                (SELECT pg_catalog.jsonb_agg(b) FROM allocation.router_batch_claims_pending_on(part) AS b), '[]');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            RETURN QUERY SELECT 'partition', part::text, 'unreachable',
                                code OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) message;
        END;
    END LOOP;

    FOR o IN SELECT DISTINCT ON (d.orderid) d.orderid, d.state
             FROM pg_catalog.jsonb_to_recordset(orders) AS d (orderid text, state text, updated_at timestamptz)
             ORDER BY d.orderid, d.updated_at LOOP
        BEGIN
            SELECT * INTO lk FROM allocation.router_decision_begin(o.orderid, NULL, NULL, NULL, NULL, false);
            IF NOT lk.locked THEN
                RETURN QUERY SELECT 'order', o.orderid, o.state, 'in flight: another call holds the order';
                CONTINUE;
            END IF;
            IF lk.holdid IS NULL THEN
                PERFORM allocation.router_decision_unlock(o.orderid);    -- finished meanwhile
                CONTINUE;
            END IF;
            RETURN QUERY SELECT 'order', o.orderid,
                allocation.router_finish(o.orderid, lk.holdid, lk.skus, lk.qtys, lk.state), NULL::text;
            PERFORM allocation.router_decision_unlock(o.orderid);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            PERFORM allocation.router_abandon(o.orderid, NULL, NULL, NULL);
            RETURN QUERY SELECT 'order', o.orderid, 'failed', code OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) message;
        END;
    END LOOP;

    FOR c IN SELECT DISTINCT b.ref, b.sku, b.qty, b.eta
             FROM pg_catalog.jsonb_to_recordset(claims) AS b (ref text, sku text, qty integer, eta date)
             ORDER BY b.ref LOOP
        BEGIN
            PERFORM allocation.router_batch_place(c.ref, c.sku, c.qty, c.eta);
            PERFORM allocation.router_batch_placed(c.ref);
            RETURN QUERY SELECT 'batch', c.ref, 'placed', NULL::text;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            RETURN QUERY SELECT 'batch', c.ref, 'failed', code OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) message;
        END;
    END LOOP;
END
$$;

-- Claims the references of the batches the shards have, for batches added
-- before the directory existed (router 1.0, or a shard's own add_batch):
-- run once after ALTER EXTENSION allocation_router UPDATE.  Returns each
-- reference with "claimed", or "failed" and why (a reference that two
-- partitions' batches share cannot be unique).
CREATE FUNCTION allocation.adopt_batches()
RETURNS TABLE (ref text, state text, reason text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := allocation.router_cluster();
    b record;
    code text;
    message text;
BEGIN
    FOR b IN SELECT DISTINCT r.ref, r.sku
             FROM pg_catalog.generate_series(0, n OPERATOR(pg_catalog.-) 1) AS part,
                  allocation.router_batch_references_on(part) AS r
             ORDER BY 1, 2 LOOP
        BEGIN
            PERFORM allocation.router_batch_claim(b.ref, b.sku, 0, NULL, true);
            RETURN QUERY SELECT b.ref, 'claimed', NULL::text;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            RETURN QUERY SELECT b.ref, 'failed', code OPERATOR(pg_catalog.||) ': ' OPERATOR(pg_catalog.||) message;
        END;
    END LOOP;
END
$$;

-------------------------------------------------------------------------------
-- comments
-------------------------------------------------------------------------------

COMMENT ON FUNCTION allocation.allocate_order(text, text[], integer[]) IS 'allocate every line of an order over the partitions, or none; returns (sku, batchref) by sku';
COMMENT ON FUNCTION allocation.recover() IS 'finish the orders and batches routers left unfinished; safe at any time, from any router';
COMMENT ON FUNCTION allocation.adopt_batches() IS 'claim the references of the shards'' existing batches in the directory (once, after an update from 1.0)';
COMMENT ON FUNCTION allocation.router_cluster() IS 'the number of partitions of allocation_cluster, which must connect as the session''s user';

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- Nobody calls anything until a DBA grants it: the API to the application
-- role, recover() and adopt_batches() to a maintenance role (README).
REVOKE ALL ON SCHEMA allocation FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA allocation FROM PUBLIC;
