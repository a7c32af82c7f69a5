# Run history with processes (issue 10): a failed run is said in the server
# log at LOG, with the view, the label and the error, once per failure, by
# run_due() and by the scheduler's refresh workers (and a run left running
# by a dead process, when it is marked failed); the refresh workers collapse
# consecutive skipped labels into one row too, and the scheduler's periodic
# pass bounds the history per view.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PipelineNode->start_new('history', qq{
pipeline.enabled = off
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
pipeline.run_history_per_view = 4
timezone = 'UTC'
log_timezone = 'UTC'
max_worker_processes = 20
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# the LOG lines about failed runs of a view, from the server log
sub failure_lines
{
	my ($view) = @_;
	my $log = slurp_file($node->logfile);
	return grep { /LOG:  pipeline: refresh of "public\.$view" for time label / } split /\n/, $log;
}

sql(q{
	CREATE EXTENSION pipeline;
	CREATE TABLE divisors (d int);
	INSERT INTO divisors VALUES (1);
	SELECT pipeline.create_matview('public', 'broken', 'SELECT sum(60 / d) AS q FROM divisors', '1 hour');
	UPDATE divisors SET d = 0;
});

# run_due: three failures of one label, retried on as_of (backoff 1s), and
# a call in between that only waits
my @statuses = map {
	sql(qq{SELECT status FROM pipeline.run_due('2026-01-01 $_+00') WHERE matview = 'mv_broken'::regclass})
} ('00:00:00', '00:00:00', '00:00:01', '00:00:03', '00:00:04');
is(join(',', @statuses), 'failed,waiting,failed,failed,', 'run_due: three attempts, a wait between');
my @lines = failure_lines('mv_broken');
is(scalar @lines, 3, 'run_due: one LOG line per failed run');
like($lines[0],
	qr/LOG:  pipeline: refresh of "public\.mv_broken" for time label 2026-01-01 00:00:00\+00 failed: division by zero$/,
	'the line names the view, the label and the error');

# a run left 'running' by a process that no longer exists is marked failed,
# and said once
sql(q{INSERT INTO pipeline.runs (matview, time_label, attempt, status, worker_pid)
	  VALUES ('mv_broken', '2026-01-02 00:00+00', 1, 'running', 2147483647)});
sql(q{SELECT * FROM pipeline.run_due('2026-01-01 00:00:05+00')});
sql(q{SELECT * FROM pipeline.run_due('2026-01-01 00:00:06+00')});
my @orphan = grep { /2026-01-02 00:00:00\+00 failed: the process running the refresh ended before it finished$/ }
  failure_lines('mv_broken');
is(scalar @orphan, 1, 'an orphaned run is logged once when it is marked failed');

# so is one whose process id is this very process's but whose process
# started before it (a former primary's worker whose id the new primary's
# scheduler got): only the process's start tells them apart
is(sql(q{INSERT INTO pipeline.runs (matview, time_label, attempt, status, worker_pid, worker_started_at)
	  VALUES ('mv_broken', '2026-01-03 00:00+00', 1, 'running', pg_backend_pid(), now() - interval '1 hour');
	  SELECT count(*) >= 0 FROM pipeline.run_due('2026-01-01 00:00:07+00');
	  SELECT status FROM pipeline.runs WHERE matview = 'mv_broken'::regclass AND time_label = '2026-01-03 00:00+00'}),
	"t\nfailed", 'a run of this process id but of an earlier process start is an orphan');
sql(q{SELECT pipeline.drop_matview('mv_broken')});

# The scheduler: a failing daily view (max_attempts = 3, then it waits for
# the next day), a view whose sources never change (1 second: skipped
# labels, one row), and a volatile one (never skipped: bounded history).
sql(q{
	UPDATE divisors SET d = 1;
	SELECT pipeline.create_matview('public', 'worker_broken', 'SELECT sum(60 / d) AS q FROM divisors', '1 day');
	UPDATE divisors SET d = 0;
	CREATE TABLE still (x int);
	SELECT pipeline.create_matview('public', 'still', 'SELECT count(*) AS n FROM still', '1 second');
	SELECT pipeline.create_matview('public', 'busy', 'SELECT random() AS r', '1 second');
	ALTER SYSTEM SET pipeline.enabled = on;
	SELECT pg_reload_conf();
});

ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 3 FROM pipeline.runs WHERE matview = 'mv_worker_broken'::regclass AND status = 'failed'}),
	'the scheduler tried the failing view three times');
# once per failure: each line is written before its run's row commits, and
# no fourth attempt comes today, so the counts agree once nothing is in flight
my $agree = 0;
for (1 .. 50)
{
	my $rows = sql(q{SELECT count(*) FROM pipeline.runs WHERE matview = 'mv_worker_broken'::regclass AND status <> 'running'});
	my $lines = scalar failure_lines('mv_worker_broken');
	if ($lines == $rows) { $agree = 1; last; }
	usleep(100_000);
}
ok($agree, 'the refresh workers logged each failure once');
like((failure_lines('mv_worker_broken'))[0], qr/failed: division by zero$/, 'with its error');

# labels of the unchanged view go into one row
ok($node->poll_query_until('postgres',
	q{SELECT max(label_count) >= 4 FROM pipeline.runs WHERE matview = 'mv_still'::regclass}),
	'a refresh worker extends the skipped row');
is(sql(q{SELECT count(*) <= 3 AND sum(label_count) > count(*)
	  FROM pipeline.runs WHERE matview = 'mv_still'::regclass}),
	't', 'the unchanged view has few rows for many labels');
is(sql(q{SELECT s.last_success_label = (SELECT max(coalesce(r.last_time_label, r.time_label)) FROM pipeline.runs r
	  WHERE r.matview = s.matview AND r.status IN ('succeeded', 'skipped'))
	  FROM pipeline.status s WHERE s.matview = 'mv_still'::regclass}),
	't', 'status shows its last collapsed label as the last success');

# the volatile view's history stays at run_history_per_view rows (plus
# the one its next run claims)
my $first = sql(q{SELECT min(time_label) FROM pipeline.runs WHERE matview = 'mv_busy'::regclass});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) FILTER (WHERE status = 'succeeded') >= 4 AND min(time_label) > '$first'::timestamptz + interval '2 seconds'
	     FROM pipeline.runs WHERE matview = 'mv_busy'::regclass}),
	'old runs of the busy view are deleted');
is(sql(q{SELECT count(*) <= 5 FROM pipeline.runs WHERE matview = 'mv_busy'::regclass}),
	't', 'the busy view keeps at most run_history_per_view rows, plus one running');

sql(q{ALTER SYSTEM SET pipeline.enabled = off; SELECT pg_reload_conf();});
$node->stop;
done_testing();
