# A view whose lock passes from session to session without a gap, each
# holding it a little longer than a refresh worker waits before handing a
# job back, still gets its scheduled runs.  Before, every claim timed out
# behind the holder in front of it and was handed back, so the view went
# without runs for as long as the sessions took turns.  Now a worker that
# sees the lock change hands while it waited keeps waiting, longer, once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PipelineNode->start_new('contended', qq{
pipeline.tick = 100ms
pipeline.max_workers = 1
deadlock_timeout = 1s
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE stop_holding (x int);
	SELECT pipeline.create_matview('public', 'busy', 'SELECT pg_catalog.clock_timestamp() AS at', '1 second');
	SELECT pipeline.create_matview('public', 'calm', 'SELECT pg_catalog.clock_timestamp() AS at', '1 second');
});

sub succeeded_since
{
	my ($view, $since) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT count(*) FROM pipeline.runs
		 WHERE matview = 'public.$view'::regclass AND status = 'succeeded' AND started_at > '$since'});
}

$node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pipeline.runs WHERE matview = 'public.mv_busy'::regclass AND status = 'succeeded'})
  or BAIL_OUT('the scheduler does not run');

# two sessions take turns: each holds the view 1.5 s (past deadlock_timeout
# + 250 ms) with DDL that takes the lock a refresh takes, and asks for it
# again at once, queueing behind the other
my @holders;
for my $n (1 .. 2)
{
	my $session = $node->background_psql('postgres');
	$session->query_until(qr/holding/, q{
\echo holding
DO $$
BEGIN
	FOR i IN 1 .. 200 LOOP
		EXIT WHEN EXISTS (SELECT FROM public.stop_holding);
		ALTER MATERIALIZED VIEW public.mv_busy SET (fillfactor = 90);
		PERFORM pg_catalog.pg_sleep(1.5);
		COMMIT;
	END LOOP;
END $$;
});
	push @holders, $session;
}
$node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE '%stop_holding%' AND pid <> pg_backend_pid()})
  or die 'the holders did not start';
my $since = $node->safe_psql('postgres', 'SELECT clock_timestamp()');

my $ran = 0;
for (1 .. 600)
{
	$ran = succeeded_since('mv_busy', $since);
	last if $ran > 0;
	sleep 0.1;
}
note('seconds until the contended view ran: '
	  . $node->safe_psql('postgres', qq{SELECT round(extract(epoch FROM clock_timestamp() - '$since'), 1)}));
ok($ran > 0, 'a view held by sessions in turn still gets a scheduled run')
  or diag($node->safe_psql('postgres', qq{
	SELECT status, count(*) FROM pipeline.runs
	 WHERE matview = 'public.mv_busy'::regclass AND started_at > '$since' GROUP BY status}));
# the worker waits for the busy view meanwhile (pipeline.max_workers = 1),
# but not for ever: the other view goes on
my $calm = 0;
for (1 .. 300)
{
	$calm = succeeded_since('mv_calm', $since);
	last if $calm >= 5;
	sleep 0.1;
}
note('seconds until the other view ran 5 times: '
	  . $node->safe_psql('postgres', qq{SELECT round(extract(epoch FROM clock_timestamp() - '$since'), 1)}));
cmp_ok($calm, '>=', 5, 'and the other view keeps running');

$node->safe_psql('postgres', 'INSERT INTO stop_holding VALUES (1)');
$_->quit for @holders;

$node->stop;
done_testing();
