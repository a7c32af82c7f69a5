# Nothing changing (run through bench/run skip_scheduler): BENCH_VIEWS
# (1000) views with a one-second interval over ten small tables nobody
# writes, the scheduler on (tick 100 ms, max_workers 2) for BENCH_WINDOW
# seconds (30).  Every label of every view should be recorded (skipped),
# each view close to the present, at little CPU.  It reports
#  - labels recorded in the window against labels due in it (the baseline
#    of the same run: views x seconds), as a ratio (goal 1.0);
#  - each view's lag at the end (now minus the last label it recorded),
#    p50 / p99 / max (goal p99 <= 2 s);
#  - CPU of the scheduler (its /proc stat) and of the refresh workers
#    (those alive, and the postmaster's reaped children: cutime + cstime),
#    as a fraction of one core (goal: under 20% together);
#  - how many refreshes were dispatched to workers (the scheduler's DEBUG1
#    lines): a skip decided by the scheduler itself needs none.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use Time::HiRes qw(time sleep);
use POSIX qw(sysconf _SC_CLK_TCK);

my $views = $ENV{BENCH_VIEWS} // 1000;
my $window = $ENV{BENCH_WINDOW} // 30;
my $clk_tck = sysconf(_SC_CLK_TCK);

my $node = PipelineNode->start_new('bench_skip', qq{
pipeline.enabled = off
pipeline.tick = 100ms
pipeline.max_workers = 2
max_worker_processes = 20
shared_buffers = 256MB
max_locks_per_transaction = 256
});

my @sql = ('CREATE EXTENSION pipeline;');
push @sql, "CREATE TABLE src_$_ (id int); INSERT INTO src_$_ SELECT generate_series(1, 10);" for 1 .. 10;
for my $i (1 .. $views)
{
	my $s = 1 + $i % 10;
	push @sql, "SELECT pipeline.create_matview('public', 'v$i', 'SELECT count(*) AS n FROM src_$s', '1 second');";
}
$node->safe_psql('postgres', join("\n", @sql), timeout => 3600);
# every view runs once, so that each has a success to be judged against
$node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.run_due()', timeout => 3600);
$node->safe_psql('postgres', 'VACUUM ANALYZE');


# refresh workers alive now: a pool worker's ticks reach the postmaster's
# reaped count only when it exits
sub live_worker_ticks
{
	my $sum = 0;
	$sum += PipelineNode->cpu_ticks($_, 0) for split /\n/, $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline refresh'});
	return $sum;
}


$node->safe_psql('postgres', q{
	ALTER SYSTEM SET pipeline.enabled = on;
	ALTER SYSTEM SET log_min_messages = debug1;
	SELECT pg_reload_conf();
});
my $scheduler = PipelineNode->scheduler_pid($node);
open my $pidfile, '<', $node->data_dir . '/postmaster.pid' or die "postmaster.pid: $!";
my $postmaster = <$pidfile>;
chomp $postmaster;
close $pidfile;
# settle: the first passes catch up with the labels since run_due()
sleep 5;

my $labels = q{SELECT coalesce(sum(r.label_count), 0) FROM pipeline.runs r WHERE r.status IN ('succeeded', 'skipped')};
my $log_offset = -s $node->logfile;
my $recorded0 = $node->safe_psql('postgres', $labels);
my ($s0, $w0) = (PipelineNode->cpu_ticks($scheduler, 0), PipelineNode->cpu_ticks($postmaster, 1) + live_worker_ticks());
my $t0 = time;
sleep $window;
my ($s1, $w1) = (PipelineNode->cpu_ticks($scheduler, 0), PipelineNode->cpu_ticks($postmaster, 1) + live_worker_ticks());
my $wall = time - $t0;
my $recorded1 = $node->safe_psql('postgres', $labels);
my @lags = split /\n/, $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM now() - max(coalesce(r.last_time_label, r.time_label)))
	  FROM pipeline.runs r WHERE r.status IN ('succeeded', 'skipped') GROUP BY r.matview});

my $started = 0;
open my $log, '<', $node->logfile or die;
seek $log, $log_offset, 0;
while (my $line = <$log>)
{
	$started += $1 if $line =~ /\[$scheduler\].*planned \d+ views .* (?:started|dispatched) (\d+) refreshes/;
}
close $log;

my $due = $views * $wall;
printf "skip_scheduler: %d views of 1 s over unchanged tables, window %.1f s, tick 100ms, max_workers 2\n",
  $views, $wall;
printf "skip_scheduler: labels recorded %d of %d due in the window: ratio %.3f (goal 1.0)\n",
  $recorded1 - $recorded0, $due, ($recorded1 - $recorded0) / $due;
printf "skip_scheduler: lag at the end p50 %.2f s, p99 %.2f s, max %.2f s over %d views (goal p99 <= 2 s)\n",
  PipelineNode->percentile(0.5, @lags), PipelineNode->percentile(0.99, @lags), PipelineNode->percentile(1, @lags), scalar(@lags);
printf "skip_scheduler: CPU scheduler %.1f%%, refresh workers %.1f%% of one core (goal < 20%% together)\n",
  100 * ($s1 - $s0) / $clk_tck / $wall, 100 * ($w1 - $w0) / $clk_tck / $wall;
printf "skip_scheduler: refreshes dispatched to workers in the window: %d\n", $started;

$node->stop;
