-- collation: every decision and every documented order is byte order, the
-- same in a database whose collation says otherwise (ICU en-US puts
-- "batch-a" before "BATCH-B" and "apple" before "Banana"; bytes do not)
-- Servers built without ICU skip the ICU part: expected/collation_1.out.
SELECT EXISTS (SELECT FROM pg_collation WHERE collprovider = 'i') AS have_icu \gset
\if :have_icu
SET client_min_messages = warning;
DROP DATABASE IF EXISTS al_collation_icu;
RESET client_min_messages;
CREATE DATABASE al_collation_icu TEMPLATE template0 ENCODING 'UTF8'
    LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US';
\c al_collation_icu
CREATE EXTENSION allocation;
-- the ICU locale is daticulocale up to 16, datlocale from 17
SELECT datlocprovider, COALESCE(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS icu_locale,
       'batch-a' < 'BATCH-B' AS collation_puts_lower_first
FROM pg_database AS d WHERE datname = current_database();

-- ties between batches of the same eta go to the lower reference in bytes
BEGIN;
SELECT allocation.add_batch('batch-a', 'LAMP', 10, NULL);
SELECT allocation.add_batch('BATCH-B', 'LAMP', 10, NULL);
SELECT allocation.allocate('o1', 'LAMP', 1);
ROLLBACK;

-- allocate_order and allocations() list an order's skus in byte order
BEGIN;
SELECT allocation.add_batch('lot-a', 'apple', 10, NULL);
SELECT allocation.add_batch('LOT-B', 'Banana', 10, NULL);
SELECT allocation.add_batch('lot-c', 'cherry', 10, NULL);
SELECT * FROM allocation.allocate_order('o1', ARRAY['cherry', 'apple', 'Banana'], ARRAY[1, 1, 1]);
SELECT * FROM allocation.allocations('o1');
-- and check() lists its findings in byte order too
UPDATE allocation.batches SET allocated_quantity = 0;
SELECT problem, detail ->> 'batch' AS batch FROM allocation.check();
ROLLBACK;

\c contrib_regression
DROP DATABASE al_collation_icu;
\else
\echo 'skipped: this server was built without ICU, so no ICU database can be created'
\endif
