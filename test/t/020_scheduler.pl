# The background worker keeps a DAG fresh by itself, and survives
# terminate, crash and restart; runs as the view's owner; serves two
# databases.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('sched', qq{
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
max_worker_processes = 20
restart_after_crash = on
});

my $timeout = $PostgreSQL::Test::Utils::timeout_default;

sub setup_db
{
	my ($db) = @_;
	$node->safe_psql($db, q{
		CREATE EXTENSION pipeline;
		CREATE TABLE raw (id int, v int);
		SELECT pipeline.create_matview('public', 'l1', 'SELECT id, v FROM raw', '1 second');
		SELECT pipeline.create_matview('public', 'l2', 'SELECT count(*) AS n, sum(v) AS s FROM mv_l1', '1 second');
		SELECT pipeline.create_matview('public', 'l3', 'SELECT n * 10 AS n10 FROM mv_l2', '2 seconds');
	});
}

sub wait_for_top
{
	my ($db, $expected, $what) = @_;
	ok($node->poll_query_until($db, 'SELECT n10 FROM mv_l3', $expected), $what);
}

setup_db('postgres');
$node->safe_psql('postgres', 'INSERT INTO raw SELECT g, g FROM generate_series(1, 5) g');
wait_for_top('postgres', '50', 'worker refreshed the 3-level DAG without being asked');

my $types = $node->safe_psql('postgres',
	"SELECT string_agg(DISTINCT backend_type, ',' ORDER BY backend_type) FROM pg_stat_activity WHERE backend_type LIKE 'pipeline%'");
like($types, qr/pipeline launcher/, 'launcher visible in pg_stat_activity');
like($types, qr/pipeline scheduler/, 'scheduler visible in pg_stat_activity');

is($node->safe_psql('postgres',
	"SELECT count(*) > 0 FROM pipeline.runs WHERE status = 'succeeded' AND worker_pid <> pg_backend_pid()"),
	't', 'runs recorded with the worker pid');

# terminate the scheduler: it comes back and carries on
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND datname = 'postgres'");
$node->safe_psql('postgres', 'INSERT INTO raw VALUES (6, 6)');
wait_for_top('postgres', '60', 'schedule resumes after the scheduler is terminated');

# terminate the launcher too
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'pipeline launcher'");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pipeline launcher'"),
	'launcher restarted after terminate');

# a crash: kill -9 of a backend makes the postmaster reinitialize
$node->safe_psql('postgres', q{
	SELECT pipeline.create_matview('public', 'slow', 'SELECT pg_sleep(3)::text AS s, count(*) FROM raw', '1 second');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'mv_slow'::regclass AND status = 'running'"),
	'a slow refresh is running');
# (the worker of that run: an idle pool worker may be there too)
my $pid = $node->safe_psql('postgres',
	"SELECT worker_pid FROM pipeline.runs WHERE matview = 'mv_slow'::regclass AND status = 'running' LIMIT 1");
kill 'KILL', $pid if $pid;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pipeline.runs WHERE status = 'running' AND worker_pid = $pid"),
	'no run left running after the crash');
$node->safe_psql('postgres', 'SELECT pipeline.drop_matview(\'mv_slow\')');
$node->safe_psql('postgres', 'INSERT INTO raw VALUES (7, 7)');
wait_for_top('postgres', '70', 'schedule resumes after a crash');

# a restart
$node->restart;
$node->safe_psql('postgres', 'INSERT INTO raw VALUES (8, 8)');
wait_for_top('postgres', '80', 'schedule resumes after a restart');
is($node->safe_psql('postgres', "SELECT count(*) FROM pipeline.runs WHERE status = 'running' AND worker_pid NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)"),
	'0', 'no orphaned running rows');

# refreshes run as the owner: an owner without SELECT fails, others go on
$node->safe_psql('postgres', q{
	CREATE ROLE analyst;
	CREATE TABLE secret (x int);
	INSERT INTO secret VALUES (1);
	GRANT SELECT ON secret TO analyst;
	GRANT CREATE ON SCHEMA public TO analyst;
	SET ROLE analyst;
	SELECT pipeline.create_matview('public', 'analyst_view', 'SELECT x FROM secret', '1 second');
	RESET ROLE;
	REVOKE SELECT ON secret FROM analyst;
	INSERT INTO secret VALUES (2);
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'mv_analyst_view'::regclass AND status = 'failed' AND error LIKE 'permission denied%'"),
	'refresh as owner fails with permission denied');
$node->safe_psql('postgres', 'INSERT INTO raw VALUES (9, 9)');
wait_for_top('postgres', '90', 'superuser-owned views keep running');

# a second database is served too, without configuration
$node->safe_psql('postgres', 'CREATE DATABASE second');
setup_db('second');
$node->safe_psql('second', 'INSERT INTO raw VALUES (1, 1), (2, 2)');
wait_for_top('second', '20', 'a second database is served');

# SIGHUP reloads settings: disable, and nothing runs
$node->append_conf('postgresql.conf', "pipeline.enabled = off\n");
$node->reload;
sleep 1;
my $before = $node->safe_psql('second', 'SELECT count(*) FROM pipeline.runs');
$node->safe_psql('second', 'INSERT INTO raw VALUES (3, 3)');
sleep 2;
is($node->safe_psql('second', 'SELECT count(*) FROM pipeline.runs'), $before,
	'no runs while pipeline.enabled is off');
$node->append_conf('postgresql.conf', "pipeline.enabled = on\n");
$node->reload;
wait_for_top('second', '30', 'runs again once re-enabled');

# DROP DATABASE and DROP EXTENSION while the worker runs
$node->safe_psql('postgres', 'DROP DATABASE second');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'second'"),
	'0', 'DROP DATABASE works while its scheduler runs');
$node->safe_psql('postgres', 'DROP EXTENSION pipeline CASCADE');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'pipeline'"),
	'0', 'DROP EXTENSION works while the scheduler runs');

# and a new extension (new catalog tables) is picked up
$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	SELECT pipeline.create_matview('public', 'again', 'SELECT 1 AS x', '1 hour');
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 1 FROM pipeline.runs WHERE matview = 'mv_again'::regclass AND status = 'succeeded'"),
	'the scheduler serves the extension created again');

# the scheduler keeps the DAG and run state between ticks: with nothing else
# running, changes made by hand must still reach it
$node->safe_psql('postgres', "DELETE FROM pipeline.runs WHERE matview = 'mv_again'::regclass");
ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 1 FROM pipeline.runs WHERE matview = 'mv_again'::regclass AND status IN ('succeeded', 'skipped')"),
	'deleting its runs makes the scheduler run it again');
$node->safe_psql('postgres', 'TRUNCATE pipeline.runs CASCADE');  # audits go with their runs
ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 1 FROM pipeline.runs WHERE matview = 'mv_again'::regclass AND status IN ('succeeded', 'skipped')"),
	'so does TRUNCATE pipeline.runs (CASCADE: and the audits)');

# a cancelled refresh (pg_cancel_backend on its worker) is a failed run, and
# the scheduler goes on: the retry succeeds.  The view sleeps only in the
# refresh that draws 100 from the sequence (sequences ignore rollbacks).  One
# transaction: the scheduler must not draw before setval.
$node->safe_psql('postgres', q{
	BEGIN;
	CREATE SEQUENCE slow_draw;
	SELECT pipeline.create_matview('public', 'slow',
		$$SELECT pg_sleep(CASE WHEN nextval('slow_draw') = 100 THEN 60 ELSE 0 END)::text AS slept$$,
		'1 hour');
	SELECT setval('slow_draw', 99);
	COMMIT;
});
my $sleeping = "FROM pg_stat_activity WHERE backend_type = 'pipeline refresh' AND wait_event = 'PgSleep'";
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 $sleeping"),
	'a refresh worker runs the slow view');
my $scheduler_before = PipelineNode->scheduler_pid($node);
$node->safe_psql('postgres', "SELECT pg_cancel_backend(pid) $sleeping");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pipeline.runs WHERE matview = 'mv_slow'::regclass AND status = 'failed'"
	  . " AND error = 'canceling statement due to user request'"),
	'the cancelled refresh is recorded as a failed run');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pipeline.runs WHERE matview = 'mv_slow'::regclass AND status = 'succeeded'"),
	'its retry succeeds');
is(PipelineNode->scheduler_pid($node), $scheduler_before, 'the same scheduler process carried on');

$node->stop;
done_testing();
