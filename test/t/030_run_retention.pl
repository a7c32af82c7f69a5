# Pruning of run history, change records and differential refresh's
# positions and change logs (pipeline.run_retention,
# pipeline.run_history_per_view, pipeline.change_log_retention,
# run_prune_history() in src/schedule/run.c), which
# the scheduler does on its first planning pass and then every minute.
#
# The history is built with run_due() and back-dated rows in pipeline.runs
# while pipeline.enabled is off; turning it on makes the scheduler's first
# pass prune, and the test waits for that.  The scheduler starts no run of
# its own: every view has succeeded for a label in 2100 (or 2099), later
# than today's, or has a run in progress.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('retention', qq{
pipeline.enabled = off
pipeline.tick = 100ms
pipeline.run_retention = 7
pipeline.run_history_per_view = 5
pipeline.change_log_retention = 60
timezone = 'UTC'
max_worker_processes = 20
# no other transaction may hold back a snapshot's xmin
autovacuum = off
});

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Each view has its own owner, so run_due() as that owner runs only it.
sql(q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (id int);
	INSERT INTO src VALUES (1);
	GRANT SELECT ON src TO PUBLIC;
	GRANT CREATE ON SCHEMA public TO PUBLIC;
});
for my $v (qw(often seldom stale failing busy idle))
{
	sql(qq{
		CREATE ROLE ${v}_owner;
		SET ROLE ${v}_owner;
		SELECT pipeline.create_matview('public', '$v', 'SELECT count(*) AS n FROM src', '1 day');
	});
}

sub run_due_as
{
	my ($owner, $as_of) = @_;
	return sql(qq{SET ROLE ${owner}_owner;
		SELECT status FROM pipeline.run_due('$as_of') WHERE matview = 'mv_$owner'::regclass});
}

# A role of its own, with a hostile schema first in its search_path, owns
# a view over a table of its own that succeeds once, before everything
# below, and never again: the oldest saved snapshot.  It holds back only
# the change records of what it reads (it used to hold back every table's).
sql(q{
	CREATE ROLE mallory LOGIN;
	CREATE SCHEMA evil AUTHORIZATION mallory;
	CREATE SCHEMA mal AUTHORIZATION mallory;
	ALTER ROLE mallory SET search_path = evil, public;
	SET ROLE mallory;
	CREATE FUNCTION evil.pg_snapshot_xmin(pg_snapshot) RETURNS xid8 LANGUAGE sql AS $$SELECT '3'::xid8$$;
	CREATE FUNCTION evil.least(xid8, xid8) RETURNS xid8 LANGUAGE sql AS $$SELECT '3'::xid8$$;
	CREATE TABLE mal.src (id int);
	SELECT pipeline.create_matview('mal', 'stuck', 'SELECT count(*) AS n FROM mal.src', '1 day');
});
is($node->safe_psql('postgres', q{SELECT status FROM pipeline.run_due('2100-01-01 00:00+00')},
		extra_params => ['-U', 'mallory']),
	'succeeded', 'mallory\'s view: its one success');
$node->safe_psql('postgres', 'INSERT INTO mal.src VALUES (1)', extra_params => ['-U', 'mallory']);

# Change records.  mv_often refreshes before and after the first source
# change, mv_seldom only in between, so afterwards the oldest saved snapshot
# of a view reading src (mv_seldom's) has seen the first source change but
# not the second.
is(run_due_as('often', '2100-01-01 00:00+00'), 'succeeded', 'often: first run');
sql('INSERT INTO src VALUES (2)');
is(run_due_as('seldom', '2100-01-01 00:00+00'), 'succeeded', 'seldom: first run');
sql('INSERT INTO src VALUES (3)');
is(run_due_as('often', '2100-01-02 00:00+00'), 'succeeded', 'often: second run');

my $changes_of = sub {
	my ($rel) = @_;
	return sql(qq{SELECT string_agg(xid::text, ',' ORDER BY xid) FROM pipeline.changes
		WHERE relation = '$rel'::regclass});
};
my @src = split /,/, $changes_of->('src');
my @often = split /,/, $changes_of->('mv_often');
my @seldom = split /,/, $changes_of->('mv_seldom');
# the first source row is mv_often's first run adding the tracking triggers
is(scalar @src, 3, 'the triggers\' addition and two source changes recorded');
is($src[0], $often[0], 'the triggers were added by the first run of mv_often');
shift @src;
is(scalar @often, 2, 'two refreshes of mv_often recorded');
is(scalar @seldom, 1, 'one refresh of mv_seldom recorded');
ok($src[0] < $seldom[0] && $seldom[0] < $src[1] && $src[1] < $often[1],
	'the changes happened in the intended order')
  or diag("src @src, often @often, seldom @seldom");

# Run history, back-dated (retention: 7 days).  A 'running' row belongs to
# a live process (the launcher: its process id and start, set below), so it
# is not failed as an orphan.
my $launcher = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline launcher'});
like($launcher, qr/^\d+$/, 'launcher is running');
sql(qq{
	INSERT INTO pipeline.runs (matview, time_label, attempt, status, started_at, finished_at, worker_pid) VALUES
	-- mv_often has recent successes: old rows go, recent ones stay
	('mv_often',   '2099-12-01', 1, 'succeeded', now() - interval '10 days', now() - interval '10 days', 1),
	('mv_often',   '2099-12-02', 1, 'failed',    now() - interval '10 days', now() - interval '10 days', 1),
	('mv_often',   '2099-12-03', 1, 'skipped',   now() - interval '8 days',  now() - interval '8 days',  1),
	('mv_often',   '2099-12-04', 1, 'failed',    now() - interval '6 days',  now() - interval '6 days',  1),
	('mv_often',   '2099-12-05', 1, 'succeeded', now() - interval '1 day',   now() - interval '1 day',   1),
	-- mv_stale's only success is old: it stays (the schedule needs it);
	-- an older failure goes; an old run still in progress stays
	('mv_stale',   '2099-10-01', 1, 'failed',    now() - interval '50 days', now() - interval '50 days', 1),
	('mv_stale',   '2099-11-01', 1, 'succeeded', now() - interval '40 days', now() - interval '40 days', 1),
	('mv_stale',   '2099-11-02', 1, 'running',   now() - interval '39 days', NULL,                       $launcher),
	-- mv_failing never succeeded: its old failures go, a recent one stays
	-- (and a run in progress keeps the scheduler from starting another)
	('mv_failing', '2099-10-01', 1, 'failed',    now() - interval '50 days', now() - interval '50 days', 1),
	('mv_failing', '2099-10-01', 2, 'failed',    now() - interval '49 days', now() - interval '49 days', 1),
	('mv_failing', '2099-12-31', 1, 'failed',    now() - interval '2 days',  now() - interval '2 days',  1),
	('mv_failing', '2100-01-01', 1, 'running',   now() - interval '1 hour',  NULL,                       $launcher),
	-- mv_busy has more recent rows than run_history_per_view (5): the
	-- oldest go, except its latest success
	('mv_busy',    '2099-12-01', 1, 'succeeded', now() - interval '3 days',  now() - interval '3 days',  1),
	('mv_busy',    '2099-12-02', 1, 'failed',    now() - interval '3 days',  now() - interval '3 days',  1),
	('mv_busy',    '2099-12-03', 1, 'failed',    now() - interval '3 days',  now() - interval '3 days',  1),
	('mv_busy',    '2099-12-04', 1, 'failed',    now() - interval '2 days',  now() - interval '2 days',  1),
	('mv_busy',    '2099-12-05', 1, 'failed',    now() - interval '2 days',  now() - interval '2 days',  1),
	('mv_busy',    '2099-12-06', 1, 'failed',    now() - interval '2 days',  now() - interval '2 days',  1),
	('mv_busy',    '2099-12-07', 1, 'failed',    now() - interval '1 day',   now() - interval '1 day',   1),
	('mv_busy',    '2099-12-08', 1, 'failed',    now() - interval '1 day',   now() - interval '1 day',   1);
	-- mv_idle's skipped labels since 2099-11-01 are one row, which started
	-- long ago but was extended recently: its age is its last label's
	INSERT INTO pipeline.runs (matview, time_label, attempt, status, started_at, finished_at, worker_pid,
	                           last_time_label, label_count) VALUES
	('mv_idle',    '2099-10-01', 1, 'succeeded', now() - interval '30 days', now() - interval '30 days', 1, NULL, 1),
	('mv_idle',    '2099-11-01', 1, 'skipped',   now() - interval '20 days', now() - interval '2 days',  1, '2099-12-30', 60),
	('mv_idle',    '2099-12-31', 1, 'succeeded', now() - interval '1 hour',  now() - interval '1 hour',  1, NULL, 1);
	UPDATE pipeline.runs SET worker_started_at = (SELECT backend_start FROM pg_stat_activity WHERE pid = $launcher)
	 WHERE status = 'running';
});

# Differential refresh (pipeline.change_log_retention: 60 minutes).  Both
# views consume dsrc's change log; mv_dfresh has consumed its latest row,
# mv_dstale has not and its position is back-dated past the retention: the
# pruning lets that position go, and with it the log rows only it needed.
sql(q{
	CREATE ROLE diff_owner;
	CREATE TABLE dsrc (id int, amount numeric);
	ALTER TABLE dsrc OWNER TO diff_owner;
	INSERT INTO dsrc VALUES (1, 1.5);
	SET ROLE diff_owner;
	SELECT pipeline.create_matview('public', 'dfresh', 'SELECT count(*) AS n, sum(amount) AS total FROM dsrc',
	                               '1 day', refresh_mode => 'differential');
	SELECT pipeline.create_matview('public', 'dstale', 'SELECT id, amount FROM dsrc',
	                               '1 day', refresh_mode => 'differential');
});
sub run_due_diff
{
	return sql(qq{SET ROLE diff_owner;
		SELECT string_agg(matview::text || ' ' || status, ', ' ORDER BY matview::text)
		  FROM pipeline.run_due('$_[0]')});
}
is(run_due_diff('2100-01-01 00:00+00'), 'mv_dfresh succeeded, mv_dstale succeeded',
	'differential views: first runs');
sql(q{INSERT INTO dsrc VALUES (2, 2.5);
	SET ROLE diff_owner; SELECT pipeline.refresh('mv_dfresh')});
my $log_rows = q{SELECT format('SELECT count(*) FROM %s', log_table) FROM pipeline.capture_sources
	WHERE source = 'dsrc'::regclass};
is(sql(sql($log_rows)), '1', 'the change mv_dstale has not consumed is in the log');
sql(q{UPDATE pipeline.differential_positions SET saved_at = now() - interval '61 minutes'
	WHERE matview = 'mv_dstale'::regclass});

# A differential view whose source stays quiet is skipped at each label:
# its position is as current as a refresh would leave it, and kept.
sql(q{
	CREATE ROLE dquiet_owner;
	CREATE TABLE dquiet (id int);
	ALTER TABLE dquiet OWNER TO dquiet_owner;
	INSERT INTO dquiet VALUES (1);
	SET ROLE dquiet_owner;
	SELECT pipeline.create_matview('public', 'dquiet', 'SELECT count(*) AS n FROM dquiet',
	                               '1 day', refresh_mode => 'differential');
});
is(run_due_as('dquiet', '2100-01-01 00:00+00'), 'succeeded', 'a quiet differential view: first run');
sql(q{UPDATE pipeline.differential_positions SET saved_at = now() - interval '61 minutes'
	WHERE matview = 'mv_dquiet'::regclass});
is(run_due_as('dquiet', '2100-01-02 00:00+00'), 'skipped', 'a quiet differential view: skipped');

my $history = q{SELECT string_agg(matview::text || ' ' || time_label::date || '/' || attempt || ' ' || status,
	E'\n' ORDER BY matview::text, time_label, attempt) FROM pipeline.runs};
my $before = sql($history);

# alerts: an old one of an open incident, and one an endpoint is still
# owed, stay; an old one nobody is to take goes; an incident closed past
# the retention goes with its alerts, unless an endpoint is owed one
sql(q{INSERT INTO pipeline.incidents (incident_id, matview, kind, opened_at)
	  VALUES (9001, 'mv_idle', 'failure', now() - interval '40 days');
	  INSERT INTO pipeline.incidents (incident_id, matview, kind, opened_at, closed_at)
	  VALUES (9002, 'mv_stale', 'failure', now() - interval '40 days', now() - interval '1 day');
	  INSERT INTO pipeline.incidents (incident_id, matview, kind, opened_at, closed_at)
	  VALUES (9003, 'mv_stale', 'failure', now() - interval '50 days', now() - interval '40 days'),
	         (9004, 'mv_stale', 'failure', now() - interval '50 days', now() - interval '40 days');
	  INSERT INTO pipeline.alerts (incident_id, matview, kind, created_at, deliver, next_attempt_at)
	  VALUES (9001, 'mv_idle', 'failed', now() - interval '40 days', false, NULL),
	         (9002, 'mv_stale', 'failed', now() - interval '40 days', true, now() + interval '1 year'),
	         (9002, 'mv_stale', 'recovered', now() - interval '40 days', false, NULL),
	         (9003, 'mv_stale', 'failed', now() - interval '50 days', false, NULL),
	         (9003, 'mv_stale', 'recovered', now() - interval '40 days', true, now() + interval '1 year'),
	         (9004, 'mv_stale', 'failed', now() - interval '50 days', false, NULL)});

# enable the scheduler: its first pass prunes
sql(q{ALTER SYSTEM SET pipeline.enabled = on; SELECT pg_reload_conf();});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pipeline.runs WHERE matview = 'mv_often'::regclass AND time_label = '2099-12-01'}),
	'the scheduler pruned old history');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pipeline.differential_positions WHERE matview = 'mv_dstale'::regclass}),
	'the scheduler let go of the position older than pipeline.change_log_retention');
is(sql(q{SELECT count(*) FROM pipeline.differential_positions WHERE matview = 'mv_dquiet'::regclass}),
	'1', 'a position a skipped run kept current stays');
# nothing runs again (every view is up to date for its label in 2100)
sql(q{ALTER SYSTEM SET pipeline.enabled = off; SELECT pg_reload_conf();});

is(sql($history), join("\n",
	'mal.mv_stuck 2100-01-01/1 succeeded',
	'mv_busy 2099-12-01/1 succeeded',
	'mv_busy 2099-12-04/1 failed',
	'mv_busy 2099-12-05/1 failed',
	'mv_busy 2099-12-06/1 failed',
	'mv_busy 2099-12-07/1 failed',
	'mv_busy 2099-12-08/1 failed',
	'mv_dfresh 2100-01-01/1 succeeded',
	'mv_dquiet 2100-01-01/1 succeeded',
	'mv_dquiet 2100-01-02/1 skipped',
	'mv_dstale 2100-01-01/1 succeeded',
	'mv_failing 2099-12-31/1 failed',
	'mv_failing 2100-01-01/1 running',
	'mv_idle 2099-11-01/1 skipped',
	'mv_idle 2099-12-31/1 succeeded',
	'mv_often 2099-12-04/1 failed',
	'mv_often 2099-12-05/1 succeeded',
	'mv_often 2100-01-01/1 succeeded',
	'mv_often 2100-01-02/1 succeeded',
	'mv_seldom 2100-01-01/1 succeeded',
	'mv_stale 2099-11-01/1 succeeded',
	'mv_stale 2099-11-02/1 running'),
	'history past the retention or run_history_per_view is gone, except the latest success and runs in progress')
  or diag("before:\n$before");
is(sql(q{SELECT string_agg(incident_id || ' ' || kind, ',' ORDER BY incident_id, kind)
	FROM pipeline.alerts WHERE incident_id IN (9001, 9002, 9003, 9004)}),
	'9001 failed,9002 failed,9003 recovered', 'old alerts are kept while their incident is open or an endpoint is owed them');
is(sql(q{SELECT string_agg(incident_id::text, ',' ORDER BY incident_id)
	FROM pipeline.incidents WHERE incident_id IN (9001, 9002, 9003, 9004)}),
	'9001,9002,9003', 'an incident closed past the retention goes, not while an endpoint is owed one of its alerts');
is(sql(q{SELECT last_time_label::date || ' ' || label_count FROM pipeline.runs
	WHERE matview = 'mv_idle'::regclass AND status = 'skipped'}),
	'2099-12-30 60', 'the collapsed row is kept whole');

# Change records: those every saved snapshot of a view reading their
# relation sees are gone; the second source change, which mv_seldom's
# snapshot cannot see, stays.  mallory's older snapshot keeps only the
# change of her own table it has not seen.  No view reads mv_often or
# mv_seldom: their records go.
is($changes_of->('src'), $src[1], 'the source change mv_seldom has not seen is kept, the older one deleted');
is($changes_of->('mv_often'), '', 'no view reads mv_often: its records go');
is($changes_of->('mv_seldom'), '', 'no view reads mv_seldom: its records go');
# (with her run's own record of adding the tracking triggers, in the
# transaction of her snapshot)
is(sql(q{SELECT count(*) FROM pipeline.changes WHERE relation = 'mal.src'::regclass}), '2',
	'the change of mallory\'s table her view has not seen is kept');

# the change log kept nothing for mv_dstale, whose next refresh is full and
# exact; mv_dfresh kept its position
is(sql(q{SELECT count(*) FROM pipeline.differential_positions WHERE matview = 'mv_dfresh'::regclass}),
	'1', 'a position within the retention is kept');
is(sql(sql($log_rows)), '0', 'log rows no position needs are pruned');
sql('INSERT INTO dsrc VALUES (3, 3.5)');
is(run_due_diff('2100-01-02 00:00+00'), 'mv_dfresh succeeded, mv_dstale succeeded',
	'differential views: second runs');
is(sql(q{SELECT string_agg(matview::text || ': ' || detail, E'\n' ORDER BY matview::text) FROM pipeline.runs
	WHERE matview IN ('mv_dfresh'::regclass, 'mv_dstale'::regclass) AND time_label = '2100-01-02'}),
	"mv_dfresh: differential: 1 change in public.dsrc\n"
	  . "mv_dstale: full: no saved position (first refresh, after a restore or an upgrade, "
	  . "or pipeline.change_log_retention passed)",
	'the view past the retention refreshes fully, the other differentially');
is(sql(q{SELECT (SELECT string_agg(id || ' ' || amount, ',' ORDER BY id) FROM mv_dstale)
	|| ' / ' || (SELECT n || ' ' || total FROM mv_dfresh)}),
	'1 1.5,2 2.5,3 3.5 / 3 7.5', 'both views are exact');

# and skip-unchanged still decides right after the pruning
is(run_due_as('seldom', '2100-01-02 00:00+00'), 'succeeded', 'seldom: runs, its source changed');
is(run_due_as('often', '2100-01-03 00:00+00'), 'skipped', 'often: skipped, its source did not change');

$node->stop;
done_testing();
