# A managed view whose relation a session's end dropped unseen: a plain
# view it reads, replaced after its definition to call a temporary function,
# goes with that session, and the managed view with it, without an event
# trigger.  The scheduler must not dispatch it: a worker's claim found
# nothing, the view was due again at once, and the scheduler and a worker
# spun (two-thirds of a core).  A later definition forgets it, and its name
# is free again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PipelineNode->start_new('gone', qq{
pipeline.databases = 'postgres'
pipeline.tick = 100ms
log_min_messages = debug1
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE EXTENSION pipeline;
	CREATE TABLE src (id int);
	INSERT INTO src VALUES (1);
	CREATE VIEW p AS SELECT id FROM src;
	SELECT pipeline.create_matview('public', 'u', 'SELECT id FROM p', '1 second', refresh_mode => 'full');
});
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.runs WHERE matview = 'mv_u'::regclass AND status IN ('succeeded', 'skipped'))")
  or die "the view never ran";

# the replacement, in a session that then ends
sql(q{
	CREATE FUNCTION pg_temp.one() RETURNS int LANGUAGE sql AS 'SELECT 1';
	CREATE OR REPLACE VIEW p AS SELECT id + pg_temp.one() AS id FROM src;
});
$node->poll_query_until('postgres', "SELECT to_regclass('public.mv_u') IS NULL")
  or die "the view's relation did not go";
is(sql("SELECT count(*) FROM pipeline.matview_definitions WHERE name = 'u'"), '1',
	'its catalog rows stay (no event trigger fired)');

# three seconds of scheduling: no job for it
my $log_from = -s $node->logfile;
sleep 3;
my $log = slurp_file($node->logfile, $log_from);
my @dispatching = ($log =~ /dispatched [1-9]\d* refreshes/g);
my @passes = ($log =~ /pipeline scheduler: planned/g);
cmp_ok(scalar(@passes), '>', 0, 'the scheduler planned meanwhile');
is(scalar(@dispatching), 0, 'and dispatched no refresh of the gone view');

# a definition forgets it; the name is free again
sql("SELECT pipeline.create_matview('public', 'u', 'SELECT id FROM src', '1 second', refresh_mode => 'full')");
is(sql("SELECT count(*) FROM pipeline.matview_definitions WHERE name = 'u'"), '1', 'defined again');
like(slurp_file($node->logfile, $log_from), qr/pipeline forgets managed view \d+/, 'the log says it forgot the gone view');
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.runs WHERE matview = 'mv_u'::regclass AND status IN ('succeeded', 'skipped'))")
  or die "the new view never ran";
pass('the new view runs');

$node->stop;
done_testing();
