# t/001_crash.pl: kill the server in the middle of concurrent allocation
# load (allocations, checkouts held then confirmed or released, batch
# changes); after crash recovery every acknowledged change is there, nothing
# half-done survives, every invariant holds, and no hold counts past its
# expiry.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use Invariants qw($EVENTS_OUT_OF_TURN);
use IPC::Run;

my $clients = 4;
my $ops_per_client = 100000;	# more than a client finishes before the crash
my $load_seconds = 3;
my @skus = map { "SKU-$_" } 1 .. 3;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->start;

# Per sku: two warehouse batches that the load resizes, and a huge late one
# that always has room, so a reallocation never drops a line.
$node->safe_psql('postgres', q{
	CREATE EXTENSION allocation;
	SELECT allocation.add_batch('a' || b || '-SKU-' || s, 'SKU-' || s, 100, NULL)
	FROM generate_series(1, 3) AS s, generate_series(1, 2) AS b;
	SELECT allocation.add_batch('z-SKU-' || s, 'SKU-' || s, 1000000, '2100-01-01')
	FROM generate_series(1, 3) AS s;
});

# Each client runs a script of single-statement transactions and prints
# "ACK n" after statement n returned, i.e. after its COMMIT was acknowledged.
# The operations are fixed in advance, so the test knows what each did.
my (@ops, @scripts, @handles, @outfile);
for my $c (1 .. $clients)
{
	srand($c);
	my @held;			# "orderid|sku" of the lines this client holds
	my @carts;			# "holdid|sku" of its holds not yet confirmed or released
	my $script = '';
	for my $i (1 .. $ops_per_client)
	{
		my $r = rand();
		my $op;
		if ($r < 0.12 || (!@held && !@carts))
		{
			my $sku = $skus[ int(rand(@skus)) ];
			$op = { kind => 'hold', holdid => "k$c-$i", sku => $sku };
			$script .= "SELECT allocation.hold('k$c-$i', '$sku', " . (1 + int(rand(5))) . ", '1 minute');\n";
			push @carts, "k$c-$i|$sku";
		}
		elsif ($r < 0.27 && @carts)
		{
			my $pick = int(rand(@carts));
			my ($holdid, $sku) = split /\|/, $carts[$pick];
			$carts[$pick] = $carts[-1];
			pop @carts;
			if ($r < 0.23)
			{
				# the checkout is paid: the hold becomes order holdid's line
				$op = { kind => 'confirm', holdid => $holdid, orderid => $holdid, sku => $sku };
				$script .= "SELECT * FROM allocation.confirm_hold('$holdid', '$holdid');\n";
				push @held, "$holdid|$sku";
			}
			else
			{
				$op = { kind => 'release', holdid => $holdid, sku => $sku };
				$script .= "SELECT allocation.release_hold('$holdid');\n";
			}
		}
		elsif ($r < 0.65 || !@held)
		{
			my $sku = $skus[ int(rand(@skus)) ];
			$op = { kind => 'allocate', orderid => "c$c-$i", sku => $sku };
			$script .= "SELECT allocation.allocate('c$c-$i', '$sku', " . (1 + int(rand(5))) . ");\n";
			push @held, "c$c-$i|$sku";
		}
		elsif ($r < 0.88)
		{
			my $pick = int(rand(@held));
			my ($orderid, $sku) = split /\|/, $held[$pick];
			$held[$pick] = $held[-1];
			pop @held;
			$op = { kind => 'deallocate', orderid => $orderid, sku => $sku };
			$script .= "SELECT allocation.deallocate('$orderid', '$sku');\n";
		}
		else
		{
			my $s = 1 + int(rand(@skus));
			my $ref = 'a' . (1 + int(rand(2))) . "-SKU-$s";
			$op = { kind => 'change', sku => "SKU-$s" };
			$script .= "SELECT allocation.change_batch_quantity('$ref', " . int(rand(101)) . ");\n";
		}
		$script .= "\\echo ACK $i\n";
		push @{ $ops[$c] }, $op;
	}
	$scripts[$c] = $PostgreSQL::Test::Utils::tmp_check . "/client$c.sql";
	PostgreSQL::Test::Utils::append_to_file($scripts[$c], $script);
}

# All clients start together.  Output goes to files: a pipe nobody reads
# would stall them.
for my $c (1 .. $clients)
{
	$outfile[$c] = $PostgreSQL::Test::Utils::tmp_check . "/client$c.out";
	push @handles, IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		  '-h', $node->host, '-p', $node->port, '-d', 'postgres', '-f', $scripts[$c] ],
		'>', $outfile[$c], '2>', $outfile[$c] . '.err');
}

sleep($load_seconds);
$node->stop('immediate');
$_->finish for @handles;	# each stops at its first error: the lost connection
$node->start;

# What the clients know: ops 1..acked[c] committed; op acked[c]+1 was in
# flight and may or may not have committed; later ones never ran.
my (%expected, %uncertain_line, %acked_changes, %uncertain_changes, %cart, %uncertain_cart);
my ($acked_total, $cut_short) = (0, 0);
for my $c (1 .. $clients)
{
	my ($acked) = (PostgreSQL::Test::Utils::slurp_file($outfile[$c]) =~ /.*^ACK (\d+)$/ms);
	$acked //= 0;
	$acked_total += $acked;
	$cut_short++ if $acked < $ops_per_client;
	for my $i (1 .. $acked)
	{
		my $op = $ops[$c][ $i - 1 ];
		$acked_changes{ $op->{sku} }++;
		$expected{"$op->{orderid}|$op->{sku}"} = 1 if $op->{kind} =~ /^(allocate|confirm)$/;
		delete $expected{"$op->{orderid}|$op->{sku}"} if $op->{kind} eq 'deallocate';
		$cart{"$op->{holdid}|$op->{sku}"} = 1 if $op->{kind} eq 'hold';
		delete $cart{"$op->{holdid}|$op->{sku}"} if $op->{kind} =~ /^(confirm|release)$/;
	}
	if ($acked < $ops_per_client)
	{
		my $op = $ops[$c][$acked];
		$uncertain_changes{ $op->{sku} }++;
		$uncertain_line{"$op->{orderid}|$op->{sku}"} = 1 if $op->{kind} =~ /^(allocate|confirm|deallocate)$/;
		$uncertain_cart{"$op->{holdid}|$op->{sku}"} = 1 if $op->{kind} =~ /^(hold|confirm|release)$/;
	}
}
is($cut_short, $clients, 'the crash cut every client short in the middle of its load');
cmp_ok($acked_total, '>', 100, 'the clients got commits acknowledged before the crash');

my %stored = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', q{SELECT orderid || '|' || sku FROM allocation.order_lines});
my @lost = grep { !$stored{$_} && !$uncertain_line{$_} } keys %expected;
my @ghosts = grep { !$expected{$_} && !$uncertain_line{$_} } keys %stored;
is(scalar(@lost), 0, 'every acknowledged allocation is there') or diag("lost: @lost[0 .. 9]");
is(scalar(@ghosts), 0, 'every acknowledged deallocation is there, and no line appeared from nowhere')
  or diag("unexpected: @ghosts[0 .. 9]");
cmp_ok(scalar(grep { /^k/ } keys %expected), '>', 0, 'acknowledged checkouts were confirmed into orders');

my %live = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres', q{SELECT holdid || '|' || sku FROM allocation.holds_view});
my @lost_carts = grep { !$live{$_} && !$uncertain_cart{$_} } keys %cart;
my @ghost_carts = grep { !$cart{$_} && !$uncertain_cart{$_} } keys %live;
is(scalar(@lost_carts) + scalar(@ghost_carts), 0,
	'the live holds are the acknowledged holds not confirmed or released')
  or diag("lost: @lost_carts[0 .. 9]; unexpected: @ghost_carts[0 .. 9]");

is($node->safe_psql('postgres', 'SELECT count(*) FROM allocation.check()'), '0',
	'check(): totals equal the lines, nothing oversold, no line on a missing batch, events match lines');
is($node->safe_psql('postgres', q{
	SELECT count(*)
	FROM allocation.batches AS b
	WHERE b.allocated_quantity <> (SELECT coalesce(sum(qty), 0) FROM allocation.order_lines AS l
	                               WHERE l.batch_reference = b.reference)
	   OR b.allocated_quantity > b.purchased_quantity}), '0',
	'for every batch allocated_quantity is the sum of its lines and at most purchased');
is($node->safe_psql('postgres', q{
	SELECT count(*)
	FROM allocation.order_lines AS l
	LEFT JOIN allocation.batches AS b ON b.reference = l.batch_reference
	WHERE b.reference IS NULL}), '0', 'no line refers to a missing batch');
is($node->safe_psql('postgres', $EVENTS_OUT_OF_TURN), '0',
	'each line\'s events alternate Allocated, Deallocated in id order, starting with Allocated');
is($node->safe_psql('postgres', q{
	SELECT count(*)
	FROM allocation.order_lines AS l
	LEFT JOIN (SELECT payload ->> 'orderid' AS orderid, payload ->> 'sku' AS sku,
	                  count(*) FILTER (WHERE event = 'Allocated')
	                  - count(*) FILTER (WHERE event = 'Deallocated') AS open
	           FROM allocation.events
	           GROUP BY 1, 2) AS e ON e.orderid = l.orderid AND e.sku = l.sku
	WHERE e.open IS DISTINCT FROM 1}), '0',
	'exactly one open Allocated event per allocated line');

my %version = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', q{SELECT sku || '|' || version_number FROM allocation.products});
for my $sku (@skus)
{
	my $low = $acked_changes{$sku} // 0;
	my $high = $low + ($uncertain_changes{$sku} // 0);
	ok($version{$sku} >= $low && $version{$sku} <= $high,
		"version_number of $sku ($version{$sku}) is the number of its committed changes ($low..$high)");
}

# A minute later (the clock moved by a superuser), no hold counts: none is
# live, no batch has anything held, and every unit not allocated can be.
is($node->safe_psql('postgres', q{
	SET allocation.clock_offset = '61s';
	SELECT (SELECT count(*) FROM allocation.holds_view) || ' live, '
	       || (SELECT coalesce(sum(held_quantity), 0) FROM allocation.batch_stock) || ' held, '
	       || (SELECT count(*) FROM allocation.batch_stock
	           WHERE available_quantity <> purchased_quantity - allocated_quantity) || ' batches short, '
	       || (SELECT count(*) FROM allocation.check()) || ' problems'}),
	'0 live, 0 held, 0 batches short, 0 problems', 'no hold counts past its expiry');

my ($lines, $events) = split /\|/, $node->safe_psql('postgres',
	q{SELECT (SELECT count(*) FROM allocation.order_lines) || '|' || (SELECT count(*) FROM allocation.events)});
note("checked $acked_total acknowledged calls from $clients clients, "
	  . scalar(keys %uncertain_line) . " in flight at the crash, $lines lines, $events events");

$node->stop;
done_testing();
