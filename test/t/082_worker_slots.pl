# With no background worker slot free, the scheduler says so once (a
# WARNING with a hint to raise max_worker_processes), not at every tick;
# it says so again only after a worker could be started in between.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

# two slots: the launcher and the scheduler of database postgres; the
# logical replication launcher would take one too
my $node = PipelineNode->start_new('slots', qq{
pipeline.tick = 100ms
max_worker_processes = 2
max_logical_replication_workers = 0
});

my $message = qr/WARNING:  could not start background worker "pipeline refresh": no background worker slot is free/;
# counted from the node's start: a test run again appends to the same log file
my $log_start = -s $node->logfile;
sub count_messages
{
	my $log = slurp_file($node->logfile, $log_start);
	my @found = $log =~ /$message/g;
	return scalar @found;
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE raw (v int);
	INSERT INTO raw VALUES (1);
	SELECT pipeline.create_matview('public', 'total', 'SELECT sum(v) AS s FROM raw', '1 second');
});
ok($node->wait_for_log($message, $log_start), 'the first failed start is logged');
like(slurp_file($node->logfile, $log_start),
	qr/$message\n.*DETAIL: .*\n.*HINT:  Raise max_worker_processes \(currently 2\)/,
	'with a hint to raise max_worker_processes');

# every tick tries again (the view stays due) and fails again, silently
PipelineNode->wait_for_ticks($node, 'postgres', 10);
is(count_messages(), 1, 'ten more ticks that found no slot logged nothing more');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pipeline.runs'), '0', 'and nothing ran');

# terminating the scheduler frees a slot: the launcher starts a new
# scheduler (a start that succeeds), which again finds no slot for a refresh
my $old = PipelineNode->scheduler_pid($node);
my $offset = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old)");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND pid <> $old"),
	'a new scheduler started in the freed slot');
ok($node->wait_for_log($message, $offset),
	'a slot found and lost again is logged again');
PipelineNode->wait_for_ticks($node, 'postgres', 10);
is(count_messages(), 2, 'and then only once');

$node->stop;
done_testing();
