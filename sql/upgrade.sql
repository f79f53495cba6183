-- upgrade: 1.0 updated to 1.1 is the same as a fresh install of 1.1

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
               (SELECT 'dumped' FROM pg_extension e
                WHERE e.extname = 'allocation' AND d.objid = ANY (e.extconfig)))
    FROM pg_depend d
    WHERE d.refclassid = 'pg_extension'::regclass
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'allocation')
      AND d.deptype = 'e'
$$;

BEGIN;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.extension_schema();
SELECT extversion AS fresh_version FROM pg_extension WHERE extname = 'allocation';
SELECT count(*) AS objects FROM fresh;

DROP EXTENSION allocation;
CREATE EXTENSION allocation VERSION '1.0';
SELECT extversion AS installed FROM pg_extension WHERE extname = 'allocation';
SELECT allocation.add_batch('b1', 'OLD-LAMP', 10, NULL);
SELECT allocation.allocate('o1', 'OLD-LAMP', 4);
ALTER EXTENSION allocation UPDATE;
SELECT extversion AS updated FROM pg_extension WHERE extname = 'allocation';

-- nothing differs either way
(SELECT 'only after update' AS side, * FROM pg_temp.extension_schema()
 EXCEPT SELECT 'only after update', * FROM fresh)
UNION ALL
(SELECT 'only in fresh install', * FROM fresh
 EXCEPT SELECT 'only in fresh install', * FROM pg_temp.extension_schema())
ORDER BY 1, 2;

-- data from 1.0 is kept and the 1.1 functions work on it
SELECT * FROM allocation.allocate_order('o2', ARRAY['OLD-LAMP'], ARRAY[6]);
SELECT * FROM allocation.check();
SELECT orderid, batchref FROM allocation.allocations_view ORDER BY orderid;
\dx+ allocation
ROLLBACK;
