# A refresh killed half-way (kill -9 of its backend, or an immediate
# shutdown) neither loses nor double-applies a change: after the restart the
# views hold what they held before the refresh, and the next refresh makes
# each one equal to its query computed afresh.  The refresh is held between
# its writes and its commit by an after-refresh hook (it runs in the
# refresh's transaction) that waits on an advisory lock the test holds,
# while another session commits more changes.  Then the same for a refresh
# run by the scheduler, whose run pipeline.runs records as failed and retries.
#
# The views are differential when pipeline.create_matview has a refresh_mode
# parameter (and then the test checks that they are), full otherwise.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('diffcrash', qq{
pipeline.enabled = off
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
restart_after_crash = on
timezone = 'UTC'
jit = off
});
$node->safe_psql('postgres', 'CREATE EXTENSION pipeline');
my $differential = $node->safe_psql('postgres', q{
	SELECT coalesce(bool_or('refresh_mode' = ANY (proargnames)), false)
	  FROM pg_proc WHERE proname = 'create_matview' AND pronamespace = 'pipeline'::regnamespace}) eq 't';
my $mode_arg = $differential ? ", refresh_mode => 'differential'" : '';
note($differential ? 'differential views' : 'full views (no refresh_mode parameter yet)');

my @views = (
	[ agg => q{SELECT user_id, count(*) AS n, count(amount) AS n_amount, sum(amount) AS s, min(amount) AS lo,
	                  max(amount) AS hi, avg(amount) AS av FROM c.events GROUP BY user_id} ],
	[ joined => q{SELECT u.region, count(*) AS n, sum(e.amount) AS s, max(e.eventtime) AS latest
	                FROM c.events e JOIN c.users u ON u.id = e.user_id GROUP BY u.region} ],
	[ top => q{SELECT count(*) AS n, sum(s) AS s, max(hi) AS hi, min(lo) AS lo FROM c.mv_agg} ],
	[ regions => q{SELECT DISTINCT region FROM c.mv_joined WHERE n > 1} ],
);
my @names = map { $_->[0] } @views;

$node->safe_psql('postgres', q{
CREATE SCHEMA c;
CREATE TABLE c.users (id int, region text);
CREATE TABLE c.events (id bigserial, user_id int, amount numeric, eventtime timestamptz);
INSERT INTO c.users SELECT g, (ARRAY['north', 'south', 'east', NULL])[1 + g % 4] FROM generate_series(1, 30) g;
INSERT INTO c.events (user_id, amount, eventtime)
-- one scale: min/max of equal values written two ways (5, 5.0) depend on
-- the order rows are read in, in a recompute too
SELECT nullif(g % 33, 0), round((g * 7 % 101)::numeric / (1 + g % 3), 2),
       timestamptz '2026-01-01' + g * interval '1 minute'
  FROM generate_series(1, 3000) g;
-- holds a refresh after its writes until the test lets go of lock 4444
CREATE FUNCTION c.hold(regclass, timestamptz) RETURNS void LANGUAGE sql
	AS 'SELECT pg_catalog.pg_advisory_lock(4444); SELECT pg_catalog.pg_advisory_unlock(4444)';
});
for my $v (@views)
{
	$node->safe_psql('postgres',
		"SELECT pipeline.create_matview('c', '$v->[0]', \$q\$$v->[1]\$q\$, '1 hour'$mode_arg)");
}
if ($differential)
{
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(matview::text, ', ') FROM pipeline.matviews
			 WHERE matview::text LIKE 'c.mv\_%' AND (to_jsonb(matviews) ->> 'refresh_mode') IS DISTINCT FROM 'differential'}),
		'', 'the views are differential');
}

# rows by which a view and its recompute differ, by value and by text
sub differing
{
	my ($name) = @_;
	my ($q) = map { $_->[1] } grep { $_->[0] eq $name } @views;
	return $node->safe_psql('postgres', qq{
		WITH q AS MATERIALIZED ($q), v AS MATERIALIZED (TABLE c.mv_$name)
		SELECT (SELECT count(*) FROM ((TABLE v EXCEPT ALL TABLE q) UNION ALL (TABLE q EXCEPT ALL TABLE v)) a)
		       || ' ' || (SELECT count(*) FROM ((SELECT v::text FROM v EXCEPT ALL SELECT q::text FROM q)
		                             UNION ALL (SELECT q::text FROM q EXCEPT ALL SELECT v::text FROM v)) b)});
}

sub all_exact
{
	my ($what) = @_;
	for my $name (@names)
	{
		is(differing($name), '0 0', "$what: c.mv_$name equals its recompute");
	}
}

sub contents
{
	return join("\n", map {
		$node->safe_psql('postgres', "SELECT '$_: ' || coalesce(string_agg(t::text, ' ' ORDER BY t::text), '') FROM c.mv_$_ t")
	} @names);
}

my $refresh_all = join('', map { "SELECT count(*) FROM pipeline.refresh('c.mv_$_', false);\n" } @names);

# changes of every kind, some of them to the current min/max of a group
my $round_no = 0;

sub changes
{
	$round_no++;
	my $u = 1 + $round_no % 30;
	return qq{
INSERT INTO c.events (user_id, amount, eventtime)
SELECT nullif((g * $round_no) % 35, 0), round(random()::numeric * 200 - 20, 2), timestamptz '2026-02-01' + g * interval '1 second'
  FROM generate_series(1, 40) g;
UPDATE c.events SET amount = amount * 2 WHERE id % 97 = $round_no;
UPDATE c.events SET user_id = user_id + 1 WHERE id % 89 = $round_no;
DELETE FROM c.events WHERE id IN (SELECT id FROM c.events WHERE user_id = $u ORDER BY amount DESC NULLS LAST LIMIT 1);
DELETE FROM c.events WHERE id IN (SELECT id FROM c.events WHERE user_id = $u + 1 ORDER BY amount LIMIT 1);
UPDATE c.users SET region = CASE WHEN region = 'north' THEN 'west' ELSE 'north' END WHERE id = $u;
DELETE FROM c.events WHERE id % 211 = $round_no;
};
}

$node->safe_psql('postgres', changes() . $refresh_all);
all_exact('before any crash');

# --- a session's refresh, held in the hook of each view, killed -----------
for my $target (@names)
{
	for my $how ('kill -9', 'immediate stop')
	{
		my $one_transaction = $round_no % 2;
		$node->safe_psql('postgres', "SELECT pipeline.set_after_refresh('c.mv_$target', 'c.hold(regclass,timestamptz)')");
		$node->safe_psql('postgres', changes());
		my $before = contents();

		my $holder = $node->background_psql('postgres');
		$holder->query_safe('SELECT pg_advisory_lock(4444)');
		my $refresher = $node->background_psql('postgres');
		my $pid = $refresher->query_safe('SELECT pg_backend_pid()');
		$refresher->query_until(qr/started/, "\\echo started\n"
			  . ($one_transaction ? "BEGIN;\n$refresh_all" . "COMMIT;\n" : $refresh_all));
		ok( $node->poll_query_until('postgres',
				"SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $pid"),
			"$how in c.mv_$target: the refresh waits in the hook");
		# committed while the refresh runs: the refresh after the crash has it
		$node->safe_psql('postgres', changes());
		if ($differential)
		{
			# a table view's refresh only changes rows: readers go on
			my ($ret) = $node->psql('postgres', "SET statement_timeout = '5s'; SELECT count(*) FROM c.mv_$target");
			is($ret, 0, "$how in c.mv_$target: a reader does not wait for the held refresh");
		}

		if ($how eq 'kill -9')
		{
			kill 'KILL', $pid;
			PipelineNode->wait_for_crash_restart($node, $pid);
		}
		else
		{
			$node->stop('immediate');
			$node->start;
		}
		eval { $refresher->quit; };
		eval { $holder->quit; };

		my $after = contents();
		if ($one_transaction || $target eq $names[0])
		{
			is($after, $before, "$how in c.mv_$target: the views hold what they held before the refresh");
		}
		else
		{
			# views refreshed before the held one committed, one by one
			isnt($after, '', "$how in c.mv_$target: the views are readable after the crash");
		}
		$node->safe_psql('postgres', "SELECT pipeline.set_after_refresh('c.mv_$target', NULL)");
		$node->safe_psql('postgres', $refresh_all);
		all_exact("$how in c.mv_$target, refreshed after the restart");
		$node->safe_psql('postgres', changes() . $refresh_all);
		all_exact("$how in c.mv_$target, and after more changes");
	}
}

# --- a refresh run by the scheduler, killed --------------------------------
$node->safe_psql('postgres', q{
	SELECT pipeline.create_matview('c', 'sched', 'SELECT user_id, count(*) AS n, max(amount) AS hi FROM c.events GROUP BY user_id',
	                               '1 hour'} . $mode_arg . q{);
	SELECT pipeline.set_after_refresh('c.mv_sched', 'c.hold(regclass,timestamptz)');
});
$node->safe_psql('postgres', changes());
my $holder = $node->background_psql('postgres');
$holder->query_safe('SELECT pg_advisory_lock(4444)');
$node->safe_psql('postgres', 'ALTER SYSTEM SET pipeline.enabled = on; SELECT pg_reload_conf();');
my $waiting = "FROM pg_stat_activity WHERE backend_type = 'pipeline refresh' AND wait_event = 'advisory'";
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 $waiting"), 'a refresh worker waits in the hook');
my $worker = $node->safe_psql('postgres', "SELECT pid $waiting");
my $label = $node->safe_psql('postgres',
	"SELECT time_label FROM pipeline.runs WHERE matview = 'c.mv_sched'::regclass AND status = 'running'");
isnt($label, '', 'its run is recorded as running');
$node->safe_psql('postgres', changes());
kill 'KILL', $worker;
eval { $holder->quit; };
PipelineNode->wait_for_crash_restart($node, $worker);
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pipeline.runs WHERE matview = 'c.mv_sched'::regclass AND status = 'succeeded'
		   AND time_label = '$label'}),
	'the scheduler retries the killed run and it succeeds');
is( $node->safe_psql('postgres', qq{
		SELECT string_agg(attempt || ' ' || status || ' ' || coalesce(error, ''), ', ' ORDER BY attempt)
		  FROM pipeline.runs WHERE matview = 'c.mv_sched'::regclass AND time_label = '$label'}),
	"1 failed the process running the refresh ended before it finished, 2 succeeded ",
	'pipeline.runs records the killed run as failed and its retry');
$node->safe_psql('postgres', 'ALTER SYSTEM SET pipeline.enabled = off; SELECT pg_reload_conf();');
push @views, [ sched => 'SELECT user_id, count(*) AS n, max(amount) AS hi FROM c.events GROUP BY user_id' ];
@names = map { $_->[0] } @views;
$refresh_all = join('', map { "SELECT count(*) FROM pipeline.refresh('c.mv_$_', false);\n" } @names);
# the retry ran after the last changes committed
is(differing('sched'), '0 0', 'the retried run is exact');
my $has_detail = $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_attribute WHERE attrelid = 'pipeline.runs'::regclass AND attname = 'detail' AND NOT attisdropped});
if ($differential && $has_detail eq '1')
{
	like( $node->safe_psql('postgres', qq{
			SELECT detail FROM pipeline.runs WHERE matview = 'c.mv_sched'::regclass AND time_label = '$label'
			   AND status = 'succeeded'}),
		qr/^differential/, 'the retry after the crash is differential');
}
$node->safe_psql('postgres', "SELECT pipeline.set_after_refresh('c.mv_sched', NULL);" . changes() . $refresh_all);
all_exact('after the scheduler part');

$node->stop;
done_testing();
