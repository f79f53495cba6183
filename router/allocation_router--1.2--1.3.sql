/* router/allocation_router--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation_router UPDATE TO '1.3'" to load this file. \quit

-- An order over several partitions takes four shard transactions instead
-- of five: its lines on the order's own partition are no longer held and
-- confirmed there but allocated in the call that takes the order's lock
-- and records the decision (allocation 1.5's order_place), once its other
-- lines are held.  Update every shard to allocation 1.5 first.  Nothing is
-- kept here, so nothing moves.

DROP FUNCTION allocation.router_order_hold(text, text, text[], integer[], interval, text, text[], integer[]);
DROP FUNCTION allocation.router_order_decide(text, text, text[], integer[], text[], integer[]);

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
CREATE OR REPLACE FUNCTION allocation.allocate_order(orderid text, skus text[], qtys integer[])
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

-- Nobody but the owner calls the new helpers.
REVOKE ALL ON FUNCTION
    allocation.router_order_prepare(text, text, text[], integer[], interval),
    allocation.router_order_place(text, text, text[], integer[], text[], integer[])
    FROM PUBLIC;
