-- unit_of_work: the book's test_uow.py; the transaction is the unit of work

-- test_uow_can_retrieve_a_batch_and_allocate_to_it
BEGIN;
SELECT allocation.add_batch('batch1', 'HIPSTER-WORKBENCH', 100, NULL);
SELECT allocation.allocate('o1', 'HIPSTER-WORKBENCH', 10) AS batchref;
SELECT reference, allocated_quantity FROM allocation.batch_stock;
ROLLBACK;

-- test_rolls_back_uncommitted_work_by_default
BEGIN;
SAVEPOINT uow;
SELECT allocation.add_batch('batch1', 'MEDIUM-PLINTH', 100, NULL);
SELECT allocation.allocate('o1', 'MEDIUM-PLINTH', 10);
ROLLBACK TO SAVEPOINT uow;
SELECT count(*) AS batches FROM allocation.batch_stock;
SELECT count(*) AS products FROM allocation.products;
SELECT count(*) AS events FROM allocation.events;
ROLLBACK;

-- test_rolls_back_on_error
BEGIN;
SAVEPOINT uow;
SELECT allocation.add_batch('batch1', 'LARGE-FORK', 100, NULL);
SELECT allocation.allocate('o1', 'LARGE-FORK', 10);
SELECT allocation.allocate('o2', 'NO-SUCH-FORK', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT uow;
SELECT count(*) AS batches FROM allocation.batch_stock;
SELECT count(*) AS events FROM allocation.events;
ROLLBACK;

-- calls compose: what a rolled-back savepoint did is gone, the rest stays
BEGIN;
SELECT allocation.add_batch('batch1', 'OAK-SHELF', 10, NULL);
SELECT allocation.allocate('kept', 'OAK-SHELF', 3);
SAVEPOINT attempt;
SELECT allocation.allocate('dropped', 'OAK-SHELF', 4);
ROLLBACK TO SAVEPOINT attempt;
SELECT allocation.allocate('also-kept', 'OAK-SHELF', 7) AS batchref;
SELECT * FROM allocation.allocations_view ORDER BY orderid;
SELECT event, payload ->> 'orderid' AS orderid FROM allocation.events ORDER BY id;
SELECT version_number FROM allocation.products;
ROLLBACK;

-- a call that fails half-way leaves nothing of itself: the reallocation has
-- moved both lines when the version bump overflows, and all of it is undone
BEGIN;
SELECT allocation.add_batch('batch1', 'GLASS-JAR', 10, NULL);
SELECT allocation.add_batch('batch2', 'GLASS-JAR', 10, '2011-01-01');
SELECT allocation.allocate('o1', 'GLASS-JAR', 4);
SELECT allocation.allocate('o2', 'GLASS-JAR', 4);
UPDATE allocation.products SET version_number = 9223372036854775807;
SAVEPOINT before_change;
SELECT allocation.change_batch_quantity('batch1', 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT before_change;
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT * FROM allocation.allocations_view ORDER BY orderid;
SELECT event FROM allocation.events ORDER BY id;
ROLLBACK;
