# Readers that overlap, each longer than a refresh worker's tries, do not
# keep a full refresh's swap from ever running.  A role's readers of
# another role's view (no unique index, so the swap needs ACCESS
# EXCLUSIVE) each last 8 s and start every 3 s, so some always hold it.
# Before, every run filled the view, tried the swap for 5 s while the
# readers it met held it, gave it up and handed the view back, and the
# next try did the same: the view never refreshed again (h137 F2).  Now
# the scheduler queues the view again only once none of the transactions
# that held it at its last look holds it (a transaction that does may hold
# it for ever, and costs no worker), and a worker waits for the locks of a
# view held for a while the longer (up to 30 s): the readers are waited
# out.  The readers' role has a hostile schema first in its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(sleep time);

my $node = PipelineNode->start_pool('overlapping_readers');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->schema_role($node, 'alice', 'a');
PipelineNode->trapped_role($node, 'mallory', 'm');
as_role('alice', q{
	SELECT pipeline.create_matview('a', 'r', 'SELECT pg_catalog.clock_timestamp() AS at', '1 second',
	                               refresh_mode => 'full');
	GRANT USAGE ON SCHEMA a TO mallory;
	GRANT SELECT ON a.mv_r TO mallory;
});
as_role('mallory', q{
	CREATE FUNCTION m_trap.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
});
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pipeline.runs WHERE status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run');

my $log_offset = -s $node->logfile;
my @psql = ('psql', '-X', '-Atq', '-d', $node->connstr('postgres'), '-U', 'mallory', '-c',
	'SELECT count(*) FROM a.mv_r; SELECT pg_sleep(8)');
my @readers = (IPC::Run::start(\@psql, '>', \my $first_out, '2>', \my $first_err));
my $last_start = time();
$node->poll_query_until('postgres', q{
	SELECT true FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	 WHERE l.relation = 'a.mv_r'::regclass AND l.granted AND a.usename = 'mallory'})
  or die 'the first reader does not read';
my $readers_from = sql('SELECT now()');
my $refreshed = 0;
my $deadline = time() + 150;
while (!$refreshed && time() < $deadline)
{
	if (time() - $last_start >= 3)
	{
		push @readers, IPC::Run::start(\@psql, '>', \my $out, '2>', \my $err);
		$last_start = time();
	}
	@readers = grep { $_->pumpable ? 1 : ($_->finish, 0) } @readers;
	$refreshed = sql(qq{
		SELECT count(*) > 0 FROM pipeline.runs
		 WHERE matview = 'a.mv_r'::regclass AND status = 'succeeded'
		   AND started_at > '$readers_from'}) eq 't';
	sleep(0.5);
}
ok($refreshed, 'the view refreshes while overlapping readers always hold it');
my $log = substr(slurp_file($node->logfile), $log_offset);
like($log, qr/pipeline: mv_r stayed locked; its refresh is tried again later/,
	'a run gave the swap up at first');
is(sql(q{SELECT count(*) FROM pipeline.runs WHERE status = 'failed'}), '0', 'no run failed');
$_->kill_kill for @readers;
$node->stop;
done_testing();
