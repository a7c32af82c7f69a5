# Idle scheduler against pg_cron (run through bench/run idle_pg_cron): the
# same-run baseline for the target "idle scheduler, 10,000 views < 0.5x
# pg_cron with 10,000 jobs" (TARGETS.md), which until now was compared with a
# figure recorded elsewhere.
#
# One cluster preloads both pipeline and pg_cron, so both are measured in the
# SAME wall-clock window on the same machine state (the machine has 2 cores
# and is shared: two windows one after the other would see different loads).
#  - pipeline: the DAG of bench/idle_scheduler.pl (10,000 views, every one
#    succeeded for its current label, so nothing is due for hours), worker on
#    with the default tick (1 s) and log_min_messages = debug1, exactly as
#    idle_scheduler.pl measures it;
#  - pg_cron: 10,000 active jobs whose schedule does not fire in the window
#    (see $pg_cron_schedule below for the choice).
# CPU of each process is utime+stime from /proc/<pid>/stat (as
# idle_scheduler.pl does: clock ticks of 10 ms), as a fraction of one core;
# /proc/<pid>/schedstat (nanoseconds on the CPU) is printed beside it
# because a 60 s window holds only a few ticks of an idle process.
# A second window repeats both with @freshness-sla-minutes on every view
# (BENCH_SLA semantics of idle_scheduler.pl: each tick checks 10,000 SLAs).
# Without pg_cron's library the script says so and measures pipeline alone.
# Knobs: BENCH_VIEWS (10000; also the number of pg_cron jobs), BENCH_WINDOW
# seconds (60), BENCH_SLA minutes for the second window (4320, the value of
# the recorded SLA run; 0 skips that window).
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
my $cron_jobs = $views;
my $window = $ENV{BENCH_WINDOW} // 60;
my $sla_minutes = $ENV{BENCH_SLA} // 4320;
my $clk_tck = sysconf(_SC_CLK_TCK);
my $target_ratio = 0.5;

# pg_cron is there when the server we run (first pg_config on PATH: bench/run
# puts its private install first) has both its library and its control file
chomp(my $pkglibdir = `pg_config --pkglibdir`);
chomp(my $sharedir = `pg_config --sharedir`);
my $have_pg_cron = -f "$pkglibdir/pg_cron.so" && -f "$sharedir/extension/pg_cron.control";
print "pg_cron: not installed ($pkglibdir/pg_cron.so missing), only pipeline's figure is measured\n"
  unless $have_pg_cron;

my $node = PipelineNode->start_new('bench_idle_pg_cron', $IdleDag::settings . ($have_pg_cron ? qq{
# the later line wins over PipelineNode's 'pipeline'
shared_preload_libraries = 'pipeline,pg_cron'
cron.database_name = 'postgres'
} : ''));

# --- pipeline's DAG, as in bench/idle_scheduler.pl (bench/IdleDag.pm)
my ($define_s, $ran, $run_due_s) = IdleDag::create($node, $views, '');
printf "setup: %d views defined in %.1f s; first run_due() %s in %.1f s\n",
  $node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.matviews'), $define_s, $ran, $run_due_s;

# nothing of pipeline may become due during the windows
my $windows = $sla_minutes ? 2 : 1;
my $margin = IdleDag::seconds_to_next_label($node);
printf "setup: next time label in %d s (%d window(s) of %d s)%s\n", $margin, $windows, $window,
  $margin > $windows * ($window + 30) + 60 ? '' : ' WARNING: a label falls in a window, rerun later';

# --- pg_cron's jobs.  The schedule: daily, like pipeline's 1-day views, at
# a fixed UTC hour 12 hours from now (pg_cron 1.4 reads schedules in UTC), so
# no job fires in any window whenever the bench runs (a yearly '0 0 1 1 *'
# would do too, but would fire all 10,000 at once if run at New Year).
# What pg_cron spends idle hardly depends on the schedule: its launcher
# wakes at least every second (its poll waits at most 1 s) and walks all its
# jobs a few times at each wake-up (list them, see whether any can start,
# step each one's state machine), and once a minute also evaluates every
# job's schedule (bit tests); a job that never fires costs the same as one
# that fires next year.  So its idle CPU grows with the job count, and a
# window of whole minutes holds one schedule evaluation per minute.
my $cron_launcher;
my $pg_cron_schedule = sprintf('0 %d * * *', ((gmtime)[2] + 12) % 24);
if ($have_pg_cron)
{
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
	# one statement for all jobs; each cron.schedule() invalidates the
	# launcher's job cache, and it reloads the 10,000 jobs once settled
	$node->safe_psql('postgres',
		"SELECT count(cron.schedule('idle_job_' || i, '$pg_cron_schedule', 'SELECT 1')) FROM generate_series(1, $cron_jobs) i",
		timeout => 600);
	# settle pg_cron as setup settled pipeline: autoanalyze of the new
	# cron.job in the window would invalidate the launcher's job cache and
	# have it reload and parse all jobs again (seen as a pg_cron figure
	# ~1.5x higher in the first window than in the second without this)
	$node->safe_psql('postgres', 'VACUUM ANALYZE');
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")
	  or die "no pg_cron launcher";
	$cron_launcher = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'");
	my $version = $node->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'pg_cron'");
	printf "setup: pg_cron %s, %d active jobs scheduled '%s' (UTC, none fires in the window)\n",
	  $version, $node->safe_psql('postgres', 'SELECT count(*) FROM cron.job WHERE active'),
	  $pg_cron_schedule;
}

# --- pipeline's worker on, as idle_scheduler.pl does
my ($scheduler, $launcher, $tick) = IdleDag::start_worker($node);
printf "setup: pipeline.tick %s; pids: pipeline scheduler %d, pipeline launcher %d%s\n",
  $tick, $scheduler, $launcher, $have_pg_cron ? ", pg_cron launcher $cron_launcher" : '';

# nanoseconds on the CPU (first field of /proc/<pid>/schedstat), finer than
# the 10 ms ticks of /proc/<pid>/stat; undef where the kernel lacks it
sub cpu_ns
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/schedstat" or return undef;
	my ($ns) = split / /, scalar <$fh>;
	close $fh;
	return $ns;
}

# voluntary context switches: how often the process went to sleep (wake-ups)
sub wakeups
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/status" or return 0;
	my ($n) = map { /^voluntary_ctxt_switches:\s+(\d+)/ ? $1 : () } <$fh>;
	close $fh;
	return $n // 0;
}

sub sample
{
	my ($pid) = @_;
	return { ticks => PipelineNode->cpu_ticks($pid), ns => cpu_ns($pid), wakeups => wakeups($pid) };
}

# planning passes the scheduler logged since $offset (its DEBUG1 line): the
# time of each, and how many reloaded what (a reload in an idle window is
# noise to explain)
sub logged_passes
{
	my ($offset) = @_;
	my (@ms, %reloaded);
	open my $log, '<', $node->logfile or die;
	seek $log, $offset, 0;
	while (my $line = <$log>)
	{
		next unless $line =~ /\[$scheduler\].*planned \d+ views in ([0-9.]+) ms, reloaded (.*), (?:started|dispatched)/;
		push @ms, $1;
		$reloaded{$2}++;
	}
	close $log;
	return (\@ms, \%reloaded);
}

# one window: every process sampled at its start and end; prints the lines
sub measure_window
{
	my ($label) = @_;
	my %pids = (scheduler => $scheduler, launcher => $launcher);
	$pids{cron} = $cron_launcher if $have_pg_cron;
	my $runs_before = $node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.runs');
	my $cron_runs_q = 'SELECT count(*) FROM cron.job_run_details';
	my $cron_before = $have_pg_cron ? $node->safe_psql('postgres', $cron_runs_q) : 0;
	my $log_offset = -s $node->logfile;
	my $start_ts = $node->safe_psql('postgres', 'SELECT now()');

	my %before = map { $_ => sample($pids{$_}) } keys %pids;
	my $start = time;
	sleep $window;
	my %after = map { $_ => sample($pids{$_}) } keys %pids;
	my $wall = time - $start;

	my %cpu;	# fraction of one core, from ticks, and from ns when known
	my %cpu_ns;
	my %wake;
	for my $p (keys %pids)
	{
		$cpu{$p} = ($after{$p}{ticks} - $before{$p}{ticks}) / $clk_tck / $wall;
		$cpu_ns{$p} = defined $before{$p}{ns} && defined $after{$p}{ns}
		  ? ($after{$p}{ns} - $before{$p}{ns}) / 1e9 / $wall : undef;
		$wake{$p} = $after{$p}{wakeups} - $before{$p}{wakeups};
	}
	my $runs_after = $node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.runs');
	my $cron_after = $have_pg_cron ? $node->safe_psql('postgres', $cron_runs_q) : 0;
	my ($pass_ms, $reloaded) = logged_passes($log_offset);
	my @pass_ms = @$pass_ms;
	my $reloads = join(', ', map { "$reloaded->{$_} $_" } grep { $_ ne 'nothing' } sort keys %$reloaded) || 'none';
	# autovacuum in the window may have made a process reload (noise to see)
	my $autovacuumed = $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(schemaname || '.' || relname, ' '), 'none') FROM pg_stat_all_tables WHERE greatest(last_autovacuum, last_autoanalyze) > '$start_ts'");

	my $pct = sub { my ($p) = @_; sprintf '%.3f%%', 100 * $p };
	my $fine = sub {
		my ($p) = @_;
		defined $cpu_ns{$p} ? sprintf(' (schedstat %s)', $pct->($cpu_ns{$p})) : '';
	};
	printf "%s window: %.1f s; runs started: pipeline %d, pg_cron %s; autovacuum or autoanalyze in it: %s\n",
	  $label, $wall, $runs_after - $runs_before,
	  $have_pg_cron ? $cron_after - $cron_before : 'n/a', $autovacuumed;
	printf "%s pipeline scheduler: %s of one core%s, %d wake-ups, %d planning passes median %.2f ms, reloads %s\n",
	  $label, $pct->($cpu{scheduler}), $fine->('scheduler'), $wake{scheduler},
	  scalar(@pass_ms), @pass_ms ? IdleDag::median(@pass_ms) : 0, $reloads;
	printf "%s pipeline launcher: %s of one core%s, %d wake-ups\n",
	  $label, $pct->($cpu{launcher}), $fine->('launcher'), $wake{launcher};
	return unless $have_pg_cron;
	printf "%s pg_cron launcher: %s of one core%s, %d wake-ups (%d jobs)\n",
	  $label, $pct->($cpu{cron}), $fine->('cron'), $wake{cron}, $cron_jobs;

	# the ratio the target names: the scheduler against pg_cron's one process;
	# and the fairer whole: pipeline's launcher does part of what pg_cron's
	# single launcher does
	# (names without '+' or '/': bench/run keeps lines matching ^[a-z_ ]+: )
	for my $what ([ 'scheduler', [qw(scheduler)] ], [ 'scheduler and launcher', [qw(scheduler launcher)] ])
	{
		my ($name, $procs) = @$what;
		my ($mine, $mine_ns) = (0, 0);
		for (@$procs)
		{
			$mine += $cpu{$_};
			$mine_ns = defined $mine_ns && defined $cpu_ns{$_} ? $mine_ns + $cpu_ns{$_} : undef;
		}
		my $ratio = $cpu{cron} > 0 ? sprintf('%.2fx', $mine / $cpu{cron}) : 'n/a (pg_cron 0 ticks)';
		my $ratio_ns = defined $mine_ns && $cpu_ns{cron} ? sprintf('%.2fx', $mine_ns / $cpu_ns{cron}) : 'n/a';
		printf "%s ratio pipeline %s to pg_cron: %s by ticks, %s by schedstat (target < %.1fx)\n",
		  $label, $name, $ratio, $ratio_ns, $target_ratio;
	}
	return;
}

# settle: the scheduler's first pass marks orphans, prunes history and fills
# caches; pg_cron's launcher loads its 10,000 jobs
sleep 5;
measure_window('idle');

# --- the same with an SLA on every view.  The scheduler reads the option
# from matview_definitions.options (src/model/dag.c) and reloads on the
# statement's trigger; the value is at least every interval (2 days) as
# create_matview() would demand
if ($sla_minutes)
{
	my $with_sla = $node->safe_psql('postgres', qq{
		UPDATE pipeline.matview_definitions
		   SET options = coalesce(options, '{}') || '{"freshness-sla-minutes": "$sla_minutes"}';
		SELECT count(*) FROM pipeline.matview_definitions WHERE options ? 'freshness-sla-minutes'});
	# analyzed now rather than by autovacuum in the window: the statistics'
	# invalidation of the table would make the scheduler load its DAG again
	$node->safe_psql('postgres', 'VACUUM ANALYZE pipeline.matview_definitions');
	printf "setup: \@freshness-sla-minutes %d on %d views\n", $sla_minutes, $with_sla;
	sleep 5;	# the reload of the DAG and run state, then idle again
	measure_window('sla');
}

$node->stop;
