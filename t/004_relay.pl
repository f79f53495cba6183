# t/004_relay.pl: the event stream.  Through logical decoding and the
# reference relay (examples/relay/relay.py), every committed event reaches
# the relay's file exactly once, in commit order, and none of a rolled-back
# transaction: with transactions committing out of id order, with the relay
# killed (SIGKILL) again and again under load, and across an immediate stop
# of the server.  Then retention: prune_events under load keeps check()
# clean and still lets it find real drift.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(sleep);

my $python = '/usr/bin/python3';
my $relay_script = 'examples/relay/relay.py';
my $out = $PostgreSQL::Test::Utils::tmp_check . '/events.jsonl';

my $node = PostgreSQL::Test::Cluster->new('relay');
$node->init(allows_streaming => 'logical');
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION allocation;
	SELECT allocation.stream_setup('relay');
	SELECT allocation.add_batch('batch-' || s, 'SKU-' || s, 100000000, NULL) FROM generate_series(1, 3) AS s;
});

my ($relay, $relay_log) = (undef, '');
sub start_relay
{
	$relay = IPC::Run::start(
		[ $python, $relay_script, '--dsn', $node->connstr('postgres'), '--slot', 'relay', '--out', $out ],
		'>', \$relay_log, '2>', \$relay_log);
}

sub kill_relay
{
	$relay->signal('KILL');
	$relay->finish;
}

# The file's events, in file order.
sub file_events
{
	my @events;
	open(my $f, '<', $out) or return ();
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
	my ($n) = @_;
	for (1 .. 1200)
	{
		return 1 if scalar(my @e = file_events()) >= $n;
		sleep(0.1);
	}
	return 0;
}

# 1. Commit order, not id order; nothing of a rollback.
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
kill_relay();
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

# 3. Retention under load: prune everything prunable while 4 clients
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
