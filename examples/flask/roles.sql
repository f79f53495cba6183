-- examples/flask/roles.sql: the README's roles, for the example's tests.
-- Run in each test database after CREATE EXTENSION allocation; the roles
-- themselves are made once per cluster.
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['flask_app', 'allocation_consumer']) AS r
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) \gexec
SELECT 'CREATE ROLE allocation_relay LOGIN REPLICATION'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'allocation_relay') \gexec

-- the application (README, "Install into your own server")
GRANT USAGE ON SCHEMA allocation TO flask_app;
GRANT EXECUTE ON FUNCTION allocation.add_batch(text, text, integer, date), allocation.allocate(text, text, integer),
    allocation.deallocate(text, text), allocation.change_batch_quantity(text, integer),
    allocation.allocations(text), allocation.allocate_order(text, text[], integer[]), allocation.check(),
    allocation.hold(text, text, integer, interval), allocation.hold_order(text, text[], integer[], interval),
    allocation.confirm_hold(text, text), allocation.release_hold(text) TO flask_app;
GRANT SELECT ON allocation.products, allocation.batch_stock, allocation.allocations_view,
                allocation.holds_view, allocation.events TO flask_app;

-- the consumer (README, "Messaging"); the relay needs REPLICATION only
GRANT USAGE ON SCHEMA allocation TO allocation_consumer;
GRANT EXECUTE ON FUNCTION allocation.apply_command(text, text, text),
    allocation.change_batch_quantity(text, integer) TO allocation_consumer;
