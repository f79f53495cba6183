-- commands: apply_command, the inbox of a message bus.  Each request runs
-- once; again, it gets the same outcome and runs nothing; a bad entry or a
-- failing command is answered with its error and changes nothing else.

-- every command, each answered with its result
BEGIN;
SELECT * FROM allocation.apply_command('s/1-0', 'add_batch', '{"ref": "b1", "sku": "LAMP", "qty": 10, "eta": null}');
SELECT * FROM allocation.apply_command('s/2-0', 'add_batch', '{"ref": "b2", "sku": "LAMP", "qty": 10, "eta": "2030-01-01"}');
SELECT * FROM allocation.apply_command('s/3-0', 'allocate', '{"orderid": "o1", "sku": "LAMP", "qty": 3}');
SELECT * FROM allocation.apply_command('s/4-0', 'change_batch_quantity', '{"batchref": "b1", "qty": 2}');
SELECT * FROM allocation.apply_command('s/5-0', 'deallocate', '{"orderid": "o1", "sku": "LAMP"}');
SELECT * FROM allocation.apply_command('s/6-0', 'hold', '{"holdid": "h1", "sku": "LAMP", "qty": 1, "ttl": "10 minutes"}');
SELECT * FROM allocation.apply_command('s/7-0', 'confirm_hold', '{"holdid": "h1", "orderid": "o2"}');
SELECT * FROM allocation.apply_command('s/8-0', 'hold', '{"holdid": "h2", "sku": "LAMP", "qty": 1, "ttl": "10 minutes"}');
SELECT * FROM allocation.apply_command('s/9-0', 'release_hold', '{"holdid": "h2"}');
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT request, command, status FROM allocation.inbox ORDER BY applied_at, request;
SELECT * FROM allocation.check();
ROLLBACK;

-- the same request again: the same outcome, and nothing runs (the
-- product's version and the events stay); an error's outcome too
BEGIN;
SELECT allocation.add_batch('b1', 'LAMP', 10, NULL);
SELECT * FROM allocation.apply_command('s/1-0', 'allocate', '{"orderid": "o1", "sku": "LAMP", "qty": 3}');
SELECT * FROM allocation.apply_command('s/2-0', 'deallocate', '{"orderid": "o1", "sku": "LAMP"}');
SELECT sku, version_number FROM allocation.products;
SELECT count(*) AS events FROM allocation.events;
SELECT * FROM allocation.apply_command('s/1-0', 'allocate', '{"orderid": "o1", "sku": "LAMP", "qty": 3}');
SELECT * FROM allocation.apply_command('s/2-0', 'deallocate', '{"orderid": "o1", "sku": "LAMP"}');
-- even with another command or payload under the same request
SELECT * FROM allocation.apply_command('s/2-0', 'allocate', '{"orderid": "o9", "sku": "LAMP", "qty": 1}');
SELECT sku, version_number FROM allocation.products;
SELECT count(*) AS events FROM allocation.events;
SELECT * FROM allocation.apply_command('s/3-0', 'allocate', '{"orderid": "o1", "sku": "NOPE", "qty": 3}');
SELECT * FROM allocation.apply_command('s/3-0', 'allocate', '{"orderid": "o1", "sku": "NOPE", "qty": 3}');
ROLLBACK;

-- bad entries: each an error outcome with the SQLSTATE of what was wrong,
-- nothing changed, and the next command runs
BEGIN;
SELECT allocation.add_batch('b1', 'LAMP', 10, NULL);
SELECT * FROM allocation.apply_command('e/1', 'allocate', '{not json');
SELECT * FROM allocation.apply_command('e/2', 'allocate', '[1, 2]');
SELECT * FROM allocation.apply_command('e/3', 'allocate', '"a string"');
SELECT * FROM allocation.apply_command('e/4', 'launch_rockets', '{}');
SELECT * FROM allocation.apply_command('e/5', NULL, '{}');
SELECT * FROM allocation.apply_command('e/6', 'allocate', NULL);
SELECT * FROM allocation.apply_command('e/7', 'allocate', '{"orderid": "o1", "qty": 1}');
SELECT * FROM allocation.apply_command('e/8', 'allocate', '{"orderid": "o1", "sku": "LAMP", "qty": "many"}');
SELECT * FROM allocation.apply_command('e/9', 'allocate', '{"orderid": "o1", "sku": "LAMP", "qty": 0}');
SELECT * FROM allocation.apply_command('e/10', 'allocate', '{"orderid": "o1", "sku": "NOPE", "qty": 1}');
SELECT * FROM allocation.apply_command('e/11', 'add_batch', '{"ref": "b1", "sku": "LAMP", "qty": 1}');
SELECT * FROM allocation.apply_command('e/12', 'change_batch_quantity', '{"batchref": "nope", "qty": 1}');
SELECT * FROM allocation.apply_command('e/13', 'confirm_hold', '{"holdid": "nope", "orderid": "o1"}');
SELECT * FROM allocation.apply_command('e/14', 'allocate', '{"orderid": "o1", "sku": "LAMP", "qty": 1}');
SELECT orderid, sku, batchref FROM allocation.allocations_view;
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT request, status, sqlstate FROM allocation.inbox ORDER BY applied_at, request COLLATE "C";
ROLLBACK;

-- the request itself must be given: 22004, 22023
BEGIN;
SAVEPOINT s;
SELECT * FROM allocation.apply_command(NULL, 'allocate', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.apply_command(' ', 'allocate', '{}');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- retention: prune_inbox deletes what is older than the age given
BEGIN;
SELECT * FROM allocation.apply_command('p/1', 'allocate', '{}');
SELECT allocation.prune_inbox('1 hour') AS pruned;
UPDATE allocation.inbox SET applied_at = now() - interval '2 hours';
SELECT allocation.prune_inbox('1 hour') AS pruned;
SAVEPOINT s;
SELECT allocation.prune_inbox(NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.prune_inbox('-1 hour');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
