# pg_dump carries the change-tracking triggers of source tables (they are
# triggers on the user's tables, not extension members): a restore with
# --exit-on-error must get past the DDL guard, which lets CREATE TRIGGER
# through when it makes them exactly as pipeline does, and the restored
# triggers must keep their firing modes.  The restored views have no saved
# snapshot, so their first run is a full one; after that they skip.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('tracking_dump', qq{
pipeline.enabled = off
timezone = 'UTC'
});
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', q{
	CREATE DATABASE src;
});
$node->safe_psql('src', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE events (x int);
	INSERT INTO events VALUES (1), (2);
	SELECT pipeline.create_matview('public', 'counted', 'SELECT count(*) AS n FROM public.events', '1 hour',
		refresh_mode => 'full');
	SELECT count(*) FROM pipeline.run_due('2026-01-01 00:00+00');
});
my $q_triggers = q{SELECT tgname, tgenabled FROM pg_trigger
	WHERE tgrelid = 'events'::regclass ORDER BY tgname};
my $triggers = $node->safe_psql('src', $q_triggers);
is($triggers, "pipeline_record_change|A\npipeline_record_change_replica|R",
	'the source has both triggers');

my $dump = "$tmp/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', 'src' ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', $dump ],
	'pg_restore gets past the guard');
is($node->safe_psql('restored', $q_triggers), $triggers, 'triggers restored with their firing modes');

sub run_due
{
	my ($label) = @_;
	return $node->safe_psql('restored',
		"SELECT status FROM pipeline.run_due('$label') WHERE matview = 'mv_counted'::regclass");
}
is(run_due('2026-01-01 01:00+00'), 'succeeded', 'first run after restore is a full one');
is(run_due('2026-01-01 02:00+00'), 'skipped', 'then unchanged views are skipped');
$node->safe_psql('restored', q{
	SET session_replication_role = replica;
	INSERT INTO events VALUES (3);
});
is(run_due('2026-01-01 03:00+00'), 'succeeded', 'a write in replica mode is seen');
is($node->safe_psql('restored', 'SELECT n FROM mv_counted'), '3', 'with its data');

$node->stop;
done_testing();
