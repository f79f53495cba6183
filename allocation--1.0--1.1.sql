/* allocation--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION allocation UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------------
-- functions
-------------------------------------------------------------------------------

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

-------------------------------------------------------------------------------
-- comments
-------------------------------------------------------------------------------

COMMENT ON FUNCTION allocation.allocate_order(text, text[], integer[]) IS 'allocate every line of an order, or none; returns (sku, batchref) by sku';
COMMENT ON FUNCTION allocation.check() IS 'one row per violated invariant of the stored data; none when consistent';

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- As for every function of the schema: a DBA grants EXECUTE (see README).
REVOKE ALL ON FUNCTION allocation.allocate_order(text, text[], integer[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION allocation.check() FROM PUBLIC;
