-- bench/setup.sql: the data every workload runs on (database "bench").
-- Bulk lines for the read workload are written directly, as a superuser,
-- because a million allocate() calls would take longer than the benchmark.
CREATE EXTENSION allocation;

-- the floor baseline: a small table with one index
CREATE TABLE bench_floor (id bigserial PRIMARY KEY, v double precision);

-- spread: 1,000 skus, one warehouse batch and two shipments each; stock
-- that never runs out
SELECT count(allocation.add_batch('w-' || s, 'sku-' || s, 1000000000, NULL)),
       count(allocation.add_batch('e1-' || s, 'sku-' || s, 1000000000, date '2030-01-01')),
       count(allocation.add_batch('e2-' || s, 'sku-' || s, 1000000000, date '2030-02-01'))
FROM generate_series(1, 1000) AS s;

-- hot sku: every client allocates this one
SELECT count(allocation.add_batch('hot-' || b, 'sku-hot', 1000000000,
                                  CASE b WHEN 1 THEN NULL ELSE date '2030-01-01' + b END))
FROM generate_series(1, 3) AS b;

-- history growth: skus already holding 10, 1,000 and 100,000 lines, and
-- skus with 3 and 10,000 batches of which all but the newest are exhausted.
-- Loaded through the API, committing often, as a shop's history would be:
-- thousands of changes to one row in a single transaction would keep every
-- old row version alive and make each lookup walk them all.
SELECT count(allocation.add_batch('lines-' || n, 'sku-lines-' || n, 1000000000, NULL))
FROM unnest(ARRAY[10, 1000, 100000]) AS n;
SELECT count(allocation.add_batch('old-' || n || '-' || i, 'sku-batches-' || n, 1,
                                  date '2020-01-01' + i))
FROM unnest(ARRAY[3, 10000]) AS n, generate_series(1, n - 1) AS i;
DO $$
DECLARE
    n integer;
BEGIN
    FOREACH n IN ARRAY ARRAY[10, 1000, 100000] LOOP
        FOR i IN 1..n LOOP
            PERFORM allocation.allocate('history-' || i, 'sku-lines-' || n, 1);
            IF i % 100 = 0 THEN COMMIT; END IF;
        END LOOP;
        COMMIT;
    END LOOP;
    FOREACH n IN ARRAY ARRAY[3, 10000] LOOP
        FOR i IN 1..n - 1 LOOP
            PERFORM allocation.allocate('exhaust-' || i, 'sku-batches-' || n, 1);
            IF i % 100 = 0 THEN COMMIT; END IF;
        END LOOP;
        COMMIT;
    END LOOP;
END $$;
SELECT count(allocation.add_batch('newest-' || n, 'sku-batches-' || n, 1000000000, date '2099-01-01'))
FROM unnest(ARRAY[3, 10000]) AS n;

-- reallocation: per client sku, two warehouse batches of 100, 100 lines on
-- the first (ra-c); the workload shrinks one then the other
SELECT count(allocation.add_batch('ra-' || c, 'sku-realloc-' || c, 100, NULL)),
       count(allocation.add_batch('rb-' || c, 'sku-realloc-' || c, 100, NULL))
FROM generate_series(1, 8) AS c;
SELECT count(allocation.allocate('realloc-' || i, 'sku-realloc-' || c, 1))
FROM generate_series(1, 8) AS c, generate_series(1, 100) AS i;

-- memory: ten lines that change_batch_quantity moves between two batches
SELECT allocation.add_batch('ma', 'sku-memory', 10, NULL), allocation.add_batch('mb', 'sku-memory', 10, NULL);
SELECT count(allocation.allocate('memory-' || i, 'sku-memory', 1)) FROM generate_series(1, 10) AS i;

-- read: a million lines (500,000 orders of two lines) on the spread skus
SET session_replication_role = replica;    -- skip the FK checks of a bulk load
INSERT INTO allocation.order_lines (orderid, sku, qty, batch_reference)
SELECT 'read-' || o, 'sku-' || s, 1, 'w-' || s
FROM generate_series(1, 500000) AS o,
     LATERAL (VALUES (1 + o % 1000), (1 + (o + 500) % 1000)) AS l(s);
RESET session_replication_role;
UPDATE allocation.batches AS b
SET allocated_quantity = b.allocated_quantity + l.total
FROM (SELECT batch_reference, sum(qty) AS total
      FROM allocation.order_lines
      WHERE orderid LIKE 'read-%'
      GROUP BY batch_reference) AS l
WHERE l.batch_reference = b.reference;

VACUUM ANALYZE;
