# A view whose upstream takes longer to refresh than its interval still
# runs: each time the upstream finishes a label (after the next label has
# begun), the view runs the latest label that upstream serves (API.md
# section 2: a view several labels behind runs its latest due label).
# Before, it waited for the upstream's success for its current label, which
# never came, and went without any run while the upstream ran every label.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PipelineNode->start_new('slowup', qq{
pipeline.databases = 'postgres'
pipeline.tick = 100ms
pipeline.max_workers = 2
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE t (x int);
	INSERT INTO t VALUES (1);
	-- each refresh 1.5 s, every 1-second label (volatile: never skipped)
	SELECT pipeline.create_matview('public', 'slow', 'SELECT x, pg_sleep(1.5) IS NULL AS slept FROM t', '1 second');
	SELECT pipeline.create_matview('public', 'down', 'SELECT x FROM mv_slow', '1 second');
	SELECT pipeline.create_matview('public', 'down2', 'SELECT x FROM mv_down', '1 second');
});
my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');

sub succeeded
{
	my ($view) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pipeline.runs
		 WHERE matview = 'public.$view'::regclass AND status IN ('succeeded', 'skipped') AND started_at > '$since'});
}

my $ran = 0;
for (1 .. 200)
{
	$ran = succeeded('mv_down2');
	last if $ran >= 2;
	sleep 0.1;
}
cmp_ok(succeeded('mv_down'), '>=', 2, 'the view over a slow upstream runs');
cmp_ok($ran, '>=', 2, 'and so does the view over it');
# never a label its upstream has not succeeded for
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pipeline.runs d
	 WHERE d.matview = 'public.mv_down'::regclass AND d.status = 'succeeded'
	   AND NOT EXISTS (SELECT FROM pipeline.runs u
	                    WHERE u.matview = 'public.mv_slow'::regclass AND u.status IN ('succeeded', 'skipped')
	                      AND d.time_label BETWEEN u.time_label AND coalesce(u.last_time_label, u.time_label)
	                      AND u.finished_at <= d.started_at)}),
	'0', 'each run of the view is of a label its upstream succeeded for before');

$node->stop;
done_testing();
