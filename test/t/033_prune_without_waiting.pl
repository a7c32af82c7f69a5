# Two refreshes of different differential views of one source: each ends
# by pruning the source's change log, and the second's prune waited for
# the first's whole transaction (it deletes the same rows) while holding
# its own view, so the first deadlocked once it went on to refresh that
# view.  Pruning now waits for no lock; what it leaves goes later.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('prune', qq{
pipeline.enabled = off
deadlock_timeout = 200ms
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE EXTENSION pipeline;
	CREATE TABLE t (k int, v int);
	INSERT INTO t SELECT i % 3, i FROM generate_series(1, 10) i;
	SELECT pipeline.create_matview('public', 'v1', 'SELECT k, sum(v) AS s FROM t GROUP BY k', '1 hour',
	                               refresh_mode => 'differential');
	SELECT pipeline.create_matview('public', 'v2', 'SELECT k, v FROM t', '1 hour',
	                               refresh_mode => 'differential');
});

# an open snapshot keeps logged rows from being pruned while both views
# consume them
my $holder = $node->background_psql('postgres', on_error_stop => 1);
$holder->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$holder->query_safe('SELECT 1');
sql('INSERT INTO t VALUES (1, 100)');
sql(q{SELECT count(*) FROM pipeline.refresh('mv_v1', false)});
sql(q{SELECT count(*) FROM pipeline.refresh('mv_v2', false)});
$holder->query_safe('COMMIT');
$holder->quit;
sql('INSERT INTO t VALUES (2, 200)');

# a: refreshes v1 (its prune deletes those rows) and keeps its transaction
my $a = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('BEGIN');
$a->query_safe(q{SELECT count(*) FROM pipeline.refresh('mv_v1', false)});

# b: refreshes v2, in its own transaction: its prune meets a's rows
my $log_from = -s $node->logfile;
my ($b_rc, $b_out, $b_err) = $node->psql('postgres',
	q{SET statement_timeout = '10s'; SELECT status FROM pipeline.refresh('mv_v2', false)});
note($b_err) if $b_err;
is($b_out, 'succeeded', "b's refresh of v2 does not wait for a's transaction");

# a goes on to refresh v2, and commits
my $a_out = $a->query(q{SELECT status FROM pipeline.refresh('mv_v2', false)});
is($a_out, 'succeeded', "a's refresh of v2 succeeds");
$a->query_safe('COMMIT');
$a->quit;
unlike(slurp_file($node->logfile, $log_from), qr/deadlock detected/, 'no deadlock');

# both views are their queries, and the rows left are pruned later
for my $v ('v1', 'v2')
{
	my $query = $v eq 'v1' ? 'SELECT k, sum(v) AS s FROM t GROUP BY k' : 'SELECT k, v FROM t';
	is(sql("SELECT count(*) FROM ((TABLE mv_$v EXCEPT ALL $query) UNION ALL ($query EXCEPT ALL TABLE mv_$v)) d"),
		'0', "$v equals its query");
}
sql(q{SELECT count(*) FROM pipeline.refresh('mv_v1', false)});
sql(q{SELECT count(*) FROM pipeline.refresh('mv_v2', false)});
my $log = sql(q{SELECT log_table FROM pipeline.capture_sources WHERE source = 't'::regclass});
is(sql("SELECT count(*) FROM $log"), '0', 'the next refreshes prune what was left');

$node->stop;
done_testing();
