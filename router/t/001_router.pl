# router/t/001_router.pl: allocation_router on a router cluster in front of
# two shard clusters that run the allocation extension, through PL/Proxy:
# with 2 partitions, then 4 partitions on the 2 shards.  The API through
# the router, where each sku's rows live, orders over several partitions
# all or nothing while router backends and the whole router are killed
# (then recover()), and a stopped shard.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(sleep);

my @shards = map { PostgreSQL::Test::Cluster->new("shard$_") } (0, 1);
my $router = PostgreSQL::Test::Cluster->new('router');
for my $node (@shards, $router)
{
	$node->init;
	$node->start;
}
$_->safe_psql('postgres', 'CREATE EXTENSION allocation') for @shards;
$router->safe_psql('postgres', q{
	CREATE EXTENSION allocation_router CASCADE;
	ALTER DATABASE postgres SET allocation_router.hold_ttl = '2 seconds';
});

# The partitions' connection strings, partition p on shard p mod 2.
sub configure
{
	my ($partitions) = @_;
	my $options = join(', ', map {
		my $shard = $shards[ $_ % 2 ];
		sprintf("p%d 'host=%s port=%d dbname=postgres'", $_, $shard->host, $shard->port)
	} 0 .. $partitions - 1);
	$router->safe_psql('postgres', qq{
		DROP SERVER IF EXISTS allocation_cluster CASCADE;
		CREATE SERVER allocation_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ($options);
		CREATE USER MAPPING FOR PUBLIC SERVER allocation_cluster;
	});
}

# The SQLSTATE of a call through the router ('' when it succeeds).
sub sqlstate
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $router->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return $ret == 0 ? '' : ($err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "unknown: $err");
}

for my $partitions (2, 4)
{
	configure($partitions);
	$_->safe_psql('postgres', 'TRUNCATE allocation.events, allocation.order_lines, allocation.holds,
	                             allocation.batches, allocation.products') for @shards;
	$router->safe_psql('postgres', 'TRUNCATE allocation.router_orders');
	my $p = "$partitions partitions";

	# 1. The foundation's behaviour through the router.
	$router->safe_psql('postgres', q{
		SELECT allocation.add_batch('b-' || i, 'SKU-' || i, 100, NULL) FROM generate_series(1, 8) AS i;
		SELECT allocation.add_batch('late-' || i, 'SKU-' || i, 1000000, '2030-01-01') FROM generate_series(1, 8) AS i;
	});
	is($router->safe_psql('postgres', q{SELECT allocation.allocate('o1', 'SKU-1', 60)}), 'b-1', "$p: allocate");
	is($router->safe_psql('postgres', q{SELECT allocation.allocate('o2', 'SKU-1', 30)}), 'b-1', "$p: allocate again");
	$router->safe_psql('postgres', q{SELECT allocation.change_batch_quantity('b-1', 70)});
	is($router->safe_psql('postgres', q{SELECT string_agg(sku || '=' || batchref, ' ') FROM allocation.allocations('o2')}),
		'SKU-1=late-1', "$p: change_batch_quantity moves the most recent line to the next batch");
	is($router->safe_psql('postgres', q{SELECT allocation.deallocate('o1', 'SKU-1')}), 'b-1', "$p: deallocate");
	is(sqlstate(q{SELECT allocation.allocate('o3', 'NO-SUCH', 1)}), 'AL001', "$p: unknown sku is AL001");
	is(sqlstate(q{SELECT allocation.change_batch_quantity('no-such', 1)}), 'AL002', "$p: unknown batch is AL002");
	is(sqlstate(q{SELECT allocation.allocate('o2', 'SKU-1', 31)}), 'AL003', "$p: another qty is AL003");
	is(sqlstate(q{SELECT allocation.allocate('o3', 'SKU-1', 0)}), '22023', "$p: qty 0 is 22023");
	is(sqlstate(q{SELECT allocation.allocate('o3', NULL, 1)}), '22004', "$p: a NULL sku is 22004");
	is(sqlstate(q{SELECT * FROM allocation.allocate_order('o3', ARRAY['SKU-1', 'SKU-2'], ARRAY[1])}), '22023',
		"$p: order arrays of different length are 22023");

	# 2. Each sku's rows live on the shard of its partition, and only there.
	my %partition = map { split /\|/ } split /\n/, $router->safe_psql('postgres',
		q{SELECT 'SKU-' || i || '|' || ((hashtext('SKU-' || i) & } . ($partitions - 1) . q{)) FROM generate_series(1, 8) AS i});
	my $misplaced = 0;
	for my $sku (sort keys %partition)
	{
		for my $s (0, 1)
		{
			my $here = $shards[$s]->safe_psql('postgres', "SELECT count(*) FROM allocation.batches WHERE sku = '$sku'");
			$misplaced++ if ($here > 0) != ($partition{$sku} % 2 == $s);
		}
	}
	is($misplaced, 0, "$p: every sku's batches are on the shard of partition hashtext(sku) & " . ($partitions - 1));

	# 3. An order over several partitions: all or nothing.
	is($router->safe_psql('postgres', q{
		SELECT string_agg(sku || '=' || batchref, ' ') FROM allocation.allocate_order('o4', ARRAY['SKU-3', 'SKU-4', 'SKU-5'], ARRAY[1, 1, 1])}),
		'SKU-3=b-3 SKU-4=b-4 SKU-5=b-5', "$p: an order over several partitions is allocated");
	is($router->safe_psql('postgres', q{
		SELECT string_agg(sku || '=' || coalesce(batchref, 'NULL'), ' ')
		FROM allocation.allocate_order('o5', ARRAY['SKU-6', 'SKU-7', 'SKU-8'], ARRAY[1, 1, 2000000])}),
		'SKU-6=NULL SKU-7=NULL SKU-8=NULL', "$p: a short line: nothing is allocated");
	is($router->safe_psql('postgres', q{SELECT count(*) FROM allocation.allocations('o5')}), '0',
		"$p: not on any partition");
}

# 4. Orders over several partitions under load, with router backends killed
# at random points and, once, the whole router; then recover().
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
		$script .= sprintf("psql -X -q -h '%s' -p %d -d postgres -c \"SELECT count(*) FROM allocation.allocate_order('load-%d-%d', ARRAY['%s'], ARRAY[%s])\" >/dev/null 2>&1\n",
			$router->host, $router->port, $c, $i, join("', '", @mine), $qtys);
	}
	my $file = $PostgreSQL::Test::Utils::tmp_check . "/router_client$c.sh";
	PostgreSQL::Test::Utils::append_to_file($file, $script);
	push @clients, IPC::Run::start([ 'bash', $file ]);
}
my $kills = 0;
for my $round (1 .. 40)
{
	sleep(0.05 + rand(0.1));
	$kills += $router->safe_psql('postgres', q{
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE query LIKE '%allocate_order%' AND pid <> pg_backend_pid() AND backend_type = 'client backend'});
	if ($round == 25)
	{
		$router->stop('immediate');
		$router->start;
	}
}
$_->kill_kill for @clients;
note("killed $kills router backends, stopped the router immediately once");
my $recovered = $router->safe_psql('postgres', 'SELECT count(*) FROM allocation.recover()');
note("recover() finished $recovered orders");
sleep(2.5);    # every router hold expired
$router->safe_psql('postgres', 'SELECT count(*) FROM allocation.recover()');
is($router->safe_psql('postgres', q{SELECT count(*) FROM allocation.router_orders WHERE state IN ('holding', 'decided')}),
	'0', 'recover() left no order holding or decided');

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

# 5. A stopped shard: the calls that need it fail clearly, the others work.
my %on_shard;
for my $sku (@skus)
{
	my $part = $router->safe_psql('postgres', "SELECT allocation.router_partition('$sku')");
	$on_shard{ $part % 2 } //= $sku;
}
$shards[1]->stop('fast');
my ($ret, $out, $err) = $router->psql('postgres', "SELECT allocation.allocate('down-1', '$on_shard{1}', 1)");
like($err, qr/PL\/Proxy function allocation\.allocate\(3\): .*connection to server .* failed/,
	'a sku of the stopped shard fails, naming the call and the connection that failed');
is(sqlstate("SELECT allocation.allocate('down-0', '$on_shard{0}', 1)"), '', 'a sku of the other shard works');
$shards[1]->start;
is(sqlstate("SELECT allocation.allocate('down-1', '$on_shard{1}', 1)"), '', 'after the restart, it works again');

$_->stop for @shards, $router;
done_testing();
