-- setup: pg_regress installed the extension (--load-extension) that every
-- suite uses, so each suite also runs alone
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace AS schema
FROM pg_extension
WHERE extname = 'allocation';

-- the objects it creates (not the row and array types of its tables and
-- views, which PostgreSQL 17 and later also list as members)
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'allocation')
  AND deptype = 'e'
  AND classid <> 'pg_type'::regclass
ORDER BY 1;
