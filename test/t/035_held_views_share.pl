# Views a role holds do not starve other roles' views.  A role locks the
# table its 60 views read, and defines and drops a view every second
# meanwhile; each of its views is handed back by a refresh worker after
# deadlock_timeout.  Before, a handed-back view was queued first (its
# latest run's label stays old while it is held), and every reload of the
# graph (any definition) forgot which views were held, so the workers
# spent the whole hold handing them back and another role's view ran not
# once.  Now hand-backs survive reloads, a handed-back view queues as if
# it had run when it was free again, and it goes to no worker while the
# lock table says it is still held.  The role has a hostile schema first
# in its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep time);

my $node = PipelineNode->start_pool('held_share', "deadlock_timeout = 200ms\n");
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->trapped_role($node, 'mallory', 'm');
PipelineNode->schema_role($node, 'alice', 'a');
as_role('mallory', q{
	CREATE FUNCTION m_trap.random() RETURNS float8 LANGUAGE sql AS 'SELECT 0.5';
	CREATE TABLE m.src (x int);
	INSERT INTO m.src VALUES (1);
	SELECT count(pipeline.create_matview('m', 'h' || i,
	    'SELECT x, ' || i || ' AS i, pg_catalog.random() AS r FROM m.src', '1 second'))
	  FROM generate_series(1, 60) i;
});
as_role('alice', q{SELECT pipeline.create_matview('a', 'a1', 'SELECT pg_catalog.random() AS r', '1 second')});
$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'a.mv_a1'::regclass AND status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run');

my $log_offset = -s $node->logfile;
my $holder = $node->background_psql('postgres', on_error_stop => 0);
$holder->query_safe('BEGIN; LOCK TABLE m.src IN ACCESS EXCLUSIVE MODE;');
my $held_at = sql('SELECT now()');
# 20 s of churn at least, and on until alice's view ran (a loaded machine
# takes longer to hand the 60 views back once), 180 s at most
my $alice_ran = qq{
	SELECT count(*) FROM pipeline.runs
	 WHERE matview = 'a.mv_a1'::regclass AND status = 'succeeded' AND started_at > '$held_at'};
my $t0 = time;
while (time - $t0 < 20 || (sql($alice_ran) == 0 && time - $t0 < 180))
{
	as_role('mallory', q{
		SELECT pipeline.create_matview('m', 'churn', 'SELECT 1 AS one', '1 day');
		SELECT pipeline.drop_matview('m.mv_churn');
	});
	sleep 1;
}
my $alice_runs = sql($alice_ran);
$holder->query_safe('ROLLBACK;');
$holder->quit;
cmp_ok($alice_runs, '>', 0, "another role's view ran while 60 held views were handed back ($alice_runs runs)");
# A view handed back is not given to a worker again while the lock table
# says it is still held: each costs one worker's wait per hold, not one
# at every retry.
my %hand_backs;
my $log = substr(slurp_file($node->logfile), $log_offset);
$hand_backs{$1}++ while $log =~ /pipeline: (mv_h\d+) stayed locked/g;
my ($most) = sort { $b <=> $a } values %hand_backs;
is($most // 0, 1, 'each held view was handed back once while held ('
	  . scalar(keys %hand_backs) . ' views handed back)');
is(sql(q{SELECT count(*) FROM pipeline.runs r JOIN pipeline.matviews v ON v.matview = r.matview
          WHERE v.schema_name = 'm' AND r.status = 'failed'}), '0', 'the held views failed no run');
$node->poll_query_until('postgres', qq{
	SELECT count(*) = 60 FROM (SELECT DISTINCT r.matview FROM pipeline.runs r JOIN pipeline.matviews v
	  ON v.matview = r.matview WHERE v.schema_name = 'm' AND r.status = 'succeeded'
	  AND r.started_at > '$held_at') s})
  or die 'the held views did not run once released';
pass('every held view ran once released');
$node->stop;
done_testing();
