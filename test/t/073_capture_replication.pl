# Change capture under logical replication (src/views/capture.h): the apply
# worker fires row triggers only, so its inserts, updates and deletes reach
# the change log through pipeline_capture_replica (AFTER ROW, ENABLE
# REPLICA), and its truncates through pipeline_capture_truncate (ENABLE
# ALWAYS); each write logged once.  A local session under
# session_replication_role = replica fires the statement triggers, and the
# row trigger logs nothing for it.
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
	CREATE TABLE src (id int PRIMARY KEY, v int, w int);
	INSERT INTO src VALUES (1, 10, 0);
	CREATE PUBLICATION pub FOR TABLE src;
});
$subscriber->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (id int PRIMARY KEY, v int, w int);
	SELECT pipeline.create_matview('public', 'consumer', 'SELECT 1 AS one', '1 hour');
	SELECT pipeline.capture_register('public.mv_consumer', 'src', '{1,2}');
});
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$connstr' PUBLICATION pub");
$subscriber->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')")
  or die "initial synchronization did not finish";

my $log = $subscriber->safe_psql('postgres',
	"SELECT log_table FROM pipeline.capture_sources WHERE source = 'src'::regclass");

# the log's rows since the last call, as "sign:id:v" in order, then emptied
sub take_log
{
	return $subscriber->safe_psql('postgres', qq{
		WITH d AS (DELETE FROM $log RETURNING *)
		SELECT string_agg(sign || ':' || coalesce(a1::text, '-') || ':' || coalesce(a2::text, '-'),
		                  ' ' ORDER BY xid, cid, sign, a1, a2) FROM d});
}

sub publish
{
	$publisher->safe_psql('postgres', $_[0]);
	$publisher->wait_for_catchup('sub');
}

# the initial copy ran before capture saw anything of it? It ran after
# registration: COPY in the table sync worker fires the statement trigger
is(take_log(), '1:1:10', 'initial table copy is logged');

publish('INSERT INTO src VALUES (2, 20, 0), (3, 30, 0)');
is(take_log(), '1:2:20 1:3:30', 'replicated insert is logged once');

publish('UPDATE src SET v = v + 1 WHERE id = 1');
is(take_log(), '-1:1:10 1:1:11', 'replicated update is logged');

publish('DELETE FROM src WHERE id = 3');
is(take_log(), '-1:3:30', 'replicated delete is logged');

publish('TRUNCATE src');
is(take_log(), '0:-:-', 'replicated truncate leaves its marker');

# a local session in replica mode: statement triggers, not the row one
$subscriber->safe_psql('postgres', q{
	SET session_replication_role = replica;
	INSERT INTO src VALUES (9, 90, 0);
});
is(take_log(), '1:9:90', 'a local write in replica mode is logged once');

done_testing();
