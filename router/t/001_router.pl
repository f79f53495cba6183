# router/t/001_router.pl: allocation_router 1.2 on a router cluster in
# front of two shard clusters running allocation, through PL/Proxy, with 2
# partitions, then 4 partitions on the 2 shards.  Every call of the API
# runs as a NOSUPERUSER application role holding exactly the README's
# grants; recover() as the README's maintenance role; the shards grant the
# role the router connects as exactly the shard README's lines.
#
# The 1.0 findings, each from the attacker's side: a database owner who is
# not a superuser plants public.dblink_exec and look-alikes, and renames the
# router database into a connection string; neither makes it a superuser.
# The README's grants work, and give the application nothing else.  Batch
# references are unique across partitions, also when two routers race, and
# change_batch_quantity asks two partitions at most.  255-character order
# ids work over several partitions.  No advisory lock blocks an order.
# Orders placed by 3 clients while router backends are killed and the router
# stopped are all or nothing after recover() run from another router
# database.  A stopped shard fails only the calls that need it, and
# recover() reports what it cannot finish without stopping.  The update
# from router 1.0.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(sleep);

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "PL/Proxy is not installed (package postgresql-NN-plproxy): no $sharedir/extension/plproxy.control"
  unless -f "$sharedir/extension/plproxy.control";

# The shard README's grants for the role the router connects as.
my $shard_grants = q{
	CREATE ROLE allocation_router LOGIN;
	GRANT USAGE ON SCHEMA allocation TO allocation_router;
	GRANT EXECUTE ON FUNCTION
	    allocation.add_batch(text, text, integer, date), allocation.allocate(text, text, integer),
	    allocation.deallocate(text, text), allocation.change_batch_quantity(text, integer),
	    allocation.allocations(text), allocation.allocate_order(text, text[], integer[]), allocation.check(),
	    allocation.hold(text, text, integer, interval), allocation.hold_order(text, text[], integer[], interval),
	    allocation.confirm_hold(text, text), allocation.release_hold(text),
	    allocation.hold_lines(text), allocation.release_hold_lines(text, text[]),
	    allocation.order_prepare(text, text, text[], integer[], interval),
	    allocation.order_commit(text, text, text[], integer[]), allocation.order_undo(text, text[]),
	    allocation.order_hold(text, text, text[], integer[], interval, text, text[], integer[]),
	    allocation.order_decide(text, text, text[], integer[], text[], integer[]),
	    allocation.order_place(text, text, text[], integer[], text[], integer[]),
	    allocation.decision_begin(text, text, text[], integer[], text, boolean),
	    allocation.decision_record(text, text, text[], integer[], text),
	    allocation.decision_set(text, text, text, text, boolean), allocation.decision_unlock(),
	    allocation.decisions_pending(), allocation.batch_claim(text, text, integer, date, boolean),
	    allocation.batch_locate(text), allocation.batch_placed(text), allocation.batch_place(text, text, integer, date),
	    allocation.batch_claims_pending(), allocation.batch_references()
	    TO allocation_router;
};

# The router README's grant blocks: the application, and the maintenance
# role that runs recover().
my $router_grants = q{
	GRANT USAGE ON SCHEMA allocation TO app;
	GRANT USAGE ON FOREIGN SERVER allocation_cluster TO app;
	GRANT EXECUTE ON FUNCTION allocation.add_batch(text, text, integer, date), allocation.allocate(text, text, integer),
	    allocation.deallocate(text, text), allocation.change_batch_quantity(text, integer),
	    allocation.allocations(text), allocation.allocate_order(text, text[], integer[]), allocation.check(),
	    allocation.hold(text, text, integer, interval), allocation.hold_order(text, text[], integer[], interval),
	    allocation.confirm_hold(text, text), allocation.release_hold(text) TO app;
	GRANT USAGE ON SCHEMA allocation TO allocation_maintenance;
	GRANT EXECUTE ON FUNCTION allocation.recover(), allocation.adopt_batches() TO allocation_maintenance;
};

my @shards = map { PostgreSQL::Test::Cluster->new("shard$_") } (0, 1);
my $router = PostgreSQL::Test::Cluster->new('router');
for my $node (@shards, $router)
{
	$node->init;
	$node->start;
}
for my $shard (@shards)
{
	$shard->safe_psql('postgres', 'CREATE EXTENSION allocation; ' . $shard_grants . q{
		CREATE ROLE nobody LOGIN;
	});
}
$router->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE allocation_maintenance LOGIN;
	CREATE ROLE nobody LOGIN;
	CREATE ROLE dbowner LOGIN CREATEDB;
	CREATE DATABASE router2;
	CREATE DATABASE owned OWNER dbowner;
});

# A router database: the extension, the cluster's partitions (partition p
# on shard p mod 2) and the README's grants.
sub setup_router
{
	my ($db, $partitions) = @_;
	my $options = join(', ', map {
		my $shard = $shards[ $_ % 2 ];
		sprintf("p%d 'host=%s port=%d dbname=postgres'", $_, $shard->host, $shard->port)
	} 0 .. $partitions - 1);
	$router->safe_psql($db, qq{
		SET client_min_messages = warning;
		CREATE EXTENSION IF NOT EXISTS allocation_router CASCADE;
		DROP SERVER IF EXISTS allocation_cluster CASCADE;
		CREATE SERVER allocation_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ($options);
		CREATE USER MAPPING FOR PUBLIC SERVER allocation_cluster OPTIONS (user 'allocation_router');
		ALTER DATABASE $db SET allocation_router.hold_ttl = '2 seconds';
	} . $router_grants);
}

# Run SQL on the router as a role; returns (stdout, SQLSTATE or '').
sub as_role
{
	my ($role, $sql, $db) = @_;
	my ($ret, $out, $err) = $router->psql($db // 'postgres', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $role ]);
	my $state = $ret == 0 ? '' : ($err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "unknown: $err");
	return ($out, $state);
}
sub app { my ($out) = as_role('app', @_); return $out; }
sub sqlstate { my (undef, $state) = as_role('app', @_); return $state; }

# The partitions of keys, as PL/Proxy picks them: key => partition.
sub partitions_of
{
	my ($partitions, @keys) = @_;
	my $values = join(', ', map { "('$_')" } @keys);
	return map { split /\|/ } split /\n/, $router->safe_psql('postgres',
		"SELECT k || '|' || (hashtext(k) & ($partitions - 1)) FROM (VALUES $values) AS v (k)");
}
sub partition_of { my ($key, $partitions) = @_; return { partitions_of($partitions, $key) }->{$key}; }

for my $partitions (2, 4)
{
	setup_router('postgres', $partitions);
	$_->safe_psql('postgres', 'TRUNCATE allocation.events, allocation.order_lines, allocation.holds,
	    allocation.batches, allocation.products, allocation.order_decisions, allocation.batch_claims') for @shards;
	my $p = "$partitions partitions";

	# 1. The API through the router, as the application role.
	app(q{
		SELECT allocation.add_batch('b-' || i, 'SKU-' || i, 100, NULL) FROM generate_series(1, 8) AS i;
		SELECT allocation.add_batch('late-' || i, 'SKU-' || i, 1000000, '2030-01-01') FROM generate_series(1, 8) AS i;
	});
	is(app(q{SELECT allocation.allocate('o1', 'SKU-1', 60)}), 'b-1', "$p: allocate");
	is(app(q{SELECT allocation.allocate('o2', 'SKU-1', 30)}), 'b-1', "$p: allocate again");
	app(q{SELECT allocation.change_batch_quantity('b-1', 70)});
	is(app(q{SELECT string_agg(sku || '=' || batchref, ' ') FROM allocation.allocations('o2')}),
		'SKU-1=late-1', "$p: change_batch_quantity moves the most recent line to the next batch");
	is(app(q{SELECT allocation.deallocate('o1', 'SKU-1')}), 'b-1', "$p: deallocate");
	is(sqlstate(q{SELECT allocation.allocate('o3', 'NO-SUCH', 1)}), 'AL001', "$p: unknown sku is AL001");
	is(sqlstate(q{SELECT allocation.change_batch_quantity('no-such', 1)}), 'AL002', "$p: unknown batch is AL002");
	is(sqlstate(q{SELECT allocation.change_batch_quantity('b-1', -1)}), '22023', "$p: a negative qty is 22023");
	is(sqlstate(q{SELECT allocation.allocate('o2', 'SKU-1', 31)}), 'AL003', "$p: another qty is AL003");
	is(sqlstate(q{SELECT allocation.allocate('o3', 'SKU-1', 0)}), '22023', "$p: qty 0 is 22023");
	is(sqlstate(q{SELECT allocation.allocate('o3', NULL, 1)}), '22004', "$p: a NULL sku is 22004");
	is(sqlstate(q{SELECT * FROM allocation.allocate_order('o3', ARRAY['SKU-1', 'SKU-2'], ARRAY[1])}), '22023',
		"$p: order arrays of different length are 22023");
	is(sqlstate(q{SELECT allocation.add_batch(NULL, 'SKU-1', 1)}), '22004', "$p: a NULL reference is 22004");

	# 2. Each sku's rows live on the shard of its partition, and only there.
	my $misplaced = 0;
	my %part_of = partitions_of($partitions, map { "SKU-$_" } 1 .. 8);
	for my $i (1 .. 8)
	{
		my $part = $part_of{"SKU-$i"};
		for my $s (0, 1)
		{
			my $here = $shards[$s]->safe_psql('postgres', "SELECT count(*) FROM allocation.batches WHERE sku = 'SKU-$i'");
			$misplaced++ if ($here > 0) != ($part % 2 == $s);
		}
	}
	is($misplaced, 0, "$p: every sku's batches are on the shard of partition hashtext(sku) & " . ($partitions - 1));

	# 3. Orders over several partitions: all or nothing; lines the order has
	# keep their batch.
	is(app(q{SELECT string_agg(sku || '=' || batchref, ' ')
	         FROM allocation.allocate_order('o4', ARRAY['SKU-3', 'SKU-4', 'SKU-5'], ARRAY[1, 1, 1])}),
		'SKU-3=b-3 SKU-4=b-4 SKU-5=b-5', "$p: an order over several partitions is allocated");
	is(app(q{SELECT string_agg(sku || '=' || batchref, ' ')
	         FROM allocation.allocate_order('o4', ARRAY['SKU-3', 'SKU-6'], ARRAY[1, 2])}),
		'SKU-3=b-3 SKU-6=b-6', "$p: again with one more line: the line it had keeps its batch");
	is(sqlstate(q{SELECT * FROM allocation.allocate_order('o4', ARRAY['SKU-3', 'SKU-7'], ARRAY[5, 1])}), 'AL003',
		"$p: a line it had with another qty is AL003");
	is(app(q{SELECT string_agg(sku || '=' || coalesce(batchref, 'NULL'), ' ')
	         FROM allocation.allocate_order('o5', ARRAY['SKU-6', 'SKU-7', 'SKU-8'], ARRAY[1, 1, 2000000])}),
		'SKU-6=NULL SKU-7=NULL SKU-8=NULL', "$p: a short line: nothing is allocated");
	is(app(q{SELECT count(*) FROM allocation.allocations('o5')}), '0', "$p: on no partition");

	# 4. Holds over several partitions, confirmed into an order.
	is(app(q{SELECT string_agg(sku || '=' || batchref, ' ')
	         FROM allocation.hold_order('cart-1', ARRAY['SKU-1', 'SKU-2', 'SKU-3'], ARRAY[1, 1, 1], '10 minutes')}),
		'SKU-1=b-1 SKU-2=b-2 SKU-3=b-3', "$p: a hold over several partitions");
	is(app(q{SELECT string_agg(sku || '=' || coalesce(batchref, 'NULL'), ' ')
	         FROM allocation.hold_order('cart-1', ARRAY['SKU-4', 'SKU-8'], ARRAY[1, 2000000], '10 minutes')}),
		'SKU-4=NULL SKU-8=NULL', "$p: more lines that do not all fit: none is added");
	is(app(q{SELECT string_agg(sku || '=' || batchref, ' ') FROM allocation.confirm_hold('cart-1', 'o6')}),
		'SKU-1=b-1 SKU-2=b-2 SKU-3=b-3', "$p: confirm_hold over several partitions, the hold's lines as they were");
	is(app(q{SELECT string_agg(sku || '=' || batchref, ' ') FROM allocation.confirm_hold('cart-1', 'o6')}),
		'SKU-1=b-1 SKU-2=b-2 SKU-3=b-3', "$p: again: the same rows");
	is(sqlstate(q{SELECT * FROM allocation.confirm_hold('cart-1', 'o7')}), 'AL004', "$p: for another order: AL004");
	is(sqlstate(q{SELECT * FROM allocation.confirm_hold('no-cart', 'o7')}), 'AL004', "$p: an unknown hold: AL004");
	app(q{SELECT * FROM allocation.hold_order('cart-2', ARRAY['SKU-5', 'SKU-6'], ARRAY[1, 1], '10 minutes')});
	is(app(q{SELECT allocation.release_hold('cart-2')}), '2', "$p: release_hold over several partitions");
	is(app(q{SELECT count(*) FROM allocation.check()}), '0', "$p: check() through the router is clean");

	# 5. Batch references are unique across partitions, as on one server.
	my ($a_ref, $a_sku, $b_sku);
	my %s_part = partitions_of($partitions, map { ("S-$_", "S-" . ($_ + 1000)) } 1 .. 20);
	for my $i (1 .. 20)
	{
		next if defined $a_ref;
		my ($x, $y) = ("S-$i", "S-" . ($i + 1000));
		($a_ref, $a_sku, $b_sku) = ("ref-$i", $x, $y) if $s_part{$x} != $s_part{$y};
	}
	app(qq{SELECT allocation.add_batch('$a_ref', '$a_sku', 5)});
	is(sqlstate(qq{SELECT allocation.add_batch('$a_ref', '$b_sku', 1)}), '23505',
		"$p: a reference taken on another partition is 23505");
	is(sqlstate(qq{SELECT allocation.add_batch('$a_ref', '$a_sku', 5)}), '23505', "$p: and on its own");
	app(qq{SELECT allocation.change_batch_quantity('$a_ref', 3)});
	is(join(',', map { $_->safe_psql('postgres', "SELECT purchased_quantity FROM allocation.batches WHERE reference = '$a_ref'") } @shards),
		partition_of($a_sku, $partitions) % 2 == 0 ? '3,' : ',3',
		"$p: one batch has that reference, and change_batch_quantity resized it");
}

# 6. As the application role, the README's grants and nothing more; the
# router has no table, and a role with only CONNECT can do nothing.
my $others = $router->safe_psql('postgres', q{
	SELECT string_agg(oid::regprocedure::text, ' ' ORDER BY oid::regprocedure::text COLLATE "C")
	FROM pg_proc
	WHERE pronamespace = 'allocation'::regnamespace AND has_function_privilege('app', oid, 'EXECUTE')
});
is($others, 'allocation."check"() allocation.add_batch(text,text,integer,date) allocation.allocate(text,text,integer) '
	. 'allocation.allocate_order(text,text[],integer[]) allocation.allocations(text) '
	. 'allocation.change_batch_quantity(text,integer) allocation.confirm_hold(text,text) allocation.deallocate(text,text) '
	. 'allocation.hold(text,text,integer,interval) allocation.hold_order(text,text[],integer[],interval) '
	. 'allocation.release_hold(text)',
	'the application role may call the eleven API functions and nothing else of the router');
is((as_role('app', 'SELECT * FROM allocation.recover()'))[1], '42501', 'recover() is 42501 for the application role');
is((as_role('app', q{SELECT * FROM allocation.router_decision_begin('o1', 'h', ARRAY['x'], ARRAY[1], 'holding', true)}))[1],
	'42501', 'a helper is 42501 for the application role');
is($router->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relnamespace = 'allocation'::regnamespace}),
	'0', 'the router database holds no table, view or sequence of its own');
is((as_role('app', 'SELECT umoptions FROM pg_user_mappings'))[0], '',
	'the application role does not see the user mapping options');
is((as_role('nobody', q{SELECT allocation.allocate('x', 'SKU-1', 1)}))[1], '42501', 'a role with only CONNECT: 42501');
is((as_role('nobody', q{SELECT * FROM allocation.allocate_order('x', ARRAY['SKU-1', 'SKU-2'], ARRAY[1, 1])}))[1],
	'42501', 'a role with only CONNECT: 42501 for orders too');

# 7. Every identifier of 1 to 255 characters, an order id over several
# partitions included.
my $long_order = 'o' x 255;
my $long_hold = 'h' x 255;
is(app(qq{SELECT count(batchref) FROM allocation.allocate_order('$long_order', ARRAY['SKU-1', 'SKU-2', 'SKU-3'], ARRAY[1, 1, 1])}),
	'3', 'a 255-character order id over several partitions');
is(app(qq{SELECT count(batchref) FROM allocation.hold_order('$long_hold', ARRAY['SKU-4', 'SKU-5'], ARRAY[1, 1], '1 minute')}),
	'2', 'a 255-character hold id over several partitions');
is(app(qq{SELECT count(batchref) FROM allocation.confirm_hold('$long_hold', '$long_order')}), '2',
	'confirmed into the 255-character order');
is((as_role('allocation_maintenance', 'SELECT count(*) FROM allocation.recover()'))[0], '0',
	'recover() finds nothing left');

# 8. No role can block an order: advisory locks on the keys 1.0 used, and on
# any other, held by a role with only CONNECT on the router and the shards.
my @lockers;
for my $node ($router, @shards)
{
	my $hold_locks = "SELECT pg_advisory_lock(1380931924, hashtext('blocked')), pg_advisory_lock(hashtext('blocked')); SELECT pg_sleep(30);";
	push @lockers, IPC::Run::start([ 'psql', '-X', '-q', '-h', $node->host, '-p', $node->port, '-U', 'nobody',
		'-d', 'postgres', '-c', $hold_locks ], '>', '/dev/null', '2>', '/dev/null');
}
for my $node ($router, @shards)
{
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
		  WHERE l.locktype = 'advisory' AND l.granted AND a.usename = 'nobody'})
	  or die 'the role with only CONNECT did not get its advisory locks';
}
is(app(q{SET statement_timeout = '10s'; SELECT count(batchref) FROM allocation.allocate_order('blocked', ARRAY['SKU-1', 'SKU-2'], ARRAY[1, 1])}),
	'2', 'an order whose 1.0 lock keys are held by a role with only CONNECT goes through');
$_->kill_kill for @lockers;

# 9. Two routers add the same references at once: each reference ends on
# exactly one partition, the other call gets 23505.
setup_router('router2', 4);
setup_router('postgres', 4);
my @racers;
my %race_out;
for my $db ('postgres', 'router2')
{
	my $script = $PostgreSQL::Test::Utils::tmp_check . "/race-$db.sql";
	PostgreSQL::Test::Utils::append_to_file($script, join('', map { my $sku = $db eq 'postgres' ? "RA-$_" : "RB-$_";
		"SELECT allocation.add_batch('race-$_', '$sku', 10);\n" } 1 .. 40));
	push @racers, IPC::Run::start([ 'psql', '-X', '-q', '-h', $router->host, '-p', $router->port, '-U', 'app',
		'-d', $db, '-f', $script ], '>', \$race_out{$db}, '2>', \$race_out{"$db-err"});
}
$_->finish for @racers;
my $placed = join(' ', map { $_->safe_psql('postgres', q{SELECT count(*) FROM allocation.batches WHERE reference LIKE 'race-%'}) } @shards);
my ($a, $b) = split / /, $placed;
is($a + $b, 40, 'two routers racing on 40 references: each reference is a batch on exactly one shard');
my $conflicts = () = ($race_out{'postgres-err'} . $race_out{'router2-err'}) =~ /already exists/g;
is($conflicts, 40, 'and the other router got "already exists" for each');
is($router->safe_psql('postgres', q{SELECT count(*) FROM allocation.recover()}), '0', 'no claim is left unplaced');

# 10. change_batch_quantity asks two partitions at most: with a shard
# stopped, a batch whose reference and sku both live on the other is resized.
my ($here_ref, $here_sku);
my %here_part = partitions_of(4, map { ("here-$_", "HERE-$_") } 1 .. 50);
for my $i (1 .. 50)
{
	next if defined $here_ref;
	($here_ref, $here_sku) = ("here-$i", "HERE-$i")
	  if $here_part{"here-$i"} % 2 == 0 && $here_part{"HERE-$i"} % 2 == 0;
}
app(qq{SELECT allocation.add_batch('$here_ref', '$here_sku', 10)});
$shards[1]->stop('fast');
is(sqlstate(qq{SELECT allocation.change_batch_quantity('$here_ref', 4)}), '',
	'change_batch_quantity works with the shard it does not need stopped');
is($shards[0]->safe_psql('postgres', "SELECT purchased_quantity FROM allocation.batches WHERE reference = '$here_ref'"),
	'4', 'and resized the batch');
$shards[1]->start;

# 11. The attacks on 1.0, by the owner of a router database who is not a
# superuser.  (a) schema public, which the owner owns, renamed and made
# again with public.dblink_exec and look-alikes of what the router calls
# (against router 1.0, the next order over two partitions made the owner a
# superuser); (b) the database renamed
# into a connection string that points a loopback at a database the owner
# prepared, whose trap would make it a superuser.
setup_router('owned', 4);
$router->safe_psql('owned', q{SET ROLE dbowner;
	ALTER SCHEMA public RENAME TO public_old;
	CREATE SCHEMA public;
	CREATE FUNCTION public.dblink_exec(text, text) RETURNS text LANGUAGE plpgsql AS
	  $$ BEGIN ALTER ROLE dbowner SUPERUSER; RETURN 'OK'; END $$;
	CREATE FUNCTION public.hashtext(text) RETURNS integer LANGUAGE plpgsql AS
	  $$ BEGIN ALTER ROLE dbowner SUPERUSER; RETURN 0; END $$;
	CREATE FUNCTION public.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS
	  $$ BEGIN ALTER ROLE dbowner SUPERUSER; RETURN '00000000-0000-0000-0000-000000000000'; END $$;
	CREATE FUNCTION public.array_agg(anyelement) RETURNS anyarray LANGUAGE plpgsql AS
	  $$ BEGIN ALTER ROLE dbowner SUPERUSER; RETURN NULL; END $$;
	ALTER DATABASE owned SET search_path = public, pg_catalog;
});
$router->safe_psql('postgres', q{
	CREATE DATABASE evil OWNER dbowner;
});
$router->safe_psql('evil', q{SET ROLE dbowner;
	CREATE SCHEMA allocation;
	CREATE TABLE allocation.router_orders (orderid text, holdid text, skus text[], qtys integer[], state text,
	                                       updated_at timestamptz);
	CREATE TABLE public.trap_fired (at timestamptz);
	CREATE FUNCTION public.trap() RETURNS trigger LANGUAGE plpgsql AS
	  $$ BEGIN INSERT INTO public.trap_fired VALUES (now()); ALTER ROLE dbowner SUPERUSER; RETURN NEW; END $$;
	CREATE TRIGGER trap BEFORE INSERT OR UPDATE ON allocation.router_orders FOR EACH ROW EXECUTE FUNCTION public.trap();
});
my $injected = q{x' dbname=evil application_name=a};
$router->safe_psql('postgres', qq{SET ROLE dbowner; ALTER DATABASE owned RENAME TO "$injected"});
for my $i (1 .. 5)
{
	as_role('app', "SELECT count(*) FROM allocation.allocate_order('owned-$i', ARRAY['SKU-1', 'SKU-2', 'SKU-3'], ARRAY[1, 1, 1])",
		$injected);
}
as_role('app', q{SELECT * FROM allocation.hold_order('owned-h', ARRAY['SKU-1', 'SKU-2'], ARRAY[1, 1], '1 minute')}, $injected);
as_role('app', q{SELECT * FROM allocation.confirm_hold('owned-h', 'owned-o')}, $injected);
as_role('app', q{SELECT allocation.add_batch('owned-b', 'SKU-1', 1)}, $injected);
as_role('allocation_maintenance', 'SELECT * FROM allocation.recover()', $injected);
is(app(q{SELECT count(*) FROM allocation.allocations('owned-3')}), '3',
	'orders through the renamed database went through (the look-alikes were not called)');
is($router->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'dbowner'}), 'f',
	'the owner of the router database is still not a superuser');
is($router->safe_psql('evil', q{SELECT count(*) FROM public.trap_fired}), '0',
	'nothing connected to the database the owner prepared');
$router->safe_psql('postgres', qq{ALTER DATABASE "$injected" RENAME TO owned});

# A user mapping that names no role, or a superuser, is refused: the
# router would otherwise reach the shards as its owner.
$router->safe_psql('owned', q{ALTER USER MAPPING FOR PUBLIC SERVER allocation_cluster OPTIONS (DROP user)});
is((as_role('app', q{SELECT * FROM allocation.allocate_order('m1', ARRAY['SKU-1', 'SKU-2'], ARRAY[1, 1])}, 'owned'))[1],
	'55000', 'a user mapping without a role: 55000');
$router->safe_psql('owned', q{ALTER USER MAPPING FOR PUBLIC SERVER allocation_cluster OPTIONS (ADD user 'postgres')});
is((as_role('app', q{SELECT * FROM allocation.allocate_order('m1', ARRAY['SKU-1', 'SKU-2'], ARRAY[1, 1])}, 'owned'))[1],
	'55000', 'a user mapping to a superuser: 55000');

# 12. Orders over several partitions under load, as the application role,
# with router backends killed at random points and, once, the whole router
# stopped immediately; then recover() from the other router database.
my @skus = map { "SKU-$_" } 1 .. 8;
my (@clients, %order_skus);
for my $c (1 .. 3)
{
	my $script = '';
	for my $i (1 .. 3000)
	{
		my @mine = map { $skus[ ($c * 7 + $i * $_) % 8 ] } 1 .. 3;
		my %seen;
		@mine = grep { !$seen{$_}++ } @mine;
		push @mine, $skus[ ($i + 1) % 8 ] if @mine < 2 && $mine[0] ne $skus[ ($i + 1) % 8 ];
		$order_skus{"load-$c-$i"} = scalar(@mine);
		my $qtys = join(', ', (1) x @mine);
		$script .= sprintf("psql -X -q -h '%s' -p %d -U app -d postgres -c \"SELECT count(*) FROM allocation.allocate_order('load-%d-%d', ARRAY['%s'], ARRAY[%s])\" >/dev/null 2>&1\n",
			$router->host, $router->port, $c, $i, join("', '", @mine), $qtys);
	}
	my $file = $PostgreSQL::Test::Utils::tmp_check . "/router_client$c.sh";
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	push @clients, IPC::Run::start([ 'bash', $file ]);
}
# Lines of the load's orders on the shards: order id => number of lines.
sub load_lines
{
	my %lines;
	for my $shard (@shards)
	{
		for my $row (split /\n/, $shard->safe_psql('postgres',
			q{SELECT orderid || '|' || count(*) FROM allocation.order_lines WHERE orderid LIKE 'load-%' GROUP BY orderid}))
		{
			my ($orderid, $n) = split /\|/, $row;
			$lines{$orderid} += $n;
		}
	}
	return %lines;
}

# At least 40 rounds of kills, and on until 30 orders went through, so that a
# slow machine still tests something (at most 400 rounds).
my ($kills, $rounds) = (0, 0);
while (++$rounds <= 400)
{
	sleep(0.05 + rand(0.1));
	$kills += $router->safe_psql('postgres', q{
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE '%allocate_order%' AND pid <> pg_backend_pid() AND backend_type = 'client backend'});
	if ($rounds == 25)
	{
		$router->stop('immediate');
		$router->start;
	}
	next unless $rounds >= 40 && $rounds % 10 == 0;
	my %through = load_lines();
	last if keys %through >= 30;
}
$_->kill_kill for @clients;
note("$rounds rounds: killed $kills router backends, stopped the router immediately once");
my $pending = join('+', map { $_->safe_psql('postgres', q{SELECT count(*) FROM allocation.decisions_pending()}) } @shards);
note("decisions left pending on the shards: $pending");
my ($recovered) = as_role('allocation_maintenance', 'SELECT count(*) FROM allocation.recover()', 'router2');
note("recover() on the other router database finished $recovered orders");
sleep(2.5);    # every router hold expired
as_role('allocation_maintenance', 'SELECT count(*) FROM allocation.recover()', 'router2');
is(join('+', map { $_->safe_psql('postgres', q{SELECT count(*) FROM allocation.decisions_pending()}) } @shards), '0+0',
	'recover() from another router database left no order holding or decided');

my %lines = load_lines();
my @partial = grep { $lines{$_} != $order_skus{$_} } keys %lines;
cmp_ok(scalar(keys %lines), '>', 20, scalar(keys %lines) . ' orders over several partitions were allocated under load');
is(scalar(@partial), 0, 'every order is allocated on every partition it spans or on none')
  or diag("partial: @partial[0 .. 9]");
for my $s (0, 1)
{
	is($shards[$s]->safe_psql('postgres', 'SELECT count(*) FROM allocation.check()'), '0', "check() is clean on shard $s");
	is($shards[$s]->safe_psql('postgres', 'SELECT count(*) FROM allocation.holds_view'), '0',
		"no live hold is left on shard $s once the holds' expiry passed");
}

# 13. recover() reports what it cannot finish and goes on: two orders left
# decided by a router that died (written here as it would leave them), one
# on each shard's skus, with one shard stopped.
my %on_shard;
my %left_part = partitions_of(4, (map { "LEFT-$_" } 1 .. 20), (map { ("left-0-$_", "left-1-$_") } 1 .. 20));
for my $i (1 .. 20)
{
	my $part = $left_part{"LEFT-$i"};
	$on_shard{ $part % 2 } //= [];
	push @{ $on_shard{ $part % 2 } }, "LEFT-$i" if @{ $on_shard{ $part % 2 } } < 2;
}
app(join('', map { "SELECT allocation.add_batch('b-$_', '$_', 10);" } map { @$_ } values %on_shard));
for my $s (0, 1)
{
	my ($x, $y) = @{ $on_shard{$s} };
	# an order id whose decision lives on this shard too
	my $orderid = (grep { $left_part{"left-$s-$_"} % 2 == $s } 1 .. 20)[0];
	$orderid = "left-$s-$orderid";
	$shards[$s]->safe_psql('postgres', qq{
		SELECT * FROM allocation.decision_begin('$orderid', 'dead-$s', ARRAY['$x', '$y'], ARRAY[1, 1], 'decided', true);
		SELECT * FROM allocation.order_prepare('$orderid', 'dead-$s', ARRAY['$x', '$y'], ARRAY[1, 1], '1 minute');
	});
}
$shards[1]->stop('fast');
my ($report) = as_role('allocation_maintenance', q{SELECT kind || ' ' || state FROM allocation.recover() ORDER BY 1});
like($report, qr/order done/, 'with a shard stopped, recover() finishes the order it can reach');
like($report, qr/partition unreachable/, 'and reports the partitions it cannot reach');
$shards[1]->start;
($report) = as_role('allocation_maintenance', q{SELECT string_agg(kind || ' ' || state, ', ') FROM allocation.recover()});
is($report, 'order done', 'once the shard is back, recover() finishes the other');
is(join('+', map { $_->safe_psql('postgres', q{SELECT count(*) FROM allocation.order_lines WHERE orderid LIKE 'left-%'}) } @shards),
	'2+2', 'both orders are allocated on their shard');

# 14. An attempt a dead router left holding on the order's own partition
# (written here as it would leave it): the next call for the order meets
# it where it holds the order's lines, finishes it (its hold released),
# then places the order.
my %h_part = partitions_of(4, (map { "hold-o-$_" } 1 .. 40), (map { "HOLD-$_" } 1 .. 40));
my ($h_order) = grep { $h_part{$_} % 2 == 0 } map { "hold-o-$_" } 1 .. 40;
my ($h_own) = grep { $h_part{$_} == $h_part{$h_order} } map { "HOLD-$_" } 1 .. 40;
my ($h_other) = grep { $h_part{$_} % 2 == 1 } map { "HOLD-$_" } 1 .. 40;
app("SELECT allocation.add_batch('b-$h_own', '$h_own', 10); SELECT allocation.add_batch('b-$h_other', '$h_other', 10);");
$shards[0]->safe_psql('postgres', qq{
	SELECT * FROM allocation.decision_begin('$h_order', 'dead-h', ARRAY['$h_own'], ARRAY[4], 'holding', true);
	SELECT * FROM allocation.order_prepare('$h_order', 'dead-h', ARRAY['$h_own'], ARRAY[4], '1 minute');
});
is($shards[0]->safe_psql('postgres', "SELECT sum(qty) FROM allocation.holds_view WHERE holdid = 'dead-h'"), '4',
	'a dead attempt holds 4 on the order\'s own partition');
is(app(qq{SELECT string_agg(sku || '=' || batchref, ' ' ORDER BY sku COLLATE "C")
          FROM allocation.allocate_order('$h_order', ARRAY['$h_own', '$h_other'], ARRAY[1, 1])}),
	join(' ', map { "$_=b-$_" } sort ($h_own, $h_other)),
	'the next call for the order finishes the dead attempt and places the order');
is($shards[0]->safe_psql('postgres', "SELECT count(*) FROM allocation.holds_view WHERE holdid = 'dead-h'"), '0',
	'the dead attempt\'s hold is released');
is(join('+', map { $_->safe_psql('postgres', q{SELECT count(*) FROM allocation.decisions_pending()}) } @shards), '0+0',
	'and no attempt is left holding or decided');
# The same order again with one more line, on its own partition: the only
# new line, confirmed there with the decision; nothing to confirm elsewhere.
my ($h_own2) = grep { $h_part{$_} == $h_part{$h_order} && $_ ne $h_own } map { "HOLD-$_" } 1 .. 40;
app("SELECT allocation.add_batch('b-$h_own2', '$h_own2', 10)");
is(app(qq{SELECT string_agg(sku || '=' || batchref, ' ' ORDER BY sku COLLATE "C")
          FROM allocation.allocate_order('$h_order', ARRAY['$h_other', '$h_own2'], ARRAY[1, 1])}),
	join(' ', map { "$_=b-$_" } sort ($h_other, $h_own2)),
	'again with a new line on its own partition only: the line it had keeps its batch');
is(app(qq{SELECT count(*) FROM allocation.allocations('$h_order')}), '3', 'and the order has its three lines');

# 15. A stopped shard: the calls that need it fail clearly, the others work.
my %sku_on;
my %sku_part = partitions_of(4, @skus);
for my $sku (@skus)
{
	$sku_on{ $sku_part{$sku} % 2 } //= $sku;
}
$shards[1]->stop('fast');
my (undef, undef, $err) = $router->psql('postgres', "SELECT allocation.allocate('down-1', '$sku_on{1}', 1)",
	extra_params => [ '-U', 'app' ]);
like($err, qr/allocation\.allocate\(3\): .*connection to server .* failed/,
	'a sku of the stopped shard fails, naming the call and the connection that failed');
is(sqlstate("SELECT allocation.allocate('down-0', '$sku_on{0}', 1)"), '', 'a sku of the other shard works');
$shards[1]->start;
is(sqlstate("SELECT allocation.allocate('down-1', '$sku_on{1}', 1)"), '', 'after the restart, it works again');

# 16. The update from router 1.0: refused while 1.0 has unfinished orders,
# then (through 1.1 and 1.2) every object as in a fresh 1.3 and the application's
# grants kept;
# adopt_batches() claims the batches 1.0 added.
$router->safe_psql('postgres', 'CREATE DATABASE old; CREATE DATABASE fresh');
for my $db ('old', 'fresh')
{
	my $version = $db eq 'old' ? "VERSION '1.0'" : '';
	$router->safe_psql($db, qq{SET client_min_messages = warning; CREATE EXTENSION allocation_router $version CASCADE;});
}
$router->safe_psql('old', $router_grants =~ s/.*allocation_maintenance.*\n//gr =~ s/GRANT USAGE ON FOREIGN SERVER.*\n//r);
$router->safe_psql('old', q{INSERT INTO allocation.router_orders (orderid, holdid, skus, qtys, state)
                            VALUES ('o1', 'h1', '{A}', '{1}', 'decided')});
(undef, undef, $err) = $router->psql('old', "\\set VERBOSITY verbose\nALTER EXTENSION allocation_router UPDATE");
like($err, qr/55000: allocation.router_orders has orders that router 1.0 has not finished/,
	'the update refuses while 1.0 has unfinished orders (55000)');
$router->safe_psql('old', q{UPDATE allocation.router_orders SET state = 'done'; ALTER EXTENSION allocation_router UPDATE});
is($router->safe_psql('old', q{SELECT extversion FROM pg_extension WHERE extname = 'allocation_router'}), '1.3',
	'the update goes from 1.0 through 1.1 and 1.2 to 1.3');
my $objects = q{
	SELECT string_agg(o, E'\n' ORDER BY o COLLATE "C")
	FROM (SELECT pg_describe_object(classid, objid, 0) || ' ' ||
	             coalesce(CASE WHEN classid = 'pg_proc'::regclass THEN pg_get_functiondef(objid) END, '') AS o
	      FROM pg_depend
	      WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'allocation_router') AND deptype = 'e'
	        AND classid <> 'pg_type'::regclass) AS objects
};
is($router->safe_psql('old', $objects), $router->safe_psql('fresh', $objects),
	'1.0 updated to 1.3 has every object of a fresh 1.3, defined alike');
is($router->safe_psql('old', q{SELECT count(*) FROM pg_proc WHERE pronamespace = 'allocation'::regnamespace
                               AND has_function_privilege('app', oid, 'EXECUTE')}), '11',
	'the application role keeps its grants on the eleven API functions');
is($router->safe_psql('old', q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                               WHERE e.extname = 'dblink' AND d.objid = (SELECT oid FROM pg_extension WHERE extname = 'allocation_router')}),
	'0', 'and no longer depends on dblink');

$_->stop for @shards, $router;
done_testing();
