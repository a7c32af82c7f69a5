# Views a role keeps reading do not stall other roles' views.  A role
# defines as many full-refresh views as there are refresh workers and keeps
# a transaction open that has read them all.  Its claims go through (a
# reader does not conflict with a run's claim), but each full refresh needs
# ACCESS EXCLUSIVE for its swap, which the reader holds back.  Before, each
# worker queued for that lock without limit, the pool was used up and
# another role's view never ran again.  Now a refresh worker gives such a
# lock up after its tries and hands the view back, as a claim that stays
# locked: the run is no failure, it is not recorded, and the view is
# retried once the reader is gone.  The role has a hostile schema first in
# its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PipelineNode->start_pool('read_views');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub as_role { return PipelineNode->as_role($node, @_); }

PipelineNode->trapped_role($node, 'mallory', 'm');
PipelineNode->schema_role($node, 'alice', 'a');
as_role('mallory', q{
	CREATE FUNCTION m_trap.random() RETURNS float8 LANGUAGE sql AS 'SELECT 0.5';
	CREATE FUNCTION m_trap.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
	SELECT pipeline.create_matview('m', 'h1', 'SELECT random() AS r', '1 second', refresh_mode => 'full');
	SELECT pipeline.create_matview('m', 'h2', 'SELECT random() AS r', '1 second', refresh_mode => 'full');
	CREATE INDEX h1_r ON m.mv_h1 (r);
});
as_role('alice', q{SELECT pipeline.create_matview('a', 'a1', 'SELECT pg_catalog.random() AS r', '1 second')});
$node->poll_query_until('postgres', q{
	SELECT count(DISTINCT matview) = 3 FROM pipeline.runs WHERE status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run');

my $log_offset = -s $node->logfile;
my $reader = $node->background_psql('postgres', extra_params => ['-U', 'mallory']);
$reader->query_safe('BEGIN; SELECT count(*) FROM m.mv_h1, m.mv_h2;');
my $held_at = sql('SELECT now()');

# both workers meet a held view, give it back, and go on serving alice
ok( $node->poll_query_until('postgres', qq{
	SELECT count(*) >= 3 FROM pipeline.runs
	 WHERE matview = 'a.mv_a1'::regclass AND status = 'succeeded' AND started_at > '$held_at'}),
	"another role's view runs while every worker's view is read in an open transaction");
$node->poll_query_until('postgres', q{
	SELECT count(*) = 0 FROM pipeline.runs r JOIN pipeline.matviews v ON v.matview = r.matview
	 WHERE v.schema_name = 'm' AND r.status = 'running'})
  or die 'a run of a read view stays running';
my $log = substr(slurp_file($node->logfile), $log_offset);
like($log, qr/pipeline: mv_h\d stayed locked; its refresh is tried again later/,
	'a read view is handed back');
is(sql(q{SELECT count(*) FROM pipeline.runs r JOIN pipeline.matviews v ON v.matview = r.matview
          WHERE v.schema_name = 'm' AND r.status = 'failed'}), '0', 'the read views failed no run');

# a view given back is not given to a worker again while the same
# transaction holds it
my %hand_backs;
$hand_backs{$1}++ while $log =~ /pipeline: (mv_h\d) stayed locked/g;
my ($most) = sort { $b <=> $a } values %hand_backs;
is($most // 0, 1, 'each read view was handed back once while read');

# the scheduler's look at a held view opens none of its indexes: the
# reader's REINDEX of one (ACCESS EXCLUSIVE on the index, the view only
# SHARE) made the scheduler wait, and every role's views with it (h137)
$reader->query_safe('REINDEX INDEX m.h1_r;');
my $reindexed_at = sql('SELECT now()');
ok( $node->poll_query_until('postgres', qq{
	SELECT count(*) >= 3 FROM pipeline.runs
	 WHERE matview = 'a.mv_a1'::regclass AND status = 'succeeded' AND started_at > '$reindexed_at'}),
	"another role's view runs while a held view's index is locked");

$reader->query_safe('COMMIT;');
$reader->quit;
my $released_at = sql('SELECT now()');
ok( $node->poll_query_until('postgres', qq{
	SELECT count(DISTINCT r.matview) = 2 FROM pipeline.runs r JOIN pipeline.matviews v ON v.matview = r.matview
	 WHERE v.schema_name = 'm' AND r.status = 'succeeded' AND r.started_at > '$released_at'}),
	'the read views run again once the reader is gone');

# a view handed back is held again only by what its run would wait for: a
# reader holds back a swap, not a differential refresh nor REFRESH ...
# CONCURRENTLY (before, once handed back, such a view was held for as long
# as anyone read it)
as_role('alice', q{
	CREATE TABLE a.src (k int PRIMARY KEY, v int);
	INSERT INTO a.src VALUES (1, 1);
	SELECT pipeline.create_matview('a', 'd1', 'SELECT k, sum(v) AS s FROM a.src GROUP BY k', '1 second',
	                               refresh_mode => 'differential');
	SELECT pipeline.create_matview('a', 'c1', 'SELECT k, v FROM a.src', '1 second', refresh_mode => 'full');
	CREATE UNIQUE INDEX ON a.mv_c1 (k);
});
$log_offset = -s $node->logfile;
my $locker = $node->background_psql('postgres', extra_params => ['-U', 'alice']);
# a refresh of each in an open transaction holds them against the claim
$locker->query_safe(q{BEGIN; SELECT count(*) FROM pipeline.refresh('a.mv_d1', false) r1, pipeline.refresh('a.mv_c1', false) r2;});
sql('INSERT INTO a.src VALUES (2, 2)');
for my $view ('mv_d1', 'mv_c1')
{
	my $handed_back = 0;
	for my $tenths (1 .. 10 * $PostgreSQL::Test::Utils::timeout_default)
	{
		if (substr(slurp_file($node->logfile), $log_offset) =~ /pipeline: $view stayed locked/)
		{
			note("$view handed back after about " . $tenths / 10 . " s");
			$handed_back = 1;
			last;
		}
		sleep(0.1);
	}
	ok($handed_back, "$view is handed back while locked");
}
$locker->query_safe('COMMIT;');
$locker->quit;
my $reader2 = $node->background_psql('postgres', extra_params => ['-U', 'alice']);
$reader2->query_safe('BEGIN; SELECT count(*) FROM a.mv_d1, a.mv_c1;');
sql('INSERT INTO a.src VALUES (3, 3)');
ok( $node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM a.mv_d1}),
	'a handed-back differential view refreshes while read');
ok( $node->poll_query_until('postgres', q{SELECT count(*) = 3 FROM a.mv_c1}),
	'a handed-back view refreshed concurrently refreshes while read');
$reader2->query_safe('COMMIT;');
$reader2->quit;
$node->stop;
done_testing();
