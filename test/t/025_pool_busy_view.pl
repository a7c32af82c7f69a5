# A view whose lock a session holds (a refresh() or run_due() in an open
# transaction, DDL on it) does not keep the pool's worker from the other
# views: the worker waits a second for the lock, hands the job back and
# takes the next.  Before, with pipeline.max_workers = 1, one open session
# stalled every scheduled refresh of its database until it ended.  Two
# views every second, volatile so that every label runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PipelineNode->start_new('busy', qq{
pipeline.tick = 100ms
pipeline.max_workers = 1
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	SELECT pipeline.create_matview('public', 'p' || g, 'SELECT pg_catalog.clock_timestamp() AS at', '1 second')
	  FROM generate_series(1, 2) g;
});

# true once $sql is true, polled for at most $seconds (not the default
# three minutes: a stalled pool is the failure this test looks for)
sub within
{
	my ($seconds, $sql) = @_;
	for (1 .. $seconds * 10)
	{
		return 1 if $node->safe_psql('postgres', $sql) eq 't';
		sleep 0.1;
	}
	return 0;
}

sub runs_since
{
	my ($view, $since) = @_;
	return qq{SELECT count(*) >= 3 FROM pipeline.runs
	           WHERE matview = 'public.$view'::regclass AND status = 'succeeded' AND started_at > '$since'};
}

ok(within(60, runs_since('mv_p1', '-infinity')), 'both views run') or BAIL_OUT('the scheduler does not run');

for my $hold ("SELECT status FROM pipeline.refresh('public.mv_p1')",
	'ALTER MATERIALIZED VIEW public.mv_p1 SET (fillfactor = 90)')
{
	my $session = $node->background_psql('postgres');
	$session->query_safe("BEGIN; $hold");
	my $held = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	ok(within(30, runs_since('mv_p2', $held)), "with mv_p1 held ($hold), mv_p2 goes on")
	  or diag($node->safe_psql('postgres', q{
		SELECT pid, wait_event_type, wait_event, query FROM pg_stat_activity
		 WHERE backend_type = 'pipeline refresh'}));
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM pipeline.runs
		 WHERE matview = 'public.mv_p1'::regclass AND started_at > '$held'}),
		'0', 'and mv_p1 has no run while held');
	$session->query_safe('COMMIT');
	$session->quit;
	my $released = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	ok(within(30, runs_since('mv_p1', $released)), 'released, mv_p1 runs again');
}

$node->stop;
done_testing();
