-- hostile: extreme and awkward input gets correct behaviour or the
-- contract's clear error, never a crash, a wrong number or a partial change

-- identifiers: quotes, backslashes, control characters and non-ASCII text
-- round-trip exactly, through the tables, the read model and the events
BEGIN;
CREATE TEMP TABLE odd (ref text, sku text, orderid text);
INSERT INTO odd VALUES
    (E'batch ''quoted'' "double" \\back\\slash', E'SKU\twith\ttabs\nand newline', E'ordér-ΣΩ-日本-🙂'),
    (E' leading and trailing ', E'{"json": "lookalike"}', E'order\\u0000-not-a-nul'),
    (repeat('é', 255), repeat('字', 255), repeat('🙂', 255));
SELECT allocation.add_batch(ref, sku, 5, NULL) FROM odd;
SELECT allocation.allocate(orderid, sku, 2) = ref AS allocated_to_its_batch FROM odd;
SELECT bool_and(a.batchref = o.ref) AS read_model_exact
FROM odd o, allocation.allocations(o.orderid) a;
SELECT bool_and(e.payload ->> 'orderid' = o.orderid
                AND e.payload ->> 'sku' = o.sku
                AND e.payload ->> 'batchref' = o.ref
                AND (e.payload -> 'qty') = '2'::jsonb) AS events_exact,
       count(*) AS events
FROM odd o JOIN allocation.events e ON e.payload ->> 'orderid' = o.orderid;
SELECT allocation.deallocate(orderid, sku) = ref AS deallocated_from_its_batch FROM odd;
SELECT count(*) AS lines_left FROM allocation.allocations_view;
ROLLBACK;

-- identifiers that are blank or huge: 22023 before anything is touched
BEGIN;
SELECT allocation.add_batch('b1', 'CHAIR', 10, NULL);
SAVEPOINT s;
SELECT allocation.add_batch(E'\t', 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate(E' \r\n ', 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate(repeat('x', 100000), 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch(repeat(md5('x'), 3200), 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.deallocate('o1', repeat('y', 100000));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocations(repeat('z', 100000));
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS batches, sum(allocated_quantity) AS allocated FROM allocation.batch_stock;
ROLLBACK;

-- quantities at 0, -1 and 2147483647
BEGIN;
SELECT allocation.add_batch('zero', 'NAIL', 0, NULL);
SELECT allocation.add_batch('max', 'NAIL', 2147483647, '2011-01-01');
SELECT allocation.allocate('o1', 'NAIL', 2147483647);
SAVEPOINT s;
SELECT allocation.allocate('o2', 'NAIL', 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('neg', 'NAIL', -1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT reference, purchased_quantity, allocated_quantity, available_quantity
FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- sums that would pass 2^31-1: a full batch refuses one more unit, and a
-- reallocation moves a maximal line whole or not at all
BEGIN;
SELECT allocation.add_batch('huge', 'BOLT', 2147483647, NULL);
SELECT allocation.allocate('o1', 'BOLT', 2147483646);
SELECT allocation.allocate('o2', 'BOLT', 2) IS NULL AS out_of_stock;
SELECT allocation.allocate('o3', 'BOLT', 1);
SELECT allocation.add_batch('huge2', 'BOLT', 2147483647, '2011-01-01');
SELECT allocation.allocate('o4', 'BOLT', 2147483647);
SELECT reference, purchased_quantity, allocated_quantity, available_quantity
FROM allocation.batch_stock ORDER BY reference;
SELECT allocation.change_batch_quantity('huge2', 2147483647);
SELECT allocation.change_batch_quantity('huge', 0);
SELECT reference, purchased_quantity, allocated_quantity, available_quantity
FROM allocation.batch_stock ORDER BY reference;
SELECT * FROM allocation.allocations_view ORDER BY orderid;
SELECT allocation.change_batch_quantity('huge', 2147483647);
SELECT allocation.allocate('o1', 'BOLT', 2147483646);
SELECT reference, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- dates at the type's limits order as dates do; NULL (warehouse) first
BEGIN;
SELECT allocation.add_batch('b-infinity', 'CLOCK', 1, 'infinity');
SELECT allocation.add_batch('b-max', 'CLOCK', 1, '5874897-12-31');
SELECT allocation.add_batch('b-min', 'CLOCK', 1, '4713-01-01 BC');
SELECT allocation.add_batch('b-minus-infinity', 'CLOCK', 1, '-infinity');
SELECT allocation.add_batch('b-warehouse', 'CLOCK', 1, NULL);
SELECT allocation.allocate('o' || i, 'CLOCK', 1) AS batchref, i
FROM generate_series(1, 6) AS i ORDER BY i;
SELECT reference, eta FROM allocation.batch_stock ORDER BY eta NULLS FIRST;
ROLLBACK;

-- after all of it nothing is left and no invariant is broken
SELECT count(*) AS over_allocated FROM allocation.batches WHERE allocated_quantity > purchased_quantity;
SELECT count(*) AS rows FROM allocation.order_lines;
