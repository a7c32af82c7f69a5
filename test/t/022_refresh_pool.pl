# The refresh pool: a worker serves run after run, of one owner's views
# only (PL/pgSQL keeps what a function's first call in a session resolved,
# so another owner's runs go to a worker of their own), and nothing a run
# leaves behind reaches the next one: not its identity, not the
# search_path or a setting its query changed, not a session advisory lock;
# not after a failed run, not after a cancelled one.  A terminated worker's
# run is recorded failed and a new worker takes over.
# pipeline.worker_idle_timeout = 0 brings back a worker per run.
#
# Each view's query calls a function that notes, from inside the refresh,
# who runs it and with what settings (public.observed), then changes them:
# alice's function sets search_path and work_mem for the session and takes
# a session advisory lock.  With pipeline.max_workers = 1 the one pool
# worker leaves when the other owner's run waits, and a new one starts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('pool', qq{
pipeline.tick = 100ms
pipeline.max_workers = 1
pipeline.retry_backoff = 1s
pipeline.worker_idle_timeout = 60s
max_worker_processes = 20
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	ALTER ROLE alice SET search_path = alice, public;
	ALTER ROLE bob SET search_path = bob, public;
	CREATE SCHEMA alice AUTHORIZATION alice;
	CREATE SCHEMA bob AUTHORIZATION bob;
	CREATE TABLE public.observed (who text, usr text, path text, work_mem text,
	                              advisory_locks bigint, pid int,
	                              at timestamptz DEFAULT clock_timestamp());
	GRANT INSERT ON public.observed TO alice, bob;
	CREATE TABLE alice.mode (m text);
	ALTER TABLE alice.mode OWNER TO alice;

	CREATE FUNCTION public.note(who text) RETURNS int LANGUAGE sql VOLATILE AS $$
		INSERT INTO public.observed (who, usr, path, work_mem, advisory_locks, pid)
		SELECT who, current_user, current_setting('search_path'), current_setting('work_mem'),
		       (SELECT count(*) FROM pg_catalog.pg_locks
		         WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()),
		       pg_catalog.pg_backend_pid()
		RETURNING 1 $$;

	SET ROLE alice;
	CREATE FUNCTION alice.poison() RETURNS int LANGUAGE plpgsql VOLATILE AS $f$
	BEGIN
		PERFORM public.note('alice');
		PERFORM pg_catalog.set_config('search_path', 'poisoned', false);
		PERFORM pg_catalog.set_config('work_mem', '77kB', false);
		PERFORM pg_catalog.pg_advisory_lock(4242);
		IF EXISTS (SELECT 1 FROM alice.mode WHERE m = 'fail') THEN
			RAISE EXCEPTION 'alice fails on purpose';
		END IF;
		IF EXISTS (SELECT 1 FROM alice.mode WHERE m = 'sleep') THEN
			PERFORM pg_catalog.pg_sleep(60);
		END IF;
		RETURN 1;
	END $f$;
	SELECT pipeline.create_matview('alice', 'p', 'SELECT alice.poison() AS one', '1 second');
	RESET ROLE;

	SET ROLE bob;
	SELECT pipeline.create_matview('bob', 'o', 'SELECT public.note(''bob'') AS one', '1 second');
	RESET ROLE;
	DELETE FROM public.observed;   -- what the sessions' own first refreshes noted
});

# the owner's search_path, with pg_catalog first and pg_temp last (as the
# refresh pins it)
my $expected_path = q{CASE who WHEN 'alice' THEN 'pg_catalog, alice, public, pg_temp' ELSE 'pg_catalog, bob, public, pg_temp' END};

# waits for n more runs of each view than were noted so far
sub wait_for_runs
{
	my ($n, $what) = @_;
	ok( $node->poll_query_until('postgres', qq{
			SELECT count(*) FILTER (WHERE who = 'alice') >= $n
			   AND count(*) FILTER (WHERE who = 'bob') >= $n FROM public.observed}),
		"both views keep running: $what");
}

# every run noted since the last check ran clean: its owner, its owner's
# search_path, the default work_mem, no advisory lock held; returns the
# pids that served them, and starts afresh
sub check_clean
{
	my ($what) = @_;
	is( $node->safe_psql('postgres', qq{
			SELECT count(*) FROM public.observed
			 WHERE usr IS DISTINCT FROM who OR path IS DISTINCT FROM $expected_path
			    OR work_mem IS DISTINCT FROM '4MB' OR advisory_locks <> 0}),
		'0', "every run saw its owner's identity and settings, nothing of the run before: $what")
	  or diag($node->safe_psql('postgres', 'SELECT * FROM public.observed ORDER BY at'));
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM (SELECT pid FROM public.observed
			                       GROUP BY pid HAVING count(DISTINCT who) > 1) m}),
		'0', "every worker ran one owner's views only: $what")
	  or diag($node->safe_psql('postgres', 'SELECT * FROM public.observed ORDER BY at'));
	my $pids = $node->safe_psql('postgres',
		q{SELECT string_agg(DISTINCT pid::text, ',') FROM public.observed WHERE who = 'alice'});
	$node->safe_psql('postgres', 'DELETE FROM public.observed');
	return $pids;
}

# the pid of the worker in alice's sleeping run
sub sleeping_worker
{
	my ($what) = @_;
	ok( $node->poll_query_until('postgres', q{
			SELECT count(*) = 1 FROM pg_stat_activity
			 WHERE backend_type = 'pipeline refresh' AND wait_event = 'PgSleep'}),
		$what);
	return $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity
		 WHERE backend_type = 'pipeline refresh' AND wait_event = 'PgSleep'});
}

wait_for_runs(3, 'at the start');
check_clean('at the start');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM (SELECT worker_pid FROM pipeline.runs r
		                       JOIN pg_class c ON c.oid = r.matview
		                      WHERE r.status = 'succeeded' AND r.worker_pid IS NOT NULL
		                      GROUP BY worker_pid HAVING count(DISTINCT c.relowner) > 1) m}),
	'0', "pipeline.runs names a worker of one owner for each run");

# a failing run
$node->safe_psql('postgres', q{INSERT INTO alice.mode VALUES ('fail')});
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pipeline.runs
		 WHERE matview = 'alice.mv_p'::regclass AND status = 'failed'
		   AND error LIKE '%alice fails on purpose%'}),
	'the failing run is recorded failed');
$node->safe_psql('postgres', q{DELETE FROM alice.mode; DELETE FROM public.observed});
wait_for_runs(2, 'after a failed run');
check_clean('after a failed run');

# a cancelled run
$node->safe_psql('postgres', q{INSERT INTO alice.mode VALUES ('sleep')});
my $pid = sleeping_worker('a run sleeps');
$node->safe_psql('postgres', qq{DELETE FROM alice.mode; SELECT pg_cancel_backend($pid)});
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) > 0 FROM pipeline.runs
		 WHERE matview = 'alice.mv_p'::regclass AND status = 'failed'
		   AND error LIKE '%canceling statement due to user request%'}),
	'the cancelled run is recorded failed');
$node->safe_psql('postgres', 'DELETE FROM public.observed');
wait_for_runs(2, 'after a cancelled run');
check_clean('after a cancelled run');

# a terminated worker: its run is failed, another worker takes over
$node->safe_psql('postgres', q{INSERT INTO alice.mode VALUES ('sleep')});
$pid = sleeping_worker('a run sleeps again');
$node->safe_psql('postgres', qq{DELETE FROM alice.mode; SELECT pg_terminate_backend($pid)});
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pipeline.runs
		 WHERE matview = 'alice.mv_p'::regclass AND status = 'failed' AND worker_pid = $pid
		   AND error = 'the process running the refresh ended before it finished'}),
	"the terminated worker's run is recorded failed");
$node->safe_psql('postgres', 'DELETE FROM public.observed');
wait_for_runs(2, 'after the worker was terminated');
my $new_pid = check_clean('after the worker was terminated');
unlike(",$new_pid,", qr/,$pid,/, "new workers replaced the terminated one");

# no idle time: a worker per run, as before the pool
$node->append_conf('postgresql.conf', 'pipeline.worker_idle_timeout = 0');
$node->reload;
ok( $node->poll_query_until('postgres', q{
		SELECT count(DISTINCT pid) >= 3 FROM public.observed}),
	'with pipeline.worker_idle_timeout = 0 each run has a worker of its own');
check_clean('a worker per run');

$node->stop;
done_testing();
