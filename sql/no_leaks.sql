-- no_leaks: every case rolled back, so every table of the extension is empty
CREATE FUNCTION pg_temp.row_count(rel regclass) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s', rel) INTO n;
    RETURN n;
END
$$;

SELECT c.relname, pg_temp.row_count(c.oid) AS rows
FROM pg_class c
WHERE c.relnamespace = 'allocation'::regnamespace
  AND c.relkind = 'r'
ORDER BY c.relname;
