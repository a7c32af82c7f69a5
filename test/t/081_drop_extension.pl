# DROP EXTENSION pipeline, plain (no CASCADE), works after views have run
# and leaves the managed views readable, with the tracking triggers gone;
# a rolled-back drop changes nothing.  With a refresh running, the drop
# cancels it instead of waiting, and the scheduler stands aside quietly (no
# error in the log), leaves once the drop has committed (a database without
# the extension holds no worker slot) and comes back for the extension
# created again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('dropext', qq{
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
max_worker_processes = 16
});
my $timeout = $PostgreSQL::Test::Utils::timeout_default;

my $triggers = "SELECT count(*) FROM pg_trigger WHERE tgname = 'pipeline_record_change'";
my $raw_trigger = "SELECT count(*) = 1 FROM pg_trigger WHERE tgname = 'pipeline_record_change' AND tgrelid = 'raw'::regclass";

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE raw (id int, v int);
	INSERT INTO raw VALUES (1, 10), (2, 20);
	CREATE TABLE events (seq int, what text);
	INSERT INTO events VALUES (1, 'a'), (2, 'b');
	SELECT pipeline.create_matview('public', 'totals', 'SELECT count(*) AS n, sum(v) AS s FROM raw', '1 second',
	                               refresh_mode => 'full');
	SELECT pipeline.create_matview('public', 'doubled', 'SELECT n * 2 AS n2 FROM mv_totals', '1 second');
	SELECT pipeline.create_matview('public', 'stream', 'SELECT seq, what FROM events', '1 second',
	                               'incremental', 'seq');
});

# the worker's first runs of totals and of the stream add the tracking
# trigger to raw and to events
ok($node->poll_query_until('postgres', $raw_trigger),
	'a run added the tracking trigger to the source table');
ok($node->poll_query_until('postgres',
	"SELECT count(DISTINCT matview) = 3 FROM pipeline.runs WHERE status IN ('succeeded', 'skipped')"),
	'every view ran');
ok($node->poll_query_until('postgres', "SELECT ($triggers) = 2"),
	'the stream\'s source has its trigger too');

# a drop that is rolled back leaves everything in place
$node->safe_psql('postgres', 'BEGIN; DROP EXTENSION pipeline; ROLLBACK;');
is($node->safe_psql('postgres', $triggers), '2', 'a rolled-back drop keeps the triggers');
$node->safe_psql('postgres', 'INSERT INTO raw VALUES (3, 30)');
ok($node->poll_query_until('postgres', 'SELECT n2 FROM mv_doubled', '6'),
	'and the scheduler carries on after it');

# under session_replication_role = replica (a replication tool's session)
# pipeline's event trigger readies the drop too (1.26): before, it was
# refused on the tracking triggers' dependency
my ($rc_replica, $out_replica, $err_replica) = $node->psql('postgres',
	'BEGIN; SET LOCAL session_replication_role = replica; DROP EXTENSION pipeline; ROLLBACK;');
is($err_replica, '', 'DROP EXTENSION works under session_replication_role = replica');

# a role that may not drop the extension changes nothing either
$node->safe_psql('postgres', 'CREATE ROLE intruder');
my ($rc, $stdout, $stderr) = $node->psql('postgres', 'SET ROLE intruder; DROP EXTENSION pipeline');
like($stderr, qr/must be owner of extension pipeline/, 'only the owner may drop the extension');
is($node->safe_psql('postgres', $triggers), '2', 'a refused drop keeps the triggers');

my $log_offset = -s $node->logfile;
($rc, $stdout, $stderr) = $node->psql('postgres', 'DROP EXTENSION pipeline');
is($rc, 0, 'plain DROP EXTENSION succeeds after views have run');
is($stderr, '', 'without a complaint');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'pipeline'"),
	'0', 'the extension is gone');
is($node->safe_psql('postgres', $triggers), '0', 'so are the tracking triggers');
is($node->safe_psql('postgres', 'SELECT n, s FROM mv_totals'), '3|60', 'a managed view is still readable');
is($node->safe_psql('postgres', 'SELECT n2 FROM mv_doubled'), '6', 'its downstream view too');
is($node->safe_psql('postgres', 'SELECT string_agg(what, \',\' ORDER BY seq) FROM mv_stream'),
	'a,b', 'and the incremental view\'s table');
$node->safe_psql('postgres', 'INSERT INTO raw VALUES (4, 40); REFRESH MATERIALIZED VIEW mv_totals');
is($node->safe_psql('postgres', 'SELECT n FROM mv_totals'), '4',
	'sources take writes and the views refresh as plain materialized views');

# the extension again, with a refresh that would sleep an hour: only the
# refresh that draws 100 from the sequence sleeps (sequences ignore rollbacks).
# One transaction, so the scheduler cannot draw before setval.
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE EXTENSION pipeline;
	CREATE SEQUENCE slow_draw;
	SELECT pipeline.create_matview('public', 'slow',
		$$SELECT pg_sleep(CASE WHEN nextval('slow_draw') = 100 THEN 3600 ELSE 0 END)::text AS slept, count(*) AS n FROM raw$$,
		'1 second');
	SELECT setval('slow_draw', 99);
	COMMIT;
});
my $sleeping = "FROM pg_stat_activity WHERE backend_type = 'pipeline refresh' AND wait_event = 'PgSleep'";
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 $sleeping"),
	'the scheduler serves the extension created again: a refresh worker runs the slow view');
$log_offset = -s $node->logfile;
my $timed_out = 0;
($rc, $stdout, $stderr) = $node->psql('postgres', 'DROP EXTENSION pipeline',
	timeout => $timeout, timed_out => \$timed_out);
ok(!$timed_out, 'DROP EXTENSION does not wait for the running refresh');
is($rc, 0, 'DROP EXTENSION with a refresh running succeeds');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pipeline refresh'"),
	'the refresh worker is gone');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler'"),
	'the scheduler leaves the database without the extension');
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/does not exist/, 'no "does not exist" error in the log');
unlike($log, qr/\b(ERROR|FATAL|PANIC):/, 'no error at all in the log');
is($node->safe_psql('postgres', 'SELECT count(*) FROM mv_slow'), '1', 'the slow view stays, readable');

# and once more: created again, it is served again
$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	SELECT pipeline.create_matview('public', 'again', 'SELECT count(*) AS n FROM raw', '1 second',
	                               refresh_mode => 'full');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'mv_again'::regclass AND status IN ('succeeded', 'skipped')"),
	'a view of the extension created again is run by the scheduler');

# dropped and created again, over and over, each definition in its own
# transaction right after CREATE EXTENSION: the scheduler must see every
# one (it once cached the new extension's DAG from a snapshot taken before
# the definition, whose invalidation it had already consumed)
my $served = 0;
for my $i (1 .. 20)
{
	$node->safe_psql('postgres', qq{
		DROP EXTENSION pipeline;
		DROP MATERIALIZED VIEW IF EXISTS mv_again;
		CREATE EXTENSION pipeline;
		SELECT pipeline.create_matview('public', 'again', 'SELECT $i AS x', '1 hour');
	});
	$served++ if $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'mv_again'::regclass AND status = 'succeeded'");
}
is($served, 20, 'each of 20 extensions created again ran its view');

$node->stop;
done_testing();
