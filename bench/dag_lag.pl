# Insert-to-top lag of a 10x10 DAG (run through bench/run dag_lag): ten
# chains of ten views with a one-second interval, each over the one before
# (materialized views, refresh_mode full: a bare REFRESH is the baseline);
# one insert into each chain's table per second (its clock
# timestamp), pipeline.tick = 100ms, max_workers BENCH_WORKERS (2).  The
# top of a chain keeps the newest insert it holds and when it was
# refreshed; an insert's lag is the first top refresh that holds it minus
# the insert's time.  Sampled
# every 200 ms for BENCH_WINDOW seconds (30) after a settling pause.
# Reports the lag p50 / p90 / max (goal: median <= 1.2 s), against the
# critical path: ten bare REFRESHes of a chain in a row, measured in the
# same run, plus the wait for the next label (0.5 s on average).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use Time::HiRes qw(time sleep);

my $chains = 10;
my $levels = 10;
my $workers = $ENV{BENCH_WORKERS} // 2;
my $window = $ENV{BENCH_WINDOW} // 30;

my $node = PipelineNode->start_new('bench_dag_lag', qq{
pipeline.enabled = off
pipeline.tick = 100ms
pipeline.max_workers = $workers
max_worker_processes = 20
shared_buffers = 256MB
});

my @sql = ('CREATE EXTENSION pipeline;');
for my $c (1 .. $chains)
{
	push @sql, "CREATE TABLE base_$c (ts timestamptz);",
	  "INSERT INTO base_$c VALUES (clock_timestamp());",
	  "SELECT pipeline.create_matview('public', 'c${c}_l1', 'SELECT max(ts) AS newest FROM public.base_$c', '1 second', refresh_mode => 'full');";
	for my $l (2 .. $levels - 1)
	{
		my $prev = $l - 1;
		push @sql, "SELECT pipeline.create_matview('public', 'c${c}_l$l', "
		  . "'SELECT newest FROM public.mv_c${c}_l$prev', '1 second', refresh_mode => 'full');";
	}
	my $prev = $levels - 1;
	# the top notes when it was refreshed (volatile: it runs at every label)
	push @sql, "SELECT pipeline.create_matview('public', 'c${c}_top', "
	  . "'SELECT newest, pg_catalog.clock_timestamp() AS refreshed_at FROM public.mv_c${c}_l$prev', '1 second', "
	  . "refresh_mode => 'full');";
}
$node->safe_psql('postgres', join("\n", @sql), timeout => 600);
$node->safe_psql('postgres', 'VACUUM ANALYZE');


# the critical path's refreshes: a chain refreshed bare, level by level
my $chain_script = join("\n",
	(map { "REFRESH MATERIALIZED VIEW public.mv_c1_l$_;" } 1 .. $levels - 1),
	'REFRESH MATERIALIZED VIEW public.mv_c1_top;');
my $rounds = 20;
my $t0 = time;
$node->safe_psql('postgres', join("\n", ($chain_script) x $rounds));
my $chain_bare = (time - $t0) / $rounds;

$node->safe_psql('postgres', 'ALTER SYSTEM SET pipeline.enabled = on; SELECT pg_reload_conf();');
my $insert = join(' ', map { "INSERT INTO base_$_ VALUES (clock_timestamp());" } 1 .. $chains);
my $sample = join(' UNION ALL ', map {
	"SELECT $_, extract(epoch FROM newest), extract(epoch FROM refreshed_at - newest) FROM mv_c${_}_top"
} 1 .. $chains);

# by chain and insert: when the insert first reached the top (a top
# refresh that brings no newer insert would count the same one again)
my %lag;
my $start = time;
my $next_insert = $start;
while (time - $start < 5 + $window)
{
	if (time >= $next_insert)
	{
		$node->safe_psql('postgres', $insert);
		$next_insert += 1;
	}
	if (time - $start >= 5)
	{
		for my $row (split /\n/, $node->safe_psql('postgres', $sample))
		{
			my ($chain, $newest, $lag) = split /\|/, $row;
			$lag{"$chain $newest"} = $lag
			  if !defined $lag{"$chain $newest"} || $lag < $lag{"$chain $newest"};
		}
	}
	sleep 0.2;
}
$node->safe_psql('postgres', 'ALTER SYSTEM SET pipeline.enabled = off; SELECT pg_reload_conf();');

my @lags = values %lag;
printf "dag_lag: %d chains x %d levels, 1 s intervals, one insert per chain per second, max_workers %d, window %d s\n",
  $chains, $levels, $workers, $window;
printf "dag_lag: insert-to-top lag of %d inserts: p50 %.3f s, p90 %.3f s, max %.3f s (goal: median <= 1.2 s)\n",
  scalar(@lags), PipelineNode->percentile(0.5, @lags), PipelineNode->percentile(0.9, @lags), PipelineNode->percentile(1, @lags);
printf "dag_lag: critical path: a chain's %d bare REFRESHes in a row %.3f s, plus 0.5 s average wait for the label: %.3f s; median lag %.2fx that\n",
  $levels, $chain_bare, $chain_bare + 0.5, PipelineNode->percentile(0.5, @lags) / ($chain_bare + 0.5);

$node->stop;
