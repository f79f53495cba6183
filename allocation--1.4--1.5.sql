/* allocation--1.4--1.5.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation UPDATE TO '1.5'" to load this file. \quit

-------------------------------------------------------------------------------
-- functions
-------------------------------------------------------------------------------

-- A router's one call on the order's own shard (the one hashtext(orderid)
-- picks) once the order's other lines are held elsewhere: its lines there
-- are allocated with the decision, never held and confirmed, so an order
-- over two shards takes four shard transactions instead of five.
CREATE FUNCTION allocation.order_place(orderid text, holdid text, skus text[], qtys integer[],
                                       decision_skus text[], decision_qtys integer[])
RETURNS TABLE (sku text, batchref text, existing boolean)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'allocation_order_place';

COMMENT ON FUNCTION allocation.order_place(text, text, text[], integer[], text[], integer[]) IS 'on the order''s own shard, once its other lines are held elsewhere: take its lock, allocate its lines here and record the order decided, in one transaction (for routers)';

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- Nobody but the owner calls the new function until a DBA grants it: the
-- routers' line in the README.
REVOKE ALL ON FUNCTION allocation.order_place(text, text, text[], integer[], text[], integer[]) FROM PUBLIC;
