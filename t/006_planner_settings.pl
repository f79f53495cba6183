# t/006_planner_settings.pl: the plans of the extension's statements depend
# neither on what the caller set nor on the statistics seen when they were
# made.  auto_explain logs every statement the functions run (JSON plans
# with costs, through the server's jsonlog).
#
# Settings: in a clean backend, in a backend whose caller set every kind of
# planner setting before the first call (methods, costs, JIT,
# plan_cache_mode), in one that did so and then RESET ALL (plans are kept
# for the life of the backend), and for a role with such settings of its
# own, each in a copy of the same database: every statement's plan must be
# the same, costs included, and none compiled by JIT.  (1.2 pinned three
# settings only: 200 calls took 48 s instead of 16 ms.)
#
# Statistics: plans made while the tables are empty and never analyzed have
# the same shape (nodes, indexes) as plans made with thousands of rows
# analyzed: a plan kept from an empty table must not scan.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;

my $node = PostgreSQL::Test::Cluster->new('planner');
$node->init;
$node->append_conf('postgresql.conf', q{
logging_collector = on
log_destination = 'jsonlog'
log_directory = 'jlog'
log_filename = 'planner.log'
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE poisoned LOGIN SUPERUSER;
	ALTER ROLE poisoned SET enable_indexscan = off;
	ALTER ROLE poisoned SET enable_bitmapscan = off;
	ALTER ROLE poisoned SET jit_above_cost = 0;
	CREATE DATABASE empty;
	CREATE DATABASE loaded;
});
# "empty": what the calls below need, and nothing else, never analyzed;
# "loaded": the same plus thousands of batches, lines and holds, analyzed.
my $minimal = q{
	CREATE EXTENSION allocation;
	SELECT count(allocation.add_batch('b' || i || '-' || n, 'S-' || i, 100, CASE n WHEN 1 THEN NULL ELSE date '2030-01-01' + n END))
	FROM generate_series(1, 10) AS i, generate_series(1, 3) AS n;
	SELECT allocation.allocate('old-9', 'S-9', 1);
};
$node->safe_psql('empty', $minimal);
$node->safe_psql('loaded', $minimal . q{
	SELECT count(allocation.add_batch('x' || i || '-' || n, 'X-' || i, 100, CASE n WHEN 1 THEN NULL ELSE date '2030-01-01' + n END))
	FROM generate_series(1, 3000) AS i, generate_series(1, 3) AS n;
	SELECT count(allocation.allocate('old-' || i, 'X-' || i, 1)) FROM generate_series(1, 3000) AS i;
	SELECT count(allocation.hold('h-' || i, 'X-' || i, 1, '1 day')) FROM generate_series(1, 3000) AS i;
	ANALYZE;
});

my $explain = q{
LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_format = json;
};

# Every kind of planner setting a caller may set.
my $poison = q{
SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
SET enable_nestloop = off; SET enable_sort = off; SET enable_material = off;
SET random_page_cost = 1000; SET seq_page_cost = 0.001; SET cpu_tuple_cost = 5;
SET cpu_operator_cost = 3; SET effective_cache_size = '8kB';
SET jit = on; SET jit_above_cost = 0; SET jit_inline_above_cost = 0; SET jit_optimize_above_cost = 0;
SET plan_cache_mode = force_custom_plan; SET from_collapse_limit = 1; SET join_collapse_limit = 1;
SET geqo_threshold = 2; SET cursor_tuple_fraction = 1;
};

# The calls, each run once per session, on their own data ($tag).
sub calls
{
	my ($tag) = @_;
	return qq{
/*top*/ SELECT allocation.allocate('$tag-1', 'S-1', 1);
/*top*/ SELECT allocation.allocate('$tag-1', 'S-1', 1);
/*top*/ SELECT allocation.deallocate('$tag-1', 'S-1');
/*top*/ SELECT allocation.hold('$tag-h', 'S-2', 1, '10 minutes');
/*top*/ SELECT count(*) FROM allocation.hold_order('$tag-h', ARRAY['S-3', 'S-4'], ARRAY[1, 1], '10 minutes');
/*top*/ SELECT count(*) FROM allocation.confirm_hold('$tag-h', '$tag-o');
/*top*/ SELECT allocation.hold('$tag-r', 'S-5', 1, '10 minutes');
/*top*/ SELECT allocation.release_hold('$tag-r');
/*top*/ SELECT count(*) FROM allocation.allocate_order('$tag-o2', ARRAY['S-6', 'S-7'], ARRAY[1, 1]);
/*top*/ SELECT allocation.add_batch('$tag-b', 'S-8', 10, NULL);
/*top*/ SELECT allocation.change_batch_quantity('b9-1', 0);
/*top*/ SELECT count(*) FROM allocation.allocations('$tag-o');
/*top*/ SELECT count(*) FROM allocation.apply_command('$tag-c', 'allocate', '{"orderid": "$tag-c", "sku": "S-10", "qty": 1}');
};
}

my $log = $node->data_dir . '/jlog/planner.json';    # jsonlog's name for it
my $logged = 0;

# The plans of the functions' statements logged since the last call, by
# statement text (the top-level calls, marked /*top*/, are the caller's).
sub plans_since
{
	my %plans;
	my @lines = split /\n/, PostgreSQL::Test::Utils::slurp_file($log);
	for my $line (@lines[ $logged .. $#lines ])
	{
		my $entry = decode_json($line);
		next unless ($entry->{message} // '') =~ /^duration: [0-9.]+ ms  plan:\n(.*)$/s;
		my $plan = decode_json($1);
		next if $plan->{'Query Text'} =~ m{/\*top\*/};
		$plans{ $plan->{'Query Text'} } = JSON::PP->new->canonical->encode($plan->{Plan})
		  . (exists $plan->{JIT} ? ' JIT' : '');
	}
	$logged = scalar(@lines);
	return \%plans;
}

# Run a session's script in a fresh copy of a database, wait until its plans
# are in the log, return them.
my $copies = 0;
sub session_plans
{
	my ($template, $script, $user) = @_;
	my $db = 'copy' . ++$copies;
	$node->safe_psql('postgres', "CREATE DATABASE $db TEMPLATE $template");
	my ($ret, $out, $err) = $node->psql($db, $script, extra_params => [ '-U', $user ]);
	is($ret, 0, "the session ran ($user on a copy of $template)") or diag($err);
	# The session is over, so its messages are in the collector's pipe
	# before this marker: once the marker is in the file, so are they.
	$node->safe_psql('postgres', "DO \$\$ BEGIN RAISE LOG 'plans of $db are logged'; END \$\$");
	my $waited = 0;
	until (PostgreSQL::Test::Utils::slurp_file($log) =~ /plans of $db are logged/)
	{
		die "the log collector did not write the plans of $db in 60 s" if ++$waited > 600;
		select(undef, undef, undef, 0.1);
	}
	return plans_since();
}

# A plan's shape: its nodes and indexes, without costs and row counts.
sub shape
{
	my ($plan) = @_;
	$plan =~ s/"(Startup Cost|Total Cost|Plan Rows|Plan Width)":[0-9.e+-]+,?//g;
	return $plan;
}

my $clean = session_plans('loaded', $explain . calls('clean'), 'postgres');
cmp_ok(scalar(keys %$clean), '>=', 15, scalar(keys %$clean) . ' statements of the functions explained in a clean backend');

my %sessions = (
	'settings made before the first call' => [ 'loaded', $explain . $poison . calls('first'), 'postgres' ],
	'settings made, used, then RESET ALL' =>
	  [ 'loaded', $explain . $poison . calls('used') . "RESET ALL;\n" . $explain . calls('clean'), 'postgres' ],
	'settings of the role' => [ 'loaded', $explain . calls('clean'), 'poisoned' ],
);
for my $name (sort keys %sessions)
{
	my $plans = session_plans(@{ $sessions{$name} });
	my @compared = grep { exists $clean->{$_} } sort keys %$plans;
	my @different = grep { $plans->{$_} ne $clean->{$_} } @compared;
	cmp_ok(scalar(@compared), '>=', 15, "$name: " . scalar(@compared) . ' statements compared');
	is(scalar(@different), 0, "$name: every statement is planned as in a clean backend")
	  or diag(join("\n", map { "$_\n  clean: $clean->{$_}\n  here:  $plans->{$_}" } @different[ 0 .. 0 ]));
	is(scalar(grep { / JIT$/ } values %$plans), 0, "$name: no statement is compiled by JIT");
}

# Plans first made on empty tables: the same shapes as on loaded ones.
my $from_empty = session_plans('empty', $explain . calls('clean'), 'postgres');
my @compared = grep { exists $clean->{$_} } sort keys %$from_empty;
my @different = grep { shape($from_empty->{$_}) ne shape($clean->{$_}) } @compared;
cmp_ok(scalar(@compared), '>=', 15, 'empty tables: ' . scalar(@compared) . ' statements compared');
is(scalar(@different), 0, 'plans made on empty tables have the shapes of plans made on loaded ones')
  or diag(join("\n", map { "$_\n  loaded: " . shape($clean->{$_}) . "\n  empty:  " . shape($from_empty->{$_}) } @different));

$node->stop;
done_testing();
