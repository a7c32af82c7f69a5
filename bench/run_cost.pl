# What a run costs under the scheduler, and how many always-changing views
# it keeps fresh (run through bench/run run_cost).
#
# Every view is trivial and refreshes at every label: SELECT id, random()
# FROM a 10-row table (a volatile function: never skipped, refreshed
# fully), with a one-second interval; pipeline.tick = 100ms.
#
# 1. Everything changing: for each N of BENCH_NS ("200 400 800 1600"), N
#    such views, max_workers BENCH_WORKERS (2), BENCH_WINDOW seconds (30)
#    after a settling pause.  Reports runs per second and the views' lag
#    (now minus a view's latest succeeded label; every view sampled every
#    2 s over the window): p50 / p99 / max, and max / p50 (goals: p99 <= 2 s
#    up to the largest N it can; beyond, no view more than 10x the median
#    behind).  A perfectly fresh view's lag is between 0 and its 1 s
#    interval, plus the time its run waits and takes.
# 2. Per-run overhead: with every view due at every second and one worker
#    (max_workers 1), the scheduler is saturated: the wall time per run is
#    the phase over the runs done.  The baseline, measured in the same run
#    with the scheduler off: a bare REFRESH MATERIALIZED VIEW of the same
#    views, one statement after another, in one session.  The two alternate,
#    BENCH_CYCLES (3) phases of BENCH_PHASE seconds (8) each.  CPU per run
#    (scheduler plus refresh workers) against the bare session's CPU per
#    REFRESH too.  Goal: <= 1.5x.  It uses the views of the last N, or
#    BENCH_OVERHEAD_VIEWS if more (BENCH_NS="" measures this alone).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use Time::HiRes qw(time sleep);
use POSIX qw(sysconf _SC_CLK_TCK);

my @ns = split ' ', ($ENV{BENCH_NS} // '200 400 800 1600');
my $workers = $ENV{BENCH_WORKERS} // 2;
my $window = $ENV{BENCH_WINDOW} // 30;
my $clk_tck = sysconf(_SC_CLK_TCK);

my $node = PipelineNode->start_new('bench_run_cost', qq{
pipeline.enabled = off
pipeline.tick = 100ms
pipeline.max_workers = $workers
max_worker_processes = 20
shared_buffers = 256MB
max_locks_per_transaction = 256
});
$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (id int);
	INSERT INTO src SELECT generate_series(1, 10);
});

my $views = 0;

sub create_views_up_to
{
	my ($n) = @_;
	my @sql;
	for my $i ($views + 1 .. $n)
	{
		push @sql, "SELECT pipeline.create_matview('public', 'v$i', "
		  . "'SELECT id, pg_catalog.random() AS r FROM public.src', '1 second');";
	}
	$node->safe_psql('postgres', join("\n", @sql), timeout => 3600) if @sql;
	$views = $n;
	$node->safe_psql('postgres', 'VACUUM ANALYZE');
}


my $postmaster = do
{
	open my $fh, '<', $node->data_dir . '/postmaster.pid' or die "postmaster.pid: $!";
	my $pid = <$fh>;
	chomp $pid;
	$pid;
};

# CPU ticks of the scheduler and of the refresh workers: those alive now,
# and, through the postmaster's reaped children, those that exited (the
# bare session's backend too, once it has exited)
sub pipeline_cpu
{
	my %ticks = (scheduler => 0, workers => 0, reaped => PipelineNode->cpu_ticks($postmaster, 1));
	for my $row (split /\n/, $node->safe_psql('postgres', q{
		SELECT pid, backend_type FROM pg_stat_activity
		 WHERE backend_type IN ('pipeline scheduler', 'pipeline refresh')}))
	{
		my ($pid, $type) = split /\|/, $row;
		$ticks{ $type eq 'pipeline scheduler' ? 'scheduler' : 'workers' } += PipelineNode->cpu_ticks($pid, 0);
	}
	return \%ticks;
}

# seconds of CPU between two pipeline_cpu() readings; with $part, of the
# scheduler alone or of the rest (workers, reaped children)
sub cpu_used
{
	my ($before, $after, $part) = @_;
	my $scheduler = $after->{scheduler} - $before->{scheduler};
	# a worker alive at the start and gone at the end: its ticks moved to
	# the reaped count, and the difference of the sums still holds
	my $rest = $after->{workers} + $after->{reaped} - $before->{workers} - $before->{reaped};
	return ($part eq 'scheduler' ? $scheduler : $part eq 'rest' ? $rest : $scheduler + $rest) / $clk_tck
	  if defined $part;
	return ($scheduler + $rest) / $clk_tck;
}


sub set_scheduler
{
	my ($settings) = @_;
	$node->safe_psql('postgres', join('', map { "ALTER SYSTEM SET $_;" } @$settings)
		  . 'SELECT pg_reload_conf();');
}

my $succeeded = q{SELECT count(*) FROM pipeline.runs WHERE status = 'succeeded'};

# runs the scheduler over the views for the window: runs/s, lags, CPU
sub measure
{
	my ($max_workers, $seconds, $sample_lags) = @_;
	set_scheduler([ "pipeline.max_workers = $max_workers", 'pipeline.enabled = on' ]);
	sleep 5;	# settle: catch up with the labels missed while off
	my $runs0 = $node->safe_psql('postgres', $succeeded);
	my $cpu0 = pipeline_cpu();
	my $t0 = time;
	my @lags;
	# each view's lag, sampled every 2 s over the window
	while (time - $t0 < $seconds)
	{
		sleep 2 - (time - $t0) % 2;
		next unless $sample_lags;
		push @lags, split /\n/, $node->safe_psql('postgres', q{
			SELECT coalesce(extract(epoch FROM now() - max(r.time_label)), 1e9)
			  FROM pipeline.matviews m
			  LEFT JOIN pipeline.runs r ON r.matview = m.matview AND r.status = 'succeeded'
			 GROUP BY m.matview});
	}
	my $cpu1 = pipeline_cpu();
	my $wall = time - $t0;
	my $runs1 = $node->safe_psql('postgres', $succeeded);
	set_scheduler([ 'pipeline.enabled = off' ]);
	# let the last runs end before the next step
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pipeline refresh' AND state = 'active'});
	return {
		runs => $runs1 - $runs0,
		wall => $wall,
		cpu => cpu_used($cpu0, $cpu1),
		scheduler_cpu => cpu_used($cpu0, $cpu1, 'scheduler'),
		lags => \@lags,
	};
}

printf "run_cost: trivial views (10 rows, random(): refreshed at every label), 1 s interval, tick 100ms, window %d s\n",
  $window;
my $largest_ok = 0;
for my $n (@ns)
{
	create_views_up_to($n);
	my $m = measure($workers, $window, 1);
	my @lags = @{ $m->{lags} };
	my ($p50, $p99, $max) = (PipelineNode->percentile(0.5, @lags), PipelineNode->percentile(0.99, @lags), PipelineNode->percentile(1, @lags));
	$largest_ok = $n if $p99 <= 2;
	printf "run_cost: everything changing, N %d, max_workers %d: %.0f runs/s (%.2f of the %d due/s), "
	  . "lag p50 %.2f s, p99 %.2f s, max %.2f s, max/p50 %.1f, CPU %.0f%% of a core\n",
	  $n, $workers, $m->{runs} / $m->{wall}, $m->{runs} / $m->{wall} / $n, $n,
	  $p50, $p99, $max, $max / ($p50 || 1e-9), 100 * $m->{cpu} / $m->{wall};
}
printf "run_cost: largest N with lag p99 <= 2 s: %d (of %s; goal >= 800)\n", $largest_ok, join(' ', @ns)
  if @ns;

# 2. per-run overhead: one worker, saturated, against bare REFRESHes, in
# alternating phases: a refresh makes and removes a file, and this file
# system's cost of that drifts with the churn kept up, so neither side
# should have it better by coming first
create_views_up_to($ENV{BENCH_OVERHEAD_VIEWS}) if ($ENV{BENCH_OVERHEAD_VIEWS} // 0) > $views;
my $phase = $ENV{BENCH_PHASE} // 8;
my $cycles = $ENV{BENCH_CYCLES} // 3;
my ($bare_count, $bare_wall, $bare_cpu) = (0, 0, 0);
my ($runs, $run_wall, $run_cpu, $scheduler_cpu) = (0, 0, 0, 0);

# bare REFRESHes of each view in turn, one session, scheduler off, for
# about $phase seconds; CPU of its backend (reaped when the session ends)
sub bare_phase
{
	my $script = join("\n", map { "REFRESH MATERIALIZED VIEW public.mv_v$_;" } 1 .. $views) . "\n";
	my $cpu0 = pipeline_cpu();
	my $t0 = time;
	do
	{
		$node->safe_psql('postgres', $script, timeout => 3600);
		$bare_count += $views;
	} while (time - $t0 < $phase);
	$bare_wall += time - $t0;
	$bare_cpu += cpu_used($cpu0, pipeline_cpu());
}

$node->safe_psql('postgres', 'VACUUM ANALYZE');
for (1 .. $cycles)
{
	bare_phase();
	my $m = measure(1, $phase, 0);
	$runs += $m->{runs};
	$run_wall += $m->{wall};
	$run_cpu += $m->{cpu};
	$scheduler_cpu += $m->{scheduler_cpu};
}
my $run_wall_ms = 1000 * $run_wall / $runs;
my $run_cpu_ms = 1000 * $run_cpu / $runs;
my $bare_wall_ms = 1000 * $bare_wall / $bare_count;
my $bare_cpu_ms = 1000 * $bare_cpu / $bare_count;

printf "run_cost: per run, one worker saturated by %d views, %d phases of %d s: %d runs, %.3f ms wall, %.3f ms CPU (scheduler %.3f + worker)\n",
  $views, $cycles, $phase, $runs, $run_wall_ms, $run_cpu_ms, 1000 * $scheduler_cpu / $runs;
printf "run_cost: bare REFRESH MATERIALIZED VIEW, %d phases in one session each: %d refreshes, %.3f ms wall, %.3f ms CPU (its backend) each\n",
  $cycles, $bare_count, $bare_wall_ms, $bare_cpu_ms;
printf "run_cost: per-run overhead: wall %.2fx, CPU %.2fx the bare REFRESH (goal <= 1.5x)\n",
  $run_wall_ms / $bare_wall_ms, $run_cpu_ms / $bare_cpu_ms;

$node->stop;
