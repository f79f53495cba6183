-- bench/setup.sql: the data the pgbench workloads run on (database "bench").
CREATE EXTENSION allocation;

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

-- partly used: skus with 3 and 20,000 batches holding 1 unit each (which
-- an allocation of 2 passes over), then one with room
SELECT count(allocation.add_batch('partly-' || n || '-' || i, 'sku-partly-' || n, 1, date '2020-01-01' + i))
FROM unnest(ARRAY[3, 20000]) AS n, generate_series(1, n) AS i;
SELECT count(allocation.add_batch('partly-room-' || n, 'sku-partly-' || n, 1000000000, date '2099-01-01'))
FROM unnest(ARRAY[3, 20000]) AS n;

-- expired holds: a sku with 10,000 holds that expired and were not
-- reclaimed yet (written as rows: reclaiming them is what is measured),
-- and its twin without; bench.py writes them again before each round
SELECT allocation.add_batch('expired-b', 'sku-expired', 1000000000, NULL),
       allocation.add_batch('fresh-b', 'sku-fresh', 1000000000, NULL);

VACUUM ANALYZE;
