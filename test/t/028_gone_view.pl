# A managed view whose relation a session's end dropped unseen: a plain
# view it reads, replaced after its definition to call a temporary function,
# goes with that session, and the managed view with it, without an event
# trigger.  The scheduler must not dispatch it: a worker's claim found
# nothing, the view was due again at once, and the scheduler and a worker
# spun (two-thirds of a core).  The scheduler's housekeeping forgets it,
# with the capture and tracking triggers of the tables nothing reads any
# more, and its name is free again.
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
	SELECT pipeline.create_matview('public', 'd', 'SELECT id, count(*) AS n FROM p GROUP BY id', '1 second',
	                               refresh_mode => 'differential');
});
my $triggers_on_src = "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'src'::regclass AND tgname LIKE 'pipeline%'";
cmp_ok(sql($triggers_on_src), '>', 0, 'src has capture and tracking triggers');
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
$node->poll_query_until('postgres', "SELECT to_regclass('public.mv_d') IS NULL")
  or die "the differential view's relation did not go";
is(sql("SELECT count(*) FROM pipeline.matview_definitions WHERE name IN ('u', 'd')"), '2',
	'their catalog rows stay (no event trigger fired)');

# three seconds of scheduling: no job for it
my $log_from = -s $node->logfile;
sleep 3;
my $log = slurp_file($node->logfile, $log_from);
my @dispatching = ($log =~ /dispatched [1-9]\d* refreshes/g);
my @passes = ($log =~ /pipeline scheduler: planned/g);
cmp_ok(scalar(@passes), '>', 0, 'the scheduler planned meanwhile');
is(scalar(@dispatching), 0, 'and dispatched no refresh of the gone view');

# a view of pipeline's own catalog, dropped: a drop leaves the catalog's
# tracking triggers (it would hold the catalog to the end of its transaction)
my $triggers_on_runs = "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pipeline.runs'::regclass AND tgname LIKE 'pipeline_record%'";
sql(q{SELECT pipeline.create_matview('public', 'r', 'SELECT count(*) AS n FROM pipeline.runs', '1 hour')});
$node->poll_query_until('postgres', "SELECT ($triggers_on_runs) = 2")
  or die "pipeline.runs got no tracking triggers";
sql(q{SELECT pipeline.drop_matview('public.mv_r')});
is(sql($triggers_on_runs), '2', 'a dropped view leaves the tracking triggers of pipeline.runs');

# housekeeping (at a scheduler's start, then every minute) forgets them,
# and the triggers of the tables nothing reads any more go
$node->restart;
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pipeline.matview_definitions WHERE name IN ('u', 'd')")
  or die "housekeeping did not forget the gone views";
like(slurp_file($node->logfile, $log_from), qr/pipeline forgets managed view \d+/, 'the log says it forgot them');
$node->poll_query_until('postgres', "SELECT ($triggers_on_src) = 0")
  or die "the triggers stayed on src";
$node->poll_query_until('postgres', "SELECT ($triggers_on_runs) = 0")
  or die "the tracking triggers stayed on pipeline.runs";
is(sql("SELECT count(*) FROM pipeline.capture_sources"), '0', 'no capture is left');
is(sql("SELECT count(*) FROM pipeline.capture_consumers"), '0', 'nor a consumer');
is(sql("BEGIN; INSERT INTO src VALUES (2);
	SELECT count(*) FROM pipeline.changes WHERE relation = 'src'::regclass AND xid = pg_current_xact_id(); COMMIT"),
	'0', 'a write of src records no change');

# the name is free again
sql("SELECT pipeline.create_matview('public', 'u', 'SELECT id FROM src', '1 second', refresh_mode => 'full')");
is(sql("SELECT count(*) FROM pipeline.matview_definitions WHERE name = 'u'"), '1', 'defined again');
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.runs WHERE matview = 'mv_u'::regclass AND status IN ('succeeded', 'skipped'))")
  or die "the new view never ran";
pass('the new view runs');

$node->stop;
done_testing();
