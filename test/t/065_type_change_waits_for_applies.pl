# A statement that changes how keys of a type are written (ALTER TYPE ...
# RENAME VALUE of an enum) rewrites the deleted keys apply_changes()
# remembered in that type, and waits for the applies that hold the type
# (compile/remembered_keys.c).  It tries for the type's lock without
# standing in the lock queue first (util/lock_tries.h), so while one apply
# transaction stays open, the applies that come after it are not held
# behind the waiting statement; lock_timeout and a cancel end the wait.
# (h120 R2: before, every later apply queued behind the statement.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('type_waits', qq{
pipeline.enabled = off
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TYPE color AS ENUM ('red', 'green', 'blue', 'grey');
	-- two targets keyed on it (applies into one target take turns)
	CREATE TABLE paint (color color PRIMARY KEY, v text, seq bigint);
	CREATE TABLE paint_changes (color color, v text, seq bigint, op text);
	CREATE TABLE brush (LIKE paint INCLUDING ALL);
	CREATE TABLE brush_changes (LIKE paint_changes);
	INSERT INTO paint VALUES ('red', 'r', 1), ('green', 'g', 1);
	INSERT INTO brush VALUES ('green', 'g', 1), ('blue', 'b', 1), ('grey', 'y', 1);
	INSERT INTO paint_changes VALUES ('green', NULL, 5, 'D');
	INSERT INTO brush_changes VALUES ('green', NULL, 5, 'D');
	SELECT * FROM pipeline.apply_changes('paint_changes', 'paint', '{color}', 'seq');
	SELECT * FROM pipeline.apply_changes('brush_changes', 'brush', '{color}', 'seq');
});

sub stop_holder
{
	my ($holder) = @_;
	$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'});
	$holder->{handle}->finish;
}

my $hold = q{BEGIN;
	INSERT INTO paint_changes VALUES ('red', 'r2', 6, 'U');
	SELECT updated FROM pipeline.apply_changes('paint_changes', 'paint', '{color}', 'seq');
	SELECT pg_sleep(600); COMMIT};

# 1. an open apply holds the type; the rename tries for it without queueing
my $holder = PipelineNode->background_session($node, 'holder', $hold);
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'an apply transaction stays open');
my $rename = PipelineNode->background_session($node, 'renamer', q{ALTER TYPE color RENAME VALUE 'green' TO 'lime'});
ok(PipelineNode->wait_event_of($node, 'renamer', 'Extension'), 'the rename waits for it, out of the lock queue');
is($node->safe_psql('postgres', q{SET lock_timeout = '5s';
	INSERT INTO brush_changes VALUES ('blue', NULL, 7, 'D');
	SELECT deleted FROM pipeline.apply_changes('brush_changes', 'brush', '{color}', 'seq');}),
	'1', 'a later apply of keys of the type is not held behind the rename');
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_stat_activity WHERE application_name = 'renamer' AND state = 'active'}),
	'1', 'the rename is still waiting');
stop_holder($holder);
$rename->{handle}->finish;
is(${ $rename->{err} }, '', 'the rename runs once the open apply is gone');
is($node->safe_psql('postgres',
	q{SELECT target || ' ' || string_agg(key, ' ' ORDER BY key) FROM pipeline.deleted_keys GROUP BY target ORDER BY target::text}),
	"brush blue lime\npaint lime", 'and the remembered keys follow it, the later apply\'s too');

# 2. lock_timeout bounds the wait, as it bounds a queued request
$holder = PipelineNode->background_session($node, 'holder', $hold);
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'an apply transaction stays open again');
my ($ret, $out, $err) = $node->psql('postgres',
	q{SET lock_timeout = '300ms'; ALTER TYPE color RENAME VALUE 'lime' TO 'green'});
like($err, qr/canceling statement due to lock timeout/, 'the rename gives up after lock_timeout');
is($node->safe_psql('postgres', q{SELECT enum_range(NULL::color)::text}),
	'{red,lime,blue,grey}', 'and renames nothing');

# 3. a cancel ends it too
$rename = PipelineNode->background_session($node, 'renamer', q{ALTER TYPE color RENAME VALUE 'lime' TO 'green'});
ok(PipelineNode->wait_event_of($node, 'renamer', 'Extension'), 'a rename waits again');
$node->safe_psql('postgres', q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'renamer'});
$rename->{handle}->finish;
like(${ $rename->{err} }, qr/canceling statement due to user request/, 'a cancel ends its wait');

# 4. after 5 s of tries it queues: an apply that comes then waits for it,
# and the two run in turn once the holder is gone
$rename = PipelineNode->background_session($node, 'renamer', q{ALTER TYPE color RENAME VALUE 'grey' TO 'slate'});
ok(PipelineNode->wait_event_of($node, 'renamer', 'Extension'), 'a rename tries for the type');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'renamer' AND wait_event_type = 'Lock'}),
	'and queues for it after its tries');
my $later = PipelineNode->background_session($node, 'later', q{INSERT INTO brush_changes VALUES ('grey', NULL, 8, 'D');
	SELECT deleted FROM pipeline.apply_changes('brush_changes', 'brush', '{color}', 'seq')});
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'later' AND wait_event_type = 'Lock'}),
	'an apply coming then waits behind it');
stop_holder($holder);
$rename->{handle}->finish;
$later->{handle}->finish;
is(${ $rename->{err} } . ${ $later->{err} }, '', 'both run once the holder is gone');
is(${ $later->{out} }, "1\n", 'the apply deletes its key');
is($node->safe_psql('postgres',
	q{SELECT string_agg(key, ' ' ORDER BY key) FROM pipeline.deleted_keys WHERE target = 'brush'::regclass}),
	'blue lime slate', 'and remembers it under the new label');

# 5. it queues once the holders it met are gone: what holds the type then
# came during its tries, and a stream of short applies does not starve it
$holder = PipelineNode->background_session($node, 'holder', $hold);
ok(PipelineNode->wait_event_of($node, 'holder', 'PgSleep'), 'an apply transaction stays open');
$rename = PipelineNode->background_session($node, 'renamer', q{ALTER TYPE color RENAME VALUE 'slate' TO 'grey'});
ok(PipelineNode->wait_event_of($node, 'renamer', 'Extension'), 'a rename tries for the type');
my $newcomer = PipelineNode->background_session($node, 'newcomer', q{BEGIN;
	SELECT deleted FROM pipeline.apply_changes('brush_changes', 'brush', '{color}', 'seq');
	SELECT pg_sleep(600); COMMIT});
ok(PipelineNode->wait_event_of($node, 'newcomer', 'PgSleep'), 'another apply passes it and stays open');
stop_holder($holder);
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'renamer' AND wait_event_type = 'Lock'}),
	'once the first holder is gone the rename queues, behind the one that passed');
$node->safe_psql('postgres', q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'newcomer'});
$newcomer->{handle}->finish;
$rename->{handle}->finish;
is(${ $rename->{err} }, '', 'and runs once that one is gone');

# 6. a cycle through a rename that tries reaches the deadlock detector: the
# rename queues once another session waits for a lock it holds
$node->safe_psql('postgres', q{
	CREATE TYPE shade AS ENUM ('pale', 'deep');
	CREATE TABLE tint (shade shade PRIMARY KEY, v text, seq bigint);
	CREATE TABLE tint_changes (shade shade, v text, seq bigint, op text);
});
my $cycle = PipelineNode->background_session($node, 'cycle', q{BEGIN;
	INSERT INTO tint_changes VALUES ('pale', 'p', 1, 'I');
	SELECT inserted FROM pipeline.apply_changes('tint_changes', 'tint', '{shade}', 'seq');
	SELECT pg_sleep(1);
	INSERT INTO brush_changes VALUES ('red', 'r', 1, 'I');
	SELECT inserted FROM pipeline.apply_changes('brush_changes', 'brush', '{color}', 'seq');
	COMMIT});
ok(PipelineNode->wait_event_of($node, 'cycle', 'PgSleep'), 'an apply holds one enum, and will apply keys of another');
$rename = PipelineNode->background_session($node, 'renamer', q{BEGIN;
	ALTER TYPE color RENAME VALUE 'red' TO 'crimson';
	ALTER TYPE shade RENAME VALUE 'deep' TO 'dark';
	COMMIT});
$cycle->{handle}->finish;
$rename->{handle}->finish;
my $errors = ${ $cycle->{err} } . ${ $rename->{err} };
is((() = $errors =~ /deadlock detected/g), 1, 'renames of both in one transaction: a deadlock, found and broken in one session');

# 7. two transactions that applied keys of a type and then each rename one
# of its labels upgrade the same lock: a deadlock, queued for at once and
# found at deadlock_timeout (1 s), not left to the tries, where a
# lock_timeout of 1.8 s would have ended it first as a lock timeout
$node->safe_psql('postgres', q{
	CREATE TYPE hue AS ENUM ('a', 'b', 'c');
	CREATE TABLE hue1 (hue hue PRIMARY KEY, v text, seq bigint);
	CREATE TABLE hue1_changes (hue hue, v text, seq bigint, op text);
	CREATE TABLE hue2 (LIKE hue1 INCLUDING ALL);
	CREATE TABLE hue2_changes (LIKE hue1_changes);
});
my @upgraders;
for my $i (1, 2)
{
	my $label = $i == 1 ? 'a' : 'b';
	push @upgraders, PipelineNode->background_session($node, "upgrader$i", qq{BEGIN;
		INSERT INTO hue${i}_changes VALUES ('c', NULL, 1, 'D');
		SELECT deleted FROM pipeline.apply_changes('hue${i}_changes', 'hue$i', '{hue}', 'seq');
		SELECT pg_sleep(1);
		SET lock_timeout = '1800ms';
		ALTER TYPE hue RENAME VALUE '$label' TO '${label}2';
		COMMIT});
	ok(PipelineNode->wait_event_of($node, "upgrader$i", 'PgSleep'), "transaction $i applied keys of the type");
}
$_->{handle}->finish for @upgraders;
$errors = join '', map { ${ $_->{err} } } @upgraders;
is((() = $errors =~ /deadlock detected/g), 1, 'two renames upgrading the apply\'s lock: a deadlock, broken in one session');
unlike($errors, qr/lock timeout/, 'found before lock_timeout');

$node->stop;
done_testing();
