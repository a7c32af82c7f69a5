# Alerts (API.md section 10) under the background scheduler, over real HTTP
# to the reference endpoint (test/endpoint.py, /alerts): an incident is a
# view's first failure to its next success; each of its alerts is sent once
# as NOTIFY pipeline_alerts and POSTed at least once; exactly once when the
# endpoint answers, and again with the same incident_id when it fails once;
# a slow endpoint holds up no refresh; an SLA breach is seen by the
# scheduler though nothing runs.
use strict;
use warnings;

use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use List::Util qw(max);
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $src = $ENV{PIPELINE_SRC} // '.';
my $tmp = PostgreSQL::Test::Utils::tempdir();

my ($endpoint, $port) = PipelineNode->start_endpoint($tmp);
ok($port =~ /^\d+$/, "endpoint listens on port $port");
my $base = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10);

# the alerts the endpoint received, in arrival order
sub received
{
	return decode_json($http->get("$base/alerts")->{content});
}

my $node = PipelineNode->start_new('alerts', qq{
pipeline.databases = 'postgres'
pipeline.tick = 100ms
pipeline.retry_backoff = 1s
pipeline.max_attempts = 1000
pipeline.alert_endpoint = '$base/alerts'
timezone = 'UTC'
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
CREATE EXTENSION pipeline;
CREATE TABLE accounts (id int, score int);
INSERT INTO accounts VALUES (1, 10), (2, 20);
CREATE TABLE ticks (n int);
SELECT pipeline.create_matview('public', 'health', 'SELECT id, score FROM accounts', '1 second',
                               options => '{"expect": "positive: score > 0"}');
SELECT pipeline.create_matview('public', 'heartbeat', 'SELECT count(*) AS n, now() AS at FROM ticks',
                               '1 second');
});

# a listener, for as long as the first incident takes
my ($listen_out, $listen_err) = ('', '');
my $listener = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'),
	  '-c', 'LISTEN pipeline_alerts', '-c', 'SELECT pg_sleep(12)', '-c', 'SELECT 1' ],
	'>', \$listen_out, '2>', \$listen_err);
sleep 0.5;

# bad data: the view fails its audit, again and again (each retry fails)
sql("INSERT INTO accounts VALUES (3, -1)");
$node->poll_query_until('postgres',
	"SELECT count(*) >= 3 FROM pipeline.runs WHERE matview = 'mv_health'::regclass AND status = 'failed'")
  or die "the view did not fail three times";
sql("DELETE FROM accounts WHERE score < 0");
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.alerts WHERE kind = 'recovered' AND delivered_at IS NOT NULL)")
  or die "no recovered alert was delivered";
$listener->finish;

my @notified = map { decode_json($_) }
  ($listen_out =~ /Asynchronous notification "pipeline_alerts" with payload "(.*)" received/g);
# psql prints the payload as sent; the JSON's own quotes come through as is
is(scalar(@notified), 2, 'one incident: two NOTIFYs') or diag($listen_out . $listen_err);
is_deeply([ map { $_->{kind} } @notified ], [ 'audit_failed', 'recovered' ],
	'audit_failed, then recovered');
is($notified[0]{incident_id}, $notified[1]{incident_id}, 'both of one incident');
is($notified[0]{matview}, 'public.mv_health', 'the view is named, qualified');
ok(!exists $notified[0]{error}, 'no error text in the NOTIFY');
like($notified[0]{run_id}, qr/^\d+$/, 'the run that failed');

my $failures = sql("SELECT count(*) FROM pipeline.runs WHERE matview = 'mv_health'::regclass AND status = 'failed'");
cmp_ok($failures, '>=', 3, "$failures failed runs, one incident");
is(sql("SELECT count(*) FROM pipeline.incidents"), '1', 'one incident');
my $posted = received();
is_deeply([ map { [ $_->{kind}, $_->{incident_id}, $_->{answered} ] } @$posted ],
	[ [ 'audit_failed', $notified[0]{incident_id}, 200 ], [ 'recovered', $notified[0]{incident_id}, 200 ] ],
	'each alert POSTed exactly once when the endpoint answers');
# alert and incident ids are counted per database, the endpoint is the server's
is_deeply([ map { $_->{database} } @$posted ], [ 'postgres', 'postgres' ], 'each POST names its database');

# the endpoint fails each alert's first POST: it comes again, the same
$http->post("$base/reset");
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts?fail_once=1'");
sql("SELECT pg_reload_conf()");
sleep 0.5;
sql("INSERT INTO accounts VALUES (4, -4)");
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.alerts WHERE kind = 'audit_failed' AND delivered_at IS NOT NULL AND incident_id > 1)")
  or die "the second incident's alert was not delivered";
sql("DELETE FROM accounts WHERE score < 0");
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM pipeline.alerts WHERE incident_id > 1 AND delivered_at IS NOT NULL")
  or die "the second incident did not end";
$posted = received();
is_deeply([ map { [ $_->{kind}, $_->{answered} ] } @$posted ],
	[ [ 'audit_failed', 500 ], [ 'audit_failed', 200 ], [ 'recovered', 500 ], [ 'recovered', 200 ] ],
	'a failed POST is sent again');
is($posted->[0]{incident_id}, $posted->[1]{incident_id}, 'the repeat carries the same incident_id');
isnt($posted->[0]{incident_id}, $notified[0]{incident_id}, 'a new incident');

# a slow endpoint: views keep refreshing while an alert waits for it, also
# when each run needs a new worker (pipeline.worker_idle_timeout = 0): the
# alert sender is no idle worker (counted as one, it kept the scheduler
# from starting any while it waited)
$http->post("$base/reset");
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts?sleep=8'");
sql("ALTER SYSTEM SET pipeline.worker_idle_timeout = 0");
sql("SELECT pg_reload_conf()");
sleep 0.5;
sql("INSERT INTO accounts VALUES (5, -5)");
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pipeline alerts')")
  or die "no alert sender";
# the failing view, fixed, is the only job (the heartbeat's labels are
# skipped): it needs a new worker while the sender waits
my $fixed = sql("DELETE FROM accounts WHERE id = 5; SELECT clock_timestamp()");
my $refreshed = 0;
for (1 .. 50)
{
	$refreshed = sql(qq{SELECT EXISTS (SELECT FROM pipeline.runs WHERE matview = 'mv_health'::regclass
	                                     AND status = 'succeeded' AND started_at > '$fixed')}) eq 't'
	  and last;
	sleep 0.1;
}
ok($refreshed && sql("SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pipeline alerts')") eq 't',
	'refreshed while the alert sender waits for the endpoint');
sql("INSERT INTO ticks VALUES (1)");
$node->poll_query_until('postgres', "SELECT n = 1 FROM mv_heartbeat")
  or die "the heartbeat view stopped";
is(scalar(@{ received() }), 0, 'the slow endpoint has not answered yet');
sql("ALTER SYSTEM RESET pipeline.worker_idle_timeout");

# a scheduler restarted while the sender waits starts another sender for
# the same due alert: that one leaves (it POSTed the alert a second time)
my $scheduler = sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler'");
sql("SELECT pg_terminate_backend($scheduler)");
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pipeline scheduler' AND pid <> $scheduler)")
  or die "no new scheduler";
sub health_failures
{
	return scalar(grep { ($_->{matview} // '') eq 'public.mv_health' && $_->{kind} eq 'audit_failed' }
		  @{ received() });
}
# (a second sender shows in pg_stat_activity for the moment it takes to
# leave: what counts is what the endpoint receives)
my $restarted = time;
for (1 .. 200) { last if health_failures() > 0; sleep 0.1; }
# a second sender's POST, begun after the restart, would have landed by now
sleep(max(0, $restarted + 10 - time));
is(health_failures(), 1, 'a scheduler restarted meanwhile does not POST the alert again');

# an SLA breach the scheduler sees though nothing runs: a view stuck behind
# a failing upstream, its data older than its SLA (its definition made to
# look ten minutes old), and its return within the SLA once the upstream
# is fixed
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts'");
sql("SELECT pg_reload_conf()");
sql(q{
CREATE TABLE src3 (x int);
INSERT INTO src3 VALUES (1);
SELECT pipeline.create_matview('public', 'up3', 'SELECT x FROM src3', '1 minute',
                               options => '{"expect": "positive: x > 0"}');
UPDATE src3 SET x = -1;
});
$node->poll_query_until('postgres',
	"SELECT last_status = 'failed' FROM pipeline.status WHERE matview = 'mv_up3'::regclass")
  or die "up3 did not fail";
sql(q{
SELECT pipeline.create_matview('public', 'down3', 'SELECT x FROM mv_up3', '1 minute',
                               options => '{"freshness-sla-minutes": "2"}');
UPDATE pipeline.matview_definitions SET created_at = now() - interval '10 minutes'
 WHERE matview = 'mv_down3'::regclass;
});
ok($node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.alerts WHERE matview = 'mv_down3'::regclass AND kind = 'sla_breached')"),
	'the scheduler sees the breach of a view that does not run');
is(sql("SELECT count(*) FROM pipeline.runs WHERE matview = 'mv_down3'::regclass"), '0', 'it did not run');
is(sql("SELECT sla_breached FROM pipeline.status WHERE matview = 'mv_down3'::regclass"), 't',
	'pipeline.status says so');
# a superuser's run_due() on a stepped clock, the scheduler on, leaves the
# incidents to the scheduler's clock: none closes "as of" an hour ago
sql("SELECT count(*) FROM pipeline.run_due(now() - interval '1 hour')");
is(sql("SELECT count(*) FROM pipeline.alerts WHERE matview = 'mv_down3'::regclass AND kind = 'sla_recovered'"),
	'0', 'a stepped clock closes no incident while the scheduler runs');
sql("UPDATE src3 SET x = 3");
# not to wait for the next minute's label: a pass a few minutes ahead
sql("SELECT count(*) FROM pipeline.run_due(now() + interval '5 minutes')");
ok($node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.alerts WHERE matview = 'mv_down3'::regclass AND kind = 'sla_recovered')"),
	'back within its SLA once it ran');
is(sql("SELECT string_agg(kind, ',' ORDER BY alert_id) FROM pipeline.alerts WHERE matview = 'mv_down3'::regclass"),
	'sla_breached,sla_recovered', 'once each');

# the alert sender follows a reload: once the endpoint is set to '',
# alerts not yet POSTed stay undelivered (it kept POSTing them to the
# endpoint it started with)
$http->post("$base/reset");
# with the endpoint answering after 2 s, $count one-second views
# mv_<prefix>1.. over a table of their own fail their audit; returns once
# each has its alert
sub failing_views_at_slow_endpoint
{
	my ($prefix, $count) = @_;
	sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts?sleep=2'");
	sql("SELECT pg_reload_conf()");
	sql(qq{
CREATE TABLE src_$prefix (x int);
INSERT INTO src_$prefix VALUES (1);
SELECT pipeline.create_matview('public', '$prefix' || i, 'SELECT x FROM src_$prefix', '1 second',
                               options => '{"expect": "positive: x > 0"}')
  FROM generate_series(1, $count) i;
UPDATE src_$prefix SET x = -1;
});
	$node->poll_query_until('postgres',
		"SELECT count(*) = $count FROM pipeline.alerts WHERE matview::text ~ '^mv_${prefix}[1-$count]\$' AND kind = 'audit_failed'")
	  or die "the $count views did not fail";
}
failing_views_at_slow_endpoint('r', 3);
sql("ALTER SYSTEM SET pipeline.alert_endpoint = ''");
sql("SELECT pg_reload_conf()");
$node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pipeline alerts')")
  or die "the alert sender did not stop";
# (counting these views' alerts only: an earlier slow POST may land late)
cmp_ok(scalar(grep { ($_->{matview} // '') =~ /^public\.mv_r[1-3]$/ } @{ received() }), '<=', 1,
	'after the endpoint was reset, at most the alert on its way was POSTed');
cmp_ok(sql("SELECT count(*) FROM pipeline.alerts WHERE matview::text ~ '^mv_r[1-3]\$' AND delivered_at IS NULL"),
	'>=', 2, 'the others wait, undelivered');

# an incident's alerts are POSTed in order (1.15): after an outage, the
# recovery, due at once, waited behind the failure, in its backoff; it went
# first, and a receiver applying them in arrival order kept the incident open
$http->post("$base/reset");
my $tried = sql("SELECT sum(attempts) FROM pipeline.alerts WHERE matview::text ~ '^mv_r[1-3]\$'");
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts?status=500'");
sql("SELECT pg_reload_conf()");
# the processes have the new endpoint once the sender tries the waiting alerts
$node->poll_query_until('postgres',
	"SELECT sum(attempts) > $tried FROM pipeline.alerts WHERE matview::text ~ '^mv_r[1-3]\$'")
  or die "the waiting alerts were not tried again";
sql(q{
CREATE TABLE src5 (x int);
INSERT INTO src5 VALUES (1);
SELECT pipeline.create_matview('public', 'ordered', 'SELECT x FROM src5', '1 second',
                               options => '{"expect": "positive: x > 0"}');
UPDATE src5 SET x = -1;
});
$node->poll_query_until('postgres',
	"SELECT attempts >= 3 FROM pipeline.alerts WHERE matview = 'mv_ordered'::regclass AND kind = 'audit_failed'")
  or die "the failure's alert was not retried:\n"
  . sql("SELECT alert_id, incident_id, matview, kind, deliver, delivered_at IS NOT NULL, attempts, "
	  . "next_attempt_at, now(), last_error FROM pipeline.alerts ORDER BY alert_id");
sql("UPDATE src5 SET x = 1");
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pipeline.alerts WHERE matview = 'mv_ordered'::regclass AND kind = 'recovered')")
  or die "the view did not recover";
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts'");
sql("SELECT pg_reload_conf()");
$node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM pipeline.alerts WHERE matview = 'mv_ordered'::regclass AND delivered_at IS NOT NULL")
  or die "the alerts were not delivered";
is(join(',', map { $_->{kind} } grep { ($_->{matview} // '') eq 'public.mv_ordered' && $_->{answered} == 200 }
		  @{ received() }),
	'audit_failed,recovered', "an incident's alerts arrive in order after an outage");

# it leaves, as an idle refresh worker does, once pipeline.enabled is
# turned off: it went on POSTing every alert due
failing_views_at_slow_endpoint('off', 6);
$node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pipeline alerts')")
  or die "no alert sender";
sql("ALTER SYSTEM SET pipeline.enabled = off");
sql("SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pipeline alerts')"),
	'the alert sender leaves once pipeline.enabled is off');
cmp_ok(sql("SELECT count(*) FROM pipeline.alerts WHERE matview::text ~ '^mv_off[1-6]\$' AND delivered_at IS NULL"),
	'>=', 2, 'leaving alerts due undelivered');
sql("ALTER SYSTEM RESET pipeline.enabled");
sql("SELECT pg_reload_conf()");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 6 FROM pipeline.alerts WHERE matview::text ~ '^mv_off[1-6]\$' AND delivered_at IS NOT NULL"),
	'turned on again, the scheduler starts it and they are delivered');

# the alert sender's error names no URL (attack pass, 2026-12-06): the view's
# owner reads its alerts' last_error, and the endpoint's URL, a superuser's
# setting, may hold a token
sql(q{
CREATE ROLE alert_owner LOGIN;
CREATE SCHEMA hostile;
CREATE SCHEMA owned AUTHORIZATION alert_owner;
GRANT USAGE ON SCHEMA hostile TO alert_owner;
});
# as $role, with schema hostile first in search_path: one-second views
# $schema.mv_<name> (mv_<name>1 to mv_<name>$count when $count is given)
# over a table of their own fail their audit
sub failing_views_as
{
	my ($role, $schema, $name, $count) = @_;
	my ($names, $series) = defined $count
	  ? ("'$name' || i", "FROM generate_series(1, $count) i") : ("'$name'", '');
	sql(qq{
SET ROLE $role;
SET search_path = hostile, pg_catalog;
CREATE TABLE $schema.src_$name (x int);
INSERT INTO $schema.src_$name VALUES (1);
SELECT pipeline.create_matview('$schema', $names, 'SELECT x FROM $schema.src_$name', '1 second',
                               options => '{"expect": "positive: x > 0"}') $series;
UPDATE $schema.src_$name SET x = -1;
});
}
sql("ALTER SYSTEM SET pipeline.allowed_endpoints = 'http://127.0.0.1:1/elsewhere/'");
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts?token=S3CRET'");
sql("SELECT pg_reload_conf()");
failing_views_as('alert_owner', 'owned', 'tokened');
$node->poll_query_until('postgres',
	"SELECT last_error IS NOT NULL FROM pipeline.alerts WHERE matview = 'owned.mv_tokened'::regclass")
  or die "the alert was not tried";
my $seen = sql(q{
SET ROLE alert_owner;
SET search_path = hostile, pg_catalog;
SELECT string_agg(DISTINCT last_error, ',') FROM pipeline.alerts WHERE matview = 'owned.mv_tokened'::regclass;
});
is($seen, 'pipeline.alert_endpoint matches no prefix of pipeline.allowed_endpoints',
	"the view's owner reads why its alert was not sent, not the endpoint's URL");

# owners take turns (attack pass h72): an owner whose views fail by the
# dozen delayed every other owner's alerts behind hers, oldest first
sql("ALTER SYSTEM RESET pipeline.allowed_endpoints");
sql("ALTER SYSTEM SET pipeline.alert_endpoint = '$base/alerts?sleep=1'");
sql("SELECT pg_reload_conf()");
sql(q{
CREATE ROLE flood_owner LOGIN;
CREATE SCHEMA flood AUTHORIZATION flood_owner;
GRANT USAGE ON SCHEMA hostile TO flood_owner;
});
failing_views_as('flood_owner', 'flood', 'f', 8);
$node->poll_query_until('postgres',
	"SELECT count(*) = 8 FROM pipeline.alerts WHERE matview::text LIKE 'flood.mv_f%' AND kind = 'audit_failed'")
  or die "the flood did not fail";
failing_views_as('alert_owner', 'owned', 'fair');
$node->poll_query_until('postgres',
	"SELECT delivered_at IS NOT NULL FROM pipeline.alerts WHERE matview = 'owned.mv_fair'::regclass")
  or die "the other owner's alert was not delivered";
cmp_ok(sql(q{
SELECT count(*) FROM pipeline.alerts f
 WHERE f.matview::text LIKE 'flood.mv_f%' AND f.kind = 'audit_failed'
   AND (f.delivered_at IS NULL
        OR f.delivered_at > (SELECT delivered_at FROM pipeline.alerts WHERE matview = 'owned.mv_fair'::regclass))}),
	'>=', 3, "another owner's alert went before most of the flood's, not after all of it");

$node->stop;
$endpoint->kill_kill;
done_testing();
