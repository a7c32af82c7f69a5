# Seed 002's flow declared in DPL only (a stream table, a staging stream
# view shredding the payload, a mirror), under the background scheduler,
# driven by a randomized workload on a "source": inserts, updates, deletes
# and re-inserts of deleted keys, whose change events arrive shuffled,
# redelivered and late across batches.  After the last batch the mirror
# must equal the source exactly (the model below, kept in Perl).
#
# PIPELINE_MIRROR_SEED sets the seed (printed either way),
# PIPELINE_MIRROR_ROUNDS the number of batches.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(shuffle);
use Time::HiRes qw(usleep);

my $seed = $ENV{PIPELINE_MIRROR_SEED} // (time() % 100000);
my $rounds = $ENV{PIPELINE_MIRROR_ROUNDS} // 40;
srand($seed);
diag("seed $seed, $rounds rounds (PIPELINE_MIRROR_SEED=$seed to repeat)");

my $node = PipelineNode->start_new('mirror_random', qq{
pipeline.enabled = on
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
max_worker_processes = 20
});
$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE SCHEMA shop;
CREATE TABLE shop.cart_events (stream_offset bigserial PRIMARY KEY, payload jsonb NOT NULL);
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart_staging
 * @matview-type incremental
 * @incremental-key stream_offset
 * @interval-in-minutes 1
 */
SELECT stream_offset, (payload->>'seq')::bigint AS seq, payload->>'op' AS op,
       (payload->>'id')::int AS id, (payload->>'user_id')::int AS user_id,
       (payload->>'price')::numeric AS current_price
  FROM shop.cart_events$d$);
SELECT pipeline.define($d$/**
 * @matview-schema shop
 * @matview-name cart
 * @matview-type mirror
 * @incremental-key stream_offset
 * @mirror-keys id
 * @mirror-sequence seq
 * @interval-in-minutes 1
 */
SELECT stream_offset, seq, op, id, user_id, current_price FROM shop.mv_cart_staging$d$);
-- a minute is too slow for a test: the same views every second
SELECT pipeline.create_matview('shop', 'cart_staging', query, '1 second', 'incremental', 'stream_offset')
  FROM pipeline.matview_definitions WHERE name = 'cart_staging';
SELECT pipeline.create_matview('shop', 'cart', query, '1 second', 'mirror', 'stream_offset',
                               options => options)
  FROM pipeline.matview_definitions WHERE name = 'cart';
});

# the source: id => [version, user_id, price]; versions grow per key,
# across a delete and a re-insert
my %source;
my %version;
my %retired;
my $next_id = 1;
my @pending;	# [round due, event json]
my @final_deletes;

sub event
{
	my ($op, $id) = @_;
	my $v = ++$version{$id};
	return sprintf('{"seq": %d, "op": "%s", "id": %d}', $v, $op, $id) if $op eq 'D';
	my $row = $source{$id};
	return sprintf('{"seq": %d, "op": "%s", "id": %d, "user_id": %d, "price": %s}',
		$v, $op, $id, $row->[0], $row->[1]);
}

sub one_change
{
	my @live = sort { $a <=> $b } keys %source;
	my @dead = grep { !exists $source{$_} && !$retired{$_} } sort { $a <=> $b } keys %version;
	my $r = rand();
	if (@live < 5 || $r < 0.35)
	{
		my $id = (@dead && rand() < 0.3) ? $dead[ int(rand(@dead)) ] : $next_id++;
		$source{$id} = [ int(rand(100)), sprintf('%.2f', rand(1000)) ];
		return event('I', $id);
	}
	my $id = $live[ int(rand(@live)) ];
	if ($r < 0.8)
	{
		$source{$id} = [ $source{$id}[0], sprintf('%.2f', rand(1000)) ];
		return event('U', $id);
	}
	delete $source{$id};
	return event('D', $id);
}

my $events_sent = 0;
my $redelivered = 0;
my $late = 0;
sub send_round
{
	my ($round, @events) = @_;
	my @now;
	for my $e (@events)
	{
		# most events arrive now, some one to three batches late
		if (rand() < 0.25) { push @pending, [ $round + 1 + int(rand(3)), $e ]; $late++; }
		else { push @now, $e; }
		# and some twice
		if (rand() < 0.1) { push @pending, [ $round + int(rand(3)), $e ]; $redelivered++; }
	}
	push @now, map { $_->[1] } grep { $_->[0] <= $round } @pending;
	@pending = grep { $_->[0] > $round } @pending;
	@now = shuffle(@now);
	return unless @now;
	$events_sent += @now;
	my $values = join(",\n", map { "('$_')" } @now);
	$node->safe_psql('postgres', "INSERT INTO shop.cart_events (payload) VALUES $values");
}

for my $round (1 .. $rounds)
{
	my @events = map { one_change() } 1 .. 5 + int(rand(40));
	send_round($round, @events);
	# let the scheduler take some batches while others pile up
	usleep(int(rand(300_000))) if rand() < 0.5;
}
# everything still pending arrives; then keys deleted for good, with a
# NULL sequence (their earlier changes have all arrived by then)
send_round($rounds + 10);
my @victims = grep { rand() < 0.2 } sort { $a <=> $b } keys %source;
for my $id (@victims)
{
	delete $source{$id};
	$retired{$id} = 1;
}
send_round($rounds + 11, map { qq({"op": "D", "id": $_}) } @victims);
# and those of them that came late or twice
send_round($rounds + 20);
diag(sprintf('%d events sent (%d late, %d redelivered), %d keys live, %d deleted with a NULL sequence',
	$events_sent, $late, $redelivered, scalar(keys %source), scalar(@victims)));

# the model as a table, then wait for the scheduler to catch up
my $expected = join(",\n", map { sprintf('(%d, %d, %d, %s)', $_, $version{$_}, @{ $source{$_} }) }
	sort { $a <=> $b } keys %source);
$node->safe_psql('postgres', 'CREATE TABLE expected (id int, seq bigint, user_id int, current_price numeric)');
$node->safe_psql('postgres', "INSERT INTO expected VALUES $expected") if $expected;
$node->safe_psql('postgres', 'SELECT pipeline.wake()');
# (with the mark at the last event: the last rounds may only redeliver,
# and the mirror may equal the source before they are read)
my $same = q{
	SELECT NOT EXISTS (SELECT id, seq, user_id, current_price FROM shop.mv_cart
	                   EXCEPT SELECT * FROM expected)
	   AND NOT EXISTS (SELECT * FROM expected
	                   EXCEPT SELECT id, seq, user_id, current_price FROM shop.mv_cart)
	   AND (SELECT high_water FROM pipeline.incremental_state WHERE matview = 'shop.mv_cart'::regclass)
	       IS NOT DISTINCT FROM (SELECT max(stream_offset)::text FROM shop.cart_events)};
ok($node->poll_query_until('postgres', $same), 'after the last batch the mirror equals the source')
  or diag($node->safe_psql('postgres', q{
	(SELECT 'mirror only', id, seq, user_id, current_price FROM shop.mv_cart
	 EXCEPT SELECT 'mirror only', * FROM expected)
	UNION ALL
	(SELECT 'source only', * FROM expected
	 EXCEPT SELECT 'source only', id, seq, user_id, current_price FROM shop.mv_cart)
	ORDER BY 2 LIMIT 20}));

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pipeline.runs WHERE status = 'failed'}), '0', 'no run failed');
is($node->safe_psql('postgres', q{
	SELECT count(*) > 1 FROM pipeline.runs
	 WHERE matview = 'shop.mv_cart'::regclass AND status = 'succeeded' AND detail NOT LIKE '%0 inserted, 0 updated, 0 deleted'}),
	't', 'the mirror took the changes over several runs of the scheduler');
is($node->safe_psql('postgres', q{
	SELECT high_water FROM pipeline.incremental_state WHERE matview = 'shop.mv_cart'::regclass}),
	$node->safe_psql('postgres', 'SELECT max(stream_offset) FROM shop.cart_events'),
	'the mark reached the last event');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pipeline.runs WHERE worker_pid = pg_backend_pid()}), '0',
	'every run was the scheduler\'s');

$node->stop;
done_testing();
