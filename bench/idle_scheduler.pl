# Idle scheduler (run through bench/run idle_scheduler): 10,000 managed
# views, every one succeeded for its current time label, so nothing is due
# for hours.  With the background worker on (default tick, 1 s) it reports
#  - CPU of the scheduler and of the launcher over a wall-clock window,
#    from utime+stime in /proc/<pid>/stat, as a fraction of one core
#    (target: < 1% of a core);
#  - the time one planning pass takes inside the scheduler (its DEBUG1
#    line "planned N views in X ms, reloaded ..."; target < 20 ms): idle
#    passes, and passes right after a change to pipeline.runs or to the
#    definitions, which make the scheduler reload its run state or its DAG;
#  - from SQL, a whole pass with loading through run_due() with nothing
#    due, and the DAG load alone through refresh_order().
# The DAG: 100 source tables; 40% of the views count rows of one source,
# 30% join two of those (fan-in), 20% read one of the second level
# (chains), 10% join three of the third level.  Intervals of 1 or 2 days.
# Knobs: BENCH_VIEWS (10000), BENCH_WINDOW seconds (60), BENCH_SLA (minutes:
# every view gets @freshness-sla-minutes, so each tick checks 10,000 SLAs).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use FindBin;
use lib $FindBin::Bin;
use IdleDag;
use Time::HiRes qw(time sleep);
use POSIX qw(sysconf _SC_CLK_TCK);

my $views = $ENV{BENCH_VIEWS} // 10000;
my $window = $ENV{BENCH_WINDOW} // 60;
my $sla = $ENV{BENCH_SLA} ? ", options => '{\"freshness-sla-minutes\": \"$ENV{BENCH_SLA}\"}'" : '';
my $clk_tck = sysconf(_SC_CLK_TCK);

my $node = PipelineNode->start_new('bench_idle', $IdleDag::settings);

# --- the DAG (bench/IdleDag.pm)
my ($define_s, $ran, $run_due_s) = IdleDag::create($node, $views, $sla);
my ($count, $edges, $levels) = split /\|/, $node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM pipeline.matviews), (SELECT count(*) FROM pipeline.edges), (SELECT max(level) FROM pipeline.refresh_order())');
printf "setup: %d views, %d edges, %d levels; defined in %.1f s; first run_due() %s in %.1f s\n",
  $count, $edges, $levels, $define_s, $ran, $run_due_s;

# nothing may become due during the measurement
my $margin = IdleDag::seconds_to_next_label($node);
printf "setup: next time label in %d s (window %d s)%s\n", $margin, $window,
  $margin > $window + 60 ? '' : ' WARNING: a label falls in the window, rerun later';

# --- planning from SQL, nothing due
sub timed_median
{
	my ($sql, $reps) = @_;
	my $script = "\\timing on\n" . ("$sql\n" x ($reps + 1));
	my ($ret, $out, $err) = $node->psql('postgres', $script);
	die "psql failed: $err" if $ret != 0;
	my @t = ($out =~ /^Time: ([0-9.]+) ms/mg);
	shift @t;	# the first call warms the caches
	return IdleDag::median(@t);
}
my $sql_plan = timed_median('SELECT count(*) FROM pipeline.run_due();', 20);
my $sql_dag = timed_median('SELECT count(*) FROM pipeline.refresh_order();', 20);
my $sql_trivial = timed_median('SELECT count(*) FROM pipeline.matview_definitions;', 20);
printf "planning from sql: run_due() with nothing due, median of 20: %.1f ms (target < 20 ms)\n", $sql_plan;
printf "planning from sql: DAG load alone (refresh_order()) %.1f ms; a count(*) of the catalog %.1f ms\n",
  $sql_dag, $sql_trivial;

# --- the worker, idle
my ($scheduler, $launcher, $tick) = IdleDag::start_worker($node);
# settle: the first pass marks orphans, prunes history and fills caches
sleep 5;

my $runs_before = $node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.runs');
my $log_offset = -s $node->logfile;
my ($s0, $l0) = (PipelineNode->cpu_ticks($scheduler), PipelineNode->cpu_ticks($launcher));
my $t0 = time;
sleep $window;
my ($s1, $l1) = (PipelineNode->cpu_ticks($scheduler), PipelineNode->cpu_ticks($launcher));
my $wall = time - $t0;
my $runs_after = $node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.runs');

# planning passes the scheduler logged since $offset, by what they reloaded
sub logged_passes
{
	my ($offset) = @_;
	my %passes;
	my $started = 0;
	open my $log, '<', $node->logfile or die;
	seek $log, $offset, 0;
	while (my $line = <$log>)
	{
		next unless $line =~ /\[$scheduler\].*planned (\d+) views in ([0-9.]+) ms, reloaded (.*), (?:started|dispatched) (\d+)/;
		push @{ $passes{$3} }, $2;
		$started += $4;
	}
	close $log;
	return (\%passes, $started);
}

my ($passes, $started) = logged_passes($log_offset);
my $sched_cpu = ($s1 - $s0) / $clk_tck;
my $launch_cpu = ($l1 - $l0) / $clk_tck;
printf "idle worker: tick %s, window %.1f s, runs started during it %d (pipeline.runs %d -> %d)\n",
  $tick, $wall, $started, $runs_before, $runs_after;
printf "idle worker: scheduler CPU %.2f s = %.2f%% of one core (target < 1%%)\n",
  $sched_cpu, 100 * $sched_cpu / $wall;
printf "idle worker: launcher CPU %.2f s = %.2f%% of one core\n",
  $launch_cpu, 100 * $launch_cpu / $wall;
for my $kind (sort keys %$passes)
{
	my @t = sort { $a <=> $b } @{ $passes->{$kind} };
	printf "tick planning in the worker: %d passes in the window that reloaded %s, median %.2f ms, max %.2f ms (target < 20 ms)\n",
	  scalar(@t), $kind, IdleDag::median(@t), $t[-1];
}

# passes after a change: a statement that writes no row still fires the
# trigger, so the scheduler reloads the run state, or the DAG too
for my $change (
	[ 'pipeline.runs', 'UPDATE pipeline.runs SET rows = rows WHERE false' ],
	[ 'the definitions', 'UPDATE pipeline.matview_definitions SET version = version WHERE false' ])
{
	my ($what, $sql) = @$change;
	my $offset = -s $node->logfile;
	for (1 .. 5)
	{
		$node->safe_psql('postgres', $sql);
		sleep 1.5;
	}
	my ($p) = logged_passes($offset);
	for my $kind (sort keys %$p)
	{
		next if $kind eq 'nothing';
		my @t = sort { $a <=> $b } @{ $p->{$kind} };
		printf "tick planning in the worker: after a change to %s, %d passes reloaded %s, median %.1f ms, max %.1f ms\n",
		  $what, scalar(@t), $kind, IdleDag::median(@t), $t[-1];
	}
}

$node->stop;
