-- holds: stock held for a checkout until it expires, confirmed into order
-- lines or released (version 1.2).  Time passes by allocation.clock_offset,
-- which only a superuser may set.
\set VERBOSITY default

-- a hold takes stock by the rule of allocate, until ttl from now
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 10, NULL);
SELECT allocation.add_batch('ship', 'LAMP', 10, '2030-01-01');
SELECT allocation.hold('h1', 'LAMP', 8, '5 minutes');
SELECT holdid, sku, batchref, qty,
       expires_at - allocation.clock() BETWEEN '4 min 59 s' AND '5 min' AS expires_in_5_minutes
FROM allocation.holds_view;
SELECT reference, allocated_quantity, held_quantity, available_quantity
FROM allocation.batch_stock ORDER BY reference;
SELECT event, payload - 'expires_at' AS payload,
       (payload ->> 'expires_at')::timestamptz = (SELECT expires_at FROM allocation.holds) AS expires_at
FROM allocation.events ORDER BY id;
SELECT version_number FROM allocation.products;
-- what is held is not there for anyone else
SELECT allocation.allocate('o1', 'LAMP', 5);
SELECT allocation.hold('h2', 'LAMP', 3, '5 minutes');
ROLLBACK;

-- the same line again: a no-op that keeps the batch and the expiry;
-- another qty is AL003
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 10, NULL);
SELECT allocation.hold('h1', 'LAMP', 2, '5 minutes');
SELECT expires_at AS first_expiry FROM allocation.holds \gset
SELECT allocation.hold('h1', 'LAMP', 2, '1 hour');
SELECT expires_at = :'first_expiry' AS expiry_kept, count(*) OVER () AS holds FROM allocation.holds;
SELECT count(*) AS events FROM allocation.events;
SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 3, '5 minutes');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- a line added to a live hold expires with it
SELECT allocation.add_batch('dk', 'DESK', 10, NULL);
SELECT allocation.hold('h1', 'DESK', 1, '1 hour');
SELECT count(DISTINCT expires_at) AS expiries FROM allocation.holds WHERE holdid = 'h1';
ROLLBACK;

-- nothing left to hold: NULL and OutOfStock, nothing held
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 3, NULL);
SELECT allocation.hold('h1', 'LAMP', 4, '5 minutes');
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT count(*) AS holds FROM allocation.holds;
ROLLBACK;

-- an expired hold stops counting the moment it expires, with nothing run
-- at expiry; its row and Released (expired) come with the next call on
-- its sku
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 10, NULL);
SELECT allocation.hold('h1', 'LAMP', 10, '5 minutes');
SET LOCAL allocation.clock_offset = '5min';
SELECT count(*) AS live_holds FROM allocation.holds_view;
SELECT held_quantity, available_quantity FROM allocation.batch_stock;
SELECT count(*) AS rows_not_reclaimed_yet FROM allocation.holds;
SELECT allocation.allocate('o1', 'LAMP', 10);
SELECT count(*) AS rows_left FROM allocation.holds;
SELECT event, payload - 'expires_at' AS payload FROM allocation.events ORDER BY id;
SELECT * FROM allocation.check();
ROLLBACK;

-- an allocation reclaims only the expired holds whose stock it needs; the
-- calls on holds reclaim at most 16 expired holds per sku, earliest first
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 100, NULL);
SELECT count(allocation.hold('h' || i, 'LAMP', 1, (i || ' minutes')::interval))
FROM generate_series(1, 20) AS i;
SET LOCAL allocation.clock_offset = '1h';
SELECT allocation.allocate('o1', 'LAMP', 78);
SELECT count(*) AS rows_left FROM allocation.holds;
SELECT allocation.allocate('o2', 'LAMP', 4);
SELECT count(*) AS rows_left, min(holdid) FROM allocation.holds;
SELECT allocation.hold('later', 'LAMP', 1, '1 minute');
SELECT count(*) AS rows_left, min(holdid) FROM allocation.holds WHERE holdid <> 'later';
SELECT allocation.release_hold('later');
SELECT allocation.hold('later', 'LAMP', 1, '1 minute');
SELECT count(*) AS rows_left FROM allocation.holds WHERE holdid <> 'later';
SELECT string_agg(payload ->> 'holdid', ' ' ORDER BY id) AS released_in_order
FROM allocation.events WHERE event = 'Released' AND payload ->> 'reason' = 'expired';
SELECT * FROM allocation.check();
ROLLBACK;

-- ttl must be more than 0 and at most a day
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 10, NULL);
SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 1, '0');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 1, '-1 minute');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 1, '1 day 1 second');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 1, '1 month');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 1, NULL);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 0, '1 minute');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('', 'LAMP', 1, '1 minute');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'NO-SUCH', 1, '1 minute');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT allocation.hold('h1', 'LAMP', 1, '1 day');
ROLLBACK;

-- hold_order: every line or none, rows in byte order of sku
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 1, NULL);
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP', 'DESK'], ARRAY[2, 5], '5 minutes');
SELECT count(*) AS holds FROM allocation.holds;
SELECT event, payload FROM allocation.events ORDER BY id;
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP', 'DESK'], ARRAY[2, 1], '5 minutes');
SELECT holdid, sku, batchref, qty FROM allocation.holds_view ORDER BY sku;
-- again: the same rows, nothing changes
SELECT * FROM allocation.hold_order('h1', ARRAY['DESK', 'LAMP'], ARRAY[1, 2], '5 minutes');
SELECT count(*) AS events FROM allocation.events;
SAVEPOINT s;
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP'], ARRAY[3], '5 minutes');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP', 'LAMP'], ARRAY[1, 1], '5 minutes');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP'], ARRAY[1], '2 days');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
ROLLBACK;

-- confirm_hold: every line becomes an order line on the same batch
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP', 'DESK'], ARRAY[2, 3], '5 minutes');
SELECT * FROM allocation.confirm_hold('h1', 'order-1');
SELECT * FROM allocation.allocations('order-1');
SELECT count(*) AS live_holds FROM allocation.holds_view;
SELECT reference, allocated_quantity, held_quantity, available_quantity
FROM allocation.batch_stock ORDER BY reference;
SELECT event, payload - 'expires_at' AS payload FROM allocation.events ORDER BY id;
SELECT sku, version_number FROM allocation.products ORDER BY sku;
-- again for the same order: the same rows, nothing changes
SELECT * FROM allocation.confirm_hold('h1', 'order-1');
SELECT count(*) AS events FROM allocation.events;
-- for another order: AL004
SAVEPOINT s;
SELECT * FROM allocation.confirm_hold('h1', 'order-2');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- holding a confirmed line again answers its batch; a new line cannot
-- join a confirmed hold
SELECT allocation.hold('h1', 'LAMP', 2, '5 minutes');
SELECT allocation.add_batch('rug-b', 'RUG', 10, NULL);
SELECT allocation.hold('h1', 'RUG', 1, '5 minutes');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT * FROM allocation.check();
ROLLBACK;

-- confirm_hold again after a line was freed: only what the order holds now
BEGIN;
SELECT allocation.add_batch('c1-b', 'C1', 10, NULL);
SELECT allocation.add_batch('c2-b', 'C2', 10, NULL);
SELECT * FROM allocation.hold_order('h', ARRAY['C1', 'C2'], ARRAY[1, 1], '10 minutes');
SELECT * FROM allocation.confirm_hold('h', 'o');
SELECT allocation.deallocate('o', 'C1');
SELECT * FROM allocation.confirm_hold('h', 'o');
SELECT allocation.deallocate('o', 'C2');
SELECT * FROM allocation.confirm_hold('h', 'o');
ROLLBACK;

-- timestamps in payloads are ISO 8601 in UTC, whatever the session's
-- DateStyle and TimeZone
BEGIN;
SET LOCAL DateStyle = 'SQL, DMY';
SET LOCAL TimeZone = 'America/New_York';
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.hold('h1', 'LAMP', 1, '5 minutes');
SELECT payload ->> 'expires_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS iso_utc,
       (payload ->> 'expires_at')::timestamptz = h.expires_at AS same_instant
FROM allocation.events, allocation.holds AS h
WHERE event = 'Held';
ROLLBACK;

-- confirm_hold of an unknown or expired hold: AL004, nothing changes
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.hold('h1', 'LAMP', 2, '5 minutes');
SAVEPOINT s;
SELECT * FROM allocation.confirm_hold('nope', 'order-1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SET LOCAL allocation.clock_offset = '6min';
SELECT * FROM allocation.confirm_hold('h1', 'order-1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS lines FROM allocation.order_lines;
ROLLBACK;

-- confirm_hold into an order that already has a line of that sku: AL003
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.allocate('order-1', 'LAMP', 1);
SELECT allocation.hold('h1', 'LAMP', 2, '5 minutes');
SAVEPOINT s;
SELECT * FROM allocation.confirm_hold('h1', 'order-1');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
ROLLBACK;

-- release_hold frees every live line and says how many; unknown: 0
BEGIN;
SELECT allocation.add_batch('lamp-b', 'LAMP', 10, NULL);
SELECT allocation.add_batch('desk-b', 'DESK', 10, NULL);
SELECT * FROM allocation.hold_order('h1', ARRAY['LAMP', 'DESK'], ARRAY[2, 3], '5 minutes');
SELECT allocation.release_hold('h1');
SELECT allocation.release_hold('h1');
SELECT allocation.release_hold('never-held');
SELECT count(*) AS holds FROM allocation.holds;
SELECT reference, available_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT event, payload - 'expires_at' AS payload FROM allocation.events ORDER BY id;
ROLLBACK;

-- a shrinking batch takes off its most recent lines and holds first and
-- places them again; a hold keeps its expiry, or goes with Released
-- (out_of_stock)
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 10, NULL);
SELECT allocation.add_batch('ship', 'LAMP', 3, '2030-01-01');
SELECT allocation.allocate('o1', 'LAMP', 4);
SELECT allocation.hold('h1', 'LAMP', 3, '5 minutes');
SELECT allocation.hold('h2', 'LAMP', 3, '10 minutes');
SELECT expires_at AS h2_expiry FROM allocation.holds WHERE holdid = 'h2' \gset
SELECT allocation.change_batch_quantity('wh', 4);
SELECT holdid, batchref, qty FROM allocation.holds_view ORDER BY holdid;
SELECT expires_at = :'h2_expiry' AS h2_kept_its_expiry FROM allocation.holds WHERE holdid = 'h2';
SELECT event, payload - 'expires_at' AS payload FROM allocation.events WHERE id > 3 ORDER BY id;
SELECT * FROM allocation.check();
ROLLBACK;

-- check() covers holds
BEGIN;
SELECT allocation.add_batch('wh', 'LAMP', 10, NULL);
SELECT allocation.add_batch('dk', 'DESK', 10, NULL);
SELECT allocation.hold('h1', 'LAMP', 6, '5 minutes');
SELECT allocation.allocate('o1', 'LAMP', 4);
SELECT * FROM allocation.check();
-- more held than the batch has left, and a hold on a batch of another sku
ALTER TABLE allocation.batches DROP CONSTRAINT batches_quantities_check;
UPDATE allocation.batches SET purchased_quantity = 8 WHERE reference = 'wh';
SELECT allocation.hold('h2', 'DESK', 1, '5 minutes');
UPDATE allocation.holds SET batch_reference = 'wh' WHERE holdid = 'h2';
SELECT problem, detail FROM allocation.check();
ROLLBACK;

-- only a superuser moves the clock: no role can expire another's hold early
BEGIN;
CREATE ROLE al_shopper NOLOGIN;
SET ROLE al_shopper;
SAVEPOINT s;
SET allocation.clock_offset = '1h';
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SHOW allocation.clock_offset;
RESET ROLE;
ROLLBACK;
