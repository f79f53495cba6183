-- product: the book's test_product.py (batch choice, events, version)

-- test_prefers_current_stock_batches_to_shipments
BEGIN;
SELECT allocation.add_batch('in-stock-batch', 'RETRO-CLOCK', 100, NULL);
SELECT allocation.add_batch('shipment-batch', 'RETRO-CLOCK', 100, '2011-01-02');
SELECT allocation.allocate('oref', 'RETRO-CLOCK', 10) AS batchref;
SELECT reference, available_quantity FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- test_prefers_earlier_batches
BEGIN;
SELECT allocation.add_batch('speedy-batch', 'MINIMALIST-SPOON', 100, '2011-01-01');
SELECT allocation.add_batch('normal-batch', 'MINIMALIST-SPOON', 100, '2011-01-02');
SELECT allocation.add_batch('slow-batch', 'MINIMALIST-SPOON', 100, '2011-02-01');
SELECT allocation.allocate('order1', 'MINIMALIST-SPOON', 10) AS batchref;
SELECT reference, available_quantity FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- test_returns_allocated_batch_ref
BEGIN;
SELECT allocation.add_batch('in-stock-batch-ref', 'HIGHBROW-POSTER', 100, NULL);
SELECT allocation.add_batch('shipment-batch-ref', 'HIGHBROW-POSTER', 100, '2011-01-02');
SELECT allocation.allocate('oref', 'HIGHBROW-POSTER', 10) AS batchref;
ROLLBACK;

-- test_outputs_allocated_event
BEGIN;
SELECT allocation.add_batch('batchref', 'RETRO-LAMPSHADE', 100, NULL);
SELECT allocation.allocate('oref', 'RETRO-LAMPSHADE', 10);
SELECT event, payload, jsonb_typeof(payload -> 'qty') AS qty_type FROM allocation.events ORDER BY id;
ROLLBACK;

-- test_records_out_of_stock_event_if_cannot_allocate
BEGIN;
SELECT allocation.add_batch('batch1', 'SMALL-FORK', 10, '2011-01-01');
SELECT allocation.allocate('order1', 'SMALL-FORK', 10);
SELECT allocation.allocate('order2', 'SMALL-FORK', 1) IS NULL AS out_of_stock;
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT version_number FROM allocation.products;
ROLLBACK;

-- test_increments_version_number
BEGIN;
SELECT allocation.add_batch('b1', 'SCANDI-PEN', 100, NULL);
UPDATE allocation.products SET version_number = 7 WHERE sku = 'SCANDI-PEN';
SELECT allocation.allocate('oref', 'SCANDI-PEN', 10);
SELECT version_number FROM allocation.products;
ROLLBACK;

-- skips batches too small for the line, whatever their eta
BEGIN;
SELECT allocation.add_batch('warehouse', 'TALL-VASE', 5, NULL);
SELECT allocation.add_batch('early', 'TALL-VASE', 8, '2011-01-01');
SELECT allocation.add_batch('late', 'TALL-VASE', 50, '2011-03-01');
SELECT allocation.allocate('o1', 'TALL-VASE', 10) AS batchref;
SELECT allocation.allocate('o2', 'TALL-VASE', 8) AS batchref;
SELECT allocation.allocate('o3', 'TALL-VASE', 5) AS batchref;
SELECT reference, available_quantity FROM allocation.batch_stock ORDER BY reference;
ROLLBACK;

-- ties on eta are broken by reference
BEGIN;
SELECT allocation.add_batch('batch-b', 'TWIN-STOOL', 10, '2011-01-01');
SELECT allocation.add_batch('batch-a', 'TWIN-STOOL', 10, '2011-01-01');
SELECT allocation.add_batch('batch-c', 'TWIN-STOOL', 10, NULL);
SELECT allocation.add_batch('batch-0', 'TWIN-STOOL', 10, NULL);
SELECT allocation.allocate('o1', 'TWIN-STOOL', 10) AS warehouse_first;
SELECT allocation.allocate('o2', 'TWIN-STOOL', 10) AS warehouse_second;
SELECT allocation.allocate('o3', 'TWIN-STOOL', 10) AS shipment_first;
SELECT allocation.allocate('o4', 'TWIN-STOOL', 10) AS shipment_second;
ROLLBACK;

-- the version moves once per change, never for a no-op
BEGIN;
SELECT allocation.add_batch('b1', 'QUIET-FAN', 10, NULL);
SELECT allocation.add_batch('b2', 'QUIET-FAN', 10, NULL);
SELECT version_number AS after_add_batch FROM allocation.products;
SELECT allocation.allocate('o1', 'QUIET-FAN', 10);
SELECT allocation.allocate('o1', 'QUIET-FAN', 10);
SELECT allocation.allocate('o2', 'QUIET-FAN', 50);
SELECT allocation.deallocate('o9', 'QUIET-FAN');
SELECT version_number AS after_one_allocation FROM allocation.products;
SELECT allocation.deallocate('o1', 'QUIET-FAN');
SELECT version_number AS after_deallocation FROM allocation.products;
SELECT allocation.change_batch_quantity('b1', 5);
SELECT version_number AS after_change FROM allocation.products;
ROLLBACK;
