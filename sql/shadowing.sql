-- shadowing: objects planted in public under the names the extension uses
-- never run, whatever the caller's search_path.  Each impostor raises if it
-- is ever called, so any use of one shows as an error below.
BEGIN;
CREATE ROLE al_attacker NOLOGIN;
GRANT CREATE, USAGE ON SCHEMA public TO al_attacker;
SET ROLE al_attacker;

CREATE FUNCTION public.impostor(name text) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'impostor % ran', name; END $$;
CREATE FUNCTION public.impostor_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'impostor table % written', TG_TABLE_NAME; END $$;

-- functions the extension could call by name
CREATE FUNCTION public.now() RETURNS timestamptz
LANGUAGE sql AS $$ SELECT CASE WHEN public.impostor('now()') THEN NULL END::timestamptz $$;
CREATE FUNCTION public.nextval(regclass) RETURNS bigint
LANGUAGE sql AS $$ SELECT CASE WHEN public.impostor('nextval()') THEN 1 END::bigint $$;
CREATE FUNCTION public.jsonb_build_object(text, text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT CASE WHEN public.impostor('jsonb_build_object()') THEN '{}' END::jsonb $$;
CREATE FUNCTION public.pg_notify(text, text) RETURNS void
LANGUAGE sql AS $$ SELECT CASE WHEN public.impostor('pg_notify()') THEN NULL END::void $$;

-- operators with the exact signatures of the catalog's, which an
-- unqualified operator would pick when public comes first
CREATE FUNCTION public.text_eq(text, text) RETURNS boolean
LANGUAGE sql AS $$ SELECT public.impostor('= (text, text)') $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.text_eq);
CREATE FUNCTION public.int_lt(integer, integer) RETURNS boolean
LANGUAGE sql AS $$ SELECT public.impostor('< (integer, integer)') $$;
CREATE OPERATOR public.< (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int_lt);
CREATE FUNCTION public.int_ge(integer, integer) RETURNS boolean
LANGUAGE sql AS $$ SELECT public.impostor('>= (integer, integer)') $$;
CREATE OPERATOR public.>= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int_ge);
CREATE FUNCTION public.int_plus(integer, integer) RETURNS integer
LANGUAGE sql AS $$ SELECT CASE WHEN public.impostor('+ (integer, integer)') THEN 0 END $$;
CREATE OPERATOR public.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int_plus);
CREATE FUNCTION public.int_minus(integer, integer) RETURNS integer
LANGUAGE sql AS $$ SELECT CASE WHEN public.impostor('- (integer, integer)') THEN 0 END $$;
CREATE OPERATOR public.- (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.int_minus);

-- tables with the extension's table names, refusing every write
CREATE TABLE public.products (sku text, version_number bigint);
CREATE TABLE public.batches (reference text, sku text, eta date,
                             purchased_quantity integer, allocated_quantity integer);
CREATE TABLE public.order_lines (orderid text, sku text, qty integer,
                                 batch_reference text, id bigint);
CREATE TABLE public.events (id bigint, occurred_at timestamptz, event text, payload jsonb);
INSERT INTO public.products VALUES ('SHADOW-LAMP', 1000);
INSERT INTO public.batches VALUES ('fake-batch', 'SHADOW-LAMP', NULL, 1000, 0);
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON public.products
    FOR EACH STATEMENT EXECUTE FUNCTION public.impostor_trigger();
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON public.batches
    FOR EACH STATEMENT EXECUTE FUNCTION public.impostor_trigger();
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON public.order_lines
    FOR EACH STATEMENT EXECUTE FUNCTION public.impostor_trigger();
CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON public.events
    FOR EACH STATEMENT EXECUTE FUNCTION public.impostor_trigger();
RESET ROLE;

-- the impostors are live: unqualified names reach them
SET search_path = public, pg_catalog;
SAVEPOINT s;
SELECT 'a'::text = 'b'::text;
ROLLBACK TO SAVEPOINT s;

-- a superuser calls every function with public first in search_path
SET search_path = public, pg_catalog, allocation;
SELECT allocation.add_batch('b1', 'SHADOW-LAMP', 10, NULL);
SELECT allocation.add_batch('b2', 'SHADOW-LAMP', 10, '2011-01-01');
SELECT allocation.allocate('o1', 'SHADOW-LAMP', 6);
SELECT allocation.allocate('o2', 'SHADOW-LAMP', 4);
SELECT allocation.allocate('o3', 'SHADOW-LAMP', 100);
SELECT allocation.change_batch_quantity('b1', 5);
SELECT allocation.deallocate('o2', 'SHADOW-LAMP');
SELECT allocation.add_batch('d1', 'SHADOW-DESK', 10, NULL);
SELECT * FROM allocation.allocate_order('o5', ARRAY['SHADOW-LAMP', 'SHADOW-DESK'], ARRAY[1, 2]);
SELECT * FROM allocation.allocate_order('o6', ARRAY['SHADOW-LAMP', 'SHADOW-DESK'], ARRAY[1, 20]);
SELECT * FROM allocation.check();
SELECT * FROM allocation.allocations('o1');
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT event, payload FROM allocation.events ORDER BY id;

-- the same without the functions' own SET search_path: the statements
-- themselves name every object with its schema, so nothing changes
ALTER FUNCTION allocation.add_batch(text, text, integer, date) RESET ALL;
ALTER FUNCTION allocation.allocate(text, text, integer) RESET ALL;
ALTER FUNCTION allocation.deallocate(text, text) RESET ALL;
ALTER FUNCTION allocation.change_batch_quantity(text, integer) RESET ALL;
ALTER FUNCTION allocation.allocations(text) RESET ALL;
ALTER FUNCTION allocation.allocate_order(text, text[], integer[]) RESET ALL;
ALTER FUNCTION allocation.check() RESET ALL;
SELECT allocation.add_batch('b3', 'SHADOW-LAMP', 10, '2011-02-01');
SELECT allocation.allocate('o4', 'SHADOW-LAMP', 3);
SELECT allocation.change_batch_quantity('b2', 4);
SELECT allocation.deallocate('o4', 'SHADOW-LAMP');
SELECT * FROM allocation.allocate_order('o7', ARRAY['SHADOW-DESK', 'SHADOW-LAMP'], ARRAY[3, 1]);
SELECT * FROM allocation.allocate_order('o8', ARRAY['SHADOW-DESK'], ARRAY[30]);
SELECT * FROM allocation.check();
SELECT * FROM allocation.allocations('o1');
SELECT reference, purchased_quantity, allocated_quantity FROM allocation.batch_stock ORDER BY reference;
SELECT event, payload FROM allocation.events ORDER BY id;
ROLLBACK;
