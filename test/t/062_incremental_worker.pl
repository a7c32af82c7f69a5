# Incremental views under the background worker: an incremental view and a
# regular view reading it refresh on their own intervals and time labels;
# each row is appended exactly once, the mark advances, the reader sees
# the appended rows, and run history records the successes.  Also a
# redefinition of the incremental view while the worker runs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('incremental_worker', qq{
pipeline.enabled = on
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
max_worker_processes = 20
});
$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE TABLE events (seq bigint, payload text);
SELECT pipeline.create_matview('public', 'stream', 'SELECT seq, payload FROM events',
                               interval '1 second', matview_type => 'incremental',
                               incremental_key => 'seq');
SELECT pipeline.create_matview('public', 'summary',
                               'SELECT count(*) AS n, max(seq) AS last_seq FROM mv_stream',
                               interval '2 seconds');
});

# a batch of rows, then wait until the worker has carried it through both views
my $total = 0;
sub add_batch
{
	my ($size) = @_;
	my $from = $total + 1;
	$total += $size;
	$node->safe_psql('postgres',
		"INSERT INTO events SELECT g, 'e' || g FROM generate_series($from, $total) g");
	$node->safe_psql('postgres', 'SELECT pipeline.wake()');
	return $node->poll_query_until('postgres',
		"SELECT n = $total AND last_seq = $total FROM mv_summary");
}

my @marks;
for my $batch (1 .. 3)
{
	ok(add_batch(10 * $batch), "batch $batch reached the reader through the worker");
	push @marks, $node->safe_psql('postgres',
		q{SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_stream'::regclass});
	is($node->safe_psql('postgres', 'SELECT count(*) || \' \' || count(DISTINCT seq) FROM mv_stream'),
		"$total $total", "batch $batch: every row appended once");
}
is(join(' ', @marks), '10 30 60', 'the mark advanced with each batch');

# run history: the worker ran both views, on their labels, and the rows the
# incremental view's runs appended add up to the rows there are
# (the worker goes on meanwhile: a run may be in progress, or skipped when
# nothing changed)
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status || coalesce(': ' || error, ''), ', ') FROM pipeline.runs
	 WHERE status NOT IN ('succeeded', 'skipped', 'running')}),
	'', 'no run failed');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pipeline.runs WHERE worker_pid = pg_backend_pid()}),
	'0', 'the runs were the worker\'s');
is($node->safe_psql('postgres', q{
	SELECT sum(rows) FROM pipeline.runs WHERE matview = 'mv_stream'::regclass}),
	'60', 'the incremental view\'s runs appended 60 rows in all');
is($node->safe_psql('postgres', q{
	SELECT count(*) >= 3 FROM pipeline.runs WHERE matview = 'mv_stream'::regclass AND rows > 0}),
	't', 'over several runs');
is($node->safe_psql('postgres', q{
	SELECT count(*) = count(DISTINCT time_label) FROM pipeline.runs WHERE matview = 'mv_stream'::regclass}),
	't', 'one run per label');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pipeline.runs r JOIN pipeline.matviews m USING (matview)
	 WHERE r.time_label <> pipeline.time_label(m.refresh_interval, r.time_label)}),
	'0', 'every run is for a label of its view\'s interval');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pipeline.runs s
	 WHERE s.matview = 'mv_summary'::regclass AND s.status <> 'skipped'
	   AND NOT EXISTS (SELECT 1 FROM pipeline.runs u
	                    WHERE u.matview = 'mv_stream'::regclass
	                      AND (u.status = 'succeeded' AND u.time_label >= s.time_label
	                           AND u.finished_at <= s.started_at
	                           -- skipped labels are one row: the first skip started it
	                           OR u.status = 'skipped' AND u.time_label <= s.time_label
	                              AND coalesce(u.last_time_label, u.time_label) >= s.time_label
	                              AND u.started_at <= s.started_at))}),
	'0', 'the reader ran a label only after the incremental view succeeded for it or skipped it');
# (the worker goes on: the latest run may be one in progress, or a skip
# when nothing changed since, as for the reader after an empty append)
is($node->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s', matview,
	                         CASE WHEN last_status IN ('succeeded', 'skipped', 'running')
	                                   AND last_success_label IS NOT NULL
	                              THEN 'healthy' ELSE coalesce(last_status, 'never ran') END),
	                  ', ' ORDER BY matview::text) FROM pipeline.status}),
	'mv_stream healthy, mv_summary healthy', 'pipeline.status shows both healthy');

# redefinitions while the worker runs: a new interval keeps the table, rows
# and mark; a new query rebuilds it from scratch, once
$node->safe_psql('postgres', q{
SELECT pipeline.create_matview('public', 'stream', 'SELECT seq, payload FROM events',
                               interval '2 seconds', matview_type => 'incremental',
                               incremental_key => 'seq');
});
is($node->safe_psql('postgres', q{
	SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_stream'::regclass}),
	'60', 'a redefinition with the same query keeps the mark');
ok(add_batch(20), 'the worker appends from the kept mark');
is($node->safe_psql('postgres', 'SELECT count(*) || \' \' || count(DISTINCT seq) FROM mv_stream'),
	"$total $total", 'nothing appended twice after the redefinition');

$node->safe_psql('postgres', q{
SELECT pipeline.create_matview('public', 'stream',
                               'SELECT seq, payload, length(payload) AS len FROM events',
                               interval '1 second', matview_type => 'incremental',
                               incremental_key => 'seq');
});
is($node->safe_psql('postgres', 'SELECT count(*) || \' \' || count(DISTINCT seq) || \' \' || count(len) FROM mv_stream'),
	"$total $total $total", 'a new query re-appends every row once');
ok(add_batch(20), 'and the worker carries on from the new mark');
is($node->safe_psql('postgres', 'SELECT count(*) || \' \' || count(DISTINCT seq) FROM mv_stream'),
	"$total $total", 'nothing appended twice after the rebuild');
is($node->safe_psql('postgres', q{
	SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mv_stream'::regclass}),
	"$total", 'the mark is the greatest key');
# (a view whose sources did not change since records a skipped run)
ok($node->poll_query_until('postgres', q{
	SELECT bool_and(last_status IN ('succeeded', 'skipped')) FROM pipeline.status}),
	'both views\' latest runs succeeded');

$node->stop;
done_testing();
