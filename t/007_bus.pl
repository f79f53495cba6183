# t/007_bus.pl: the book's message bus through a real redis-server
# (appendonly yes, appendfsync always) and a real SMTP server (aiosmtpd).
#
# 1. The book's external-events test: change_batch_quantity published on
#    Redis, line_allocated naming the new batch within 3 seconds.
# 2. allocation-relay into Redis, killed again and again under 4 writing
#    clients: each Allocated published once, as the book's message.  Then
#    Redis killed and restarted, and the server stopped immediately, under
#    more kills: the stream holds every committed event once, in commit
#    order, with one entry ID prefix (the commit LSN) per transaction.
# 3. allocation-consumer: every kind of bad entry answered with an error,
#    the stream going on; then 1,000 commands flowing while the consumer is
#    killed again and again: each applied once (version numbers), one
#    result each.
# 4. The out-of-stock e-mail, the SMTP server down at first.
# 5. Options and SIGTERM.
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(sleep time);

plan skip_all => 'redis-server is not installed' unless -x '/usr/bin/redis-server';

# A process in the background (IPC::Run::start); whatever the test started
# goes with it, even when it dies halfway.
my @started;
sub background
{
	my $run = IPC::Run::start(@_);
	push @started, $run;
	return $run;
}
END
{
	eval { $_->kill_kill } for @started;
}

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $json = JSON::PP->new->canonical;

# -- Redis ---------------------------------------------------------------------

my $redis_port = PostgreSQL::Test::Cluster::get_free_port();
my $redis;
sub start_redis
{
	$redis = background([ '/usr/bin/redis-server', '--port', $redis_port, '--bind', '127.0.0.1',
		'--dir', $tmp, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
		'--logfile', "$tmp/redis.log" ]);
	for (1 .. 100)
	{
		return if redis('publish', 'ping', 'x') =~ /^\d+$/;
		sleep(0.1);
	}
	die "redis-server did not start";
}

# Run t/bus_redis.py; its stdout.
sub redis
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ '/usr/bin/python3', "$FindBin::RealBin/bus_redis.py", $redis_port, @_ ],
		'>', \$out, '2>', \$err);
	return $out;
}

sub stream_entries
{
	my ($stream) = @_;
	return map { decode_json($_) } split /\n/, redis('entries', $stream);
}

# Start a listener on channels, writing to a file (a pipe would fill while
# the test does something else), and wait until it is subscribed.
my $listeners = 0;
sub listen_on
{
	my ($channels, $seconds) = @_;
	my $file = "$tmp/heard-" . ++$listeners;
	my $run = background([ '/usr/bin/python3', "$FindBin::RealBin/bus_redis.py", $redis_port, 'listen',
		$channels, $seconds ], '>', $file);
	sleep(0.05) until -s $file;
	return { run => $run, file => $file };
}

sub heard
{
	my ($listener) = @_;
	$listener->{run}->finish;
	return map { decode_json($_) } grep { $_ ne 'subscribed' } split /\n/,
	  PostgreSQL::Test::Utils::slurp_file($listener->{file});
}

# Add commands to allocation:commands, in the background; they go through a
# file both ways.  Returns the harness and the file their entry IDs go to.
my $batches = 0;
sub add_commands
{
	my ($commands, $per_second) = @_;
	my $in = "$tmp/commands-" . ++$batches;
	PostgreSQL::Test::Utils::append_to_file($in, join('', map { $json->encode($_) . "\n" } @$commands));
	my $run = background([ '/usr/bin/python3', "$FindBin::RealBin/bus_redis.py", $redis_port, 'add',
		'allocation:commands', $per_second // 0 ], '<', $in, '>', "$in.ids");
	return ($run, "$in.ids");
}

sub entry_ids
{
	my ($file) = @_;
	return split /\n/, PostgreSQL::Test::Utils::slurp_file($file);
}

# -- PostgreSQL ----------------------------------------------------------------

my $node = PostgreSQL::Test::Cluster->new('bus');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', "timezone = 'Asia/Tokyo'\ndatestyle = 'German, DMY'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION allocation;
	SELECT allocation.stream_setup('redis');
	SELECT allocation.stream_setup('mail');
	CREATE ROLE allocation_relay LOGIN REPLICATION;
	CREATE ROLE allocation_consumer LOGIN;
	GRANT USAGE ON SCHEMA allocation TO allocation_consumer;
	GRANT EXECUTE ON FUNCTION allocation.apply_command(text, text, text),
	    allocation.change_batch_quantity(text, integer) TO allocation_consumer;
});
my $relay_dsn = $node->connstr('postgres') . ' user=allocation_relay';
my $consumer_dsn = $node->connstr('postgres') . ' user=allocation_consumer';

# A bus program in the background; its stderr in $log.
sub start_program
{
	my ($log, @command) = @_;
	$$log = '';
	return background(\@command, '>', $log, '2>', $log);
}

my $relay_log;
sub start_relay
{
	return start_program(\$relay_log, 'allocation-relay', '--dsn', $relay_dsn, '--slot', 'redis',
		'--redis', "redis://127.0.0.1:$redis_port/0");
}
my $consumer_log;
sub start_consumer
{
	my $consumer = start_program(\$consumer_log, 'allocation-consumer', '--dsn', $consumer_dsn,
		'--redis', "redis://127.0.0.1:$redis_port/0", '--consumer', 'c1');
	$consumer->pump until $consumer_log =~ /listening on change_batch_quantity/;
	return $consumer;
}

sub wait_until
{
	my ($test) = @_;
	for (1 .. 600)
	{
		return 1 if $test->();
		sleep(0.1);
	}
	return 0;
}

start_redis();
my $relay = start_relay();
my $consumer = start_consumer();

# -- 1. the book's external-events test ------------------------------------------

$node->safe_psql('postgres', q{
	SELECT allocation.add_batch('earlier-batch', 'BOOK-LAMP', 10, '2011-01-01');
	SELECT allocation.add_batch('later-batch', 'BOOK-LAMP', 10, '2011-01-02');
	SELECT allocation.allocate('book-order', 'BOOK-LAMP', 10);
});
my $listener = listen_on('line_allocated', 3);
my $published_at = time;
redis('publish', 'change_batch_quantity', '{"batchref": "earlier-batch", "qty": 5}');
my @messages = heard($listener);
is(scalar(@messages), 1, 'one line_allocated message within 3 seconds of the command');
is($messages[-1]{data} // '', '{"orderid": "book-order", "sku": "BOOK-LAMP", "qty": 10, "batchref": "later-batch"}',
	"naming the new batch, as the book's message");
note(sprintf('listened %.2f s in all', time - $published_at));
is($node->safe_psql('postgres', q{SELECT purchased_quantity FROM allocation.batch_stock WHERE reference = 'earlier-batch'}),
	'5', 'the consumer ran change_batch_quantity from the channel');

my @entries = stream_entries('allocation:events');
is(join(' ', map { $_->{fields}{event} } @entries), 'Allocated Deallocated Allocated',
	'the stream has the events in commit order');
is_deeply([ sort keys %{ $entries[0]{fields} } ], [qw(event id occurred_at payload)],
	'each entry has the fields id, event, payload, occurred_at');
like($entries[0]{fields}{occurred_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
	'occurred_at is ISO 8601 UTC under DateStyle German and TimeZone Asia/Tokyo');
is($node->safe_psql('postgres', qq{SELECT payload::text = '$entries[1]{fields}{payload}' AND occurred_at = '$entries[1]{fields}{occurred_at}'
                                  FROM allocation.events WHERE id = $entries[1]{fields}{id}}), 't',
	'payload and instant as in the outbox');

# -- 2. the relay killed under load ---------------------------------------------

$node->safe_psql('postgres', q{SELECT allocation.add_batch('load-' || s, 'LOAD-' || s, 100000000) FROM generate_series(1, 3) AS s});
my $script = "$tmp/load.sql";
PostgreSQL::Test::Utils::append_to_file($script, q{
\set sku random(1, 3)
\set o random(1, 1000000000)
SELECT allocation.allocate('p' || :o, 'LOAD-' || :sku, 1);
\set d random(0, 2)
\if :d
SELECT allocation.deallocate('p' || :o, 'LOAD-' || :sku);
\endif
});
sub load
{
	my ($seconds) = @_;
	return background([ 'pgbench', '-n', '-c', '4', '-j', '4', '-T', $seconds, '-f', $script,
		'-h', $node->host, '-p', $node->port, 'postgres' ], '>', \my $out, '2>', \my $err);
}

# Kill the relay again and again while the load runs; then once more, and
# leave it running.  $also runs once, halfway.
sub kill_relay_during
{
	my ($load, $also) = @_;
	my ($kills, $started) = (0, time);
	while ($load->pumpable)
	{
		sleep(0.2 + rand(0.5));
		$relay->signal('KILL');
		$relay->finish;
		$kills++;
		if ($also && time - $started > 2)
		{
			$also->();
			$also = undef;
		}
		$relay = start_relay();
		$load->pump_nb;
	}
	$load->finish;
	return $kills;
}

sub events_count
{
	my ($after) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM allocation.events WHERE id > $after");
}
my $before = $node->safe_psql('postgres', 'SELECT max(id) FROM allocation.events');
my $in_stream = scalar(stream_entries('allocation:events'));
$listener = listen_on('line_allocated', 60);
my $kills = kill_relay_during(load(4));
my $committed = events_count($before);
ok(wait_until(sub { scalar(stream_entries('allocation:events')) >= $in_stream + $committed }),
	"the relay caught up after $kills kills ($committed events)");
sleep(0.5);	# anything more would be a duplicate
$listener->{run}->signal('TERM');
@messages = eval { heard($listener) };
my $expected = $node->safe_psql('postgres', qq{
	SELECT string_agg(pg_catalog.json_build_object('orderid', payload->>'orderid', 'sku', payload->>'sku',
	                                               'qty', (payload->>'qty')::int, 'batchref', payload->>'batchref')::text,
	                  E'\n' ORDER BY orderid_order)
	FROM (SELECT payload, payload->>'orderid' || ' ' || id AS orderid_order
	      FROM allocation.events WHERE id > $before AND event = 'Allocated') AS e});
my @heard = sort map { my $m = decode_json($_->{data}); $json->encode($m) } @messages;
my @wanted = sort map { $json->encode(decode_json($_)) } split /\n/, $expected;
is(scalar(@heard), scalar(@wanted), 'line_allocated: one message per Allocated event, through the kills');
is_deeply(\@heard, \@wanted, 'each the Allocated event, once');
is(scalar(grep { $_->{data} !~ /^\{"orderid": "[^"]+", "sku": "[^"]+", "qty": \d+, "batchref": "[^"]+"\}$/ } @messages), 0,
	"each exactly the book's {\"orderid\", \"sku\", \"qty\", \"batchref\"}");

# Redis killed and restarted halfway, then the server stopped immediately.
my $redis_kills = sub {
	$redis->signal('KILL');
	$redis->finish;
	start_redis();
};
$kills += kill_relay_during(load(4), $redis_kills);
$relay->signal('KILL');
$relay->finish;
$node->stop('immediate');
$node->start;
$relay = start_relay();
$kills += kill_relay_during(load(2));
$committed = $node->safe_psql('postgres', 'SELECT count(*) FROM allocation.events');
ok(wait_until(sub { scalar(stream_entries('allocation:events')) >= $committed }),
	"the relay caught up after $kills kills in all, Redis killed once, the server stopped once ($committed events)");
sleep(0.5);
@entries = stream_entries('allocation:events');
my @stream_ids = map { $_->{fields}{id} } @entries;
is(join(' ', sort { $a <=> $b } @stream_ids),
	$node->safe_psql('postgres', q{SELECT string_agg(id::text, ' ' ORDER BY id) FROM allocation.events}),
	'stream ids are the committed outbox ids');
my %seen;
is(scalar(grep { $seen{$_}++ } @stream_ids), 0, 'no event twice');
my (%last, $out_of_order);
$out_of_order = 0;
for my $e (@entries)
{
	my $sku = decode_json($e->{fields}{payload})->{sku};
	$out_of_order++ if defined $last{$sku} && $e->{fields}{id} < $last{$sku};
	$last{$sku} = $e->{fields}{id};
}
is($out_of_order, 0, "each product's events in the order of its changes (commit order)");
my %transaction_of = map { split /\|/ } split /\n/,
	$node->safe_psql('postgres', q{SELECT id || '|' || xmin FROM allocation.events});
my (%prefixes_of, %transactions_of);
for my $e (@entries)
{
	my ($lsn) = split /-/, $e->{entry};
	my $xid = $transaction_of{ $e->{fields}{id} };
	$prefixes_of{$xid}{$lsn} = 1;
	$transactions_of{$lsn}{$xid} = 1;
}
is(scalar(grep { keys %{ $prefixes_of{$_} } != 1 } keys %prefixes_of)
	 + scalar(grep { keys %{ $transactions_of{$_} } != 1 } keys %transactions_of), 0,
	'one entry ID prefix (the commit LSN) per transaction, and one transaction per prefix');
is($node->safe_psql('postgres', q{SELECT count(*) FROM allocation.check()}), '0', 'check() is clean');

# -- 3. the consumer ---------------------------------------------------------------

# Every kind of bad entry, each answered with an error; then a good one.
my @bad = (
	[ 'not JSON', { command => 'allocate', payload => 'not json {' }, '22P02' ],
	[ 'unknown command', { command => 'launch', payload => '{}' }, '22023' ],
	[ 'a missing field', { command => 'allocate', payload => '{"orderid": "bad-1", "sku": "LOAD-1"}' }, '22004' ],
	[ 'no command field', { payload => '{"orderid": "bad-2", "sku": "LOAD-1", "qty": 1}' }, '22004' ],
	[ 'no payload field', { command => 'allocate' }, '22004' ],
	[ 'a payload that is not an object', { command => 'allocate', payload => '[1, 2]' }, '22023' ],
	[ 'a qty that is not a number', { command => 'allocate', payload => '{"orderid": "bad-3", "sku": "LOAD-1", "qty": "many"}' }, '22P02' ],
	[ 'a qty out of range', { command => 'allocate', payload => '{"orderid": "bad-4", "sku": "LOAD-1", "qty": 99999999999}' }, '22003' ],
	[ 'bytes that are not UTF-8', { command => 'allocate', payload => { hex => '7b22ff22fe7d' } }, '22021' ],
	[ 'a NUL byte', { command => { hex => '616c6c6f6300617465' }, payload => '{}' }, '22021' ],
	[ 'an unknown sku (AL001)', { command => 'allocate', payload => '{"orderid": "bad-5", "sku": "NO-SUCH", "qty": 1}' }, 'AL001' ],
	[ 'a batch that exists (23505)', { command => 'add_batch', payload => '{"ref": "load-1", "sku": "LOAD-1", "qty": 1}' }, '23505' ],
	[ 'an unknown batch (AL002)', { command => 'change_batch_quantity', payload => '{"batchref": "no-such", "qty": 1}' }, 'AL002' ],
);
my $good = { command => 'allocate', payload => '{"orderid": "good-1", "sku": "LOAD-1", "qty": 2}' };
my ($adding, $ids_file) = add_commands([ (map { $_->[1] } @bad), $good ]);
$adding->finish;
my @ids = entry_ids($ids_file);
sub results
{
	my %by_request;
	push @{ $by_request{ $_->{fields}{request} } }, $_->{fields} for stream_entries('allocation:results');
	return %by_request;
}
my %results;
ok(wait_until(sub { %results = results(); defined $results{ $ids[-1] } }), 'the consumer answered the bad entries and went on');
for my $i (0 .. $#bad)
{
	my $answer = $results{ $ids[$i] } // [ {} ];
	is(join(' ', scalar(@$answer), $answer->[0]{status} // '', $answer->[0]{sqlstate} // ''), "1 error $bad[$i][2]",
		"$bad[$i][0]: one error result, $bad[$i][2]");
}
is_deeply([ map { $_->{status} . ' ' . $_->{result} } @{ $results{ $ids[-1] } } ], ['ok {"batchref": "load-1"}'],
	'and the good command after them: ok, with its batch');
is_deeply([ sort keys %{ $results{ $ids[-1] }[0] } ], [qw(message request result sqlstate status)],
	'a result has the fields request, status, sqlstate, message, result');
like($results{ $ids[0] }[0]{message}, qr/json/i, 'an error result says what was wrong');

# The window exactly once is about: the command committed in PostgreSQL, the
# consumer killed before Redis has its acknowledgement.  The command is held
# on a lock, Redis told to hold writes, the lock released: the consumer
# commits, waits for Redis, and is killed there.  Run again, add_batch would
# answer 23505.
my $session = $node->background_psql('postgres');
$session->query_safe('BEGIN; LOCK TABLE allocation.batches IN SHARE MODE');
($adding, $ids_file) = add_commands([ { command => 'add_batch', payload => '{"ref": "window-batch", "sku": "WINDOW-LAMP", "qty": 3}' } ]);
$adding->finish;
my ($window_id) = entry_ids($ids_file);
ok(wait_until(sub { $node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity
                                                   WHERE usename = 'allocation_consumer' AND wait_event_type = 'Lock'}) eq '1' }),
	'the consumer waits on the lock with the command');
redis('pause', 4000);
$session->query_safe('COMMIT');
$session->quit;
ok(wait_until(sub { $node->safe_psql('postgres', qq{SELECT count(*) FROM allocation.inbox
                                                   WHERE request = 'allocation:commands/$window_id'}) eq '1' }),
	'the command committed, Redis holding the acknowledgement');
$consumer->signal('KILL');
$consumer->finish;
is(redis('pending', 'allocation:commands', 'allocation'), "1\n", 'killed there: the command is still pending');
$consumer = start_consumer();
ok(wait_until(sub { %results = results(); defined $results{$window_id} }), 'a new consumer answers it');
is_deeply([ map { "$_->{status} $_->{sqlstate}" } @{ $results{$window_id} } ], ['ok '],
	'once, ok: the inbox gave the first outcome, add_batch did not run again');
$consumer->pump_nb;
like($consumer_log, qr/taking up 1 pending entr/, 'the consumer says it took up its pending entry');

# 1,000 commands flowing while the consumer is killed again and again.
$node->safe_psql('postgres', q{SELECT allocation.add_batch('one-left', 'KILL-LAMP', 1)});
my $version = $node->safe_psql('postgres', q{SELECT version_number FROM allocation.products WHERE sku = 'KILL-LAMP'});
my @commands = map { ({ command => 'allocate', payload => qq{{"orderid": "k$_", "sku": "KILL-LAMP", "qty": 1}} },
                      { command => 'deallocate', payload => qq{{"orderid": "k$_", "sku": "KILL-LAMP"}} }) } 1 .. 500;
($adding, $ids_file) = add_commands(\@commands, 200);
my ($consumer_kills, $adding_since) = (0, time);
while (scalar(entry_ids($ids_file)) < 1000 && time - $adding_since < 60)
{
	sleep(0.1 + rand(0.3));
	$consumer->signal('KILL');
	$consumer->finish;
	$consumer_kills++;
	$consumer = start_consumer();
}
$adding->finish;
@ids = entry_ids($ids_file);
is(scalar(@ids), 1000, '1,000 commands added');
ok(wait_until(sub { %results = results(); scalar(grep { defined $results{$_} } @ids) == 1000 }),
	"every command answered, the consumer killed $consumer_kills times");
sleep(0.5);
%results = results();
is(scalar(grep { scalar(@{ $results{$_} // [] }) != 1 } @ids), 0, 'each exactly one result');
is(scalar(grep { $results{$_}[0]{status} ne 'ok' || $results{$_}[0]{result} ne '{"batchref": "one-left"}' } @ids), 0,
	'each ok, with the batch (a deallocate run twice would answer null, an allocate after its deallocate take the stock)');
is($node->safe_psql('postgres', q{SELECT version_number FROM allocation.products WHERE sku = 'KILL-LAMP'}) - $version, 1000,
	'the version number went up 1,000 times: each command applied once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM allocation.allocations_view WHERE sku = 'KILL-LAMP'}), '0',
	'and no line is left');
my $requests = join(',', map { "'allocation:commands/$_'" } @ids);
is($node->safe_psql('postgres', qq{SELECT count(*) FROM allocation.inbox WHERE request IN ($requests)}), '1000',
	'one inbox row per command');
is(redis('pending', 'allocation:commands', 'allocation'), "0\n", 'nothing left pending');

# -- 4. the out-of-stock e-mail -----------------------------------------------------

my $smtp_port = PostgreSQL::Test::Cluster::get_free_port();
my $mail_log;
my $mailer = start_program(\$mail_log, 'allocation-relay', '--dsn', $relay_dsn, '--slot', 'mail',
	'--smtp', "127.0.0.1:$smtp_port", '--mail-from', 'allocation@example.com', '--mail-to', 'stock@example.com');
$node->safe_psql('postgres', q{
	SELECT allocation.add_batch('mail-batch', 'MAIL-LAMP', 1);
	SELECT allocation.allocate('mail-1', 'MAIL-LAMP', 1);
	SELECT allocation.allocate('mail-2', 'MAIL-LAMP', 1);
	SELECT allocation.allocate('mail-3', 'MAIL-LAMP', 5);
});
ok(wait_until(sub { $mailer->pump_nb; $mail_log =~ /SMTP server.*(retry|again)/is }), 'the SMTP server down: the relay says so and waits');
my $maildir = "$tmp/mail";
my $smtp = background([ '/usr/bin/python3', '-m', 'aiosmtpd', '-n', '-l', "127.0.0.1:$smtp_port",
	'-c', 'aiosmtpd.handlers.Mailbox', $maildir ], '>', \my $smtp_out, '2>', \my $smtp_err);
sub mails
{
	return map { PostgreSQL::Test::Utils::slurp_file($_) } glob("$maildir/new/*");
}
ok(wait_until(sub { scalar(mails()) >= 2 }), 'the SMTP server up: the relay sent the mails');
sleep(1);
my @mails = mails();
my @out_of_stock = split /\n/, $node->safe_psql('postgres', q{SELECT id FROM allocation.events WHERE event = 'OutOfStock' ORDER BY id});
is(scalar(@mails), scalar(@out_of_stock), 'one e-mail per OutOfStock event');
like(join("\n", @mails), qr/Out of stock for MAIL-LAMP/, 'saying "Out of stock for MAIL-LAMP"');
is(join(' ', sort map { /^Message-ID: <allocation-event-(\d+)\.mail\@allocation\.invalid>/mi ? $1 : 'none' } @mails),
	join(' ', sort @out_of_stock), 'with a Message-ID derived from the event id');
like($mails[0], qr/^To: stock\@example\.com/mi, 'to --mail-to');

# -- 5. options and SIGTERM -----------------------------------------------------------

for my $program ([ $mailer, \$mail_log, 'relay' ], [ $relay, \$relay_log, 'relay' ], [ $consumer, \$consumer_log, 'consumer' ])
{
	my ($run, $log, $name) = @$program;
	$run->signal('TERM');
	$run->finish;
	is(($run->full_results)[0], 0, "SIGTERM: the $name exits 0");
	like($$log, qr/stopped\n\z/, "and says it stopped");
}
$smtp->signal('TERM');
$smtp->finish;

for my $case (
	[ [ 'allocation-relay', '--help' ], 0, qr/--slot NAME/ ],
	[ [ 'allocation-consumer', '--help' ], 0, qr/--redis URL/ ],
	[ [ 'allocation-relay', '--dsn', 'x', '--slot', 's' ], 1, qr/one sink/ ],
	[ [ 'allocation-relay', '--dsn', 'x', '--slot', 's', '--file', 'f', '--redis', 'redis://h:1' ], 1, qr/one sink/ ],
	[ [ 'allocation-relay', '--bogus' ], 1, qr/--help/ ],
	[ [ 'allocation-consumer', '--dsn', 'x' ], 1, qr/--redis are required/ ],
	[ [ 'allocation-consumer', '--dsn', 'x', '--redis', 'http://h' ], 1, qr/not a Redis URL/ ])
{
	my ($command, $status, $says) = @$case;
	my ($out, $err) = ('', '');
	IPC::Run::run($command, '>', \$out, '2>', \$err);
	is($? >> 8, $status, "@$command: exit status $status");
	like($status ? $err : $out, $says, "@$command: says why");
}

$redis->signal('TERM');
$redis->finish;
done_testing();
