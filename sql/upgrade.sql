-- upgrade: 1.0 updated step by step to the newest version is the same as a
-- fresh install of it, and an update keeps every role's access

-- every object of the extension with its full definition, privileges,
-- comment and dump registration, independent of oids
CREATE FUNCTION pg_temp.extension_schema()
RETURNS TABLE (object text, definition text)
LANGUAGE sql AS $$
    SELECT pg_describe_object(d.classid, d.objid, 0),
           concat_ws(E'\n',
               CASE d.classid
                   WHEN 'pg_proc'::regclass THEN
                       pg_get_functiondef(d.objid) || (SELECT proacl::text FROM pg_proc WHERE oid = d.objid)
                   WHEN 'pg_class'::regclass THEN
                       (SELECT relkind::text || ' ' || coalesce(relacl::text, '')
                               || coalesce(pg_get_viewdef(c.oid), '')
                        FROM pg_class c WHERE c.oid = d.objid)
               END,
               (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                  || coalesce(' collate ' || nullif(a.attcollation, 0)::regcollation::text, '')
                                  || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                  || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                  ', ' ORDER BY a.attnum)
                FROM pg_attribute a
                LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                WHERE d.classid = 'pg_class'::regclass AND a.attrelid = d.objid
                  AND a.attnum > 0 AND NOT a.attisdropped),
               (SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), ', ' ORDER BY conname)
                FROM pg_constraint
                WHERE d.classid = 'pg_class'::regclass AND conrelid = d.objid),
               (SELECT string_agg(pg_get_indexdef(indexrelid), ', ' ORDER BY indexrelid::regclass::text)
                FROM pg_index
                WHERE d.classid = 'pg_class'::regclass AND indrelid = d.objid),
               (SELECT string_agg(s.seqtypid::regtype || ' ' || s.seqstart || ' ' || s.seqincrement, '')
                FROM pg_sequence s
                WHERE d.classid = 'pg_class'::regclass AND s.seqrelid = d.objid),
               obj_description(d.objid, d.classid::regclass::name),
               (SELECT 'initial privileges ' || initprivs::text FROM pg_init_privs i
                WHERE i.objoid = d.objid AND i.classoid = d.classid AND i.objsubid = 0),
               (SELECT 'dumped' FROM pg_extension e
                WHERE e.extname = 'allocation' AND d.objid = ANY (e.extconfig)))
    FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'allocation')
      AND d.deptype = 'e'
      AND d.classid <> 'pg_type'::regclass   -- PostgreSQL 17 lists row types too
$$;

BEGIN;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.extension_schema();
SELECT extversion AS fresh_version FROM pg_extension WHERE extname = 'allocation';
SELECT count(*) AS objects FROM fresh;

DROP EXTENSION allocation;
CREATE EXTENSION allocation VERSION '1.0';
SELECT extversion AS installed FROM pg_extension WHERE extname = 'allocation';
-- the server's library is the newest: the functions refuse to run on the
-- objects of an older version, with a clear error, until the update
SAVEPOINT s;
SELECT allocation.add_batch('b1', 'OLD-LAMP', 10, NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- what a 1.0 database holds after add_batch and allocate
INSERT INTO allocation.products (sku, version_number) VALUES ('OLD-LAMP', 1);
INSERT INTO allocation.batches (reference, sku, purchased_quantity, allocated_quantity)
VALUES ('b1', 'OLD-LAMP', 10, 4);
INSERT INTO allocation.order_lines (orderid, sku, qty, batch_reference) VALUES ('o1', 'OLD-LAMP', 4, 'b1');
INSERT INTO allocation.events (event, payload)
VALUES ('Allocated', '{"orderid": "o1", "sku": "OLD-LAMP", "qty": 4, "batchref": "b1"}');
ALTER EXTENSION allocation UPDATE TO '1.1';
ALTER EXTENSION allocation UPDATE TO '1.2';
ALTER EXTENSION allocation UPDATE TO '1.3';
ALTER EXTENSION allocation UPDATE TO '1.4';
ALTER EXTENSION allocation UPDATE TO '1.5';
SELECT extversion AS updated FROM pg_extension WHERE extname = 'allocation';

-- nothing differs either way
(SELECT 'only after update' AS side, * FROM pg_temp.extension_schema()
 EXCEPT SELECT 'only after update', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh
 EXCEPT SELECT 'only in fresh install', * FROM pg_temp.extension_schema())
ORDER BY 1, 2;

-- data from 1.0 is kept and the newest functions work on it
SELECT * FROM allocation.allocate_order('o2', ARRAY['OLD-LAMP'], ARRAY[6]);
SELECT * FROM allocation.check();
SELECT orderid, batchref FROM allocation.allocations_view ORDER BY orderid;
ROLLBACK;

-- the README's GRANT lines on 1.0 still let each role call every function
-- it could call, after the update to the newest version; the grants on the
-- functions an update added are not "initial privileges", so pg_dump keeps
-- them like the DBA's own
BEGIN;
DROP EXTENSION allocation;
CREATE EXTENSION allocation VERSION '1.0';
CREATE ROLE al_app NOLOGIN;
CREATE ROLE al_reporting NOLOGIN;
GRANT USAGE ON SCHEMA allocation TO al_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA allocation TO al_app;
GRANT USAGE ON SCHEMA allocation TO al_reporting;
GRANT EXECUTE ON FUNCTION allocation.allocations(text) TO al_reporting;
ALTER EXTENSION allocation UPDATE;
SELECT p.oid::regprocedure AS function,
       has_function_privilege('al_app', p.oid, 'EXECUTE') AS app,
       has_function_privilege('al_reporting', p.oid, 'EXECUTE') AS reporting,
       i.initprivs
FROM pg_proc p
LEFT JOIN pg_init_privs i ON i.objoid = p.oid AND i.classoid = 'pg_proc'::regclass
WHERE p.pronamespace = 'allocation'::regnamespace
ORDER BY p.oid::regprocedure::text COLLATE "C";
SET ROLE al_app;
SELECT allocation.add_batch('b1', 'LAMP', 10, NULL);
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP'], ARRAY[2]);
SELECT * FROM allocation.check();
RESET ROLE;
ROLLBACK;
