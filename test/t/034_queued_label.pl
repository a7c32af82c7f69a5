# A job that waits for a worker while later labels of its view fall due
# runs the latest one (API.md section 2: a view several labels behind runs
# only its latest due label).  Found by a robustness pass: with every
# worker busy, a view queued for one label ran that label once a worker
# was free, and its latest label right after.  One worker; a view held on
# an advisory lock keeps it busy for four seconds while another view of
# one-second labels waits.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('queued', qq{
pipeline.tick = 100ms
pipeline.max_workers = 1
max_worker_processes = 20
timezone = 'UTC'
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	-- waits while a session holds advisory lock 42 (volatile: never skipped)
	SELECT pipeline.create_matview('public', 'held',
	    'SELECT pg_advisory_xact_lock_shared(42)::text AS held', '1 second');
	SELECT pipeline.create_matview('public', 'fresh', 'SELECT random() AS r', '1 second');
});
ok( $node->poll_query_until('postgres', q{
		SELECT count(DISTINCT matview) = 2 FROM pipeline.runs WHERE status = 'succeeded'}),
	'both views run');

my $holder = PipelineNode->hold_advisory_run($node, 'mv_held', 42);
ok($holder, 'the one worker waits in a refresh of the held view');
my $busy_since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
sleep 4;
my $released = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$holder->query_safe('SELECT pg_advisory_unlock(42)');

ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pipeline.runs
		 WHERE matview = 'mv_fresh'::regclass AND status = 'succeeded' AND started_at > '$busy_since'}),
	'the waiting view runs once the worker is free');
# its first run then is of a label near the release, not of the one it was
# queued for about four seconds before
my ($label, $behind) = split /\|/, $node->safe_psql('postgres', qq{
	SELECT time_label, time_label < '$released'::timestamptz - interval '1.5 seconds'
	  FROM pipeline.runs
	 WHERE matview = 'mv_fresh'::regclass AND started_at > '$busy_since'
	 ORDER BY run_id LIMIT 1});
is($behind, 'f', "the waiting view ran its latest label ($label; released at $released)")
  or diag($node->safe_psql('postgres', qq{
	SELECT matview, time_label, status, started_at FROM pipeline.runs
	 WHERE started_at > '$busy_since'::timestamptz - interval '2 seconds' ORDER BY run_id}));

$holder->quit;
$node->stop;
done_testing();
