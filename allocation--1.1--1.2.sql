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
-- indexes
-------------------------------------------------------------------------------

-- Ties between batches go by reference in byte order, whatever the
-- database's collation, so the same data gives the same batch everywhere.
DROP INDEX allocation.batches_in_stock_idx;
CREATE INDEX batches_in_stock_idx
    ON allocation.batches (sku, eta NULLS FIRST, reference COLLATE pg_catalog."C")
    WHERE in_stock;

-------------------------------------------------------------------------------
-- privileges
-------------------------------------------------------------------------------

-- A role that could call every function before an update can call every
-- function after it: each function an update adds can be called by the
-- roles that can call its model (writers: allocate; readers: allocations).
-- 1.0 to 1.1 did not do this, so allocate_order and check are done here.
--
-- PostgreSQL records every GRANT run by an extension script as the
-- function's initial privilege (pg_init_privs), which pg_dump leaves out;
-- the initial privileges are set back to a fresh install's so that a dump
-- keeps these grants like the ones the DBA made.
DO $$
DECLARE
    copy record;
    grant_command text;
BEGIN
    FOR copy IN
        SELECT f.added::pg_catalog.regprocedure AS added, m.proacl AS model_acl,
               m.proowner AS owner, a.proacl AS fresh_acl
        FROM (VALUES ('allocation.allocate(text,text,integer)',
                      'allocation.allocate_order(text,text[],integer[])'),
                     ('allocation.allocations(text)', 'allocation.check()'))
             AS f (model, added)
        JOIN pg_catalog.pg_proc AS m ON m.oid OPERATOR(pg_catalog.=) f.model::pg_catalog.regprocedure
        JOIN pg_catalog.pg_proc AS a ON a.oid OPERATOR(pg_catalog.=) f.added::pg_catalog.regprocedure
    LOOP
        FOR grant_command IN
            SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s%s', copy.added,
                       CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                            ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
            FROM pg_catalog.aclexplode(copy.model_acl) AS g
            WHERE g.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
              AND g.grantee OPERATOR(pg_catalog.<>) copy.owner
        LOOP
            EXECUTE grant_command;
        END LOOP;
        UPDATE pg_catalog.pg_init_privs
        SET initprivs = copy.fresh_acl
        WHERE objoid OPERATOR(pg_catalog.=) copy.added
          AND classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
          AND objsubid OPERATOR(pg_catalog.=) 0;
    END LOOP;
END
$$;
