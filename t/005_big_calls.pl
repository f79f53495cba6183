# t/005_big_calls.pl: calls of any size.  A 100,000-line order succeeds and
# leaves the backend's memory where it was; a 20,000-line reallocation is
# correct, taking the most recent lines first.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('big');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION allocation;
	SELECT count(allocation.add_batch('b' || i, 's' || i, 10, NULL)) FROM generate_series(1, 100000) AS i;
});

# One backend: private memory (RssAnon) and memory contexts after a small
# order (every plan and cache in place), then after a 100,000-line one.
my $session = $node->background_psql('postgres');
my $pid = $session->query_safe('SELECT pg_backend_pid()');
sub private_kb
{
	my $status = PostgreSQL::Test::Utils::slurp_file("/proc/$pid/status");
	return $status =~ /RssAnon:\s+(\d+) kB/ ? $1 : die "no RssAnon";
}
my $contexts = q{SELECT sum(total_bytes) FROM pg_backend_memory_contexts};
$session->query_safe(q{SELECT count(*) FROM allocation.allocate_order('small', ARRAY['s1', 's2'], ARRAY[1, 1])});
my ($kb_before, $bytes_before) = (private_kb(), $session->query_safe($contexts));
is($session->query_safe(q{
	SELECT count(batchref) FROM allocation.allocate_order('big',
		ARRAY(SELECT 's' || i FROM generate_series(1, 100000) AS i),
		ARRAY(SELECT 1 FROM generate_series(1, 100000) AS i))}), '100000', 'a 100,000-line order is allocated');
my ($kb_after, $bytes_after) = (private_kb(), $session->query_safe($contexts));
note("private memory ${kb_before} kB -> ${kb_after} kB; contexts $bytes_before -> $bytes_after bytes");
cmp_ok($kb_after - $kb_before, '<', 32 * 1024, 'the backend keeps less than 32 MB of it');
cmp_ok($bytes_after - $bytes_before, '<', 1024 * 1024, 'and its memory contexts are back where they were');
$session->quit;
is($node->safe_psql('postgres', 'SELECT count(*) FROM allocation.check()'), '0', 'check() is clean');

# A batch holding 20,000 lines shrinks to 12,000: the 8,000 most recent
# lines move to the next batch, in the order they were taken off.
$node->safe_psql('postgres', q{
	SELECT allocation.add_batch('first', 'R', 20000, NULL), allocation.add_batch('next', 'R', 100000, '2030-01-01');
	DO $$ BEGIN
		FOR i IN 1 .. 20000 LOOP
			PERFORM allocation.allocate('line-' || i, 'R', 1);
			IF i % 500 = 0 THEN COMMIT; END IF;
		END LOOP;
	END $$;
	SELECT allocation.change_batch_quantity('first', 12000);
});
is($node->safe_psql('postgres', q{
	SELECT batch_reference || ' ' || min(substr(orderid, 6)::int) || '..' || max(substr(orderid, 6)::int) || ' ' || count(*)
	FROM allocation.order_lines WHERE sku = 'R' GROUP BY batch_reference ORDER BY 1}),
	"first 1..12000 12000\nnext 12001..20000 8000", 'the 8,000 most recent lines moved to the next batch');
is($node->safe_psql('postgres', q{
	SELECT bool_and(d.payload ->> 'orderid' = a.payload ->> 'orderid')
	FROM (SELECT payload, row_number() OVER (ORDER BY id) AS n FROM allocation.events
	      WHERE event = 'Deallocated' AND payload ->> 'sku' = 'R') AS d
	JOIN (SELECT payload, row_number() OVER (ORDER BY id) AS n FROM allocation.events
	      WHERE event = 'Allocated' AND payload ->> 'batchref' = 'next') AS a USING (n)}),
	't', 'taken off most recent first, and placed again in that order');
is($node->safe_psql('postgres', q{
	SELECT string_agg(payload ->> 'orderid', ' ' ORDER BY id) FROM (
		SELECT id, payload FROM allocation.events WHERE event = 'Deallocated' AND payload ->> 'sku' = 'R'
		ORDER BY id LIMIT 3) AS first_taken}),
	'line-20000 line-19999 line-19998', 'the first taken off are the most recent');
is($node->safe_psql('postgres', 'SELECT count(*) FROM allocation.check()'), '0', 'check() is clean after the reallocation');

# Plans kept for the life of a backend do not depend on the statistics seen
# when they were made: prepared while statistics said no batch had stock,
# an order still reads only the batches of its skus once stock is there.
$node->safe_psql('postgres', q{
	CREATE DATABASE plans;
});
$node->safe_psql('plans', q{
	CREATE EXTENSION allocation;
	SELECT count(allocation.add_batch('x' || i, 'sku-' || (i % 2000), 0, NULL)) FROM generate_series(1, 20000) AS i;
	ANALYZE;
});
my ($ret, $out, $plans) = $node->psql('plans', q{
	SELECT count(*) FROM allocation.allocate_order('first', ARRAY['sku-1', 'sku-2', 'sku-3'], ARRAY[1, 1, 1]);
	SELECT count(allocation.add_batch('s' || i, 'sku-' || (i % 2000), 1000000, NULL)) FROM generate_series(1, 20000) AS i;
	LOAD 'auto_explain';
	SET auto_explain.log_min_duration = 0;
	SET auto_explain.log_nested_statements = on;
	SET auto_explain.log_analyze = on;
	SET client_min_messages = log;
	SELECT count(*) FROM allocation.allocate_order('second', ARRAY['sku-10', 'sku-611', 'sku-1212'], ARRAY[1, 1, 1]);
});
is($ret, 0, 'an order after the statistics changed');
my @seq_scans = $plans =~ /(Seq Scan on (?:batches|order_lines|products|holds)\b)/g;
is(scalar(@seq_scans), 0, 'its statements scan no table of the extension sequentially');
my $most = 0;
for my $rows ($plans =~ /Index(?: Only)? Scan using \w+ on batches \w+ .*?actual time=\S+ rows=(\d+)/g)
{
	$most = $rows if $rows > $most;
}
cmp_ok($most, '<=', 10, "no scan of batches returns more than a sku's few batches (most: $most rows)");

$node->stop;
done_testing();
