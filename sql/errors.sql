-- errors: every error of the contract, its SQLSTATE, and that it changes nothing

-- one shop for the whole suite; each bad call runs in a savepoint and the
-- state is compared with the snapshot taken before
BEGIN;
SELECT allocation.add_batch('b1', 'CHAIR', 10, NULL);
SELECT allocation.allocate('held', 'CHAIR', 2);
CREATE TEMP TABLE before AS
SELECT (SELECT jsonb_agg(b ORDER BY reference) FROM allocation.batch_stock b) AS batches,
       (SELECT jsonb_agg(l ORDER BY orderid, sku) FROM allocation.allocations_view l) AS lines,
       (SELECT jsonb_agg(p ORDER BY sku) FROM allocation.products p) AS products,
       (SELECT count(*) FROM allocation.events) AS events;

-- NULL arguments: 22004, naming the argument
SAVEPOINT s;
SELECT allocation.add_batch(NULL, 'CHAIR', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('b9', NULL, 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('b9', 'CHAIR', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate(NULL, 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate('o1', NULL, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate('o1', 'CHAIR', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.deallocate(NULL, 'CHAIR');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.deallocate('o1', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.change_batch_quantity(NULL, 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.change_batch_quantity('b1', NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocations(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- bad quantities: 22023
SAVEPOINT s;
SELECT allocation.allocate('o1', 'CHAIR', 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate('o1', 'CHAIR', -1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('b9', 'CHAIR', -1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.change_batch_quantity('b1', -1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.change_batch_quantity('b1', -2147483648);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- empty, blank and over-long identifiers: 22023
SAVEPOINT s;
SELECT allocation.add_batch('', 'CHAIR', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('b9', '', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch(E' \t\n', 'CHAIR', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- Unicode white space only (NBSP, ideographic space, vertical tab, line
-- separator, NEL) is blank too; a letter among them is not
SAVEPOINT s;
SELECT allocation.add_batch(U&'\00A0\3000', 'CHAIR', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('b9', U&'\000B\2028\0085\2003', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate(U&'\202F', 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch(U&'\00A0x\3000', 'CHAIR', 10);
SELECT count(*) AS kept_as_given FROM allocation.batches WHERE reference = U&'\00A0x\3000';
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate('', 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate('o1', '   ', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.deallocate('', 'CHAIR');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.change_batch_quantity('', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.allocations('');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate(repeat('x', 256), 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch(repeat('é', 256), 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- an existing batch reference: 23505
SAVEPOINT s;
SELECT allocation.add_batch('b1', 'CHAIR', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.add_batch('b1', 'TABLE', 10);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- unknown sku: AL001 with the book's message
SAVEPOINT s;
SELECT allocation.allocate('o1', 'NO-SUCH-SKU', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.deallocate('o1', 'NO-SUCH-SKU');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- unknown batch: AL002
SAVEPOINT s;
SELECT allocation.change_batch_quantity('no-such-batch', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- the same line with another qty: AL003
SAVEPOINT s;
SELECT allocation.allocate('held', 'CHAIR', 3);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- arithmetic that would overflow: 22003
SAVEPOINT s;
UPDATE allocation.products SET version_number = 9223372036854775807 WHERE sku = 'CHAIR';
SELECT allocation.allocate('o2', 'CHAIR', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- nothing any failed call did remains
SELECT (SELECT jsonb_agg(b ORDER BY reference) FROM allocation.batch_stock b) = batches AS batches_unchanged,
       (SELECT jsonb_agg(l ORDER BY orderid, sku) FROM allocation.allocations_view l) = lines AS lines_unchanged,
       (SELECT jsonb_agg(p ORDER BY sku) FROM allocation.products p) = products AS products_unchanged,
       (SELECT count(*) FROM allocation.events) = events AS events_unchanged
FROM before;
ROLLBACK;
