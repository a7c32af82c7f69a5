# The launcher forgets dropped databases: after more CREATE/DROP DATABASE
# cycles than 1.1's fixed table of 128 databases held (each database seen
# by the launcher, which started its scheduler), a new database with the
# extension still gets a scheduler that refreshes its views.  A database
# without the extension holds no worker slot.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $cycles = 140;
my $batch = 10;

my $node = PipelineNode->start_new('launcher', qq{
pipeline.tick = 100ms
max_worker_processes = 24
max_prepared_transactions = 2
});
# pipeline.wake() wakes the launcher too, so it scans pg_database at once
$node->safe_psql('postgres', 'CREATE EXTENSION pipeline');
# the databases of the cycles are copies of one with the extension
$node->safe_psql('postgres', 'CREATE DATABASE with_extension');
$node->safe_psql('with_extension', 'CREATE EXTENSION pipeline');
$node->safe_psql('postgres', 'ALTER DATABASE with_extension IS_TEMPLATE true');

my $schedulers = "SELECT count(DISTINCT datname) FROM pg_stat_activity "
  . "WHERE backend_type = 'pipeline scheduler' AND datname LIKE 'cycle\\_%'";
my $all_started = 1;
for (my $done = 0; $done < $cycles; $done += $batch)
{
	my @dbs = map { 'cycle_' . ($done + $_) } 1 .. $batch;
	$node->safe_psql('postgres', join('', map { "CREATE DATABASE $_ TEMPLATE with_extension;\n" } @dbs));
	$node->safe_psql('postgres', 'SELECT pipeline.wake()');
	if (!$node->poll_query_until('postgres', "SELECT ($schedulers) = $batch"))
	{
		$all_started = 0;
		diag('no scheduler for some of ' . join(', ', @dbs) . ' after '
			  . $done . ' databases');
		last;
	}
	$node->safe_psql('postgres', join('', map { "DROP DATABASE $_;\n" } @dbs));
}
ok($all_started, "every one of $cycles databases created and dropped in turn got a scheduler");
is($node->safe_psql('postgres', $schedulers), '0', 'none is left behind');

$node->safe_psql('postgres', 'CREATE DATABASE late');
$node->safe_psql('late', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE raw (v int);
	SELECT pipeline.create_matview('public', 'total', 'SELECT sum(v) AS s FROM raw', '1 second');
	INSERT INTO raw VALUES (1), (2), (3);
});
ok($node->poll_query_until('late', 'SELECT s FROM mv_total', '6'),
	'a database created after them has its views refreshed by a scheduler');
is($node->safe_psql('late',
	"SELECT count(*) > 0 FROM pipeline.runs WHERE status = 'succeeded' AND worker_pid <> pg_backend_pid()"),
	't', 'by the background worker');

# statements that need a database to themselves stop its scheduler first
# (they waited 5 s for it and failed: "being accessed by other users"),
# and it comes back afterwards
my $scheduler_of = sub {
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND datname = '$_[0]'";
};
ok($node->poll_query_until('postgres', $scheduler_of->('late'), '1'), 'late has a scheduler');
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE late_copy TEMPLATE late');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE of a database with a scheduler') or diag($err);
$node->safe_psql('postgres', 'SELECT pipeline.wake()');
ok($node->poll_query_until('postgres', $scheduler_of->('late'), '1'), 'whose scheduler comes back');
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE late RENAME TO late_renamed');
is($ret, 0, 'ALTER DATABASE ... RENAME of a database with a scheduler') or diag($err);
$node->safe_psql('postgres', 'SELECT pipeline.wake()');
ok($node->poll_query_until('postgres', $scheduler_of->('late_renamed'), '1'),
	'the renamed database has its scheduler again');

# a role that may not run those statements does not stop the scheduler
# (any role's refused DROP DATABASE killed it and its running refreshes)
my $scheduler_pid = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND datname = 'late_renamed'";
my $pid = $node->safe_psql('postgres', $scheduler_pid);
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
for my $statement ('DROP DATABASE late_renamed', 'ALTER DATABASE late_renamed RENAME TO x',
	'CREATE DATABASE y TEMPLATE late_renamed')
{
	($ret, $out, $err) = $node->psql('postgres', "SET ROLE mallory; $statement");
	isnt($ret, 0, "$statement is refused to a role that does not own the database");
}
sleep 1;
is($node->safe_psql('postgres', $scheduler_pid), $pid, 'and the scheduler kept running');

# TEMPLATE DEFAULT names no database; a template is copied by any role with
# CREATEDB; the owner's DROP DATABASE ... WITH (FORCE) finds the scheduler
# gone (it refused a role that may not signal it)
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE from_default TEMPLATE DEFAULT');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE DEFAULT') or diag($err);
$node->safe_psql('postgres', q{
	CREATE ROLE db_owner LOGIN CREATEDB;
	CREATE ROLE db_copier LOGIN CREATEDB;
	ALTER DATABASE late_renamed OWNER TO db_owner;
	SELECT pipeline.wake();
});
ok($node->poll_query_until('postgres', $scheduler_of->('late_renamed'), '1'), 'late_renamed has a scheduler');
$node->safe_psql('postgres', 'ALTER DATABASE late_renamed IS_TEMPLATE true');
($ret, $out, $err) = $node->psql('postgres', 'SET ROLE db_copier; CREATE DATABASE copied TEMPLATE late_renamed');
is($ret, 0, 'a role with CREATEDB copies a template database that has a scheduler') or diag($err);
$node->safe_psql('postgres', 'ALTER DATABASE late_renamed IS_TEMPLATE false; SELECT pipeline.wake()');
ok($node->poll_query_until('postgres', $scheduler_of->('late_renamed'), '1'), 'its scheduler is back');
($ret, $out, $err) = $node->psql('postgres', 'SET ROLE db_owner; DROP DATABASE late_renamed WITH (FORCE)');
is($ret, 0, "the owner's DROP DATABASE ... WITH (FORCE) of a database with a scheduler") or diag($err);

# More databases without the extension than there are worker slots: each
# scheduler started there leaves at once (each held a slot for good, so a
# database with the extension got no scheduler or no refresh worker)
my $plain = 26;
$node->safe_psql('postgres', join('', map { "CREATE DATABASE plain_$_;\n" } 1 .. $plain));
$node->safe_psql('postgres', 'SELECT pipeline.wake()');
$node->safe_psql('postgres', 'CREATE DATABASE served');
$node->safe_psql('served', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE raw (v int);
	INSERT INTO raw VALUES (4), (5);
	SELECT pipeline.create_matview('public', 'total', 'SELECT sum(v) AS s FROM raw', '1 second');
});
ok($node->poll_query_until('served', q{SELECT count(*) > 0 FROM pipeline.runs
	WHERE status = 'succeeded' AND worker_pid <> pg_backend_pid()}),
	"a database with the extension is served beside $plain without it (max_worker_processes 24)");
is($node->safe_psql('served', 'SELECT s FROM mv_total'), '9', 'its view refreshed');
ok($node->poll_query_until('postgres', q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'pipeline scheduler' AND datname LIKE 'plain\_%'}, '0'),
	'no scheduler stays in a database without the extension');

# CREATE EXTENSION brings a scheduler at commit, DROP EXTENSION sends it away
$node->safe_psql('plain_1', q{
	BEGIN;
	CREATE EXTENSION pipeline;
	SELECT pg_sleep(1.5);	-- counted before the commit, a scheduler would find none
	COMMIT;
	CREATE TABLE raw (v int);
	SELECT pipeline.create_matview('public', 'total', 'SELECT sum(v) AS s FROM raw', '1 second');
	INSERT INTO raw VALUES (7);
});
# (the row comes after the view is filled: only a scheduler's run shows it)
ok($node->poll_query_until('plain_1', 'SELECT s FROM mv_total', '7'),
	'a database gets a scheduler once CREATE EXTENSION pipeline commits');
ok($node->poll_query_until('postgres', $scheduler_of->('plain_1'), '1'), 'one scheduler there');
$node->safe_psql('plain_1', 'DROP EXTENSION pipeline');
ok($node->poll_query_until('postgres', $scheduler_of->('plain_1'), '0'),
	'after DROP EXTENSION pipeline the scheduler leaves');
$node->safe_psql('plain_1', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE raw2 (v int);
	SELECT pipeline.create_matview('public', 'total2', 'SELECT sum(v) AS s FROM raw2', '1 second');
	INSERT INTO raw2 VALUES (8);
});
ok($node->poll_query_until('plain_1', 'SELECT s FROM mv_total2', '8'),
	'and comes back with the extension');

# a CREATE EXTENSION that a savepoint undid starts nothing; one committed by
# COMMIT PREPARED (in another session than the one that created it) does
# (a definition cannot be prepared: sql/security_prepare_definition.sql)
$node->safe_psql('plain_2', 'BEGIN; SAVEPOINT s; CREATE EXTENSION pipeline; ROLLBACK TO s; COMMIT;');
$node->safe_psql('plain_2', q{
	BEGIN;
	CREATE EXTENSION pipeline;
	CREATE TABLE raw (v int);
	PREPARE TRANSACTION 'with_extension';
});
$node->safe_psql('plain_2', "COMMIT PREPARED 'with_extension'");
$node->safe_psql('plain_2',
	q{SELECT pipeline.create_matview('public', 'total', 'SELECT sum(v) AS s FROM raw', '1 second')});
$node->safe_psql('plain_2', 'INSERT INTO raw VALUES (9)');
ok($node->poll_query_until('plain_2', 'SELECT s FROM mv_total', '9'),
	'a database whose CREATE EXTENSION pipeline was a prepared transaction is served');

sub wakeups
{
	my ($switches) = slurp_file("/proc/$_[0]/status") =~ /^voluntary_ctxt_switches:\s+(\d+)/m;
	return $switches;
}

# nothing due before tomorrow: the scheduler sleeps past its 100 ms tick
# (ten ticks at most) instead of planning every tick; a definition's commit
# wakes it, and the new view runs
my $served_pid = $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND datname = 'served'");
$node->safe_psql('served', q{
	SELECT pipeline.drop_matview('mv_total');
	SELECT pipeline.create_matview('public', 'daily', 'SELECT sum(v) AS s FROM raw', '1 day');
});
sleep 1;
my $before = wakeups($served_pid);
sleep 3;
my $woke = wakeups($served_pid) - $before;
ok($woke < 15, "an idle scheduler sleeps past its tick (woke $woke times in 3 s at a 100 ms tick)");
$node->safe_psql('served', "SELECT pipeline.create_matview('public', 'later', 'SELECT count(*) AS n FROM raw', '1 second')");
ok($node->poll_query_until('served', q{SELECT count(*) > 0 FROM pipeline.runs
	WHERE matview = 'mv_later'::regclass AND status IN ('succeeded', 'skipped') AND worker_pid <> pg_backend_pid()}),
	'a view defined while it sleeps is run by it');

# turned off, a scheduler sleeps for a tick at a time: it woke every
# millisecond (it waited for the tick after a pass it never made)
$node->append_conf('postgresql.conf', 'pipeline.enabled = off');
$node->reload;
sleep 1;
$before = wakeups($served_pid);
sleep 2;
$woke = wakeups($served_pid) - $before;
ok($woke < 100, "a scheduler turned off sleeps (woke $woke times in 2 s, a tick is 100 ms)");

# a launcher that restarts (terminated, or after an error) knows nothing of
# the schedulers running: it started a second one in every database, one
# more at each restart; now each database keeps the one it has, and one
# that stops after the restart is started again
# (the databases without the extension go first: a launcher that finds no
# free worker slot for a database tries again 5 s later)
$node->safe_psql('postgres', join('', map { "DROP DATABASE plain_$_;\n" } 3 .. $plain));
my $launcher = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline launcher'";
my $most_schedulers = "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM pg_stat_activity "
  . "WHERE backend_type = 'pipeline scheduler' GROUP BY datname) s";
for my $restart (1 .. 2)
{
	my $old_launcher = $node->safe_psql('postgres', $launcher);
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_launcher)");
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($launcher) l WHERE pid <> $old_launcher"),
		"the launcher is back after a restart ($restart)");
	# its first pass comes at once, a retry after 5 s; a wake-up asks for another
	$node->safe_psql('postgres', 'SELECT pipeline.wake()');
	sleep 6;
	is($node->safe_psql('postgres', $most_schedulers), '1',
		"one scheduler a database after the launcher's restart ($restart)");
}
is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND datname = 'served'"),
	$served_pid, 'the scheduler it found kept running');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($served_pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity "
	  . "WHERE backend_type = 'pipeline scheduler' AND datname = 'served' AND pid <> $served_pid"),
	'a scheduler that stops after the restart is started again');

$node->stop;
done_testing();
