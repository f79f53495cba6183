-- no_leaks: every case rolled back, so every table of the extension is empty
SELECT c.relname, (xpath('/row/n/text()',
                         query_to_xml(format('SELECT count(*) AS n FROM %s', c.oid::regclass),
                                      false, true, '')))[1]::text::int AS rows
FROM pg_class c
WHERE c.relnamespace = 'allocation'::regnamespace
  AND c.relkind = 'r'
ORDER BY c.relname;
