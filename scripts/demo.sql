-- scripts/demo.sql: a short session of the allocation domain, annotated.
-- Run by scripts/demo against a throwaway cluster: psql echoes each
-- statement before its result; calls that return nothing are sent with
-- \gset, which prints no empty result.
\pset footer off
\set ECHO queries
\echo '== 1. Install the extension: everything lives in schema allocation'
CREATE EXTENSION allocation;

\echo '== 2. Stock: one batch in the warehouse, two on their way (eta)'
SELECT allocation.add_batch('warehouse-1', 'RETRO-CLOCK', 10) \gset
SELECT allocation.add_batch('ship-early', 'RETRO-CLOCK', 50, date '2030-01-10') \gset
SELECT allocation.add_batch('ship-late', 'RETRO-CLOCK', 50, date '2030-02-01') \gset
SELECT allocation.add_batch('desk-1', 'OAK-DESK', 2) \gset
SELECT reference, sku, eta, available_quantity FROM allocation.batch_stock ORDER BY sku, eta NULLS FIRST;

\echo '== 3. Allocate: warehouse stock first, then the earliest shipment; the same line again changes nothing'
SELECT allocation.allocate('order-1', 'RETRO-CLOCK', 8) AS batch;
SELECT allocation.allocate('order-2', 'RETRO-CLOCK', 5) AS batch;
SELECT allocation.allocate('order-2', 'RETRO-CLOCK', 5) AS batch;

\echo '== 4. Out of stock: NULL, and an OutOfStock event'
SELECT allocation.allocate('order-3', 'OAK-DESK', 3) AS batch;

\echo '== 5. A multi-line order, all lines or none, rows in byte order of sku'
SELECT * FROM allocation.allocate_order('order-4', ARRAY['RETRO-CLOCK', 'OAK-DESK'], ARRAY[1, 2]);

\echo '== 6. The read model, and deallocating a line'
SELECT * FROM allocation.allocations('order-4');
SELECT allocation.deallocate('order-4', 'OAK-DESK') AS freed_from;

\echo '== 7. The warehouse batch shrinks: its most recent line moves to the next best batch'
SELECT allocation.change_batch_quantity('warehouse-1', 4) \gset
SELECT orderid, sku, batchref FROM allocation.allocations_view ORDER BY orderid, sku;

\echo '== 8. A checkout holds stock for 15 minutes, then payment confirms it into an order'
SELECT allocation.hold('cart-7', 'OAK-DESK', 2, '15 minutes') AS held_on;
SELECT holdid, sku, batchref, qty FROM allocation.holds_view;
SELECT * FROM allocation.confirm_hold('cart-7', 'order-7');
\echo '   an abandoned checkout needs nothing: its hold stops counting when it expires'

\echo '== 9. Errors come with a SQLSTATE, and change nothing'
\set ON_ERROR_STOP 0
SELECT allocation.allocate('order-5', 'NO-SUCH-SKU', 1);
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
SELECT allocation.allocate('order-1', 'RETRO-CLOCK', 9);
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1

\echo '== 10. The transaction is the unit of work: ROLLBACK undoes the call and its events'
BEGIN;
SELECT allocation.allocate('order-6', 'RETRO-CLOCK', 3) AS batch;
SELECT count(*) AS events_inside FROM allocation.events;
ROLLBACK;
SELECT count(*) AS events_after_rollback FROM allocation.events;

\echo '== 11. The outbox, one event per change in the order of each product''s changes, and check()'
SELECT id, event, payload - 'expires_at' AS payload FROM allocation.events ORDER BY id;
SELECT sku, version_number FROM allocation.products ORDER BY sku;
SELECT count(*) AS problems FROM allocation.check();
