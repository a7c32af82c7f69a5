# pg_dump and change capture (src/views/capture.h): the capture triggers are
# triggers on the user's table and are dumped; the change logs and the
# capture catalog are not (extension members, not registered for dump).  A
# restore with --exit-on-error gets past the DDL guard (the triggers are
# made exactly as pipeline makes them), the restored triggers keep their
# firing modes and log nothing (no capture_sources row), and registering
# again starts capture with a new log.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('capture_dump', qq{
pipeline.enabled = off
timezone = 'UTC'
});
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE events (id int, user_id int, amount numeric);
	INSERT INTO events VALUES (1, 10, 1.5);
	SELECT pipeline.create_matview('public', 'consumer', 'SELECT 1 AS one', '1 hour');
	SELECT pipeline.capture_register('public.mv_consumer', 'events', '{2,3}');
	INSERT INTO events VALUES (2, 20, 2.5);
});
my $q_triggers = q{SELECT tgname, tgenabled FROM pg_trigger
	WHERE tgrelid = 'events'::regclass AND tgname LIKE 'pipeline_capture%' ORDER BY tgname};
my $triggers = $node->safe_psql('src', $q_triggers);
is( $triggers,
	"pipeline_capture_delete|A\npipeline_capture_insert|A\npipeline_capture_replica|R\n"
	  . "pipeline_capture_truncate|A\npipeline_capture_update|A",
	'the source has the capture triggers');

my $dump = "$tmp/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'src' ], 'pg_dump');
my ($stdout, $stderr);
$node->run_log([ 'pg_restore', '-l', $dump ], '>', \$stdout);
unlike($stdout, qr/capture_log|capture_sources|capture_consumers/,
	'logs and capture catalog are not dumped');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', $dump ],
	'pg_restore gets past the guard');
is($node->safe_psql('restored', $q_triggers), $triggers, 'triggers restored with their firing modes');
is($node->safe_psql('restored', q{
	INSERT INTO events VALUES (3, 30, 3.5);
	UPDATE events SET amount = 0;
	TRUNCATE events;
	SELECT count(*) FROM pipeline.capture_sources}), '0',
	'the restored triggers log nothing and need no log');

$node->safe_psql('restored', q{
	SELECT pipeline.capture_register('public.mv_consumer', 'events', '{2,3}');
	INSERT INTO events VALUES (4, 40, 4.5);
});
is($node->safe_psql('restored', q{
	SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events'::regclass AND tgname LIKE 'pipeline_capture%'}),
	'5', 'registering again keeps the restored triggers');
my $log = $node->safe_psql('restored', 'SELECT log_table FROM pipeline.capture_sources');
is($node->safe_psql('restored', "SELECT sign, a2, a3 FROM $log"), '1|40|4.5',
	'and logs through them');

$node->stop;
done_testing();
