# PipelineNode: the PostgreSQL::Test::Cluster setup the TAP tests and the
# benchmarks share -- a node that preloads pipeline, configured and started.
package PipelineNode;

use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes;

# start_new(name, conf): a started node whose postgresql.conf preloads
# pipeline, plus conf (more settings, one per line)
sub start_new
{
	my ($class, $name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pipeline'\n" . ($conf // ''));
	$node->start;
	return $node;
}

# start_pool(name, conf): start_new with the settings the refresh pool's
# tests share (a 100 ms tick, two refresh workers) plus conf, pipeline
# created in database postgres
sub start_pool
{
	my ($class, $name, $conf) = @_;
	my $node = $class->start_new($name,
		"pipeline.tick = 100ms\npipeline.max_workers = 2\n" . ($conf // ''));
	$node->safe_psql('postgres', 'CREATE EXTENSION pipeline');
	return $node;
}

# schema_role(node, role, schema): a LOGIN role owning schema
sub schema_role
{
	my ($class, $node, $role, $schema) = @_;
	$node->safe_psql('postgres', "CREATE ROLE $role LOGIN; CREATE SCHEMA $schema AUTHORIZATION $role;");
	return;
}

# trapped_role(node, role, schema): schema_role(), plus schema_trap first
# in the role's search_path, where a test puts the functions and
# operators that shadow pg_catalog's
sub trapped_role
{
	my ($class, $node, $role, $schema) = @_;
	$class->schema_role($node, $role, $schema);
	$node->safe_psql('postgres', qq{
		CREATE SCHEMA ${schema}_trap AUTHORIZATION $role;
		ALTER ROLE $role SET search_path = ${schema}_trap, public;
	});
	return;
}

# as_role(node, role, sql): sql run as role in database postgres
sub as_role
{
	my ($class, $node, $role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => ['-U', $role]);
}

# wait_for_crash_restart(node, pid): after a kill -9 of server process pid,
# returns once the server has restarted from the crash, i.e. once pid has
# left pg_stat_activity (a 'SELECT 1' may still be served before the
# postmaster sees the death and restarts, and the next query then meets
# "the database system is in recovery mode")
sub wait_for_crash_restart
{
	my ($class, $node, $pid) = @_;
	$node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $pid)")
	  or die "no restart after kill -9 of $pid";
}

# hold_advisory_run(node, view, lock): a session holding advisory lock
# `lock` (a BackgroundPsql), returned once a scheduled run of view (whose
# query takes the lock shared) waits for it, or undef if none comes
sub hold_advisory_run
{
	my ($class, $node, $view, $lock) = @_;
	my $holder = $node->background_psql('postgres', on_error_stop => 0);
	$holder->query_safe("SELECT pg_advisory_lock($lock)");
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pipeline.runs r JOIN pg_stat_activity a ON a.pid = r.worker_pid
		 WHERE r.matview = '$view'::regclass AND r.status = 'running' AND a.wait_event = 'advisory'})
	  ? $holder : undef;
}

# scheduler_pid(node, db): the pid of database db's scheduler, once it runs
sub scheduler_pid
{
	my ($class, $node, $db) = @_;
	my $which = "backend_type = 'pipeline scheduler' AND datname = '" . ($db // 'postgres') . "'";
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE $which")
	  or die "no pipeline scheduler";
	return $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE $which");
}

# wait_for_ticks(node, db, n): returns once database db's scheduler has
# begun n more planning passes (each sets its query_start); a handle
# instead of a sleep, for tests that assert something did NOT happen
sub wait_for_ticks
{
	my ($class, $node, $db, $n) = @_;
	my $which = "backend_type = 'pipeline scheduler' AND datname = '" . ($db // 'postgres') . "'";
	for (1 .. $n)
	{
		my $last = $node->safe_psql('postgres',
			"SELECT coalesce(max(query_start), '-infinity') FROM pg_stat_activity WHERE $which");
		$node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE $which AND query_start > '$last'")
		  or die "the pipeline scheduler of $db does not tick";
	}
	return;
}

# cpu_ticks(pid, children): the process's CPU time in clock ticks (utime +
# stime), or with children true that of its children that ended (cutime +
# cstime); 0 when the process is gone (for the benchmarks)
sub cpu_ticks
{
	my ($class, $pid, $children) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return 0;
	my $line = <$fh>;
	close $fh;
	$line =~ s/^.*\) //;	# past the command name
	my @f = split / /, $line;
	# fields 14 and 15, or 16 and 17
	return $children ? $f[13] + $f[14] : $f[11] + $f[12];
}

# percentile(p, values): the value at fraction p of the sorted values
sub percentile
{
	my ($class, $p, @s) = @_;
	@s = sort { $a <=> $b } @s;
	return $s[ int($p * (@s - 1) + 0.5) ];
}

# background_session(node, name, sql, script): psql running sql (one query
# string), or with script the file it names (a transaction a statement),
# in the background, named name so that pg_stat_activity finds it; returns
# { handle (IPC::Run), out, err (references to what it printed) }
sub background_session
{
	my ($class, $node, $name, $sql, $script) = @_;
	my ($out, $err) = ('', '');
	my @psql = ('psql', '-X', '-Atq', '-d', $node->connstr('postgres') . " application_name=$name");
	my $h = IPC::Run::start([ @psql, $script ? ('-f', $script) : ('-c', $sql) ],
		'>', \$out, '2>', \$err);
	return { handle => $h, out => \$out, err => \$err };
}

# wait_event_of(node, name, event): whether the session named name comes
# to wait on wait event event (polled until the test timeout)
sub wait_event_of
{
	my ($class, $node, $name, $event) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = '$name' AND wait_event = '$event'");
}

# start_endpoint(tmpdir, args...): test/endpoint.py on a free loopback port,
# with args (e.g. '--root', DIR), logging to tmpdir/endpoint.log; returns
# (the IPC::Run handle, its port)
sub start_endpoint
{
	my ($class, $tmp, @args) = @_;
	my $src = $ENV{PIPELINE_SRC} // '.';
	my $portfile = "$tmp/endpoint.port";
	unlink $portfile;
	my $endpoint = IPC::Run::start(
		[ 'python3', "$src/test/endpoint.py", @args, '--port-file', $portfile ],
		'>', "$tmp/endpoint.log", '2>&1');
	for (my $i = 0; $i < 100 && !-s $portfile; $i++) { Time::HiRes::sleep(0.1); }
	my $port = PostgreSQL::Test::Utils::slurp_file($portfile);
	chomp $port;
	return ($endpoint, $port);
}

1;
