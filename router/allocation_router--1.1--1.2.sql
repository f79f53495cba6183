/* router/allocation_router--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation_router UPDATE TO '1.2'" to load this file. \quit

-- An order over several partitions takes four calls instead of five, and
-- five shard transactions instead of seven: holding its lines also takes
-- its lock and records the attempt on the order's own partition, and
-- confirming its lines there records the decision (allocation 1.4's
-- order_hold and order_decide).  Update every shard to allocation 1.4
-- first.  Nothing is kept here, so nothing moves.

DROP FUNCTION allocation.router_order_prepare(text, text, text[], integer[], interval);

CREATE FUNCTION allocation.router_order_hold(orderid text, holdid text, skus text[], qtys integer[], ttl interval,
                                             decision_sku text, order_skus text[], order_qtys integer[])
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; SPLIT skus, qtys; RUN ON pg_catalog.hashtext(skus);
    SELECT p.sku, p.batchref, p.existing
    FROM allocation.order_hold(orderid, holdid, skus, qtys, ttl, decision_sku, order_skus, order_qtys) AS p;
$$;

CREATE FUNCTION allocation.router_order_decide(orderid text, holdid text, skus text[], qtys integer[],
                                               decision_skus text[], decision_qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plproxy
AS $$
    CLUSTER 'allocation_cluster'; RUN ON pg_catalog.hashtext(orderid);
    SELECT c.sku, c.batchref FROM allocation.order_decide(orderid, holdid, skus, qtys, decision_skus, decision_qtys) AS c;
$$;

-- Lines the order has already keep their batch (AL003 for another qty);
-- the new lines are held on their partitions, each partition all or none,
-- under a hold of this attempt's own.  The order's own partition (the one
-- hashtext(orderid) picks) keeps its decision: when it has lines of the
-- order, holding them there also takes the order's lock and records the
-- attempt, and confirming them there records the decision in the same
-- transaction; then every other hold is confirmed.  (When it has none,
-- the lock, the attempt and the decision are calls of their own.)  When a
-- new line fits nowhere, what was held is released and the new lines come
-- back with a NULL batchref.  Single-partition orders are one call.  Rows
-- in byte order of sku.  A router that dies at any step leaves the order
-- to recover(), its holds to expire.
CREATE OR REPLACE FUNCTION allocation.allocate_order(orderid text, skus text[], qtys integer[])
RETURNS TABLE (sku text, batchref text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := allocation.router_cluster();
    holdid text := 'router:' OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::text;
    own integer := allocation.router_partition(orderid, n);
    decision_sku text;        -- a line on the order's own partition, if any
    line_skus text[];         -- every line, in byte order of sku
    line_refs text[];         -- its batch (NULL: short)
    line_existing boolean[];  -- the order had it already
    new_skus text[];
    new_qtys integer[];
    own_skus text[];          -- the new lines on the order's own partition
    own_qtys integer[];
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

    SELECT s INTO decision_sku FROM pg_catalog.unnest(skus) AS s
    WHERE allocation.router_partition(s, n) OPERATOR(pg_catalog.=) own LIMIT 1;
    IF decision_sku IS NULL THEN
        PERFORM allocation.router_begin(orderid, holdid, skus, qtys, 'holding');
    END IF;
    BEGIN
        LOOP
            BEGIN
                SELECT pg_catalog.array_agg(p.sku ORDER BY p.sku COLLATE pg_catalog."C"),
                       pg_catalog.array_agg(p.batchref ORDER BY p.sku COLLATE pg_catalog."C"),
                       pg_catalog.array_agg(p.existing ORDER BY p.sku COLLATE pg_catalog."C"),
                       pg_catalog.array_agg(q.qty) FILTER (WHERE NOT p.existing),
                       pg_catalog.array_agg(p.sku) FILTER (WHERE NOT p.existing),
                       pg_catalog.array_agg(q.qty) FILTER (WHERE NOT p.existing AND p.o),
                       pg_catalog.array_agg(p.sku) FILTER (WHERE NOT p.existing AND p.o),
                       pg_catalog.array_agg(q.qty) FILTER (WHERE NOT p.existing AND NOT p.o),
                       pg_catalog.array_agg(p.sku) FILTER (WHERE NOT p.existing AND NOT p.o),
                       pg_catalog.bool_or(p.batchref IS NULL)
                INTO line_skus, line_refs, line_existing, new_qtys, new_skus, own_qtys, own_skus,
                     other_qtys, other_skus, short
                FROM (SELECT h.*, allocation.router_partition(h.sku, n) OPERATOR(pg_catalog.=) own AS o
                      FROM allocation.router_order_hold(orderid, holdid, skus, qtys, allocation.router_hold_ttl(),
                                                        decision_sku, skus, qtys) AS h) AS p
                JOIN ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(qtys)) AS q (sku, qty)
                  ON q.sku OPERATOR(pg_catalog.=) p.sku;
                EXIT;
            EXCEPTION WHEN object_not_in_prerequisite_state THEN
                -- another attempt at the order is unfinished: finish it
                -- first, then hold again
                IF retried OR decision_sku IS NULL THEN
                    RAISE;
                END IF;
                retried := true;
                PERFORM allocation.router_release_hold_split(holdid, skus);
                PERFORM allocation.router_begin(orderid, holdid, skus, qtys, 'holding');
            END;
        END LOOP;
        IF new_skus IS NOT NULL AND NOT short THEN
            -- every new line is held: the decision, with the order's own
            -- partition's confirms where it has new lines
            IF own_skus IS NULL THEN
                PERFORM allocation.router_decision_record(orderid, holdid, new_skus, new_qtys, 'decided');
            ELSE
                SELECT pg_catalog.array_agg(d.sku), pg_catalog.array_agg(d.batchref),
                       pg_catalog.bool_or(d.batchref IS NULL)
                INTO own_skus, own_refs, short
                FROM allocation.router_order_decide(orderid, holdid, own_skus, own_qtys, new_skus, new_qtys) AS d;
            END IF;
        END IF;
        IF new_skus IS NULL OR short THEN
            -- nothing new, or a new line fits nowhere (or its hold expired
            -- and the stock went before the decision): release what was held
            PERFORM allocation.router_release_hold_split(holdid, skus);
            PERFORM allocation.router_decision_set(orderid, holdid, 'holding',
                        CASE WHEN short THEN 'released' ELSE 'done' END, true);
            RETURN QUERY SELECT l.s, CASE WHEN l.e THEN l.r END
                         FROM ROWS FROM (pg_catalog.unnest(line_skus), pg_catalog.unnest(line_refs),
                                         pg_catalog.unnest(line_existing)) AS l (s, r, e);
            RETURN;
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
    allocation.router_order_hold(text, text, text[], integer[], interval, text, text[], integer[]),
    allocation.router_order_decide(text, text, text[], integer[], text[], integer[])
    FROM PUBLIC;
