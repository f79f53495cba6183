-- scripts/demo.sql: a short session of the allocation domain, annotated.
-- Run by scripts/demo against a throwaway cluster.
\pset footer off
\echo '== 1. Install the extension: everything lives in schema allocation'
CREATE EXTENSION allocation;

\echo '== 2. Stock: one batch in the warehouse, two on their way (eta)'
SELECT allocation.add_batch('warehouse-1', 'RETRO-CLOCK', 10);
SELECT allocation.add_batch('ship-early', 'RETRO-CLOCK', 50, date '2030-01-10');
SELECT allocation.add_batch('ship-late', 'RETRO-CLOCK', 50, date '2030-02-01');
SELECT * FROM allocation.batch_stock ORDER BY eta NULLS FIRST;

\echo '== 3. Allocate: warehouse stock first, then the earliest shipment'
SELECT allocation.allocate('order-1', 'RETRO-CLOCK', 8) AS batch;
SELECT allocation.allocate('order-2', 'RETRO-CLOCK', 5) AS batch;
\echo '   the same line again is idempotent: same batch, nothing changes'
SELECT allocation.allocate('order-2', 'RETRO-CLOCK', 5) AS batch;

\echo '== 4. The read model'
SELECT * FROM allocation.allocations('order-2');

\echo '== 5. The warehouse batch shrinks: the line it can no longer hold moves to the next best batch'
SELECT allocation.change_batch_quantity('warehouse-1', 4);
SELECT * FROM allocation.allocations_view ORDER BY orderid;

\echo '== 6. Unknown sku: a clear error with SQLSTATE AL001, nothing changed'
\set ON_ERROR_STOP 0
SELECT allocation.allocate('order-3', 'NO-SUCH-SKU', 1);
\echo '   SQLSTATE' :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1

\echo '== 7. The transaction is the unit of work: ROLLBACK undoes the call and its events'
BEGIN;
SELECT allocation.allocate('order-4', 'RETRO-CLOCK', 3) AS batch;
SELECT count(*) AS events_inside FROM allocation.events;
ROLLBACK;
SELECT count(*) AS events_after_rollback FROM allocation.events;

\echo '== 8. The outbox: one event per change, in the order of the product''s changes'
SELECT id, event, payload FROM allocation.events ORDER BY id;
SELECT sku, version_number FROM allocation.products;
