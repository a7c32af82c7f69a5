# A refresh worker's longer lock waits cost no other view its turn.  A
# worker waits the longer for a view held for a while (readers that
# overlap, each longer than its tries: test/t/038), but only while no other
# view's job waits for a worker.  Here the pool has one worker; a role
# keeps readers of its full-refresh view overlapping, each for 12 s, and
# another role's view is due every second.  Without the limit, the
# worker's grown waits (up to 30 s of tries and 30 s in the lock's queue)
# kept the other view from running for as long; a role could so make the
# pool wait on views of its own (h141).  Now a wait past 5 s ends as soon
# as another view's job waits.  The readers' role has a hostile schema
# first in its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(sleep time);

my $node = PipelineNode->start_pool('pool_waits_yield', "pipeline.max_workers = 1\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->trapped_role($node, 'mallory', 'm');
PipelineNode->schema_role($node, 'alice', 'a');
as_role('mallory', q{
	CREATE FUNCTION m_trap.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
	SELECT pipeline.create_matview('m', 'r', 'SELECT pg_catalog.clock_timestamp() AS at', '1 second',
	                               refresh_mode => 'full');
});
as_role('alice', q{SELECT pipeline.create_matview('a', 'a1', 'SELECT pg_catalog.clock_timestamp() AS at', '1 second')});
$node->poll_query_until('postgres', q{
	SELECT count(DISTINCT matview) = 2 FROM pipeline.runs WHERE status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run');

my @psql = ('psql', '-X', '-Atq', '-d', $node->connstr('postgres'), '-U', 'mallory', '-c',
	'SELECT count(*) FROM m.mv_r; SELECT pg_sleep(12)');
my @readers;
my $from = sql('SELECT now()');
my $until = time() + 75;
my $last_start = 0;
while (time() < $until)
{
	if (time() - $last_start >= 4)
	{
		push @readers, IPC::Run::start(\@psql, '>', \my $out, '2>', \my $err);
		$last_start = time();
	}
	@readers = grep { $_->pumpable ? 1 : ($_->finish, 0) } @readers;
	sleep(0.5);
}
my $to = sql('SELECT now()');
$_->kill_kill for @readers;

my $log = slurp_file($node->logfile);
ok($log =~ /pipeline: mv_r stayed locked/, "the read view's runs gave its swap up");
my $gap = sql(qq{
	SELECT coalesce(max(gap), 0) FROM (
	  SELECT extract(epoch FROM started_at - lag(started_at) OVER (ORDER BY started_at)) AS gap
	    FROM pipeline.runs
	   WHERE matview = 'a.mv_a1'::regclass AND status = 'succeeded'
	     AND started_at BETWEEN '$from' AND '$to') g});
diag("the other view's longest gap between runs: $gap s");
cmp_ok($gap, '<', 15, "another role's view keeps running while the worker waits for the read view");
is(sql(q{SELECT count(*) FROM pipeline.runs WHERE status = 'failed'}), '0', 'no run failed');
$node->stop;
done_testing();
