# Incremental views: after a crash in the middle of appends and refreshes,
# nothing is appended twice and nothing is lost.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);

my $node = PipelineNode->start_new('incremental', qq{
pipeline.enabled = off
restart_after_crash = on
});
$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE TABLE events (seq bigserial, payload text);
SELECT pipeline.create_matview('public', 'stream', 'SELECT seq, payload FROM events',
                               interval '1 minute', matview_type => 'incremental',
                               incremental_key => 'seq');
});

# two refreshes at once: the second waits for the first's lock and then
# appends above the mark the first committed, not above the one it saw
# when its statement began
$node->safe_psql('postgres', q{
CREATE TABLE race (session text, appended bigint);
INSERT INTO events (payload) SELECT 'race-' || g FROM generate_series(1, 100) g;
});
my $a = $node->background_psql('postgres');
my $b = $node->background_psql('postgres');
$a->query_safe(q{BEGIN; INSERT INTO race SELECT 'a', rows FROM pipeline.refresh('mv_stream');});
$b->query_until(qr/started/, q{
\echo started
INSERT INTO race SELECT 'b', rows FROM pipeline.refresh('mv_stream');
});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%''b'', rows%'}),
	'a second refresh waits for the first');
$a->query_safe('COMMIT');
$b->query_safe('SELECT 1');
$a->quit;
$b->quit;
is($node->safe_psql('postgres', q{SELECT string_agg(session || ' ' || appended, ', ' ORDER BY session) FROM race}),
	'a 100, b 0', 'the waiting refresh appended nothing the first one had');
is($node->safe_psql('postgres', q{SELECT count(*) || ' ' || count(DISTINCT seq) FROM mv_stream}),
	'100 100', 'nothing appended twice by racing refreshes');

for my $round (1 .. 4)
{
	# a writer that appends and refreshes in a loop, killed mid-flight
	my $sql = '';
	for my $i (1 .. 2000)
	{
		$sql .= "INSERT INTO events (payload) SELECT 'r$round-$i-' || g FROM generate_series(1, 20) g;\n";
		$sql .= "SELECT rows FROM pipeline.refresh('mv_stream');\n";
	}
	# from a file: IPC::Run feeds a scalar only while we pump it
	my $file = $node->basedir . "/writer$round.sql";
	append_to_file($file, $sql);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-f', $file, '-d', $node->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	# let it get going, then crash the server
	$node->poll_query_until('postgres',
		"SELECT count(*) > $round * 2000 FROM mv_stream") or die "writer made no progress: $err";
	usleep(int(rand(200_000)));
	if ($round % 2)
	{
		# kill -9 the writer's backend: the postmaster resets every process
		# and the cluster goes through crash recovery
		my $pid = $node->safe_psql('postgres',
			q{SELECT pid FROM pg_stat_activity WHERE query LIKE '%mv_stream%' OR query LIKE 'INSERT INTO events%' ORDER BY pid LIMIT 1});
		kill 'KILL', $pid if $pid;
		$h->finish;
		PipelineNode->wait_for_crash_restart($node, $pid) if $pid;
	}
	else
	{
		# immediate shutdown (no checkpoint) and restart
		$node->stop('immediate');
		$h->finish;
		$node->start;
	}

	my $dups = $node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT seq) FROM mv_stream');
	is($dups, '0', "round $round: nothing appended twice before the crash")
	  or diag($node->safe_psql('postgres',
		q{SELECT string_agg(format('%s:%s', seq, n), ' ') FROM (SELECT seq, count(*) n FROM mv_stream GROUP BY seq HAVING count(*) > 1 ORDER BY seq LIMIT 30) d}));
	my $mark = $node->safe_psql('postgres',
		q{SELECT high_water = (SELECT max(seq)::text FROM mv_stream) FROM pipeline.incremental_state});
	is($mark, 't', "round $round: the stored mark is the greatest key appended");

	$node->safe_psql('postgres', q{SELECT pipeline.refresh('mv_stream')});
	is($node->safe_psql('postgres', 'SELECT count(*) - count(DISTINCT seq) FROM mv_stream'),
		'0', "round $round: nothing appended twice after the crash");
	is($node->safe_psql('postgres',
		'SELECT count(*) FROM (SELECT seq, payload FROM events EXCEPT SELECT seq, payload FROM mv_stream) x'),
		'0', "round $round: nothing lost");
	is($node->safe_psql('postgres',
		'SELECT count(*) FROM (SELECT seq, payload FROM mv_stream EXCEPT SELECT seq, payload FROM events) x'),
		'0', "round $round: nothing invented");
}

$node->stop;
done_testing();
