# The scheduler never queues behind a lock a user holds.  Its tick judges
# whether a due view's sources changed, and for a differential view that
# parsed the view's query, which waits for a lock on every table it reads:
# a role that locked its own source (LOCK TABLE, or DDL queued behind a
# long reader) stopped every view of the database from refreshing until it
# let go.  The tick now leaves such a view to a refresh worker, which waits
# for it alone; the housekeeping it does at a scheduler's start waits for
# no such lock either.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $node = PipelineNode->start_new('never_waits', qq{
pipeline.tick = 100ms
pipeline.max_workers = 2
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE EXTENSION pipeline;
	CREATE ROLE holder LOGIN;
	CREATE SCHEMA holder AUTHORIZATION holder;
	SET ROLE holder;
	CREATE TABLE holder.src (x int);
	SELECT pipeline.create_matview('holder', 'held', 'SELECT count(*) AS n FROM holder.src', '1 second');
	RESET ROLE;
	CREATE TABLE calm_src (x int);
	SELECT pipeline.create_matview('public', 'calm', 'SELECT count(*) AS n FROM calm_src', '1 second');
});
is(sql("SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'holder.mv_held'::regclass"),
	'differential', 'the held view is differential (its skip check parses its query)');
$node->poll_query_until('postgres', q{
	SELECT count(DISTINCT matview) = 2 FROM pipeline.runs WHERE status IN ('succeeded', 'skipped')})
  or BAIL_OUT('the scheduler does not run');

# the owner holds its own source, and keeps its transaction open
my $holder = $node->background_psql('postgres', on_error_stop => 1);
$holder->query_safe('SET ROLE holder');
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE holder.src IN ACCESS EXCLUSIVE MODE');
sleep 2;    # a few ticks that find the held view due

# the other view still follows its source
sql('INSERT INTO calm_src SELECT generate_series(1, 5)');
my $seen = '';
for (1 .. 200)
{
	$seen = sql('SELECT n FROM public.mv_calm');
	last if $seen eq '5';
	sleep 0.1;
}
is($seen, '5', 'a view of another role refreshes while the lock is held');

# housekeeping at a scheduler's start passes over the held source too:
# terminate the scheduler, and its successor plans again
my $old_pid = PipelineNode->scheduler_pid($node, 'postgres');
sql("SELECT pg_terminate_backend($old_pid)");
$node->poll_query_until('postgres', qq{
	SELECT EXISTS (SELECT FROM pg_stat_activity
	                WHERE backend_type = 'pipeline scheduler' AND pid <> $old_pid)})
  or die 'no new scheduler';
sql('INSERT INTO calm_src SELECT generate_series(1, 5)');
for (1 .. 200)
{
	$seen = sql('SELECT n FROM public.mv_calm');
	last if $seen eq '10';
	sleep 0.1;
}
is($seen, '10', 'and after a new scheduler started');

# let go: the held view catches up
$holder->query_safe('INSERT INTO holder.src VALUES (1)');
$holder->query_safe('COMMIT');
$holder->quit;
$node->poll_query_until('postgres', 'SELECT n = 1 FROM holder.mv_held')
  or die 'the held view did not catch up';
pass('the held view catches up once the lock is gone');

$node->stop;
done_testing();
