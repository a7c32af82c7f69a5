# Views whose locks a session holds (a refresh() or run_due() in an open
# transaction, DDL on them) do not keep the pool's worker from the other
# views: the worker waits 250 ms past deadlock_timeout for a view, hands
# the job back, and the scheduler queues that view again only after a wait
# that doubles while it stays held, so the queue goes to the others.
# Before, with pipeline.max_workers = 1, one open session stalled every
# scheduled refresh of its database until it ended (and a first fix, which
# queued a held view again at once, still did with four held views).  Six
# views every second, volatile so that every label runs; four are held.
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
	  FROM generate_series(1, 6) g;
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

ok(within(60, runs_since('mv_p1', '-infinity')), 'the views run') or BAIL_OUT('the scheduler does not run');

my @held = map { "public.mv_p$_" } 1 .. 4;
for my $hold ('SELECT status FROM pipeline.refresh(%s)', 'ALTER MATERIALIZED VIEW %s SET (fillfactor = 90)')
{
	my $session = $node->background_psql('postgres');
	$session->query_safe('BEGIN');
	$session->query_safe(sprintf($hold, $hold =~ /refresh/ ? "'$_'" : $_)) for @held;
	my $held = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	for my $free ('mv_p5', 'mv_p6')
	{
		ok(within(30, runs_since($free, $held)), "with four views held ($hold), $free goes on")
		  or diag($node->safe_psql('postgres', q{
			SELECT pid, wait_event_type, wait_event, query FROM pg_stat_activity
			 WHERE backend_type = 'pipeline refresh'}));
	}
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM pipeline.runs
		 WHERE matview::text LIKE 'mv_p_' AND matview::text <= 'mv_p4' AND started_at > '$held'}),
		'0', 'and the held views have no run while held');
	$session->query_safe('COMMIT');
	$session->quit;
	my $released = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
	ok(within(60, runs_since("mv_p$_", $released)), "released, mv_p$_ runs again") for 1 .. 4;
}

$node->stop;
done_testing();
