# t/002_dump_restore.pl: pg_dump of a database with stock, allocations and
# events restores into a fresh database with identical content, at the
# newest version, and the API keeps working there (ids continue).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;

# Everything the extension stores, as text, in a fixed order.
my $content_query = q{
	SELECT string_agg(row, E'\n' ORDER BY row)
	FROM (SELECT 'product ' || p::text AS row FROM allocation.products AS p
	      UNION ALL SELECT 'batch ' || (b.reference, b.sku, b.eta, b.purchased_quantity, b.allocated_quantity)::text
	                FROM allocation.batches AS b
	      UNION ALL SELECT 'line ' || l::text FROM allocation.order_lines AS l
	      UNION ALL SELECT 'event ' || e::text FROM allocation.events AS e
	      UNION ALL SELECT 'sequence events ' || last_value || ' ' || is_called
	                FROM allocation.events_id_seq
	      UNION ALL SELECT 'sequence lines ' || last_value || ' ' || is_called
	                FROM allocation.order_lines_id_seq) AS content
};

# A shop with history: batches, allocations, a reallocation, an order.
my $workload = q{
	SELECT allocation.add_batch('b' || i, 'SKU-' || (i % 3), 10, NULL) FROM generate_series(1, 6) AS i;
	SELECT allocation.add_batch('late' || i, 'SKU-' || i, 100, '2030-01-01') FROM generate_series(0, 2) AS i;
	SELECT allocation.allocate('o' || i, 'SKU-' || (i % 3), 1 + i % 4) FROM generate_series(1, 30) AS i;
	SELECT allocation.deallocate('o' || i, 'SKU-' || (i % 3)) FROM generate_series(1, 30, 7) AS i;
	SELECT allocation.change_batch_quantity('b3', 1);
};

my $newest = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'allocation'});

# The library refuses to run on the objects of an older version, so the
# shop's data is made at the newest version and loaded into the older
# databases as rows (pg_dump --data-only of the tables every version has).
$node->safe_psql('postgres', 'CREATE DATABASE seed');
$node->safe_psql('seed', 'CREATE EXTENSION allocation');
$node->safe_psql('seed', $workload);
$node->safe_psql('seed', q{SELECT * FROM allocation.allocate_order('order-x', ARRAY['SKU-1', 'SKU-2'], ARRAY[2, 2])});
my $rows = $PostgreSQL::Test::Utils::tmp_check . '/seed.sql';
PostgreSQL::Test::Utils::append_to_file($rows, $node->safe_psql('seed', q{
	SELECT string_agg(statement, E'\n' ORDER BY n, k)
	FROM (SELECT 1, sku, format('INSERT INTO allocation.products VALUES (%L, %s);', sku, version_number)
	      FROM allocation.products
	      UNION ALL
	      SELECT 2, reference, format('INSERT INTO allocation.batches (reference, sku, eta, purchased_quantity, '
	                                  'allocated_quantity) VALUES (%L, %L, %L, %s, %s);',
	                                  reference, sku, eta, purchased_quantity, allocated_quantity)
	      FROM allocation.batches
	      UNION ALL
	      SELECT 3, lpad(id::text, 20), format('INSERT INTO allocation.order_lines VALUES (%L, %L, %s, %L, %s);',
	                                           orderid, sku, qty, batch_reference, id)
	      FROM allocation.order_lines
	      UNION ALL
	      SELECT 4, lpad(id::text, 20), format('INSERT INTO allocation.events VALUES (%s, %L, %L, %L);',
	                                           id, occurred_at, event, payload)
	      FROM allocation.events
	      UNION ALL
	      SELECT 5, '', format('SELECT setval(%L, %s, %L), setval(%L, %s, %L);',
	                           'allocation.events_id_seq', e.last_value, e.is_called,
	                           'allocation.order_lines_id_seq', l.last_value, l.is_called)
	      FROM allocation.events_id_seq AS e, allocation.order_lines_id_seq AS l) AS rows (n, k, statement)
}) . "\n");
ok(-s $rows, 'the rows of a shop with history, as the columns every version has');
for my $version ('1.1', '1.0', $newest)
{
	my $src = "src_$version";
	my $dst = "dst_$version";
	$src =~ tr/./_/;
	$dst =~ tr/./_/;
	$node->safe_psql('postgres', "CREATE DATABASE $src");
	$node->safe_psql($src, "CREATE EXTENSION allocation VERSION '$version'");
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $rows, '-d', $node->connstr($src) ],
		"the shop's rows loaded at $version");

	my $dump = $PostgreSQL::Test::Utils::tmp_check . "/$src.dump";
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr($src) ], "pg_dump of a $version database");
	$node->safe_psql('postgres', "CREATE DATABASE $dst");
	$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr($dst), $dump ],
		"pg_restore into a fresh database");

	is($node->safe_psql($dst, q{SELECT extversion FROM pg_extension WHERE extname = 'allocation'}),
		$newest, "a dump made at $version restores at the newest version");
	my $before = $node->safe_psql($src, $content_query);
	cmp_ok(length($before), '>', 1000, 'the source holds a shop with history');
	is($node->safe_psql($dst, $content_query), $before,
		'products, batches, lines, events and both sequences are identical');
	is($node->safe_psql($dst, 'SELECT count(*) FROM allocation.check()'), '0', 'check() finds nothing wrong');

	# The API goes on where the source left off: no duplicate key.
	my $max_event = $node->safe_psql($dst, 'SELECT max(id) FROM allocation.events');
	my $max_line = $node->safe_psql($dst, 'SELECT max(id) FROM allocation.order_lines');
	my $call = q{SELECT allocation.allocate('after-restore', 'SKU-1', 1)};
	my $answer = $node->safe_psql('seed', "BEGIN; $call; ROLLBACK;");
	like($answer, qr/^\S+$/, 'the shop would allocate the line');
	is($node->safe_psql($dst, $call), $answer, 'allocate works after the restore, choosing as the shop would');
	is($node->safe_psql($dst, 'SELECT max(id) FROM allocation.events'), $max_event + 1,
		'the next event id continues the sequence');
	is($node->safe_psql($dst, 'SELECT max(id) FROM allocation.order_lines'), $max_line + 1,
		'the next line id continues the sequence');
	$node->safe_psql($dst, q{SELECT allocation.change_batch_quantity('late1', 0)});
	is($node->safe_psql($dst, 'SELECT count(*) FROM allocation.check()'), '0',
		'a reallocation after the restore keeps every invariant');
}

# The README's grants made at 1.0, then updates: the role can call exactly
# the API (the eleven functions of the README's app block and the clock),
# none of the maintenance, router or bus functions, and the same in a dump
# of that database restored elsewhere (the grants an update copies to new
# API functions are dumped like the DBA's).
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');
$node->safe_psql('postgres', 'CREATE DATABASE granted');
$node->safe_psql('granted', q{
	CREATE EXTENSION allocation VERSION '1.0';
	GRANT USAGE ON SCHEMA allocation TO app;
	GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA allocation TO app;
	ALTER EXTENSION allocation UPDATE;
});
my $callable = q{
	SELECT string_agg(proname, ' ' ORDER BY proname)
	FROM pg_proc
	WHERE pronamespace = 'allocation'::regnamespace AND has_function_privilege('app', oid, 'EXECUTE')
};
my $api = 'add_batch allocate allocate_order allocations change_batch_quantity check clock confirm_hold '
  . 'deallocate hold hold_order release_hold';
is($node->safe_psql('granted', $callable), $api,
	'after 1.0 and the updates, the application role can call the API and nothing else');
my $dump = $PostgreSQL::Test::Utils::tmp_check . '/granted.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('granted') ], 'pg_dump of the updated database');
$node->safe_psql('postgres', 'CREATE DATABASE granted_restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('granted_restored'), $dump ],
	'pg_restore of it');
is($node->safe_psql('granted_restored', $callable), $api,
	'restored, the application role can still call the API and nothing else');
is($node->safe_psql('granted_restored', q{SET ROLE app; SELECT count(*) FROM allocation.check()}), '0',
	'and does: check() runs as the application role');

$node->stop;
done_testing();
