/* allocation--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation UPDATE TO '1.4'" to load this file. \quit

-------------------------------------------------------------------------------
-- functions
-------------------------------------------------------------------------------

-- Two steps of a router's order over several shards, each folding the
-- decision log into the step it goes with on the order's own shard (the
-- one hashtext(orderid) picks): fewer calls and transactions per order.
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

COMMENT ON FUNCTION allocation.order_hold(text, text, text[], integer[], interval, text, text[], integer[]) IS 'hold the new lines of an order on this shard, all or none, and on the order''s own shard also take its lock and record the attempt (for routers)';
COMMENT ON FUNCTION allocation.order_decide(text, text, text[], integer[], text[], integer[]) IS 'on the order''s own shard, confirm its hold here and record the order decided, in one transaction (for routers)';

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- Nobody but the owner calls the new functions until a DBA grants them:
-- the routers' line in the README.
REVOKE ALL ON FUNCTION
    allocation.order_hold(text, text, text[], integer[], interval, text, text[], integer[]),
    allocation.order_decide(text, text, text[], integer[], text[], integer[])
    FROM PUBLIC;
