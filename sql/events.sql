-- events: the outbox's retention and the event stream's set-up (1.2)
\set VERBOSITY default

-- NOTIFY is opt-in now: logical decoding is the delivery path
SHOW allocation.notify;

-- prune_events deletes old events, except each line's latest Allocated:
-- check() stays clean on consistent data and still finds real drift
BEGIN;
SELECT allocation.add_batch('b1', 'LAMP', 10, NULL);
SELECT allocation.add_batch('b2', 'LAMP', 10, '2030-01-01');
SELECT allocation.allocate('o1', 'LAMP', 6);
SELECT allocation.allocate('o2', 'LAMP', 4);
SELECT allocation.deallocate('o2', 'LAMP');
SELECT allocation.allocate('o2', 'LAMP', 4);
SELECT allocation.allocate('o3', 'LAMP', 2);
SELECT allocation.deallocate('o3', 'LAMP');
SELECT allocation.change_batch_quantity('b1', 6);
SELECT allocation.allocate('o4', 'LAMP', 40);
SELECT allocation.hold('h1', 'LAMP', 1, '5 minutes');
SELECT count(*) AS events_before FROM allocation.events;
-- as if all this happened two days ago (a superuser may rewrite history)
UPDATE allocation.events SET occurred_at = occurred_at - interval '2 days';
SELECT allocation.prune_events('3 days') AS pruned_nothing_younger;
SELECT allocation.prune_events('1 day') AS pruned;
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT orderid, sku, batchref FROM allocation.allocations_view ORDER BY orderid;
SELECT * FROM allocation.check();
SELECT allocation.prune_events('1 day') AS pruned_again;
-- drift is still found: a total that moved, a line whose Allocated went,
-- an Allocated whose line went
UPDATE allocation.batches SET allocated_quantity = allocated_quantity + 1 WHERE reference = 'b2';
DELETE FROM allocation.events WHERE payload ->> 'orderid' = 'o2';
DELETE FROM allocation.order_lines WHERE orderid = 'o1';
UPDATE allocation.batches SET allocated_quantity = allocated_quantity - 6 WHERE reference = 'b1';
SELECT problem, detail - 'event_id' AS detail FROM allocation.check();
ROLLBACK;

-- recent events all stay; the age is checked
BEGIN;
SELECT allocation.add_batch('b1', 'LAMP', 10, NULL);
SELECT allocation.allocate('o1', 'LAMP', 6);
SELECT allocation.deallocate('o1', 'LAMP');
SELECT allocation.prune_events('0') AS pruned;
SAVEPOINT s;
SELECT allocation.prune_events(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.prune_events('-1 second');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
ROLLBACK;

-- the stream: a pgoutput slot and publication allocation_events, made and
-- dropped idempotently; without wal_level = logical, a clear 55000
-- (expected/events_1.out: a server with wal_level = logical)
SELECT current_setting('wal_level') = 'logical' AS logical \gset
\if :logical
SELECT allocation.stream_setup('al_regress_slot');
SELECT allocation.stream_setup('al_regress_slot');
SELECT slot_name, plugin, slot_type, database = current_database() AS this_database
FROM pg_replication_slots WHERE slot_name = 'al_regress_slot';
SELECT pubname, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication;
SELECT pubname, schemaname, tablename FROM pg_publication_tables;
SELECT allocation.stream_teardown('al_regress_slot');
SELECT allocation.stream_teardown('al_regress_slot');
SELECT count(*) AS slots FROM pg_replication_slots WHERE slot_name = 'al_regress_slot';
SELECT count(*) AS publications FROM pg_publication;
\else
SELECT allocation.stream_setup();
\echo :LAST_ERROR_SQLSTATE
\endif
-- stream_teardown refuses a slot stream_setup would not have made (a
-- physical one here; a logical one of another database in t/004), with
-- 55000, and leaves it be
SELECT slot_name FROM pg_create_physical_replication_slot('al_regress_physical');
SELECT allocation.stream_teardown('al_regress_physical');
\echo :LAST_ERROR_SQLSTATE
SELECT slot_name, slot_type FROM pg_replication_slots WHERE slot_name = 'al_regress_physical';
SELECT pg_drop_replication_slot('al_regress_physical');
SELECT allocation.stream_setup(NULL);
\echo :LAST_ERROR_SQLSTATE
