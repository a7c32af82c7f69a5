# Readers never wait for a full refresh of a materialized view without a
# unique index (API.md section 8): only the swap of the new rows in takes
# the lock readers wait for, and the refresh first tries for it without
# standing in the queue while an earlier reader still holds the view.
# Also: that wait honours lock_timeout and cancels; after 5 s of tries it
# queues, so a cycle of waits (a reader that in turn waits for the refresh,
# two refreshes each holding the other's view) reaches the deadlock
# detector instead of hanging, and readers that always overlap do not
# starve the refresh.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes;

my $node = PipelineNode->start_new('readers', qq{
pipeline.enabled = off
deadlock_timeout = 100ms
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (id int, score int);
	INSERT INTO src SELECT g, g FROM generate_series(1, 100) g;
	SELECT pipeline.create_matview('public', 'scores', 'SELECT id, score FROM src', '1 hour',
	                               refresh_mode => 'full');
	CREATE INDEX ON mv_scores (score);
	INSERT INTO src SELECT g, g FROM generate_series(101, 150) g;
});

# 1. a reader holds the view; the refresh waits for it without queueing
my $holder = PipelineNode->background_session($node, 'holder', 'BEGIN; SELECT count(*) FROM mv_scores; SELECT pg_sleep(600); COMMIT');
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'a reader holds the view in an open transaction');
my $refresh = PipelineNode->background_session($node, 'refresher', q{SELECT status FROM pipeline.refresh('mv_scores')});
ok(PipelineNode->wait_event_of($node, 'refresher', 'Extension'), 'the refresh waits to swap its rows in');
is($node->safe_psql('postgres', q{SET lock_timeout = '5s'; SELECT count(*) FROM mv_scores}),
	'100', 'a later reader does not wait behind it, and sees the old rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'refresher' AND state = 'active'}),
	'1', 'the refresh is still waiting');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'});
$holder->{handle}->finish;
$refresh->{handle}->finish;
is(${ $refresh->{out} }, "succeeded\n", 'the refresh swaps its rows in once the reader is gone');
is(${ $refresh->{err} }, '', 'and says nothing else');
is($node->safe_psql('postgres', q{SET enable_seqscan = off; SELECT count(*) FROM mv_scores WHERE score > 120}),
	'30', 'the new rows, and the index rebuilt over them');

# 2. lock_timeout bounds that wait, as it bounds a queued lock request
$node->safe_psql('postgres', q{INSERT INTO src VALUES (151, 151)});
$holder = PipelineNode->background_session($node, 'holder', 'BEGIN; SELECT count(*) FROM mv_scores; SELECT pg_sleep(600); COMMIT');
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'a reader holds the view again');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET lock_timeout = '300ms'; SELECT status FROM pipeline.refresh('mv_scores')});
like($err, qr/canceling statement due to lock timeout/, 'the refresh gives up after lock_timeout');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mv_scores}), '150', 'and leaves the old rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'pg_temp_%' AND relnamespace = 'public'::regnamespace}),
	'0', 'and no new heap behind');

# 2b. tries and queued wait are one wait: a lock_timeout longer than the
# 5 s of tries is what is left of it once the refresh queues, and is the
# session's own again afterwards
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'});
$holder->{handle}->finish;
$holder = PipelineNode->background_session($node, 'holder', 'BEGIN; SELECT count(*) FROM mv_scores; SELECT pg_sleep(7); COMMIT');
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'a reader holds the view for 7 s');
is($node->safe_psql('postgres',
	q{SET lock_timeout = '60s'; SELECT status FROM pipeline.refresh('mv_scores'); SHOW lock_timeout}),
	"succeeded\n1min", 'the refresh waits it out, and leaves lock_timeout as it was');
$holder->{handle}->finish;
$holder = PipelineNode->background_session($node, 'holder', 'BEGIN; SELECT count(*) FROM mv_scores; SELECT pg_sleep(600); COMMIT');
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'a reader holds the view once more');

# 3. a cancel ends the wait too
$refresh = PipelineNode->background_session($node, 'refresher', q{SELECT status FROM pipeline.refresh('mv_scores')});
ok(PipelineNode->wait_event_of($node, 'refresher', 'Extension'), 'a refresh waits for the reader again');
$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'refresher'});
$refresh->{handle}->finish;
like(${ $refresh->{err} }, qr/canceling statement due to user request/, 'a cancel ends its wait');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'});
$holder->{handle}->finish;

# 4. the reader waits for the refresh in turn: a deadlock, found and broken
# once the refresh queues for its lock
$holder = PipelineNode->background_session($node, 'holder', q{BEGIN; SELECT count(*) FROM mv_scores; SELECT pg_sleep(3);
	SELECT status FROM pipeline.refresh('mv_scores'); COMMIT});
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'a reader holds the view and will refresh it');
$refresh = PipelineNode->background_session($node, 'refresher', q{SELECT status FROM pipeline.refresh('mv_scores')});
ok(PipelineNode->wait_event_of($node, 'refresher', 'Extension'), 'a refresh waits for that reader');
$refresh->{handle}->finish;
$holder->{handle}->finish;
my $errors = ${ $refresh->{err} } . ${ $holder->{err} };
like($errors, qr/deadlock detected/, 'the deadlock detector breaks the cycle');
is((() = $errors =~ /deadlock detected/g), 1, 'in one of the two sessions; the other refreshes');
is($node->safe_psql('postgres', q{SELECT count(*) FROM mv_scores}), '151', 'the view has the new rows');

# 5. two refreshes, each in a transaction that read the other's view: both
# try for their lock without queueing, then queue, and one is a deadlock
$node->safe_psql('postgres', q{
	SELECT pipeline.create_matview('public', 'other', 'SELECT id FROM src', '1 hour', refresh_mode => 'full');
	INSERT INTO src VALUES (152, 152);
});
my $first = PipelineNode->background_session($node, 'first', q{BEGIN; SELECT count(*) FROM mv_other; SELECT pg_sleep(1);
	SELECT status FROM pipeline.refresh('mv_scores', false); COMMIT});
my $second = PipelineNode->background_session($node, 'second', q{BEGIN; SELECT count(*) FROM mv_scores; SELECT pg_sleep(1);
	SELECT status FROM pipeline.refresh('mv_other', false); COMMIT});
$first->{handle}->finish;
$second->{handle}->finish;
$errors = ${ $first->{err} } . ${ $second->{err} };
is((() = $errors =~ /deadlock detected/g), 1, 'two refreshes waiting for each other: one deadlock, not a hang');
is($node->safe_psql('postgres', q{SELECT (SELECT count(*) FROM mv_scores) + (SELECT count(*) FROM mv_other)}),
	'303', 'the other refresh went through (either: both views hold 152 and 151 rows)');

# 6. readers that always overlap (two loops, each holding the view for
# 0.4 s, offset by 0.2 s) delay the refresh by its 5 s of tries, not for
# as long as they read
$node->safe_psql('postgres', q{INSERT INTO src VALUES (153, 153)});
my $loop = PostgreSQL::Test::Utils::tempdir() . '/reader_loop.sql';
PostgreSQL::Test::Utils::append_to_file($loop, "SELECT count(*) FROM mv_scores, pg_sleep(0.4);\n" x 60);
my $reader1 = PipelineNode->background_session($node, 'reader1', undef, $loop);
Time::HiRes::sleep(0.2);
my $reader2 = PipelineNode->background_session($node, 'reader2', undef, $loop);
ok(PipelineNode->wait_event_of($node, 'reader2', 'PgSleep'), 'two readers take turns holding the view');
$refresh = PipelineNode->background_session($node, 'refresher', q{SELECT status FROM pipeline.refresh('mv_scores')});
$refresh->{handle}->finish;
is(${ $refresh->{out} }, "succeeded\n", 'the refresh finishes');
is($node->safe_psql('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name IN ('reader1', 'reader2') AND wait_event = 'PgSleep'}),
	't', 'while the readers still read');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN ('reader1', 'reader2')});
$reader1->{handle}->finish;
$reader2->{handle}->finish;
is($node->safe_psql('postgres', q{SELECT count(*) FROM mv_scores}), '153', 'with the new rows');

done_testing();
