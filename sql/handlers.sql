-- handlers: the book's test_handlers.py

-- TestAddBatch.test_for_new_product
BEGIN;
SELECT allocation.add_batch('b1', 'CRUNCHY-ARMCHAIR', 100, NULL);
SELECT sku, version_number FROM allocation.products;
SELECT * FROM allocation.batch_stock;
ROLLBACK;

-- TestAddBatch.test_for_existing_product
BEGIN;
SELECT allocation.add_batch('b1', 'GARISH-RUG', 100, NULL);
SELECT allocation.add_batch('b2', 'GARISH-RUG', 99, NULL);
SELECT sku, version_number FROM allocation.products;
SELECT reference, sku, purchased_quantity FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- TestAllocate.test_allocates
BEGIN;
SELECT allocation.add_batch('batch1', 'COMPLICATED-LAMP', 100, NULL);
SELECT allocation.allocate('o1', 'COMPLICATED-LAMP', 10) AS batchref;
SELECT available_quantity FROM allocation.batch_stock;
ROLLBACK;

-- TestAllocate.test_errors_for_invalid_sku
BEGIN;
SELECT allocation.add_batch('b1', 'AREALSKU', 100, NULL);
SELECT allocation.allocate('o1', 'NONEXISTENTSKU', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- TestAllocate.test_sends_email_on_out_of_stock_error: the OutOfStock event
BEGIN;
SELECT allocation.add_batch('b1', 'POPULAR-CURTAINS', 9, NULL);
SELECT allocation.allocate('o1', 'POPULAR-CURTAINS', 10) IS NULL AS out_of_stock;
SELECT event, payload FROM allocation.events ORDER BY id;
ROLLBACK;

-- TestChangeBatchQuantity.test_changes_available_quantity
BEGIN;
SELECT allocation.add_batch('batch1', 'ADORABLE-SETTEE', 100, NULL);
SELECT available_quantity FROM allocation.batch_stock;
SELECT allocation.change_batch_quantity('batch1', 50);
SELECT available_quantity FROM allocation.batch_stock;
ROLLBACK;

-- TestChangeBatchQuantity.test_reallocates_if_necessary
BEGIN;
SELECT allocation.add_batch('batch1', 'INDIFFERENT-TABLE', 50, NULL);
SELECT allocation.add_batch('batch2', 'INDIFFERENT-TABLE', 50, '2011-01-01');
SELECT allocation.allocate('order1', 'INDIFFERENT-TABLE', 20);
SELECT allocation.allocate('order2', 'INDIFFERENT-TABLE', 20);
SELECT reference, available_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT allocation.change_batch_quantity('batch1', 25);
-- order1 or order2 will be deallocated, so we'll have 25 - 20
SELECT reference, purchased_quantity, allocated_quantity, available_quantity
FROM allocation.batch_stock ORDER BY reference;
SELECT * FROM allocation.allocations_view ORDER BY orderid;
SELECT event, payload FROM allocation.events ORDER BY id;
ROLLBACK;

-- lines come off most recent first, and go back to the same batch if they fit
BEGIN;
SELECT allocation.add_batch('batch1', 'NESTING-TABLES', 10, NULL);
SELECT allocation.allocate('old', 'NESTING-TABLES', 1);
SELECT allocation.allocate('big', 'NESTING-TABLES', 5);
SELECT allocation.allocate('new', 'NESTING-TABLES', 1);
SELECT allocation.change_batch_quantity('batch1', 5);
SELECT * FROM allocation.allocations_view ORDER BY orderid;
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock;
SELECT event, payload FROM allocation.events ORDER BY id;
ROLLBACK;

-- a line that fits nowhere is dropped with OutOfStock
BEGIN;
SELECT allocation.add_batch('batch1', 'RARE-ORCHID', 10, NULL);
SELECT allocation.allocate('o1', 'RARE-ORCHID', 4);
SELECT allocation.allocate('o2', 'RARE-ORCHID', 4);
SELECT allocation.change_batch_quantity('batch1', 0);
SELECT count(*) AS lines FROM allocation.allocations_view;
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock;
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT version_number FROM allocation.products;
ROLLBACK;

-- growing a batch moves nothing
BEGIN;
SELECT allocation.add_batch('batch1', 'SOFT-CUSHION', 10, NULL);
SELECT allocation.allocate('o1', 'SOFT-CUSHION', 10);
SELECT allocation.change_batch_quantity('batch1', 30);
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock;
SELECT event FROM allocation.events ORDER BY id;
ROLLBACK;
