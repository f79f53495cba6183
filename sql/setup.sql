-- setup: install the extension that every later suite uses
CREATE EXTENSION allocation;
SELECT extname, extversion, extrelocatable, extnamespace::regnamespace AS schema
FROM pg_extension
WHERE extname = 'allocation';

-- the objects it owns
SELECT pg_describe_object(classid, objid, 0) AS object
FROM pg_depend
WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'allocation')
  AND deptype = 'e'
ORDER BY 1;

-- psql shows error codes after each expected failure in the later suites
\set VERBOSITY default
