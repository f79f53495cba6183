-- api: the book's test_api.py end-to-end cases, as the SQL an API would send

-- test_happy_path_returns_202_and_batch_is_allocated
BEGIN;
SELECT allocation.add_batch('laterbatch', 'sku-happy', 100, '2011-01-02');
SELECT allocation.add_batch('earlybatch', 'sku-happy', 100, '2011-01-01');
SELECT allocation.add_batch('otherbatch', 'othersku', 100, NULL);
SELECT allocation.allocate('order-happy', 'sku-happy', 3) AS batchref;
SELECT * FROM allocation.allocations('order-happy');
ROLLBACK;

-- test_unhappy_path_returns_400_and_error_message
BEGIN;
SELECT allocation.allocate('order-unhappy', 'unknown-sku', 20);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
SELECT count(*) AS rows FROM allocation.allocations('order-unhappy');
ROLLBACK;
