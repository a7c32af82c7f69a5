# pipeline.max_workers lowered by a reload bounds the refreshes that run at
# once from then on: a pool worker takes no job while as many others of
# its database are busy, and leaves (found by a sweep: three workers went
# on taking jobs after max_workers went from 3 to 1, until a restart).
# Raised again, the pool grows again.  Three views of half a second each,
# every second.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('limit', qq{
pipeline.tick = 100ms
pipeline.max_workers = 3
pipeline.worker_idle_timeout = 60s
max_worker_processes = 20
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	SELECT pipeline.create_matview('public', 'p' || g, 'SELECT 1 AS one FROM pg_catalog.pg_sleep(0.5)', '1 second')
	  FROM generate_series(1, 3) g;
});

# the most runs of the views that ran at once, among runs started after $since
sub most_at_once
{
	my ($since) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(max(n), 0) FROM (
		  SELECT (SELECT count(*) FROM pipeline.runs b
		           WHERE b.status = 'succeeded' AND b.started_at <= a.started_at
		             AND b.finished_at > a.started_at) AS n
		    FROM pipeline.runs a
		   WHERE a.status = 'succeeded' AND a.started_at > '$since') s});
}

my $start = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) >= 2 FROM pipeline.runs a JOIN pipeline.runs b
	    ON a.run_id < b.run_id AND b.started_at < a.finished_at AND b.finished_at > a.started_at
	 WHERE a.status = 'succeeded' AND b.status = 'succeeded' AND a.started_at > '$start'}),
	'with max_workers = 3, runs overlap');

$node->safe_psql('postgres', q{ALTER SYSTEM SET pipeline.max_workers = 1; SELECT pg_reload_conf();});
# runs in flight at the reload end within half a second; take a margin
my $lowered = $node->safe_psql('postgres', q{SELECT clock_timestamp() + interval '2 seconds'});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) >= 8 FROM pipeline.runs WHERE status = 'succeeded' AND started_at > '$lowered'}),
	'runs go on with max_workers = 1');
is(most_at_once($lowered), '1', 'after lowering max_workers to 1, one run at a time')
	or diag($node->safe_psql('postgres', qq{
		SELECT matview, started_at, finished_at, worker_pid FROM pipeline.runs
		 WHERE started_at > '$lowered'::timestamptz - interval '3 seconds' ORDER BY started_at}));
ok($node->poll_query_until('postgres',
	q{SELECT count(*) <= 1 FROM pg_stat_activity WHERE backend_type = 'pipeline refresh'}),
	'the other workers left');

$node->safe_psql('postgres', q{ALTER SYSTEM SET pipeline.max_workers = 3; SELECT pg_reload_conf();});
my $raised = $node->safe_psql('postgres', q{SELECT clock_timestamp()});
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) >= 1 FROM pipeline.runs a JOIN pipeline.runs b
	    ON a.run_id < b.run_id AND b.started_at < a.finished_at AND b.finished_at > a.started_at
	 WHERE a.status = 'succeeded' AND b.status = 'succeeded' AND a.started_at > '$raised'}),
	'raised again, runs overlap again');

$node->stop;
done_testing();
