# Worker memory (run through bench/run worker_memory): the background
# worker drives BENCH_RUNS (10,000) scheduled runs and the memory of its
# long-lived processes is sampled along the way: the per-database
# scheduler, the launcher and one refresh worker of the pool (which serves
# run after run; pipeline.worker_idle_timeout is raised so that it stays).
# Per sample: VmRSS and its parts
# from /proc/<pid>/status: RssAnon (private memory: where a leak shows),
# RssFile, and RssShmem (the shared buffers and other shared memory the
# process has touched so far, which grows with use up to shared_buffers and
# is not a leak), and the grand total of the memory contexts
# (pg_log_backend_memory_contexts).  The baseline is
# the sample after 100 runs; target: < 10 MB more after 10,000.
# The load: BENCH_VIEWS (100) views with a 1-second interval, half of them
# roots whose query calls clock_timestamp() (volatile: never skipped), half
# reading one root each (refreshed because the root changed); and
# BENCH_DIFF_VIEWS (0) differential views (a grouping with count, sum, avg,
# min and max, and a join of it with a dimension) over an event table that
# the script appends to while it waits, so that the pool's workers also
# serve differential refreshes, with the plans they keep.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use Time::HiRes qw(time sleep);

my $target_runs = $ENV{BENCH_RUNS} // 10000;
my $views = $ENV{BENCH_VIEWS} // 100;
my $max_workers = $ENV{BENCH_MAX_WORKERS} // 4;
my $diff_views = $ENV{BENCH_DIFF_VIEWS} // 0;

my $node = PipelineNode->start_new('bench_memory', qq{
pipeline.enabled = off
pipeline.max_workers = $max_workers
pipeline.worker_idle_timeout = 1h
max_worker_processes = 24
shared_buffers = 128MB
});

my $roots = int($views / 2);
my @sql = (
	'CREATE EXTENSION pipeline;',
	'CREATE TABLE src (id int, v int);',
	'INSERT INTO src SELECT g, g FROM generate_series(1, 100) g;');
push @sql, "SELECT pipeline.create_matview('public', 'r$_', 'SELECT count(*) AS n, sum(v) + $_ AS s, max(clock_timestamp()) AS t FROM src', '1 second');"
  for 1 .. $roots;
push @sql, "SELECT pipeline.create_matview('public', 'c$_', 'SELECT n, s, t FROM mv_r" . (1 + $_ % $roots) . "', '1 second');"
  for 1 .. $views - $roots;
if ($diff_views > 0)
{
	push @sql, 'CREATE TABLE ev (k int, v numeric);', 'CREATE TABLE dim (k int PRIMARY KEY, name text);',
	  "INSERT INTO dim SELECT g, 'k' || g FROM generate_series(0, 99) g;";
	for my $i (1 .. $diff_views)
	{
		my $query = $i % 2
		  ? "SELECT k, count(*) AS n, sum(v) AS s, avg(v) AS a, min(v) AS lo, max(v) AS hi FROM ev WHERE k % $diff_views = $i - 1 GROUP BY k"
		  : "SELECT d.name, count(*) AS n, max(e.v) AS hi FROM ev e JOIN dim d ON d.k = e.k WHERE e.k % $diff_views = $i - 1 GROUP BY d.name";
		push @sql, "SELECT pipeline.create_matview('public', 'd$i', \$q\$$query\$q\$, '1 second', refresh_mode => 'differential');";
	}
}
$node->safe_psql('postgres', join("\n", @sql));
die "not every d view is differential"
  if $diff_views > 0 && $node->safe_psql('postgres',
	"SELECT count(*) FROM pipeline.matviews WHERE name LIKE 'd%' AND refresh_mode = 'differential'") != $diff_views;

$node->safe_psql('postgres', q{
	ALTER SYSTEM SET pipeline.enabled = on;
	SELECT pg_reload_conf();
});
my $scheduler = PipelineNode->scheduler_pid($node);
my $launcher = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline launcher'");

sub status_kb
{
	my ($pid) = @_;
	my %kb;
	open my $fh, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!";
	while (<$fh>)
	{
		$kb{$1} = $2 if /^(VmRSS|RssAnon|RssFile|RssShmem):\s+(\d+) kB/;
	}
	close $fh;
	return \%kb;
}

# the "Grand total" line the process writes to the server log when asked
sub context_bytes
{
	my ($pid) = @_;
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	my $deadline = time + 30;
	while (time < $deadline)
	{
		open my $fh, '<', $node->logfile or die;
		seek $fh, $offset, 0;
		while (my $line = <$fh>)
		{
			return $1 if $line =~ /\[$pid\].*Grand total: (\d+) bytes/;
		}
		close $fh;
		sleep 0.1;
	}
	return -1;
}

sub finished_runs
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pipeline.runs WHERE status <> 'running'");
}

# what the scheduler reads grows with the runs: pipeline.runs, and the system
# catalogs, where every REFRESH leaves dead row versions behind
sub relation_kb
{
	return split /\|/, $node->safe_psql('postgres', q{
		SELECT pg_total_relation_size('pipeline.runs') / 1024,
		       (SELECT sum(pg_total_relation_size(c.oid)) / 1024 FROM pg_class c
		         WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'r')});
}

my %base;
my @rel_base;
my $refresh_worker;
my $t0 = time;
my @checkpoints = grep { $_ < $target_runs } (100, 1000, 2500, 5000, 7500);
push @checkpoints, $target_runs;
for my $at (@checkpoints)
{
	my $runs;
	my $deadline = time + 3600;
	while (($runs = finished_runs()) < $at)
	{
		die "stuck at $runs runs" if time > $deadline;
		# new events for the differential views, some of them extremes that go
		$node->safe_psql('postgres', q{
			INSERT INTO ev SELECT (random() * 99)::int, round((random() * 1000)::numeric, 2)
			  FROM generate_series(1, 50);
			DELETE FROM ev WHERE ctid IN (SELECT ctid FROM ev ORDER BY v DESC LIMIT 5);})
		  if $diff_views > 0;
		sleep 0.2;
	}
	my $elapsed = time - $t0;
	@rel_base = relation_kb() unless @rel_base;
	# the pool's first worker, as it was when the first sample was taken
	$refresh_worker //= $node->safe_psql('postgres',
		"SELECT min(pid) FROM pg_stat_activity WHERE backend_type = 'pipeline refresh'");
	for my $proc ([ 'scheduler', $scheduler ], [ 'launcher', $launcher ],
		[ 'refresh worker', $refresh_worker ])
	{
		my ($name, $pid) = @$proc;
		die "$name $pid is gone (restarted?)" unless -e "/proc/$pid";
		my $kb = status_kb($pid);
		my $ctx = context_bytes($pid);
		$base{$name} //= { %$kb, ctx => $ctx, runs => $runs };
		my $b = $base{$name};
		printf "memory %s: after %d runs (%.0f s): VmRSS %d kB (%+d) = RssAnon %d (%+d) + RssFile %d (%+d) + RssShmem %d (%+d); contexts %d bytes (%+d)\n",
		  $name, $runs, $elapsed, $kb->{VmRSS}, $kb->{VmRSS} - $b->{VmRSS},
		  $kb->{RssAnon}, $kb->{RssAnon} - $b->{RssAnon},
		  $kb->{RssFile}, $kb->{RssFile} - $b->{RssFile},
		  $kb->{RssShmem}, $kb->{RssShmem} - $b->{RssShmem},
		  $ctx, $ctx - $b->{ctx};
		if ($at == $target_runs)
		{
			printf "result %s: %d runs after the first %d: VmRSS %+.2f MB (target < 10 MB), of which shared buffers touched (RssShmem) %+.2f MB; private memory (RssAnon) %+.2f MB; memory contexts %+.3f MB\n",
			  $name, $runs - $base{$name}{runs}, $base{$name}{runs},
			  ($kb->{VmRSS} - $b->{VmRSS}) / 1024,
			  ($kb->{RssShmem} - $b->{RssShmem}) / 1024,
			  ($kb->{RssAnon} - $b->{RssAnon}) / 1024, ($ctx - $b->{ctx}) / 1048576;
		}
	}
}
my @rel_end = relation_kb();
printf "relations: from the first sample to the last, pipeline.runs %d -> %d kB, system catalogs %d -> %d kB\n",
  $rel_base[0], $rel_end[0], $rel_base[1], $rel_end[1];
my ($ok, $failed, $skipped) = split /\|/, $node->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'skipped') FROM pipeline.runs");
printf "runs: %d succeeded, %d failed, %d skipped in %.0f s (%.1f runs/s, max_workers %d, %d views of 1 s, %d of them differential)\n",
  $ok, $failed, $skipped, time - $t0, ($ok + $failed + $skipped) / (time - $t0), $max_workers,
  $views + $diff_views, $diff_views;
# brought up to date first: the scheduler may not have run the last events yet
$node->safe_psql('postgres', "SELECT count(*) FROM pipeline.refresh('mv_d$_', false)") for 1 .. $diff_views;
printf "differential views: each equals its full recompute: %s\n",
  $node->safe_psql('postgres', 'SELECT ' . join(' AND ', map {
	my $q = $node->safe_psql('postgres', "SELECT query FROM pipeline.matviews WHERE name = 'd$_'");
	"NOT EXISTS ((TABLE mv_d$_ EXCEPT ALL $q) UNION ALL ($q EXCEPT ALL TABLE mv_d$_))" } 1 .. $diff_views))
  if $diff_views > 0;

$node->stop;
