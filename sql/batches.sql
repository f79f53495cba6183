-- batches: the book's test_batches.py, through the SQL API

-- test_allocating_to_a_batch_reduces_the_available_quantity
BEGIN;
SELECT allocation.add_batch('batch-001', 'SMALL-TABLE', 20, '2011-01-01');
SELECT allocation.allocate('order-ref', 'SMALL-TABLE', 2);
SELECT reference, purchased_quantity, allocated_quantity, available_quantity
FROM allocation.batch_stock;
ROLLBACK;

-- test_can_allocate_if_available_greater_than_required
BEGIN;
SELECT allocation.add_batch('batch-001', 'ELEGANT-LAMP', 20);
SELECT allocation.allocate('order-ref', 'ELEGANT-LAMP', 2) AS batchref;
ROLLBACK;

-- test_cannot_allocate_if_available_smaller_than_required
BEGIN;
SELECT allocation.add_batch('batch-001', 'ELEGANT-LAMP', 2);
SELECT allocation.allocate('order-ref', 'ELEGANT-LAMP', 20) IS NULL AS out_of_stock;
SELECT available_quantity FROM allocation.batch_stock;
SELECT count(*) AS lines FROM allocation.allocations_view;
ROLLBACK;

-- test_can_allocate_if_available_equal_to_required
BEGIN;
SELECT allocation.add_batch('batch-001', 'ELEGANT-LAMP', 2);
SELECT allocation.allocate('order-ref', 'ELEGANT-LAMP', 2) AS batchref;
SELECT available_quantity FROM allocation.batch_stock;
ROLLBACK;

-- test_cannot_allocate_if_skus_do_not_match
BEGIN;
SELECT allocation.add_batch('batch-001', 'UNCOMFORTABLE-CHAIR', 100);
SELECT allocation.add_batch('batch-002', 'EXPENSIVE-TOASTER', 0);
SELECT allocation.allocate('order-ref', 'EXPENSIVE-TOASTER', 10) IS NULL AS out_of_stock;
SELECT reference, available_quantity FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- test_allocation_is_idempotent
BEGIN;
SELECT allocation.add_batch('batch-001', 'ANGULAR-DESK', 20);
SELECT allocation.allocate('order-ref', 'ANGULAR-DESK', 2) AS first;
SELECT allocation.allocate('order-ref', 'ANGULAR-DESK', 2) AS again;
SELECT available_quantity FROM allocation.batch_stock;
SELECT version_number FROM allocation.products;
SELECT event, payload FROM allocation.events ORDER BY id;
ROLLBACK;

-- test_deallocate
BEGIN;
SELECT allocation.add_batch('batch-001', 'EXPENSIVE-FOOTSTOOL', 20);
SELECT allocation.allocate('order-ref', 'EXPENSIVE-FOOTSTOOL', 2);
SELECT allocation.deallocate('order-ref', 'EXPENSIVE-FOOTSTOOL') AS freed_from;
SELECT available_quantity FROM allocation.batch_stock;
SELECT version_number FROM allocation.products;
SELECT event, payload FROM allocation.events ORDER BY id;
ROLLBACK;

-- test_can_only_deallocate_allocated_lines
BEGIN;
SELECT allocation.add_batch('batch-001', 'DECORATIVE-TRINKET', 20);
SELECT allocation.deallocate('order-ref', 'DECORATIVE-TRINKET') IS NULL AS not_allocated;
SELECT available_quantity FROM allocation.batch_stock;
SELECT version_number FROM allocation.products;
SELECT count(*) AS events FROM allocation.events;
ROLLBACK;

-- a batch of zero is allowed and takes nothing
BEGIN;
SELECT allocation.add_batch('batch-001', 'EMPTY-SHELF', 0);
SELECT allocation.allocate('order-ref', 'EMPTY-SHELF', 1) IS NULL AS out_of_stock;
SELECT * FROM allocation.batch_stock;
ROLLBACK;
