-- router_support: what allocation_router keeps and calls on each shard.
-- The decision log of orders over several shards (with the session's order
-- lock), the batch directory, and the steps of an order.

-- the decision log: a new attempt, its states, and the lock it takes
BEGIN;
SELECT * FROM allocation.decision_begin('o1', 'h1', ARRAY['LAMP', 'DESK'], ARRAY[1, 2], 'holding', true);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
SELECT allocation.decision_set('o1', 'h1', 'holding', 'decided', false);
-- each move holds only from the state it leaves, for that attempt
SELECT allocation.decision_set('o1', 'h1', 'holding', 'released', false);
SELECT allocation.decision_set('o1', 'other', 'decided', 'done', false);
-- a router that finds it unfinished gets it back, and records nothing new
SELECT * FROM allocation.decision_begin('o1', 'h2', ARRAY['LAMP'], ARRAY[1], 'holding', true);
SELECT allocation.decision_set('o1', 'h1', 'decided', 'done', true);
SELECT allocation.decision_unlock() AS still_held;
SELECT count(*) AS pending FROM allocation.decisions_pending();
-- a finished one is replaced by the next attempt
SELECT * FROM allocation.decision_begin('o1', 'h3', ARRAY['RUG'], ARRAY[3], 'decided', true);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
SELECT allocation.decision_unlock() AS was_held;
-- recording an attempt needs the order's lock
SAVEPOINT s;
SELECT allocation.decision_record('o1', 'h4', ARRAY['RUG'], ARRAY[3], 'holding');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.decision_begin('o2', NULL, NULL, NULL, NULL, false);
SELECT allocation.decision_record('o2', 'h5', ARRAY['RUG'], ARRAY[3], 'holding');
SELECT allocation.decision_unlock() AS was_held;
-- bad states and arguments: 22023, 22004
SAVEPOINT s;
SELECT allocation.decision_set('o1', 'h3', 'decided', 'forgotten', false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.decision_begin('o3', 'h', ARRAY['A', 'B'], ARRAY[1], 'holding', true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.decision_begin(NULL, 'h', ARRAY['A'], ARRAY[1], 'holding', true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.decision_unlock() AS held_after_errors;
ROLLBACK;

-- the batch directory: one claim per reference, whatever the sku
BEGIN;
SELECT allocation.batch_claim('lamp-1', 'LAMP', 10, NULL, false);
-- the 23505 names its constraint, as the server's own does
DO $$
DECLARE
    state text; schema_name text; table_name text; constraint_name text;
BEGIN
    PERFORM allocation.batch_claim('lamp-1', 'DESK', 1, NULL, false);
EXCEPTION WHEN unique_violation THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, schema_name = SCHEMA_NAME,
                            table_name = TABLE_NAME, constraint_name = CONSTRAINT_NAME;
    RAISE NOTICE '% %.% %', state, schema_name, table_name, constraint_name;
END
$$;
SAVEPOINT s;
SELECT allocation.batch_claim('lamp-1', 'LAMP', 10, NULL, false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- a batch that exists already may be recorded again for its own sku only
SELECT allocation.batch_claim('lamp-1', 'LAMP', 10, NULL, true);
SAVEPOINT s;
SELECT allocation.batch_claim('lamp-1', 'DESK', 10, NULL, true);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.batch_locate('lamp-1');
SELECT allocation.batch_locate('nope');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.batch_claims_pending();
-- placing: add_batch that is a no-op for the same batch again
SELECT allocation.batch_place('lamp-1', 'LAMP', 10, NULL);
SELECT allocation.batch_place('lamp-1', 'LAMP', 10, NULL);
SAVEPOINT s;
SELECT allocation.batch_place('lamp-1', 'DESK', 10, NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.batch_placed('lamp-1');
SELECT count(*) AS pending FROM allocation.batch_claims_pending();
SELECT * FROM allocation.batch_references();
SELECT reference, sku, purchased_quantity FROM allocation.batch_stock;
-- arguments as add_batch checks them
SELECT allocation.batch_claim('x', 'LAMP', -1, NULL, false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.batch_claim(' ', 'LAMP', 1, NULL, false);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
ROLLBACK;

-- an order's steps on a shard: prepare holds the new lines (the order's
-- existing lines keep their batch), commit confirms them, undo frees them
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT allocation.add_batch('rug-b', 'RUG', 1, NULL);
SELECT allocation.allocate('o1', 'LAMP', 1);
SELECT * FROM allocation.order_prepare('o1', 'r:1', ARRAY['LAMP', 'DESK'], ARRAY[1, 2], '1 minute');
SELECT sku, qty, batchref, orderid FROM allocation.hold_lines('r:1');
SELECT * FROM allocation.order_commit('o1', 'r:1', ARRAY['DESK'], ARRAY[2]);
SELECT * FROM allocation.order_commit('o1', 'r:1', ARRAY['DESK'], ARRAY[2]);
SELECT * FROM allocation.allocations('o1');
-- a line of another qty is AL003, nothing held
SAVEPOINT s;
SELECT * FROM allocation.order_prepare('o1', 'r:2', ARRAY['LAMP', 'RUG'], ARRAY[5, 1], '1 minute');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- a short line: nothing held, OutOfStock
SELECT * FROM allocation.order_prepare('o2', 'r:3', ARRAY['RUG', 'DESK'], ARRAY[2, 1], '1 minute');
SELECT count(*) AS live_holds FROM allocation.holds_view;
-- the hold expired before the commit: allocated afresh (Released, expired)
SELECT * FROM allocation.order_prepare('o3', 'r:4', ARRAY['RUG', 'DESK'], ARRAY[1, 1], '1 minute');
SET LOCAL allocation.clock_offset = '2min';
SELECT * FROM allocation.order_commit('o3', 'r:4', ARRAY['RUG', 'DESK'], ARRAY[1, 1]);
SELECT event, payload ->> 'holdid' AS holdid, payload ->> 'reason' AS reason
FROM allocation.events WHERE payload ->> 'holdid' = 'r:4' ORDER BY id;
-- ... or short then: the lines come back NULL and nothing is allocated
SELECT * FROM allocation.order_prepare('o4', 'r:5', ARRAY['DESK'], ARRAY[1], '1 minute');
SET LOCAL allocation.clock_offset = '4min';
SELECT allocation.change_batch_quantity('desk-b', 3);
SELECT * FROM allocation.order_commit('o4', 'r:5', ARRAY['DESK'], ARRAY[1]);
-- undo frees the lines of the skus given, and only those
SELECT allocation.order_undo('o3', ARRAY['RUG', 'DESK', 'LAMP']);
SELECT * FROM allocation.allocations('o3');
SELECT * FROM allocation.allocations('o1');
SELECT * FROM allocation.check();
ROLLBACK;

-- the folded steps (1.4, router 1.2): order_hold holds the lines and, on
-- the shard whose lines include decision_sku (the order's own), also takes
-- the order's lock and records the attempt with every line of the order;
-- order_decide confirms this shard's lines and records the decision with
-- every new line of the order, in one transaction
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
-- not the order's own shard: holds only, no lock, nothing recorded
SELECT * FROM allocation.order_hold('o1', 'r:1', ARRAY['LAMP'], ARRAY[1], '1 minute',
                                    'RUG', ARRAY['LAMP', 'RUG'], ARRAY[1, 1]);
SELECT count(*) AS pending FROM allocation.decisions_pending();
SELECT allocation.decision_unlock() AS was_locked;
-- the order's own shard: the attempt is recorded holding, with every line
SELECT * FROM allocation.order_hold('o2', 'r:2', ARRAY['DESK'], ARRAY[2], '1 minute',
                                    'DESK', ARRAY['DESK', 'RUG'], ARRAY[2, 1]);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
-- another attempt while that one is unfinished: 55000, nothing held, and
-- the lock given back
SAVEPOINT s;
SELECT * FROM allocation.order_hold('o2', 'r:3', ARRAY['LAMP'], ARRAY[1], '1 minute',
                                    'LAMP', ARRAY['LAMP'], ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS r3_lines FROM allocation.hold_lines('r:3');
SELECT allocation.decision_unlock() AS was_locked;
-- as a router goes on: decision_begin returns the unfinished attempt, the
-- router releases it and records its own; order_hold then finds its own
-- attempt recorded: it holds its lines and records nothing new
SELECT locked, holdid, state FROM allocation.decision_begin('o2', 'r:3', ARRAY['LAMP'], ARRAY[1], 'holding', true);
SELECT allocation.release_hold('r:2');
SELECT allocation.decision_set('o2', 'r:2', 'holding', 'released', false);
SELECT allocation.decision_record('o2', 'r:3', ARRAY['LAMP'], ARRAY[1], 'holding');
SELECT * FROM allocation.order_hold('o2', 'r:3', ARRAY['LAMP'], ARRAY[1], '1 minute',
                                    'LAMP', ARRAY['LAMP'], ARRAY[1]);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
-- decided with this shard's lines confirmed
SELECT * FROM allocation.order_decide('o2', 'r:3', ARRAY['LAMP'], ARRAY[1], ARRAY['LAMP', 'RUG'], ARRAY[1, 4]);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
SELECT * FROM allocation.allocations('o2');
SELECT sku, qty, orderid FROM allocation.hold_lines('r:3');
-- without the order's lock: 55000
SELECT allocation.decision_set('o2', 'r:3', 'decided', 'done', true);
SAVEPOINT s;
SELECT * FROM allocation.order_decide('o2', 'r:3', ARRAY['LAMP'], ARRAY[1], ARRAY['LAMP'], ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- the hold expired and its stock went before the decision: the line comes
-- back NULL, nothing is allocated and nothing decided
SELECT * FROM allocation.order_hold('o3', 'r:4', ARRAY['LAMP'], ARRAY[8], '1 minute',
                                    'LAMP', ARRAY['LAMP'], ARRAY[8]);
SET LOCAL allocation.clock_offset = '2min';
SELECT allocation.change_batch_quantity('lamp-b', 1);
SELECT * FROM allocation.order_decide('o3', 'r:4', ARRAY['LAMP'], ARRAY[8], ARRAY['LAMP'], ARRAY[8]);
SELECT orderid, holdid, state FROM allocation.decisions_pending();
SELECT * FROM allocation.allocations('o3');
SELECT * FROM allocation.check();
ROLLBACK;
SELECT allocation.decision_unlock() AS was_locked;

-- order_place (1.5, router 1.3), on the order's own shard once its other
-- lines are held elsewhere: takes the order's lock, allocates this shard's
-- lines and records the decision with the order's new lines (less the
-- lines found here), in one transaction; nothing is held here
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT * FROM allocation.order_place('o1', 'r:1', ARRAY['LAMP'], ARRAY[1], ARRAY['LAMP', 'RUG'], ARRAY[1, 4]);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
SELECT * FROM allocation.allocations('o1');
SELECT count(*) AS holds FROM allocation.holds;
-- the session keeps the order's lock until the router finishes
SELECT allocation.decision_set('o1', 'r:1', 'decided', 'done', false);
SELECT allocation.decision_unlock() AS was_locked;
-- the order again with a new line here: the line it had keeps its batch
-- and is left out of the decision
SELECT * FROM allocation.order_place('o1', 'r:2', ARRAY['DESK', 'LAMP'], ARRAY[2, 1],
                                     ARRAY['DESK', 'LAMP', 'RUG'], ARRAY[2, 1, 4]);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
SELECT allocation.decision_set('o1', 'r:2', 'decided', 'done', true);
-- nothing new anywhere: nothing recorded, the lock given back
SELECT * FROM allocation.order_place('o1', 'r:3', ARRAY['LAMP'], ARRAY[1], ARRAY['LAMP'], ARRAY[1]);
SELECT holdid, state FROM allocation.order_decisions WHERE orderid = 'o1';
SELECT allocation.decision_unlock() AS was_locked;
-- short: OutOfStock, nothing allocated or decided, the lock given back
SELECT * FROM allocation.order_place('o2', 'r:4', ARRAY['DESK', 'LAMP'], ARRAY[1, 50],
                                     ARRAY['DESK', 'LAMP', 'RUG'], ARRAY[1, 50, 1]);
SELECT count(*) AS pending FROM allocation.decisions_pending();
SELECT * FROM allocation.allocations('o2');
SELECT event, payload ->> 'sku' AS sku FROM allocation.events ORDER BY id DESC LIMIT 1;
SELECT allocation.decision_unlock() AS was_locked;
-- a line of another qty: AL003, nothing placed or recorded, the lock given
-- back; bad decision arrays: 22004, 22023
SAVEPOINT s;
SELECT * FROM allocation.order_place('o1', 'r:5', ARRAY['DESK', 'LAMP'], ARRAY[2, 5], ARRAY['LAMP'], ARRAY[5]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.decision_unlock() AS was_locked;
SELECT * FROM allocation.order_place('o2', 'r:5', ARRAY['DESK'], ARRAY[1], NULL, ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.order_place('o2', 'r:5', ARRAY['DESK'], ARRAY[1], ARRAY['DESK', 'RUG'], ARRAY[1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS pending, allocation.decision_unlock() AS was_locked FROM allocation.decisions_pending();
-- another attempt at the order unfinished: 55000, nothing placed, the lock
-- given back; once a router finished it and recorded its own attempt
-- (decision_begin, decision_set, decision_record), order_place decides it
SELECT locked FROM allocation.decision_begin('o3', 'r:6', ARRAY['LAMP', 'RUG'], ARRAY[1, 1], 'holding', true);
SELECT allocation.decision_unlock() AS was_locked;
SELECT * FROM allocation.order_place('o3', 'r:7', ARRAY['LAMP'], ARRAY[1], ARRAY['LAMP', 'RUG'], ARRAY[1, 1]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.decision_unlock() AS was_locked;
SELECT * FROM allocation.allocations('o3');
SELECT locked, holdid, state FROM allocation.decision_begin('o3', 'r:7', ARRAY['LAMP', 'RUG'], ARRAY[1, 1], 'holding', true);
SELECT allocation.decision_set('o3', 'r:6', 'holding', 'released', false);
SELECT allocation.decision_record('o3', 'r:7', ARRAY['LAMP', 'RUG'], ARRAY[1, 1], 'holding');
SELECT * FROM allocation.order_place('o3', 'r:7', ARRAY['LAMP'], ARRAY[1], ARRAY['LAMP', 'RUG'], ARRAY[1, 1]);
SELECT orderid, holdid, skus, qtys, state FROM allocation.decisions_pending();
SELECT * FROM allocation.check();
ROLLBACK;
SELECT allocation.decision_unlock() AS was_locked;

-- release_hold_lines frees the live lines of the skus given, and only those
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT * FROM allocation.hold_order('h9', ARRAY['LAMP', 'DESK'], ARRAY[1, 1], '10 minutes');
-- a sku that is not an identifier: 22023, nothing freed (like order_undo)
SAVEPOINT s;
SELECT allocation.release_hold_lines('h9', ARRAY['DESK', repeat('x', 256)]);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SAVEPOINT s;
SELECT allocation.order_undo('o9', ARRAY['DESK', ' ']);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT sku, qty FROM allocation.hold_lines('h9');
SELECT allocation.release_hold_lines('h9', ARRAY['DESK', 'RUG']);
SELECT sku, qty FROM allocation.hold_lines('h9');
SELECT event, payload ->> 'sku' AS sku, payload ->> 'reason' AS reason FROM allocation.events ORDER BY id;
ROLLBACK;
