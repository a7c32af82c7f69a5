# Standby and failover (API.md §10).  A primary under the scheduler streams
# to a hot standby.  On the standby the scheduler stays idle (no pipeline
# process runs there), nothing from pipeline is logged at ERROR or worse,
# and the views, the manifest of a lake publication and pipeline.status
# read as on the primary.  Then, while a refresh is held on the primary by
# an advisory lock (which does not replicate), the primary stops with mode
# immediate, one published file is deleted and another damaged, and the
# standby is promoted.  On the new primary: the run left 'running' is
# recorded failed, with a failure incident and its 'failed' alert, and
# retried; a view whose run for a label succeeded on the old primary is not
# run again for it; the publication rewrites the two files though nothing
# upstream changed (change_tracking_recheck_publications()).  Last, an
# orphan is told from a live backend that reuses its process id by the
# process's start (run_fail_orphans()).
use strict;
use warnings;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir();
# the publication's destination: both nodes run on this machine
my $lake = "$tmp/lake";
make_path($lake);
chmod 0777, $tmp, $lake;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pipeline'
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
max_worker_processes = 20
timezone = 'UTC'
});
$primary->start;

$primary->safe_psql('postgres', qq{
CREATE EXTENSION pipeline;
CREATE TABLE raw (id int, v int);
INSERT INTO raw SELECT g, g * 10 FROM generate_series(1, 4) g;
-- runs once for the hour: that run's outcome reaches the standby
SELECT pipeline.create_matview('public', 'hourly',
    'SELECT count(*) AS n, sum(v) AS total FROM public.raw', '1 hour');
-- waits while a session holds advisory lock 42 (a volatile query: never skipped)
SELECT pipeline.create_matview('public', 'held',
    'SELECT pg_advisory_xact_lock_shared(42)::text AS held, count(*) AS n FROM public.raw', '1 second');
-- a file per parity; skipped while raw does not change
SELECT pipeline.create_matview('public', 'lake',
    'SELECT id, v, id % 2 AS parity FROM public.raw', '1 second', 'unload',
    options => '{"unload-destination": "$lake/raw", "unload-partition-by": "parity"}');
-- for the runs inserted by hand at the end
SELECT pipeline.create_matview('public', 'probe', 'SELECT 1 AS one', '1 hour');
});

my %file = map { $_ => "$lake/raw/parity=$_/part-00000.csv" } (0, 1);
sub slurp_or_empty { return -f $_[0] ? PostgreSQL::Test::Utils::slurp_file($_[0]) : ''; }

# on the primary: the hourly view ran for its label, the lake is published
ok( $primary->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pipeline.runs WHERE matview = 'mv_hourly'::regclass AND status = 'succeeded'"),
	'primary: the hourly view ran under the scheduler');
my $hourly_label = $primary->safe_psql('postgres',
	"SELECT min(time_label) FROM pipeline.runs WHERE matview = 'mv_hourly'::regclass AND status = 'succeeded'");
ok( $primary->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'mv_lake'::regclass AND status = 'skipped'"),
	'primary: the publication ran, then was skipped as unchanged');
my %published = map { $_ => slurp_or_empty($file{$_}) } keys %file;
like($published{0}, qr/^id,v\n/, 'primary: the partitions are published') or diag(explain(\%published));

# --- the standby ----------------------------------------------------------
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby: in recovery');
is( $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pipeline%'"),
	'0', 'standby: no pipeline process runs (the scheduler is idle)');
isnt($primary->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler'"),
	'0', 'while the primary has its scheduler');
is($standby->safe_psql('postgres', 'SELECT n, total FROM mv_hourly'),
	'4|100', 'standby: a managed view is readable, with the primary\'s contents');
is( $standby->safe_psql('postgres',
		q{SELECT string_agg(partition || ':' || rows, ' ' ORDER BY partition) FROM mv_lake}),
	'parity=0:2 parity=1:2', 'standby: the publication\'s manifest is readable');
# (an hour that starts meanwhile has its label skipped: nothing changed)
is( $standby->safe_psql('postgres',
		"SELECT last_status IN ('succeeded', 'skipped'), last_success_label >= '$hourly_label' FROM pipeline.status WHERE matview = 'mv_hourly'::regclass"),
	't|t', 'standby: pipeline.status is readable, with the primary\'s runs');
# --- a refresh held on the primary when it goes -----------------------------
my $holder = PipelineNode->hold_advisory_run($primary, 'mv_held', 42);
ok($holder, 'primary: a refresh waits for the advisory lock');
my ($orphan, $orphan_label, $orphan_attempt) = split /\|/, $primary->safe_psql('postgres',
	"SELECT run_id, time_label, attempt FROM pipeline.runs WHERE matview = 'mv_held'::regclass AND status = 'running'");
ok( $standby->poll_query_until('postgres',
		"SELECT status = 'running' FROM pipeline.runs WHERE run_id = $orphan"),
	'standby: the run is seen running');

# what the standby saw of pipeline, until the primary goes (its loss is logged)
# (a line at ERROR or worse naming pipeline -- its processes' application
# name, a message, a table -- not a path of the test's directory; or a
# pipeline process that exited)
sub alarming
{
	return grep { (/\b(ERROR|FATAL|PANIC):/ && /\bpipeline(?![-\w])/) || /background worker "pipeline.*exited/ }
	  split /\n/, $_[0];
}
my @alarming = alarming(PostgreSQL::Test::Utils::slurp_file($standby->logfile));
is(scalar(@alarming), 0, 'standby: nothing from pipeline in the log at ERROR or worse')
  or diag(join("\n", @alarming));

# refreshing there is refused plainly, as PostgreSQL refuses its writes (an
# internal statement failed); after the log was read, these being errors
# and so is every call that writes, by its name rather than a lock's or a
# read-only transaction's error about a statement of its own
my $dpl = "\$d\$/**\n * \@matview-schema public\n * \@matview-name n\n * \@interval-in-minutes 60\n */ SELECT 1 AS one\$d\$";
for my $call (
	[ 'pipeline.refresh',        "'mv_hourly'" ],
	[ 'pipeline.run_due',        '' ],
	[ 'pipeline.define',         $dpl ],
	[ 'pipeline.create_matview', "'public', 'n', 'SELECT 1 AS one', '1 hour'" ],
	[ 'pipeline.drop_matview',   "'mv_probe'" ],
	[ 'pipeline.stage',          $dpl ],
	[ 'pipeline.apply_staged',   '' ],
	[ 'pipeline.discard_staged', '' ],
	[ 'pipeline.set_after_refresh', "'mv_probe', 'pg_catalog.pg_sleep(double precision)'" ],
	[ 'pipeline.apply_changes',  "'raw', 'raw', '{id}', 'id'" ],
	[ 'pipeline.ingest',         "'raw', '[]'" ],
	[ 'pipeline.create_external_function', "'public.f(x int)', 'int', 'http://127.0.0.1:1/'" ],
	[ 'pipeline.drop_external_function',   "'pg_catalog.pg_sleep(double precision)'" ])
{
	my ($function, $args) = @$call;
	my ($rc, $out, $err) = $standby->psql('postgres', "SELECT * FROM $function($args)");
	like($err, qr/ERROR:  cannot execute \Q$function()\E during recovery/, "standby: $function() is refused");
}

$primary->stop('immediate');
eval { $holder->quit; };
# the files are no longer what the standby's manifest says
unlink $file{1} or die "could not remove $file{1}: $!";
PostgreSQL::Test::Utils::append_to_file($file{0}, "99,990\n");

my $log_offset = -s $standby->logfile;
$standby->promote;
my $new = $standby;
is($new->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'promoted');
PipelineNode->scheduler_pid($new, 'postgres');

ok( $new->poll_query_until('postgres',
		"SELECT status = 'failed' AND error = 'the process running the refresh ended before it finished' FROM pipeline.runs WHERE run_id = $orphan"),
	'new primary: the run left running by the old primary is recorded failed');
is( $new->safe_psql('postgres', qq{
		SELECT count(*) FROM pipeline.incidents i JOIN pipeline.alerts a ON a.incident_id = i.incident_id
		 WHERE i.matview = 'mv_held'::regclass AND i.kind = 'failure' AND i.run_id = $orphan
		   AND a.kind = 'failed' AND a.run_id = $orphan}),
	'1', 'new primary: a failure incident with its failed alert');
ok( $new->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pipeline.runs
		 WHERE matview = 'mv_held'::regclass AND status = 'succeeded'
		   AND (time_label, attempt) > ('$orphan_label'::timestamptz, $orphan_attempt)}),
	'new primary: the view is retried, and succeeds');
ok( $new->poll_query_until('postgres', qq{
		SELECT closed_at IS NOT NULL AND EXISTS (SELECT FROM pipeline.alerts a
		                                          WHERE a.incident_id = i.incident_id AND a.kind = 'recovered')
		  FROM pipeline.incidents i WHERE i.run_id = $orphan}),
	'new primary: the incident is closed, with a recovered alert');

# the lake: both files rewritten, though raw did not change
my $repaired = 0;
for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
{
	if (slurp_or_empty($file{0}) eq $published{0} && slurp_or_empty($file{1}) eq $published{1})
	{
		$repaired = 1;
		last;
	}
	select(undef, undef, undef, 0.1);
}
ok($repaired, 'new primary: the missing and the damaged file are published again');
like( $new->safe_psql('postgres', q{
		SELECT detail FROM pipeline.runs WHERE matview = 'mv_lake'::regclass AND status = 'succeeded'
		 ORDER BY run_id DESC LIMIT 1}),
	qr/^published: 2 written \((parity=0, parity=1|parity=1, parity=0)\), 0 removed, 0 unchanged; read whole: the files of partition parity=\d are not as published$/,
	'new primary: its run says it rewrote the two partitions (raw was not written since it was set up)');

# a run that reached the standby is not run again: the hourly view's label
PipelineNode->wait_for_ticks($new, 'postgres', 3);
is( $new->safe_psql('postgres',
		"SELECT count(*) FROM pipeline.runs WHERE matview = 'mv_hourly'::regclass AND time_label = '$hourly_label'"),
	'1', 'new primary: the label the old primary ran is not run again');

# --- an orphan whose process id a live backend has ----------------------------
my $session = $new->background_psql('postgres');
my ($pid, $start) = split /\|/, $session->query_safe(
	'SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()');
$new->safe_psql('postgres', qq{
	INSERT INTO pipeline.runs (matview, time_label, status, worker_pid, worker_started_at)
	VALUES ('mv_probe', '2000-01-01', 'running', $pid, '$start'::timestamptz - interval '1 hour'),
	       ('mv_probe', '2000-01-02', 'running', $pid, '$start');
	SELECT count(*) FROM pipeline.run_due('2000-01-03');
});
is( $new->safe_psql('postgres', q{
		SELECT string_agg(time_label::date || ' ' || status, ', ' ORDER BY time_label)
		  FROM pipeline.runs WHERE matview = 'mv_probe'::regclass AND time_label < '2001-01-01'}),
	'2000-01-01 failed, 2000-01-02 running',
	'a run whose process id is reused by a later process is an orphan; one of the live process is not');
$session->quit;
ok( $new->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid}),
	'the process ends');
$new->safe_psql('postgres', q{SELECT count(*) FROM pipeline.run_due('2000-01-03')});
is( $new->safe_psql('postgres', q{
		SELECT status FROM pipeline.runs WHERE matview = 'mv_probe'::regclass AND time_label = '2000-01-02'}),
	'failed', 'then its run is an orphan too');

my @new_alarming = alarming(substr(PostgreSQL::Test::Utils::slurp_file($new->logfile), $log_offset));
is(scalar(@new_alarming), 0, 'new primary: nothing from pipeline in the log at ERROR or worse')
  or diag(join("\n", @new_alarming));

$new->stop;
done_testing();
