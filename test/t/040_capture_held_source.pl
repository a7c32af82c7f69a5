# A differential view's run that must start capture on a source (its first
# run after a restore, or with its capture missing) does not queue without
# limit behind a writer's open transaction.  Starting capture locks the
# source against writers (SHARE ROW EXCLUSIVE, as CREATE TRIGGER does).
# Before, a refresh worker queued for that lock for as long as the writer's
# transaction lasted, and every later writer of the table queued behind
# the worker (h137 F4).  Now the worker tries the lock, gives it up and
# hands the view back; the scheduler sends it to no worker while that
# writer holds the table, and runs it once the writer is gone.  The owner
# has a hostile schema first in its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_pool('capture_held_source');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->trapped_role($node, 'mallory', 'm');
as_role('mallory', q{
	CREATE FUNCTION m_trap.sum(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
	CREATE TABLE m.src (id int, v int);
	INSERT INTO m.src SELECT g, g FROM generate_series(1, 10) g;
	SELECT pipeline.create_matview('m', 'total', 'SELECT pg_catalog.sum(v) AS total FROM m.src',
	                               '1 second', refresh_mode => 'differential');
});
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pipeline.runs WHERE status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run the view');

# its capture is missing, as in a database restored from a dump
sql(q{DELETE FROM pipeline.capture_consumers WHERE matview = 'm.mv_total'::regclass});
my $log_offset = -s $node->logfile;
my $writer = $node->background_psql('postgres', extra_params => ['-U', 'mallory']);
$writer->query_safe('BEGIN; INSERT INTO m.src VALUES (100, 100);');
as_role('mallory', 'INSERT INTO m.src VALUES (11, 11)');
ok( $node->poll_query_until('postgres', q{
	SELECT pg_read_file('} . $node->logfile . qq{', $log_offset, 100000000)
	       ~ 'pipeline: mv_total stayed [l]ocked'}),
	'a refresh worker gives the source up and hands the view back');
# no worker stands in the table's lock queue: other writers go on
is(as_role('mallory', q{SET statement_timeout = '10s'; INSERT INTO m.src VALUES (12, 12); SELECT 'written'}),
	'written', 'another writer is not held up');
sleep(12);
my $log = substr(slurp_file($node->logfile), $log_offset);
my $hand_backs = () = $log =~ /pipeline: mv_total stayed locked/g;
is($hand_backs, 1, 'the view goes to no worker again while the writer holds its source');

$writer->query_safe('COMMIT');
ok( $node->poll_query_until('postgres', q{
	SELECT (SELECT total FROM m.mv_total) = (SELECT pg_catalog.sum(v) FROM m.src)}),
	'the view runs once the writer is gone, with every row');
is(sql(q{SELECT count(*) FROM pipeline.capture_consumers WHERE matview = 'm.mv_total'::regclass}) > 0
	? 't' : 'f', 't', 'its capture is started again');
is(sql(q{SELECT count(*) FROM pipeline.runs WHERE status = 'failed'}), '0', 'no run failed');
$writer->quit;
$node->stop;
done_testing();
