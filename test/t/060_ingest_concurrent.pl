# pipeline.ingest(): concurrent calls with overlapping messages insert each
# message exactly once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PipelineNode->start_new('ingest', qq{
pipeline.enabled = off
});
$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE TABLE tx (id int, v int);
CREATE TABLE outcome (session text, accepted int, duplicates int, rejected int);
CREATE FUNCTION msgs(lo int, hi int) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT jsonb_agg(jsonb_build_object('dedup_id', 'm' || i, 'id', i, 'v', i) ORDER BY i)
       FROM generate_series(lo, hi) i $$;
});

# 1. session B's overlapping ingest waits for A's uncommitted claims, then
#    skips exactly the ids A committed
my $a = $node->background_psql('postgres');
my $b = $node->background_psql('postgres');
$a->query_safe(q{BEGIN; INSERT INTO outcome SELECT 'a', * FROM pipeline.ingest('tx', msgs(1, 100));});
$b->query_until(qr/started/, q{
\echo started
INSERT INTO outcome SELECT 'b', * FROM pipeline.ingest('tx', msgs(51, 150));
});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%msgs(51, 150)%'}),
	'overlapping ingest waits for the uncommitted claims');
$a->query_safe('COMMIT');
$b->query_safe('SELECT 1');
is($node->safe_psql('postgres', q{SELECT string_agg(format('%s %s/%s/%s', session, accepted, duplicates, rejected), ', ' ORDER BY session) FROM outcome}),
	'a 100/0/0, b 50/50/0', 'the second session skipped the 50 ids the first committed');

# 2. if the first session rolls back, the waiting one takes the ids over
$node->safe_psql('postgres', 'TRUNCATE outcome');
$a->query_safe(q{BEGIN; INSERT INTO outcome SELECT 'a', * FROM pipeline.ingest('tx', msgs(151, 200));});
$b->query_until(qr/started/, q{
\echo started
INSERT INTO outcome SELECT 'b', * FROM pipeline.ingest('tx', msgs(171, 220));
});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%msgs(171, 220)%'}),
	'second overlapping ingest waits');
$a->query_safe('ROLLBACK');
$b->query_safe('SELECT 1');
is($node->safe_psql('postgres', q{SELECT string_agg(format('%s %s/%s/%s', session, accepted, duplicates, rejected), ', ' ORDER BY session) FROM outcome}),
	'b 50/0/0', 'after a rollback the waiting session inserts all its messages');
$a->quit;
$b->quit;

# 3. a race: four sessions ingest random overlapping batches at once
my @procs;
for my $s (1 .. 4)
{
	my $sql = '';
	for my $i (1 .. 30)
	{
		my $lo = int(rand(1000)) + 1000;
		$sql .= "SELECT * FROM pipeline.ingest('tx', msgs($lo, $lo + 60));\n";
	}
	my ($out, $err) = ('', '');
	push @procs, [IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$sql, '>', \$out, '2>', \$err), \$err];
}
for my $p (@procs)
{
	$p->[0]->finish;
	is(${ $p->[1] }, '', 'racing session finished without error');
}
is($node->safe_psql('postgres', q{SELECT count(*) - count(DISTINCT id) FROM tx}),
	'0', 'no message was inserted twice');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pipeline.ingested i WHERE NOT EXISTS (SELECT 1 FROM tx WHERE 'm' || tx.id = i.dedup_id)}),
	'0', 'every remembered id is in the target');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM tx WHERE NOT EXISTS (SELECT 1 FROM pipeline.ingested i WHERE i.dedup_id = 'm' || tx.id)}),
	'0', 'every target row is remembered');

# 4. remembered across a crash: ids committed before kill -9 stay duplicates
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM tx');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT accepted || '/' || duplicates FROM pipeline.ingest('tx', msgs(1, 150))}),
	'0/150', 'after a crash the ingested ids are still duplicates');
is($node->safe_psql('postgres', 'SELECT count(*) FROM tx'), $before, 'nothing inserted twice after the crash');

$node->stop;
done_testing();
