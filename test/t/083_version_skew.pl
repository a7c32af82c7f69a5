# A library newer than the installed SQL: in a database
# with pipeline 1.1 the scheduler stays idle, says so once in the log, and
# picks up when ALTER EXTENSION pipeline UPDATE commits (the update wakes
# it: with an hour-long tick nothing else would).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('skew', qq{
pipeline.tick = 1h
});

# the library's version is the control file's default_version
my ($library_version) = slurp_file("$ENV{PIPELINE_SRC}/pipeline.control") =~ /^default_version = '([^']+)'/m;
my $message = qr/LOG:  pipeline scheduler of database "postgres" is idle: the extension's SQL is version 1\.1, the library is version \Q$library_version\E/;
# counted from the node's start: a test run again appends to the same log file
my $log_start = -s $node->logfile;
sub count_messages
{
	my @found = slurp_file($node->logfile, $log_start) =~ /$message/g;
	return scalar @found;
}

# wakes the scheduler and waits until it has begun planning again
sub wake_and_wait
{
	my $which = "backend_type = 'pipeline scheduler' AND datname = 'postgres'";
	my $last = $node->safe_psql('postgres',
		"SELECT coalesce(max(query_start), '-infinity') FROM pg_stat_activity WHERE $which");
	$node->safe_psql('postgres', 'SELECT pipeline.wake()');
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE $which AND query_start > '$last'")
	  or die 'the scheduler did not wake';
	return;
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline VERSION '1.1';
	CREATE TABLE raw (v int);
	INSERT INTO raw VALUES (1), (2);
	SELECT pipeline.create_matview('public', 'total', 'SELECT sum(v) AS s FROM raw', '1 second');
	INSERT INTO raw VALUES (3);
});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pipeline'"),
	'1.1', 'the extension is installed at 1.1');
wake_and_wait() for 1 .. 5;
is(count_messages(), 1, 'the scheduler said once that it is idle');
like(slurp_file($node->logfile, $log_start),
	qr/$message\n.*DETAIL: .*\n.*HINT:  Run ALTER EXTENSION pipeline UPDATE in database "postgres"/,
	'with a hint to update the extension');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.runs'), '0', 'no view ran meanwhile');
is($node->safe_psql('postgres', 'SELECT s FROM mv_total'), '3', 'the view is as defined');

$node->safe_psql('postgres', 'ALTER EXTENSION pipeline UPDATE');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pipeline'"),
	$library_version, "updated to $library_version");
ok($node->poll_query_until('postgres', 'SELECT s FROM mv_total', '6'),
	'after the update the scheduler refreshes the view, woken by the update');
is($node->safe_psql('postgres',
	"SELECT count(*) > 0 FROM pipeline.runs WHERE status = 'succeeded' AND worker_pid <> pg_backend_pid()"),
	't', 'in a refresh worker');
is(count_messages(), 1, 'and logs no more idle lines');

# SQL 1.0 and 1.1 kept no bound queries: the library binds them when it
# reads them, but not for a relation a redefinition has dropped already
# (a redefinition of a view read by another failed: "cache lookup failed")
for my $version ('1.0', '1.1')
{
	my $db = "old_" . ($version =~ s/\.//r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION pipeline VERSION '$version';
		CREATE TABLE t (a int);
		INSERT INTO t VALUES (1), (2);
		SELECT pipeline.create_matview('public', 'v', 'SELECT a FROM t', '1 hour');
		SELECT pipeline.create_matview('public', 'w', 'SELECT a FROM public.mv_v', '1 hour');
	});
	my ($rc, $out, $err) = $node->psql($db,
		"SELECT pipeline.create_matview('public', 'v', 'SELECT a FROM t WHERE a > 1', '1 hour')");
	is($rc, 0, "with SQL $version, a view read by another is redefined") or diag($err);
	$node->safe_psql($db, "SELECT pipeline.refresh('mv_w')");
	is($node->safe_psql($db, 'SELECT string_agg(a::text, \',\') FROM mv_w'), '2',
		"with SQL $version, the view reading it follows");
}

$node->stop;
done_testing();
