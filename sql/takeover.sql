-- takeover: a database owner (not a superuser) cannot make the extension's
-- SECURITY DEFINER functions run its code, by planting schema "allocation"
-- before the install or by swapping it afterwards

-- where an error comes from is not what these cases test, and PostgreSQL 18
-- adds the extension script's lines to it
\set SHOW_CONTEXT never

-- the attack as reported: the schema is made before CREATE EXTENSION, and
-- the install refuses it (the first step that should stop it)
BEGIN;
DROP EXTENSION allocation;
DROP SCHEMA allocation;
CREATE ROLE al_dbowner NOLOGIN;
SELECT format('GRANT CREATE ON DATABASE %I TO al_dbowner', current_database()) \gexec
SET ROLE al_dbowner;
CREATE SCHEMA allocation;
RESET ROLE;
CREATE EXTENSION allocation;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

-- a schema the installing superuser made is accepted only while empty
BEGIN;
DROP EXTENSION allocation;
DROP SCHEMA allocation;
CREATE SCHEMA allocation;
CREATE TABLE allocation.products (sku text);
CREATE EXTENSION allocation;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
BEGIN;
DROP EXTENSION allocation;
DROP SCHEMA allocation;
CREATE SCHEMA allocation;
CREATE EXTENSION allocation;
SELECT extname, extnamespace::regnamespace AS schema FROM pg_extension WHERE extname = 'allocation';
ROLLBACK;

-- installed as it should be, the schema is the superuser's: the database
-- owner can neither rename it, nor add to it, nor make another of that name
BEGIN;
CREATE ROLE al_dbowner NOLOGIN;
SELECT format('GRANT CREATE ON DATABASE %I TO al_dbowner', current_database()) \gexec
SELECT nspowner::regrole AS owner FROM pg_namespace WHERE nspname = 'allocation';
SET ROLE al_dbowner;
SAVEPOINT s;
ALTER SCHEMA allocation RENAME TO allocation_real;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
CREATE TABLE allocation.look_alike (sku text);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
CREATE SCHEMA allocation;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
RESET ROLE;
ROLLBACK;

-- a database installed before 1.2 may carry the planted schema: the whole
-- attack then runs, and the functions refuse to run on the swapped schema
-- (the trigger never fires; the role stays a non-superuser)
BEGIN;
DROP EXTENSION allocation;
DROP SCHEMA allocation;
CREATE ROLE al_dbowner NOLOGIN;
SELECT format('GRANT CREATE ON DATABASE %I TO al_dbowner', current_database()) \gexec
SET ROLE al_dbowner;
CREATE SCHEMA allocation;
RESET ROLE;
CREATE EXTENSION allocation VERSION '1.1';
SET ROLE al_dbowner;
ALTER SCHEMA allocation RENAME TO allocation_real;
CREATE SCHEMA allocation;
CREATE TABLE allocation.products (sku text PRIMARY KEY, version_number bigint NOT NULL DEFAULT 0);
CREATE TABLE allocation.batches (reference text PRIMARY KEY, sku text, eta date,
                                 purchased_quantity int, allocated_quantity int DEFAULT 0,
                                 in_stock boolean DEFAULT true);
CREATE FUNCTION allocation.pwn() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN EXECUTE 'ALTER ROLE al_dbowner SUPERUSER'; RETURN NEW; END $$;
CREATE TRIGGER pwn BEFORE INSERT ON allocation.products
    FOR EACH ROW EXECUTE FUNCTION allocation.pwn();
RESET ROLE;
SAVEPOINT s;
SELECT allocation_real.add_batch('x', 'X', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
SELECT rolsuper FROM pg_roles WHERE rolname = 'al_dbowner';
-- with the real schema back under its name, but still the database
-- owner's: the functions refuse it, and so does the update
SET ROLE al_dbowner;
DROP SCHEMA allocation CASCADE;
ALTER SCHEMA allocation_real RENAME TO allocation;
RESET ROLE;
SAVEPOINT s;
SELECT allocation.add_batch('x', 'X', 1);
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
ALTER EXTENSION allocation UPDATE;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK TO SAVEPOINT s;
-- the DBA's repair: give the schema to the extension's owner
ALTER SCHEMA allocation OWNER TO CURRENT_USER;
ALTER EXTENSION allocation UPDATE;
SELECT allocation.add_batch('x', 'X', 1);
SELECT rolsuper FROM pg_roles WHERE rolname = 'al_dbowner';
ROLLBACK;
