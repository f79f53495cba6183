-- orders: allocate_order, all or nothing (version 1.1)

-- every line fits: one Allocated per line, each product's version up by one,
-- rows by sku
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT allocation.add_batch('desk-early', 'DESK', 10, '2011-01-01');
SELECT allocation.add_batch('rug-b', 'RUG', 10, '2011-01-01');
SELECT * FROM allocation.allocate_order('order1', ARRAY['RUG', 'LAMP', 'DESK'], ARRAY[1, 2, 8]);
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT sku, version_number FROM allocation.products ORDER BY sku;
SELECT * FROM allocation.allocations('order1');
ROLLBACK;

-- the batch choice is allocate's: warehouse first, then earliest eta
BEGIN;
SELECT allocation.add_batch('later', 'CLOCK', 10, '2011-01-02');
SELECT allocation.add_batch('earlier', 'CLOCK', 10, '2011-01-01');
SELECT allocation.add_batch('warehouse', 'CLOCK', 3, NULL);
SELECT allocation.add_batch('vase-b', 'VASE', 10, NULL);
SELECT * FROM allocation.allocate_order('o1', ARRAY['CLOCK', 'VASE'], ARRAY[5, 1]);
SELECT * FROM allocation.allocate_order('o2', ARRAY['CLOCK'], ARRAY[3]);
ROLLBACK;

-- one line short: nothing is allocated, OutOfStock per short sku, every
-- batchref NULL, no version moves
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 1, NULL);
SELECT allocation.add_batch('rug-b', 'RUG', 1, NULL);
SELECT * FROM allocation.allocate_order('order1', ARRAY['LAMP', 'DESK', 'RUG'], ARRAY[2, 5, 5]);
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT sku, version_number FROM allocation.products ORDER BY sku;
SELECT reference, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT count(*) AS lines FROM allocation.allocations_view;
ROLLBACK;

-- a short order that repeats lines the order already holds: those stay
-- allocated and come back with their batch; the new ones get NULL
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 1, NULL);
SELECT allocation.allocate('order1', 'LAMP', 2);
SELECT * FROM allocation.allocate_order('order1', ARRAY['LAMP', 'DESK'], ARRAY[2, 5]);
SELECT * FROM allocation.allocations('order1');
ROLLBACK;

-- idempotent: the same order again returns the batches it holds, changes nothing
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT * FROM allocation.allocate_order('order1', ARRAY['LAMP', 'DESK'], ARRAY[2, 3]);
SELECT * FROM allocation.allocate_order('order1', ARRAY['DESK', 'LAMP'], ARRAY[3, 2]);
SELECT count(*) AS events FROM allocation.events;
SELECT sku, version_number FROM allocation.products ORDER BY sku;
-- a held line plus a new one: the held line keeps its batch
SELECT allocation.add_batch('rug-b', 'RUG', 10, NULL);
SELECT * FROM allocation.allocate_order('order1', ARRAY['DESK', 'RUG'], ARRAY[3, 4]);
SELECT count(*) AS events FROM allocation.events;
ROLLBACK;

-- rows and locks in byte order of sku, whatever the collation says
BEGIN;
SELECT allocation.add_batch('b1', 'b', 1, NULL);
SELECT allocation.add_batch('b2', 'B', 1, NULL);
SELECT allocation.add_batch('b3', 'a', 1, NULL);
SELECT allocation.add_batch('b4', 'é', 1, NULL);
SELECT allocation.add_batch('b5', 'ab', 1, NULL);
SELECT * FROM allocation.allocate_order('o1', ARRAY['é', 'b', 'ab', 'B', 'a'], ARRAY[1, 1, 1, 1, 1]);
ROLLBACK;

-- errors change nothing: AL001, AL003, 22004, 22023
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT allocation.allocate('held', 'DESK', 2);
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', 'NO-SUCH-SKU'], ARRAY[1, 1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('held', ARRAY['LAMP', 'DESK'], ARRAY[1, 3]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order(NULL, ARRAY['LAMP'], ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', NULL, ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP'], NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', 'DESK'], ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', NULL], ARRAY[1, 1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', 'DESK'], ARRAY[1, NULL]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', 'DESK', 'LAMP'], ARRAY[1, 1, 1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY[]::text[], ARRAY[]::integer[]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', 'DESK'], ARRAY[1, 0]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY['LAMP', ' '], ARRAY[1, 1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocate_order('o1', ARRAY[['LAMP'], ['DESK']], ARRAY[[1], [1]]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT reference, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT sku, version_number FROM allocation.products ORDER BY sku;
SELECT event, payload ->> 'orderid' AS orderid FROM allocation.events ORDER BY id;
ROLLBACK;
