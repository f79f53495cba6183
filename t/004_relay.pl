# t/004_relay.pl: allocation-relay with its file sink, run as a role with
# REPLICATION and nothing else.  Every committed event reaches the file
# exactly once, in commit order, none of a rolled-back transaction: with
# transactions committing out of id order, with the relay killed (SIGKILL)
# again and again under load, and across an immediate stop of the server.
# Then what the old Python relay got wrong, each reproduced first: a second
# relay on the same file, a missing or damaged state, an invalidated slot,
# a slot dropped and made again, timestamps in the session's DateStyle.
# Then retention: prune_events under load keeps check() clean.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(sleep);

my $out = $PostgreSQL::Test::Utils::tmp_check . '/events.jsonl';

my $node = PostgreSQL::Test::Cluster->new('relay');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', "timezone = 'America/New_York'\ndatestyle = 'SQL, DMY'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION allocation;
	SELECT allocation.stream_setup('relay');
	SELECT allocation.add_batch('batch-' || s, 'SKU-' || s, 100000000, NULL) FROM generate_series(1, 3) AS s;
	CREATE ROLE relay LOGIN REPLICATION;
});
my $dsn = $node->connstr('postgres') . ' user=relay';

my ($relay, $relay_log) = (undef, '');
sub start_relay
{
	my ($slot, $file) = @_;
	$relay_log = '';
	$relay = IPC::Run::start([ 'allocation-relay', '--dsn', $dsn, '--slot', $slot // 'relay', '--file', $file // $out ],
		'>', \$relay_log, '2>', \$relay_log);
}

sub kill_relay
{
	$relay->signal('KILL');
	$relay->finish;
}

# Run the relay to its end (it refuses to start); its exit status and words.
sub refused
{
	my ($slot, $file) = @_;
	my $log = '';
	my $run = IPC::Run::start([ 'allocation-relay', '--dsn', $dsn, '--slot', $slot, '--file', $file // $out ],
		'>', \$log, '2>', \$log, IPC::Run::timeout(20));
	$run->finish;
	return ($run->result, $log);
}

# The file's events, in file order.
sub file_events
{
	my ($file) = @_;
	my @events;
	open(my $f, '<', $file // $out) or return ();
	while (my $line = <$f>)
	{
		chomp $line;
		push @events, decode_json($line);
	}
	close $f;
	return @events;
}

# Wait until the file holds at least $n events.
sub wait_for_events
{
	my ($n, $file) = @_;
	for (1 .. 1200)
	{
		return 1 if scalar(my @e = file_events($file)) >= $n;
		sleep(0.1);
	}
	return 0;
}

# 1. Commit order, not id order; nothing of a rollback; ISO 8601 UTC times
# although the server's DateStyle and TimeZone are others.
start_relay();
my $session_a = $node->background_psql('postgres');
$session_a->query_safe('BEGIN');
$session_a->query_safe(q{SELECT allocation.allocate('order-A', 'SKU-1', 1)});
$node->safe_psql('postgres', q{SELECT allocation.allocate('order-B', 'SKU-2', 1)});
$session_a->query_safe('COMMIT');
$session_a->quit;
$node->safe_psql('postgres', q{BEGIN; SELECT allocation.allocate('order-C', 'SKU-3', 1); ROLLBACK;});
$node->safe_psql('postgres', q{SELECT allocation.allocate('order-D', 'SKU-3', 1)});
ok(wait_for_events(3), 'the relay wrote the committed events');
my @first = file_events();
is(join(' ', map { $_->{payload}{orderid} } @first), 'order-B order-A order-D',
	'in commit order (B committed before A), nothing of the rolled-back C');
cmp_ok($first[1]{id}, '<', $first[0]{id}, "A's event has the smaller id: the file follows commits, not ids");
is_deeply([ sort keys %{ $first[0] } ], [qw(event id occurred_at payload)], 'each line is {id, event, payload, occurred_at}');
is_deeply($first[0]{payload}, { orderid => 'order-B', sku => 'SKU-2', qty => 1, batchref => 'batch-2' },
	'with the payload as stored');
like($first[0]{occurred_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
	'occurred_at is ISO 8601 in UTC under DateStyle SQL, DMY and TimeZone America/New_York');
is($node->safe_psql('postgres', qq{SELECT occurred_at = '$first[0]{occurred_at}'::timestamptz FROM allocation.events
                                  WHERE id = $first[0]{id}}), 't', 'and the same instant as in the outbox');

# 2. Under load from 4 clients, kill the relay again and again, and stop
# the server immediately once.
my $script = $PostgreSQL::Test::Utils::tmp_check . '/relay_load.sql';   # tmp_check is shared by the tests
PostgreSQL::Test::Utils::append_to_file($script, q{
\set sku random(1, 3)
\set o random(1, 1000000000)
SELECT allocation.allocate('p' || :o, 'SKU-' || :sku, 1);
\set d random(0, 2)
\if :d
SELECT allocation.deallocate('p' || :o, 'SKU-' || :sku);
\endif
});
my ($load_out, $load_err) = ('', '');
sub load
{
	my ($seconds) = @_;
	($load_out, $load_err) = ('', '');
	return IPC::Run::start(
		[ 'pgbench', '-n', '-c', '4', '-j', '4', '-T', $seconds, '-f', $script,
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$load_out, '2>', \$load_err);
}
sub kill_relay_during
{
	my ($load, $kills) = @_;
	while ($load->pumpable)
	{
		sleep(0.2 + rand(0.6));
		kill_relay();
		$kills++;
		start_relay();
		$load->pump_nb;
	}
	$load->finish;
	note("pgbench: " . join(' ', grep { /tps|aborted|error/ } split /\n/, $load_out . $load_err));
	return $kills;
}

my $kills = kill_relay_during(load(3), 0);
kill_relay();
$node->stop('immediate');
$node->start;
start_relay();
$kills = kill_relay_during(load(3), $kills);
my $committed = $node->safe_psql('postgres', 'SELECT count(*) FROM allocation.events');
cmp_ok($committed, '>', 2000, "the load committed $committed events");
ok(wait_for_events($committed), 'the relay caught up');
sleep(1);	# anything more would be a duplicate
note("relay killed $kills times, server stopped immediately once");

my @events = file_events();
my @file_ids = map { $_->{id} } @events;
my $db_ids = $node->safe_psql('postgres', q{SELECT string_agg(id::text, ' ' ORDER BY id) FROM allocation.events});
is(join(' ', sort { $a <=> $b } @file_ids), $db_ids, 'the file holds every committed event exactly once');
my %seen;
is(scalar(grep { $seen{$_}++ } @file_ids), 0, 'no event twice');
my %last;
my $out_of_order = 0;
for my $e (@events)
{
	my $sku = $e->{payload}{sku};
	$out_of_order++ if defined $last{$sku} && $e->{id} < $last{$sku};
	$last{$sku} = $e->{id};
}
is($out_of_order, 0, "each product's events are in the order of its changes");

# 3. What the Python relay got wrong, each reproduced first.
# (a) A second relay on the same file: it lost acknowledged events for
# good; now it is refused, and the first goes on.
my ($status, $log) = refused('relay');
isnt($status, 0, 'a second relay on the same file exits with an error');
like($log, qr/being written by another relay/, 'saying another relay holds the file');
$node->safe_psql('postgres', q{SELECT allocation.allocate('after-second', 'SKU-1', 1)});
ok(wait_for_events($committed + 1), 'and the first relay goes on');
kill_relay();

# (b) A missing state: it truncated the file to nothing; now refused, and
# the file left as it is.
my $size = -s $out;
rename("$out.state", "$out.state.kept");
($status, $log) = refused('relay');
isnt($status, 0, 'a missing state: the relay exits with an error');
like($log, qr/its state .* is missing: refusing to guess/, 'saying the state is missing');
is(-s $out, $size, 'and the file keeps every byte');

# (c) A damaged state: refused the same way.
PostgreSQL::Test::Utils::append_to_file("$out.state", '{"lsn": "garbage"');
($status, $log) = refused('relay');
isnt($status, 0, 'a damaged state: the relay exits with an error');
like($log, qr/is damaged/, 'saying the state is damaged');
is(-s $out, $size, 'and the file keeps every byte');
rename("$out.state.kept", "$out.state");

# (d) A slot dropped and made again under the same name: it skipped the
# events between without a word; now the relay sees the slot ahead of its
# file and stops.
$node->safe_psql('postgres', q{
	SELECT allocation.stream_teardown('relay');
	SELECT allocation.allocate('lost-' || i, 'SKU-2', 1) FROM generate_series(1, 5) AS i;
	SELECT allocation.stream_setup('relay');
});
($status, $log) = refused('relay');
isnt($status, 0, 'a slot dropped and made again: the relay exits with an error');
like($log, qr/has moved past what the file holds .* events between are missing/,
	'saying the slot moved past the file and events are missing');

# (e) An invalidated slot: it looped "reconnecting" for ever; now it stops.
$node->append_conf('postgresql.conf', 'max_slot_wal_keep_size = 1MB');
$node->reload;
$node->safe_psql('postgres', q{SELECT allocation.stream_setup('doomed')});
my $doomed = $PostgreSQL::Test::Utils::tmp_check . '/doomed.jsonl';
start_relay('doomed', $doomed);
$node->safe_psql('postgres', q{SELECT allocation.allocate('doomed-1', 'SKU-1', 1)});
ok(wait_for_events(1, $doomed), 'a relay on a second slot delivers');
kill_relay();
for (1 .. 4)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE IF NOT EXISTS filler AS SELECT 1 AS i;
		INSERT INTO filler SELECT generate_series(1, 20000);
		SELECT pg_switch_wal();
		CHECKPOINT;
	});
}
is($node->safe_psql('postgres', q{SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'doomed'}), 'lost',
	'the second slot is invalidated (max_slot_wal_keep_size)');
($status, $log) = refused('doomed', $doomed);
isnt($status, 0, 'an invalidated slot: the relay exits with an error');
like($log, qr/was invalidated/, 'saying the slot was invalidated');
$node->safe_psql('postgres', q{SELECT allocation.stream_teardown('doomed'); DROP TABLE filler});
$node->append_conf('postgresql.conf', 'max_slot_wal_keep_size = -1');
$node->reload;

# stream_teardown refuses a logical slot of another database
$node->safe_psql('postgres', q{CREATE DATABASE other});
$node->safe_psql('other', q{SELECT pg_create_logical_replication_slot('elsewhere', 'pgoutput')});
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{SELECT allocation.stream_teardown('elsewhere')});
like($stderr, qr/not a pgoutput slot of this database/, "stream_teardown refuses another database's slot");
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'elsewhere'}), '1',
	'and leaves it');
$node->safe_psql('other', q{SELECT pg_drop_replication_slot('elsewhere')});

# 4. Retention under load: prune everything prunable while 4 clients
# allocate; check() stays clean, and still finds a corrupted total.
my $load = load(3);
my $pruned = 0;
while ($load->pumpable)
{
	$pruned += $node->safe_psql('postgres', q{SELECT allocation.prune_events('0')});
	$load->pump_nb;
	sleep(0.1);
}
$load->finish;
cmp_ok($pruned, '>', 0, "prune_events deleted $pruned events while allocations went on");
is($node->safe_psql('postgres', 'SELECT count(*) FROM allocation.check()'), '0', 'check() is clean after pruning');
$node->safe_psql('postgres', q{
	UPDATE allocation.batches SET allocated_quantity = allocated_quantity + 1 WHERE reference = 'batch-1'});
is($node->safe_psql('postgres', q{SELECT string_agg(problem || ' ' || (detail ->> 'batch'), ', ') FROM allocation.check()}),
	"allocated_quantity is not the sum of the batch's lines batch-1",
	'and it still reports a corrupted total');

$node->stop;
done_testing();
