-- views: the book's test_views.py, and the read model's consistency

-- test_allocations_view
BEGIN;
SELECT allocation.add_batch('sku1batch', 'sku1', 50, NULL);
SELECT allocation.add_batch('sku2batch', 'sku2', 50, '2011-01-01');
SELECT allocation.allocate('order1', 'sku1', 20);
SELECT allocation.allocate('order1', 'sku2', 20);
-- add a spurious batch and order to make sure we're getting the right ones
SELECT allocation.add_batch('sku1batch-later', 'sku1', 50, '2011-01-01');
SELECT allocation.allocate('otherorder', 'sku1', 30);
SELECT allocation.allocate('otherorder', 'sku2', 10);
SELECT * FROM allocation.allocations('order1');
SELECT orderid, sku, batchref FROM allocation.allocations_view
WHERE orderid = 'order1' ORDER BY sku;
ROLLBACK;

-- test_deallocation
BEGIN;
SELECT allocation.add_batch('b1', 'sku1', 50, NULL);
SELECT allocation.add_batch('b2', 'sku1', 50, '2011-01-01');
SELECT allocation.allocate('o1', 'sku1', 40);
SELECT allocation.change_batch_quantity('b1', 10);
SELECT * FROM allocation.allocations('o1');
ROLLBACK;

-- an order with no lines has no rows
BEGIN;
SELECT allocation.add_batch('b1', 'sku1', 50, NULL);
SELECT count(*) AS rows FROM allocation.allocations('no-such-order');
ROLLBACK;

-- the read model follows every write of the same transaction
BEGIN;
SELECT allocation.add_batch('b1', 'sku1', 50, NULL);
SELECT allocation.allocate('o1', 'sku1', 5);
SELECT * FROM allocation.allocations_view;
SELECT allocation.deallocate('o1', 'sku1');
SELECT count(*) AS rows FROM allocation.allocations_view;
ROLLBACK;

-- allocations() is ordered by sku, whatever the order of allocation
BEGIN;
SELECT allocation.add_batch('bz', 'zebra-print', 5, NULL);
SELECT allocation.add_batch('ba', 'apple-crate', 5, NULL);
SELECT allocation.add_batch('bm', 'mango-bowl', 5, NULL);
SELECT allocation.allocate('o1', 'zebra-print', 1);
SELECT allocation.allocate('o1', 'mango-bowl', 1);
SELECT allocation.allocate('o1', 'apple-crate', 1);
SELECT * FROM allocation.allocations('o1');
ROLLBACK;
