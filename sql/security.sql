-- security: the functions are the only write path; PUBLIC gets nothing

-- The README's GRANT blocks, as written, for the application, reporting,
-- maintenance and consumer roles, each a non-superuser created inside the
-- case's transaction.
BEGIN;
CREATE ROLE al_app NOLOGIN;
CREATE ROLE al_reporting NOLOGIN;
CREATE ROLE al_maintenance NOLOGIN;
CREATE ROLE al_consumer NOLOGIN;
CREATE ROLE al_nobody NOLOGIN;

GRANT USAGE ON SCHEMA allocation TO al_app;
GRANT EXECUTE ON FUNCTION allocation.add_batch(text, text, integer, date), allocation.allocate(text, text, integer),
    allocation.deallocate(text, text), allocation.change_batch_quantity(text, integer),
    allocation.allocations(text), allocation.allocate_order(text, text[], integer[]), allocation.check(),
    allocation.hold(text, text, integer, interval), allocation.hold_order(text, text[], integer[], interval),
    allocation.confirm_hold(text, text), allocation.release_hold(text) TO al_app;
GRANT SELECT ON allocation.products, allocation.batch_stock, allocation.allocations_view,
                allocation.holds_view, allocation.events TO al_app;

GRANT USAGE ON SCHEMA allocation TO al_reporting;
GRANT EXECUTE ON FUNCTION allocation.allocations(text), allocation.check() TO al_reporting;
GRANT SELECT ON allocation.products, allocation.batch_stock, allocation.allocations_view,
                allocation.holds_view, allocation.events TO al_reporting;

GRANT USAGE ON SCHEMA allocation TO al_maintenance;
GRANT EXECUTE ON FUNCTION allocation.prune_events(interval), allocation.prune_inbox(interval),
    allocation.stream_setup(name), allocation.stream_teardown(name) TO al_maintenance;

GRANT USAGE ON SCHEMA allocation TO al_consumer;
GRANT EXECUTE ON FUNCTION allocation.apply_command(text, text, text),
    allocation.change_batch_quantity(text, integer) TO al_consumer;

-- the application role uses the whole API
SET ROLE al_app;
SELECT allocation.add_batch('b1', 'SAFE-LAMP', 10, NULL);
SELECT allocation.add_batch('b2', 'SAFE-LAMP', 10, '2011-01-01');
SELECT allocation.allocate('o1', 'SAFE-LAMP', 6);
SELECT allocation.allocate('o2', 'SAFE-LAMP', 3);
SELECT allocation.change_batch_quantity('b1', 5);
SELECT allocation.deallocate('o2', 'SAFE-LAMP');
SELECT * FROM allocation.allocations('o1');
SELECT reference, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT sku, version_number FROM allocation.products;
SELECT event FROM allocation.events ORDER BY id;
SELECT allocation.hold('h1', 'SAFE-LAMP', 1, '5 minutes');
SELECT * FROM allocation.hold_order('h2', ARRAY['SAFE-LAMP'], ARRAY[1], '5 minutes');
SELECT * FROM allocation.confirm_hold('h1', 'o3');
SELECT allocation.release_hold('h2');
SELECT * FROM allocation.allocate_order('o4', ARRAY['SAFE-LAMP'], ARRAY[1]);
SELECT count(*) AS problems FROM allocation.check();
SELECT count(*) AS live_holds FROM allocation.holds_view;

-- but no maintenance, bus or router function: it could delete the outbox
-- (prune_events runs as the owner) or forge a router's decisions
SAVEPOINT s;
SELECT allocation.prune_events('0');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.prune_inbox('0');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.apply_command('r1', 'allocate', '{"orderid": "o9", "sku": "SAFE-LAMP", "qty": 1}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT * FROM allocation.decisions_pending();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.batch_claim('forged', 'SAFE-LAMP', 1, NULL, true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.stream_teardown('any');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;

-- but no direct write: each is refused with 42501
SAVEPOINT s;
INSERT INTO allocation.batches (reference, sku, purchased_quantity) VALUES ('forged', 'SAFE-LAMP', 99);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
UPDATE allocation.batches SET purchased_quantity = 1000;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
UPDATE allocation.batch_stock SET purchased_quantity = 1000;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
DELETE FROM allocation.order_lines;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
DELETE FROM allocation.allocations_view;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
INSERT INTO allocation.events (event, payload) VALUES ('Allocated', '{"orderid": "forged"}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
UPDATE allocation.products SET version_number = 0;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
TRUNCATE allocation.events;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT pg_catalog.setval('allocation.events_id_seq', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT pg_catalog.nextval('allocation.order_lines_id_seq');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- the tables behind the views are not readable either
SAVEPOINT s;
SELECT count(*) FROM allocation.order_lines;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
RESET ROLE;

-- the reporting role reads, and cannot write even through the API
SET ROLE al_reporting;
SELECT count(*) AS lines FROM allocation.allocations_view;
SELECT * FROM allocation.allocations('o1');
SAVEPOINT s;
SELECT allocation.allocate('o3', 'SAFE-LAMP', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.change_batch_quantity('b1', 0);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
RESET ROLE;

-- the maintenance role prunes, and cannot change stock
SET ROLE al_maintenance;
SELECT allocation.prune_events('1 day') AS pruned;
SELECT allocation.prune_inbox('1 day') AS pruned;
SAVEPOINT s;
SELECT allocation.allocate('o5', 'SAFE-LAMP', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT count(*) FROM allocation.events;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
RESET ROLE;

-- the consumer applies commands and runs the book's change_batch_quantity,
-- and calls nothing else
SET ROLE al_consumer;
SELECT * FROM allocation.apply_command('r1', 'allocate', '{"orderid": "o6", "sku": "SAFE-LAMP", "qty": 1}');
SELECT allocation.change_batch_quantity('b2', 9);
SAVEPOINT s;
SELECT allocation.allocate('o7', 'SAFE-LAMP', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.prune_inbox('0');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
RESET ROLE;

-- a role granted nothing (PUBLIC's rights) can do nothing at all
SET ROLE al_nobody;
SAVEPOINT s;
SELECT count(*) FROM allocation.batch_stock;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.allocate('o4', 'SAFE-LAMP', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
RESET ROLE;

-- and PUBLIC holds no privilege on anything in the schema
SELECT c.relname,
       EXISTS (SELECT FROM pg_catalog.aclexplode(c.relacl) a WHERE a.grantee = 0) AS public_has_rights
FROM pg_class c
WHERE c.relnamespace = 'allocation'::regnamespace AND c.relkind IN ('r', 'v', 'S')
ORDER BY c.relname;
SELECT p.proname, pg_catalog.has_function_privilege('al_nobody', p.oid, 'EXECUTE') AS public_can_execute,
       p.prosecdef AS security_definer, p.proconfig
FROM pg_proc p
WHERE p.pronamespace = 'allocation'::regnamespace
ORDER BY p.proname;
ROLLBACK;
