# Differential views survive pg_dump and restore: the restored views are
# the same kind of relation with the same rows and mode, the first refresh
# after the restore is full (the change positions are not dumped), and later
# refreshes are differential and exact.  Restored with pg_restore into
# another database of the cluster and with psql from a plain dump.
#
# The views are differential when pipeline.create_matview has a refresh_mode
# parameter, full otherwise; pipeline.runs.detail is checked when it exists.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PipelineNode->start_new('diffdump', qq{
pipeline.enabled = off
timezone = 'UTC'
jit = off
});
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION pipeline');
my $differential = $node->safe_psql('src', q{
	SELECT coalesce(bool_or('refresh_mode' = ANY (proargnames)), false)
	  FROM pg_proc WHERE proname = 'create_matview' AND pronamespace = 'pipeline'::regnamespace}) eq 't';
my $mode_arg = $differential ? ", refresh_mode => 'differential'" : '';
note($differential ? 'differential views' : 'full views (no refresh_mode parameter yet)');

my @views = (
	[ per_user => q{SELECT user_id, count(*) AS n, sum(amount) AS s, avg(amount) AS av, min(amount) AS lo,
	                       max(amount) AS hi, bool_or(amount > 90) AS big FROM d.events GROUP BY user_id} ],
	[ by_region => q{SELECT u.region, count(*) AS n, sum(p.s) AS s, max(p.hi) AS hi
	                   FROM d.mv_per_user p JOIN d.users u ON u.id = p.user_id GROUP BY u.region} ],
	[ listing => q{SELECT e.id, e.amount, u.region FROM d.events e JOIN d.users u ON u.id = e.user_id
	                WHERE e.amount > 50} ],
	[ total => q{SELECT count(*) AS n, sum(n) AS events, max(hi) AS hi FROM d.mv_by_region} ],
);
my @names = map { $_->[0] } @views;

$node->safe_psql('src', q{
CREATE SCHEMA d;
CREATE TABLE d.users (id int PRIMARY KEY, region text);
CREATE TABLE d.events (id bigserial PRIMARY KEY, user_id int, amount numeric);
INSERT INTO d.users SELECT g, (ARRAY['north', 'south', 'east', NULL])[1 + g % 4] FROM generate_series(1, 20) g;
INSERT INTO d.events (user_id, amount)
SELECT nullif(g % 23, 0),
       -- scales 1 to 3, never one value written two ways (min/max of such
       -- ties depend on the order rows are read in, in a recompute too)
       (g * 37 % 1000)::numeric / 10 + (ARRAY[0, 0.01, 0.005])[1 + g % 3]
  FROM generate_series(1, 2000) g;
});
for my $v (@views)
{
	$node->safe_psql('src', "SELECT pipeline.create_matview('d', '$v->[0]', \$q\$$v->[1]\$q\$, '1 hour'$mode_arg)");
}

sub differing
{
	my ($n, $db, $name) = @_;
	my ($q) = map { $_->[1] } grep { $_->[0] eq $name } @views;
	return $n->safe_psql($db, qq{
		WITH q AS MATERIALIZED ($q), v AS MATERIALIZED (TABLE d.mv_$name)
		SELECT (SELECT count(*) FROM ((TABLE v EXCEPT ALL TABLE q) UNION ALL (TABLE q EXCEPT ALL TABLE v)) a)
		       || ' ' || (SELECT count(*) FROM ((SELECT v::text FROM v EXCEPT ALL SELECT q::text FROM q)
		                             UNION ALL (SELECT q::text FROM q EXCEPT ALL SELECT v::text FROM v)) b)});
}

sub all_exact
{
	my ($n, $db, $what) = @_;
	is(differing($n, $db, $_), '0 0', "$what: d.mv_$_ equals its recompute") for @names;
}

# (new amounts end in 3 thousandths: never equal to a value already there
# written with another scale)
my $changes = q{
INSERT INTO d.events (user_id, amount) SELECT 1 + g % 25, round(random()::numeric * 120, 2) + 0.003 FROM generate_series(1, 30) g;
UPDATE d.events SET amount = amount + 0.5 WHERE id % 50 = 7;
UPDATE d.events SET user_id = 3 WHERE id % 70 = 1;
DELETE FROM d.events WHERE id IN (SELECT id FROM d.events WHERE user_id = 5 ORDER BY amount DESC LIMIT 1);
DELETE FROM d.events WHERE id % 90 = 4;
UPDATE d.users SET region = 'west' WHERE id = (SELECT max(id) FROM d.users WHERE region IS DISTINCT FROM 'west');
};

# run_due at hour h; returns "view status" for each view, and the detail
# (when pipeline.runs has it) of each run it made
my $has_detail;

sub run_due
{
	my ($n, $db, $hour) = @_;
	my $label = "timestamptz '2026-01-01 00:00+00' + interval '$hour hours'";
	my $detail = $has_detail ? q{coalesce(split_part(r.detail, ':', 1), 'NULL')} : q{'-'};
	# the runs run_due() writes are seen by the next statement, not its own
	return $n->safe_psql($db, qq{
		CREATE TEMP TABLE ran AS SELECT * FROM pipeline.run_due($label) d WHERE d.matview::text LIKE 'd.mv\\_%';
		SELECT string_agg(d.matview::text || ' ' || d.status, ', ' ORDER BY d.matview::text)
		       || ' / ' || string_agg(DISTINCT $detail, ',')
		  FROM ran d
		  LEFT JOIN pipeline.runs r ON r.matview = d.matview AND r.time_label = d.time_label
		                           AND r.status = 'succeeded';
		DROP TABLE ran;});
}
$has_detail = $node->safe_psql('src', q{
	SELECT count(*) FROM pg_attribute WHERE attrelid = 'pipeline.runs'::regclass AND attname = 'detail' AND NOT attisdropped})
  eq '1';
my $all_succeeded = join(', ', map { "d.mv_$_ succeeded" } sort @names);

# the source pipeline runs differentially before the dump
$node->safe_psql('src', $changes);
my $first = run_due($node, 'src', 1);
like($first, qr/^\Q$all_succeeded\E \/ /, 'source: run_due refreshes every view');
like($first, qr/ \/ differential$/, 'source: differentially') if $differential && $has_detail;
all_exact($node, 'src', 'source before the dump');

my $q_kind = q{
	SELECT m.matview::text || ' ' || c.relkind::text || ' ' || coalesce(to_jsonb(m) ->> 'refresh_mode', '-') || ' '
	       || coalesce(to_jsonb(m) ->> 'full_refresh_reason', '-')
	  FROM pipeline.matviews m JOIN pg_class c ON c.oid = m.matview ORDER BY 1};
my $q_rows = join("\nUNION ALL\n", map {
	"SELECT '$_', coalesce(string_agg(t::text, ' ' ORDER BY t::text), '') FROM d.mv_$_ t" } @names);
my %before = map { $_ => $node->safe_psql('src', $_) } ($q_kind, $q_rows);
like($before{$q_kind}, qr/^d\.mv_per_user r differential -$/m, 'source: a differential table view')
  if $differential;

my $custom = "$tmp/src.dump";
my $plain = "$tmp/src.sql";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $custom, '-d', 'src' ], 'pg_dump -Fc');
$node->command_ok([ 'pg_dump', '-f', $plain, '-d', 'src' ], 'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE restored_custom');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored_custom', $custom ], 'pg_restore');
$node->safe_psql('postgres', 'CREATE DATABASE restored_plain');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', 'restored_plain', '-f', $plain ],
	'plain dump restored with psql');

for my $db ('restored_custom', 'restored_plain')
{
	is($node->safe_psql($db, $q_kind), $before{$q_kind}, "$db: same views, kinds and modes");
	is($node->safe_psql($db, $q_rows), $before{$q_rows}, "$db: same rows");
	all_exact($node, $db, "$db, restored");

	# before the first refresh, which records the views' dependencies and
	# starts capturing again (neither is dumped), the guard still keeps
	# what they read (a restore left them unprotected until then)
	for my $ddl ('DROP TABLE d.users', 'ALTER TABLE d.events DROP COLUMN amount',
		'ALTER TABLE d.events ALTER COLUMN amount TYPE float8')
	{
		my ($ret, $out, $err) = $node->psql($db, $ddl);
		isnt($ret, 0, "$db: refused before the first refresh: $ddl");
		like($err, qr/because managed views? /, "$db: because a managed view reads it: $ddl");
	}

	# the first refresh after the restore is full, then differential again
	$node->safe_psql($db, $changes);
	my $run = run_due($node, $db, 10);
	like($run, qr/^\Q$all_succeeded\E \/ /, "$db: the first run_due refreshes every view");
	like($run, qr/ \/ full$/, "$db: the first refresh after the restore is full") if $differential && $has_detail;
	all_exact($node, $db, "$db, first refresh");

	$node->safe_psql($db, $changes);
	$run = run_due($node, $db, 11);
	like($run, qr/^\Q$all_succeeded\E \/ /, "$db: the next run_due refreshes every view");
	like($run, qr/ \/ differential$/, "$db: differentially") if $differential && $has_detail;
	all_exact($node, $db, "$db, second refresh");

	$node->safe_psql($db, $changes . join('', map { "SELECT count(*) FROM pipeline.refresh('d.mv_$_', false);\n" } @names));
	all_exact($node, $db, "$db, refreshed with pipeline.refresh");
}

# the source is untouched by all this, and goes on refreshing
is($node->safe_psql('src', $q_rows), $before{$q_rows}, 'source views unchanged by the restores');
$node->safe_psql('src', $changes);
my $later = run_due($node, 'src', 2);
like($later, qr/^\Q$all_succeeded\E \/ /, 'source: run_due after the dump');
like($later, qr/ \/ differential$/, 'source: still differential') if $differential && $has_detail;
all_exact($node, 'src', 'source after the dump');

$node->stop;
done_testing();
