# More is due than the workers can run: one worker, six views of a
# one-second interval whose refresh takes 0.3 s (1.8 s of work per second).
# Every view still gets its turn, the one whose latest run is oldest first,
# instead of the views early in the DAG taking every slot at every label
# while the others starve: between two runs of a view, at most twice as
# many runs as there are other views (a bound in runs, not in time).  Progress is polled for, not timed.  Falling
# behind is logged once.  A view whose upstreams did not change is skipped
# by the scheduler itself: a skip costs no process.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('fair', qq{
pipeline.tick = 100ms
pipeline.max_workers = 1
max_worker_processes = 20
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (x int);
	INSERT INTO src VALUES (1);
});
# pg_sleep makes each refresh slow, and the view run at every label (a
# volatile function: never skipped)
for my $i (1 .. 6)
{
	$node->safe_psql('postgres', qq{
		SELECT pipeline.create_matview('public', 'v$i',
			'SELECT x FROM public.src WHERE pg_catalog.pg_sleep(0.3) IS NOT NULL', '1 second')});
}

# a view over a table nobody writes: after its first refresh every label is
# skipped by the scheduler itself, without starting a worker
$node->safe_psql('postgres', q{
	SELECT pipeline.create_matview('public', 'quiet', 'SELECT x FROM public.src', '1 second')});

# every view, the last in the DAG included, refreshes again and again
ok( $node->poll_query_until('postgres', q{
		SELECT min(n) >= 3 FROM (
		  SELECT m.matview, count(r.run_id) AS n
		    FROM pipeline.matviews m
		    LEFT JOIN pipeline.runs r ON r.matview = m.matview AND r.status = 'succeeded'
		   WHERE m.name <> 'quiet'
		   GROUP BY m.matview) c}),
	'every view keeps refreshing although more is due than one worker can run');
# the bound: between two runs of a view, the one worker runs each other
# view at most twice (oldest label first), so at most 2 x 5 = 10 others;
# walking in DAG order, the first views would run again and again instead
is( $node->safe_psql('postgres', q{
		WITH busy AS (
		    SELECT r.matview, row_number() OVER (ORDER BY r.started_at, r.run_id) AS seq
		      FROM pipeline.runs r
		     WHERE r.status = 'succeeded' AND r.matview <> 'mv_quiet'::regclass)
		SELECT coalesce(max(gap), 0) <= 10 FROM (
		    SELECT seq - lag(seq) OVER (PARTITION BY matview ORDER BY seq) - 1 AS gap FROM busy) g}),
	't', 'between two runs of any view, at most 10 runs of the five others');
note('successful runs: ' . $node->safe_psql('postgres', q{
	SELECT string_agg(c.matview || ' ' || c.n, ', ' ORDER BY c.matview) FROM (
	  SELECT m.matview::text AS matview, count(r.run_id) AS n
	    FROM pipeline.matviews m
	    LEFT JOIN pipeline.runs r ON r.matview = m.matview AND r.status = 'succeeded'
	   GROUP BY 1) c}));

ok( $node->poll_query_until('postgres', q{
		SELECT coalesce(sum(r.label_count), 0) >= 3 FROM pipeline.runs r
		 WHERE r.matview = 'mv_quiet'::regclass AND r.status = 'skipped'}),
	'the unchanged view is skipped at label after label');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pipeline.runs r
		 WHERE r.matview = 'mv_quiet'::regclass AND r.status = 'skipped'
		   AND r.worker_pid NOT IN (SELECT pid FROM pg_stat_activity
		                             WHERE backend_type = 'pipeline scheduler')}),
	'0', 'every skip was recorded by the scheduler, not by a refresh worker');
# consecutive skipped labels are one row, extended in place by each skip
# (labels the scheduler was too busy to visit are not in label_count)
is( $node->safe_psql('postgres', q{
		SELECT count(*) = 1 AND bool_and(r.label_count >= 3 AND r.last_time_label > r.time_label)
		  FROM pipeline.runs r
		 WHERE r.matview = 'mv_quiet'::regclass AND r.status = 'skipped'}),
	't', 'the skipped labels are one row')
  or diag($node->safe_psql('postgres',
	q{SELECT * FROM pipeline.runs WHERE matview = 'mv_quiet'::regclass ORDER BY run_id}));

# and the scheduler said once that it cannot keep up, naming the setting
my @behind = (slurp_file($node->logfile) =~
	  /more is due than pipeline\.max_workers \(1\) can run/g);
is(scalar(@behind), 1, 'falling behind is logged once, naming pipeline.max_workers');

$node->stop;
done_testing();
