# A reader does not hold back a differential view handed back at its claim.
# A session keeps a transaction open that read the view; its owner's
# redefinition queues for ACCESS EXCLUSIVE behind that reader, and a
# refresh worker's claim queues behind the redefinition, so the worker
# hands the view back.  The redefinition then gives up.  Before, the
# scheduler's look before queuing the view again counted every lock on it,
# the reader's too, which a differential refresh never waits for: the view
# and the view downstream of it stayed unscheduled for as long as the
# reader's transaction lasted.  Now the look counts the locks of the step
# that gave the view back (every lock only after a run gave up a lock a
# reader holds back, as a full refresh's swap).  The owner has a hostile
# schema first in its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_pool('held_readers');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->trapped_role($node, 'mallory', 'm');
as_role('mallory', q{
	CREATE FUNCTION m_trap.sum(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
	CREATE TABLE m.orders (id int PRIMARY KEY, customer int NOT NULL, amount int NOT NULL);
	INSERT INTO m.orders SELECT g, g % 5, g FROM generate_series(1, 100) g;
	SELECT pipeline.create_matview('m', 'diff',
	    'SELECT customer, pg_catalog.sum(amount) AS total FROM m.orders GROUP BY customer',
	    '1 second', refresh_mode => 'differential');
	SELECT pipeline.create_matview('m', 'down',
	    'SELECT pg_catalog.sum(total) AS total FROM m.mv_diff',
	    '1 second', refresh_mode => 'differential');
});
$node->poll_query_until('postgres', q{
	SELECT count(DISTINCT matview) = 2 FROM pipeline.runs WHERE status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run');

my $log_offset = -s $node->logfile;
my $reader = $node->background_psql('postgres', extra_params => ['-U', 'mallory']);
$reader->query_safe('BEGIN; SELECT count(*) FROM m.mv_diff;');
my $redefiner = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => ['-U', 'mallory']);
my $redefiner_pid = $redefiner->query_safe('SELECT pg_backend_pid()');
$redefiner->query_until(qr/redefining/, q{
	\echo redefining
	SELECT pipeline.create_matview('m', 'diff',
	    'SELECT customer, pg_catalog.sum(amount) AS total, pg_catalog.count(*) AS n FROM m.orders GROUP BY customer',
	    '1 second', refresh_mode => 'differential');
});
ok( $node->poll_query_until('postgres', q{
	SELECT true FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
	 WHERE c.relname = 'mv_diff' AND NOT l.granted AND l.mode = 'AccessExclusiveLock'}),
	'the redefinition queues behind the reader');
$node->poll_query_until('postgres', q{
	SELECT pg_read_file('} . $node->logfile . qq{', $log_offset, 100000000)
	       ~ 'pipeline: mv_diff stayed [l]ocked'})
  or die 'no hand-back of the view';
pass('a refresh worker hands the view back');

# the redefinition gives up (as at its lock_timeout); the reader stays
sql("SELECT pg_cancel_backend($redefiner_pid)");
$node->poll_query_until('postgres', qq{
	SELECT NOT EXISTS (SELECT FROM pg_locks WHERE pid = $redefiner_pid AND NOT granted)})
  or die 'the redefinition does not end';
as_role('mallory', 'INSERT INTO m.orders VALUES (101, 1, 1000)');
my $given_up_at = sql('SELECT now()');
ok( $node->poll_query_until('postgres', qq{
	SELECT count(DISTINCT matview) = 2 FROM pipeline.runs
	 WHERE matview IN ('m.mv_diff'::regclass, 'm.mv_down'::regclass)
	   AND status = 'succeeded' AND started_at > '$given_up_at'}),
	'the view and its downstream view run while the reader keeps its transaction');
is(sql('SELECT total FROM m.mv_down'), '6050', 'the downstream view has the new row');
is($reader->query_safe('SELECT count(*) FROM m.mv_diff'), '5', 'the reader still reads');
$reader->query_safe('COMMIT');
$reader->quit;
$redefiner->quit;
$node->stop;
done_testing();
