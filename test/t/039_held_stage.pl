# A stage mirror whose stage a session holds costs a worker's tries once,
# not at every retry.  A role's mirror empties its stage, so its run locks
# the stage against writers; the role keeps a transaction open that wrote
# to the stage.  The worker gives that lock up after its tries and hands
# the mirror back.  Before, the scheduler's look before queuing it again
# saw only the view's locks, not the stage's: the mirror went to a worker
# at every retry of the backoff (1, 2, 4, ... s), each costing 5 s of
# tries (h137 F3).  Now the hand-back says which lock the run gave up, and
# the look counts it: the mirror waits without a worker until the writer
# ends, and then runs.  The role has a hostile schema first in its
# search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_pool('held_stage');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->trapped_role($node, 'mallory', 'm');
as_role('mallory', q{
	CREATE FUNCTION m_trap.upper(text) RETURNS text LANGUAGE sql AS 'SELECT ''trap''';
	CREATE TABLE m.stage (op text, at timestamptz, id int, v text);
	SELECT pipeline.create_matview('m', 'mirror',
	    'SELECT op, at, id, pg_catalog.upper(v) AS v FROM m.stage', '1 second', 'mirror',
	    options => '{"mirror-keys": "id", "mirror-sequence": "at", "mirror-operation": "op"}');
	INSERT INTO m.stage VALUES ('I', '2020-01-01', 1, 'a');
});
$node->poll_query_until('postgres', q{SELECT count(*) = 1 FROM m.mv_mirror})
  or BAIL_OUT('the scheduler does not run the mirror');

my $log_offset = -s $node->logfile;
my $writer = $node->background_psql('postgres', extra_params => ['-U', 'mallory']);
$writer->query_safe(q{BEGIN; INSERT INTO m.stage VALUES ('I', '2020-01-02', 2, 'b');});
# a committed change makes the mirror due; its run meets the writer
as_role('mallory', q{INSERT INTO m.stage VALUES ('I', '2020-01-03', 3, 'c')});
$node->poll_query_until('postgres', q{
	SELECT pg_read_file('} . $node->logfile . qq{', $log_offset, 100000000)
	       ~ 'pipeline: mv_mirror stayed [l]ocked'})
  or die 'no hand-back of the mirror';
pass('a refresh worker hands the mirror back');

# the backoff would have retried it at 1, 2, 4 and 8 s
sleep(25);
my $log = substr(slurp_file($node->logfile), $log_offset);
my $hand_backs = () = $log =~ /pipeline: mv_mirror stayed locked/g;
is($hand_backs, 1, 'the mirror goes to no worker again while the writer holds its stage');

$writer->query_safe('COMMIT');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM m.mv_mirror}),
	'the mirror runs once the writer is gone');
is(sql(q{SELECT string_agg(v, ',' ORDER BY id) FROM m.mv_mirror}), 'A,B,C', 'its rows are applied');
is(sql(q{SELECT count(*) FROM m.stage}), '0', 'its stage is emptied');
is(sql(q{SELECT count(*) FROM pipeline.runs WHERE status = 'failed'}), '0', 'no run failed');
$writer->quit;
$node->stop;
done_testing();
