# Change tracking under logical replication: the apply worker writes with
# session_replication_role = replica and fires row triggers only, so
# skip-unchanged must see its inserts, updates, deletes and truncates through
# the tracking triggers (pipeline_record_change, ENABLE ALWAYS, and
# pipeline_record_change_replica, a row trigger ENABLE REPLICA; see
# src/change_tracking.h).  Before 1.2 every such write was missed and the
# view on the subscriber was skipped, keeping stale data.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->start;
my $subscriber = PipelineNode->start_new('subscriber', qq{
pipeline.enabled = off
timezone = 'UTC'
});

$publisher->safe_psql('postgres', q{
	CREATE TABLE src (id int PRIMARY KEY, v int);
	INSERT INTO src VALUES (1, 10);
	CREATE PUBLICATION pub FOR TABLE src;
});
$subscriber->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (id int PRIMARY KEY, v int);
	SELECT pipeline.create_matview('public', 'totals',
		'SELECT count(*) AS n, coalesce(sum(v), 0) AS total FROM public.src', '1 hour');
});
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$connstr' PUBLICATION pub");
$subscriber->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')")
  or die "initial synchronization did not finish";

my $hour = 0;

# run_due() for the next label: the view's status and its data
sub run_next
{
	my $label = sprintf('2026-01-01 %02d:00+00', $hour++);
	my $status = $subscriber->safe_psql('postgres',
		"SELECT status FROM pipeline.run_due('$label') WHERE matview = 'mv_totals'::regclass");
	my $data = $subscriber->safe_psql('postgres', 'SELECT n, total FROM mv_totals');
	return "$status $data";
}

# a change on the publisher, applied on the subscriber
sub publish
{
	$publisher->safe_psql('postgres', $_[0]);
	$publisher->wait_for_catchup('sub');
}

is(run_next(), 'succeeded 1|10', 'first run');
is(run_next(), 'skipped 1|10', 'nothing changed: skipped');

publish('INSERT INTO src VALUES (2, 20), (3, 30)');
is(run_next(), 'succeeded 3|60', 'replicated insert is seen');
is(run_next(), 'skipped 3|60', 'then skipped again');

publish('UPDATE src SET v = v + 1 WHERE id = 1');
is(run_next(), 'succeeded 3|61', 'replicated update is seen');

publish('DELETE FROM src WHERE id = 3');
is(run_next(), 'succeeded 2|31', 'replicated delete is seen');

# several transactions and statements between two labels
publish('BEGIN; INSERT INTO src VALUES (4, 40); UPDATE src SET v = 0 WHERE id = 2; COMMIT; INSERT INTO src VALUES (5, 50)');
is(run_next(), 'succeeded 4|101', 'several replicated transactions are seen');
is(run_next(), 'skipped 4|101', 'and skipped after');

publish('TRUNCATE src');
is(run_next(), 'succeeded 0|0', 'replicated truncate is seen');
is(run_next(), 'skipped 0|0', 'skipped at last');

# the apply worker's rows, one per table and transaction: the per-row
# trigger does not add a row per replicated row
publish('INSERT INTO src SELECT g, 1 FROM generate_series(100, 199) g');
is( $subscriber->safe_psql('postgres',
		"SELECT count(*) FROM pipeline.changes WHERE relation = 'src'::regclass AND xid = (SELECT max(xid) FROM pipeline.changes WHERE relation = 'src'::regclass)"),
	'1', 'one change row for a replicated transaction of 100 rows');
is(run_next(), 'succeeded 100|100', 'seen');

$subscriber->safe_psql('postgres', 'DROP SUBSCRIPTION sub');
$subscriber->stop;
$publisher->stop;
done_testing();
