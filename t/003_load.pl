# t/003_load.pl: 8 sessions doing mixed work on 3 shared skus, including
# multi-sku orders given in every argument order, for a bounded time.
# READ COMMITTED: no error at all (no deadlock, no serialization failure),
# no oversell, no lost update.  REPEATABLE READ: the only errors are 40001,
# never a deadlock, and each failed transaction leaves nothing behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use Invariants qw($EVENTS_OUT_OF_TURN);

my $seconds = 4;
my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION allocation;
	SELECT allocation.add_batch('a' || b || '-SKU-' || s, 'SKU-' || s, 200, NULL)
	FROM generate_series(1, 3) AS s, generate_series(1, 2) AS b;
	SELECT allocation.add_batch('late-SKU-' || s, 'SKU-' || s, 500, '2030-01-01')
	FROM generate_series(1, 3) AS s;
});

my $script = $PostgreSQL::Test::Utils::tmp_check . '/load.sql';
PostgreSQL::Test::Utils::append_to_file($script, q{
\set sku random(1, 3)
\set line random(1, 400)
\set op random(1, 100)
\if :op <= 40
SELECT allocation.allocate('line-' || :line, 'SKU-' || :sku, 1);
\elif :op <= 65
SELECT allocation.deallocate('line-' || :line, 'SKU-' || :sku);
\elif :op <= 75
\set batch random(1, 2)
\set qty random(0, 200)
SELECT allocation.change_batch_quantity('a' || :batch || '-SKU-' || :sku, :qty);
\else
\set second (:sku % 3) + 1
\set third (:second % 3) + 1
\set reversed random(0, 1)
\if :reversed
SELECT count(*) FROM allocation.allocate_order('order-' || :line,
    ARRAY['SKU-' || :sku, 'SKU-' || :third, 'SKU-' || :second], ARRAY[1, 1, 1]);
\else
SELECT count(*) FROM allocation.allocate_order('order-' || :line,
    ARRAY['SKU-' || :sku, 'SKU-' || :second, 'SKU-' || :third], ARRAY[1, 1, 1]);
\endif
\endif
});

# pgbench counts 40001 and 40P01 as failed transactions (--max-tries=1)
# and aborts a client on any other error.
sub run_load
{
	my ($isolation) = @_;
	(my $escaped = $isolation) =~ s/ /\\ /g;	# PGOPTIONS splits on spaces
	local $ENV{PGOPTIONS} = "-c default_transaction_isolation=$escaped";
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(
		[ 'pgbench', '-n', '-c', '8', '-j', '2', '-T', $seconds, '-f', $script,
		  '--max-tries=1', '--failures-detailed',
		  '-h', $node->host, '-p', $node->port, 'postgres' ],
		'>', \$stdout, '2>', \$stderr);
	my %result = (ok => $ok, stderr => $stderr);
	($result{transactions}) = $stdout =~ /number of transactions actually processed: (\d+)/;
	($result{failed}) = $stdout =~ /number of failed transactions: (\d+)/;
	($result{serialization}) = $stdout =~ /number of serialization failures: (\d+)/;
	($result{deadlock}) = $stdout =~ /number of deadlock failures: (\d+)/;
	note("$isolation: $result{transactions} transactions, $result{failed} failed "
		  . "($result{serialization} serialization, $result{deadlock} deadlock)");
	return \%result;
}

sub check_invariants
{
	my ($label) = @_;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM allocation.check()'), '0',
		"$label: check() finds no oversold batch, no drifted total, no line without its event");
	is($node->safe_psql('postgres', $EVENTS_OUT_OF_TURN), '0',
		"$label: every line's events alternate Allocated, Deallocated (no lost or doubled update)");
}

my $rc = run_load('read committed');
ok($rc->{ok}, 'READ COMMITTED: no client aborted on an error') or diag($rc->{stderr});
cmp_ok($rc->{transactions}, '>', 100, 'READ COMMITTED: the load ran');
is($rc->{failed}, 0, 'READ COMMITTED: no transaction failed, so no retries are ever needed');
is($rc->{deadlock}, 0, 'READ COMMITTED: no deadlock (40P01)');
check_invariants('READ COMMITTED');

my $rr = run_load('repeatable read');
ok($rr->{ok}, 'REPEATABLE READ: no client aborted on an error other than 40001') or diag($rr->{stderr});
cmp_ok($rr->{transactions}, '>', 100, 'REPEATABLE READ: the load ran');
is($rr->{deadlock}, 0, 'REPEATABLE READ: no deadlock (40P01)');
is($rr->{failed}, $rr->{serialization}, 'REPEATABLE READ: every failure is a serialization failure (40001)');
check_invariants('REPEATABLE READ');

$node->stop;
done_testing();
