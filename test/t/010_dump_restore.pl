# pg_dump keeps a pipeline: a database with a three-level DAG (one view with
# a name that needs quoting, one owned by a non-superuser, a plain view in
# the chain) is dumped and restored, and the restored database has the same
# pipeline.matviews, pipeline.edges and view contents, refreshes, and
# audits with its expectations as they were bound.
# The restore targets are a database of the same (preloading) cluster and a
# second cluster that does not preload the library, where CREATE EXTENSION,
# define and refresh must work on their own.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;

my $node = PipelineNode->start_new('preloaded', qq{
pipeline.enabled = off
timezone = 'UTC'
});

my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->append_conf('postgresql.conf', "timezone = 'UTC'\n");
$plain->start;

is($plain->safe_psql('postgres', 'SHOW shared_preload_libraries'), '',
	'second cluster does not preload pipeline');

# --- the pipeline to dump -------------------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION pipeline;
CREATE ROLE analyst;
CREATE SCHEMA raw;
CREATE SCHEMA "we""ird; schema";
CREATE TABLE raw.items (id int PRIMARY KEY, grp int NOT NULL, price numeric NOT NULL);
INSERT INTO raw.items SELECT g, g % 7, g * 1.25 FROM generate_series(1, 200) g;

SELECT pipeline.create_matview('raw', 'by_group',
  'SELECT grp, count(*) AS n, sum(price) AS total FROM raw.items GROUP BY grp', '5 minutes',
  options => '{"expect": "positive_total: total > 0", "expect-unique": "grp", "expect-rows": "1..",
               "freshness-sla-minutes": "60"}');
CREATE UNIQUE INDEX by_group_grp ON raw.mv_by_group (grp);

GRANT USAGE, CREATE ON SCHEMA raw TO analyst;
GRANT SELECT ON raw.mv_by_group TO analyst;
SET ROLE analyst;
SELECT pipeline.define($dpl$
/**
 * @datacoral O-1.0.0
 * @matview-schema raw
 * @matview-name top_groups
 * @matview-type regular
 * @interval-in-minutes 60
 */
SELECT grp, total FROM raw.mv_by_group WHERE total > 3500;
$dpl$);
RESET ROLE;

CREATE VIEW raw.top_view AS SELECT * FROM raw.mv_top_groups;
SELECT pipeline.create_matview('we"ird; schema', 'Top "3"; DROP TABLE raw.items; --',
  'SELECT count(*) AS groups, sum(total) AS total FROM raw.top_view', '2 hours');
});

my $weird = q{"we""ird; schema"."mv_Top ""3""; DROP TABLE raw.items; --"};

# a CDC mirror with remembered deletes (pipeline.deleted_keys): key 2 was
# deleted at 5 and key 3 at 7, so older changes of them must stay out after
# a restore too
$node->safe_psql('src', q{
CREATE TABLE raw.mirror (id int PRIMARY KEY, v text, seq bigint);
CREATE TABLE raw.mirror_changes (id int, v text, seq bigint, op text);
INSERT INTO raw.mirror_changes VALUES (1, 'a', 1, 'I'), (2, 'b', 2, 'I'), (2, NULL, 5, 'D'),
                                      (3, NULL, 7, 'D');
SELECT * FROM pipeline.apply_changes('raw.mirror_changes', 'raw.mirror', '{id}', 'seq');
});

# everything about the pipeline that a dump must carry over
my $q_matviews = q{
SELECT matview::text, schema_name, name, matview_type, refresh_interval, query,
       columns, owner, version, created_at, updated_at
  FROM pipeline.matviews ORDER BY matview::text};
my $q_edges = q{
SELECT upstream::text, downstream::text FROM pipeline.edges ORDER BY 1, 2};
my $q_order = q{SELECT * FROM pipeline.refresh_order()};
my $q_data = qq{
SELECT 'by_group', string_agg(format('%s', t), ' ' ORDER BY grp) FROM raw.mv_by_group t
UNION ALL
SELECT 'top_groups', string_agg(format('%s', t), ' ' ORDER BY grp) FROM raw.mv_top_groups t
UNION ALL
SELECT 'weird', string_agg(format('%s', t), ' ') FROM $weird t};
my $q_indexes = q{
SELECT indexrelid::regclass::text, indrelid::regclass::text FROM pg_index
 WHERE indrelid = 'raw.mv_by_group'::regclass ORDER BY 1};

my $q_deleted = q{
SELECT target::text, key, sequence, deleted_at FROM pipeline.deleted_keys ORDER BY 1, 2};
my $q_deleted_targets = q{
SELECT target::text, pruned_at FROM pipeline.deleted_keys_targets ORDER BY 1};

my %before = map { $_ => $node->safe_psql('src', $_) }
  ($q_matviews, $q_edges, $q_order, $q_data, $q_indexes, $q_deleted, $q_deleted_targets);
like($before{$q_deleted}, qr/^raw\.mirror\|2\|5\|.*\nraw\.mirror\|3\|7\|/,
	'deleted keys remembered before the dump');
like($before{$q_deleted_targets}, qr/^raw\.mirror\|/, 'and their target listed');

is($node->safe_psql('src', 'SELECT count(*) FROM pipeline.matviews'), '3', 'three views defined');
is($node->safe_psql('src', 'SELECT count(*) FROM pipeline.edges'), '4', 'four edges');
like($before{$q_order}, qr/\Q$weird\E\|3$/m, 'weird view is on level 3');
like($before{$q_matviews}, qr/^raw\.mv_top_groups\|.*\|analyst\|1\|/m, 'analyst owns top_groups');

# --- dump, restore in both formats ----------------------------------------
my $custom = "$tmp/src.dump";
my $sql = "$tmp/src.sql";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $custom, '-d', 'src' ], 'pg_dump -Fc');
$node->command_ok([ 'pg_dump', '-f', $sql, '-d', 'src' ], 'pg_dump plain');

$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'restored', $custom ],
	'pg_restore into a fresh database');

$plain->safe_psql('postgres', 'CREATE ROLE analyst');
$plain->safe_psql('postgres', 'CREATE DATABASE restored');
$plain->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', 'restored', '-f', $sql ],
	'plain dump restored with psql into a cluster that does not preload pipeline');

for my $target ([ 'pg_restore', $node ], [ 'psql', $plain ])
{
	my ($how, $n) = @$target;
	is($n->safe_psql('restored', $q_matviews), $before{$q_matviews},
		"$how: pipeline.matviews identical");
	is($n->safe_psql('restored', $q_edges), $before{$q_edges}, "$how: pipeline.edges identical");
	is($n->safe_psql('restored', $q_order), $before{$q_order}, "$how: refresh order identical");
	is($n->safe_psql('restored', $q_data), $before{$q_data}, "$how: views hold the same rows");
	is($n->safe_psql('restored', $q_indexes), $before{$q_indexes}, "$how: unique index kept");
	is($n->safe_psql('restored', $q_deleted), $before{$q_deleted},
		"$how: pipeline.deleted_keys identical");
	is($n->safe_psql('restored', $q_deleted_targets), $before{$q_deleted_targets},
		"$how: pipeline.deleted_keys_targets identical");
	is( $n->safe_psql('restored', q{
			INSERT INTO raw.mirror_changes VALUES (2, 'late', 4, 'U'), (3, 'late', 6, 'I'),
			                                      (4, 'new', 1, 'I');
			SELECT * FROM pipeline.apply_changes('raw.mirror_changes', 'raw.mirror', '{id}', 'seq');
			SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM raw.mirror;}),
		"1|0|0\n1:a 4:new", "$how: restored deleted keys keep older changes out");
	is( $n->safe_psql('restored', q{
			SELECT count(*) FROM pipeline.matview_definitions d
			  JOIN pg_class c ON c.oid = d.matview AND c.relkind IN ('m', 'r') AND c.relispopulated}),
		'3', "$how: catalog rows point at the restored, populated views");

	# the restored pipeline refreshes, in DAG order, to the right result
	my $refreshed = $n->safe_psql('restored', q{
		INSERT INTO raw.items SELECT g, 100, 50 FROM generate_series(1001, 1100) g;
		SELECT matview, status FROM pipeline.refresh('raw.mv_by_group');});
	is($refreshed, "raw.mv_by_group|succeeded\nraw.mv_top_groups|succeeded\n$weird|succeeded",
		"$how: refresh cascades through the restored DAG");
	is( $n->safe_psql('restored', qq{
			SELECT (SELECT groups || ' ' || total FROM $weird) =
			       (SELECT count(*) || ' ' || sum(total)
			          FROM (SELECT sum(price) AS total FROM raw.items GROUP BY grp) g
			         WHERE total > 3500)}),
		't', "$how: top view matches the raw table after refresh");
	like($n->safe_psql('restored', "SELECT * FROM raw.mv_top_groups WHERE grp = 100"),
		qr/^100\|5000$/, "$how: new group reached level 2");

	# its audits came with it, bound as they were
	is( $n->safe_psql('restored', q{
			SELECT options->>'expect' FROM pipeline.matview_definitions WHERE name = 'by_group'}),
		'["positive_total: (v.total > (0)::numeric)"]', "$how: expectations restored bound");
	my ($rc, $out, $err) = $n->psql('restored', q{
		INSERT INTO raw.items VALUES (5000, 500, -1);
		SELECT matview, status FROM pipeline.refresh('raw.mv_by_group');});
	like($err, qr/audit of raw\.mv_by_group failed: expectation "positive_total" is violated by 1 row/,
		"$how: a restored view audits its new contents");
	$n->safe_psql('restored', 'DELETE FROM raw.items WHERE id = 5000');

	# and takes new definitions
	is( $n->safe_psql('restored', q{
			SELECT pipeline.create_matview('raw', 'after_restore',
			  'SELECT count(*) AS n FROM raw.mv_top_groups', '1 minute');
			SELECT string_agg(matview::text, ',' ORDER BY matview::text)
			  FROM pipeline.downstream('raw.mv_top_groups');}),
		qq{raw.mv_after_restore\n$weird,raw.mv_after_restore}, "$how: define works after restore");
}

# the source database is untouched by all this
is($node->safe_psql('src', $q_data), $before{$q_data}, 'source views unchanged');

# --- a restore refreshed halfway ------------------------------------------
# pg_dump makes a differential view's table, loads its rows and only then
# its guard trigger.  Refreshed before that, the view would capture the
# rows the restore loads into its sources and count them on top of its own
# loaded rows, for good: such a refresh is refused until the trigger is made.
$node->safe_psql('src', q{
SELECT pipeline.create_matview('raw', 'diff_groups',
  'SELECT grp, count(*) AS n, sum(price) AS total FROM raw.items GROUP BY grp', '5 minutes',
  refresh_mode => 'differential');});
my $halfway = "$tmp/halfway.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $halfway, '-d', 'src' ], 'pg_dump with a differential view');
$node->safe_psql('postgres', 'CREATE DATABASE halfway');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--section=pre-data', '--section=data', '-d', 'halfway', $halfway ],
	'restore: the definitions and the data');
my (undef, undef, $halfway_err) = $node->psql('halfway',
	q{SELECT status FROM pipeline.refresh('raw.mv_diff_groups', false)});
like($halfway_err, qr/the table of managed view raw\.mv_diff_groups has no trigger pipeline_view_guard yet/,
	'a refresh before the restore made the guard trigger is refused');
$node->command_ok([ 'pg_restore', '--exit-on-error', '--section=post-data', '-d', 'halfway', $halfway ],
	'restore: the triggers (none of them made by a refresh meanwhile)');
is($node->safe_psql('halfway', q{
INSERT INTO raw.items VALUES (9001, 3, 2.5);
SELECT status FROM pipeline.refresh('raw.mv_diff_groups', false);
SELECT count(*) FROM (
  (TABLE raw.mv_diff_groups
   EXCEPT ALL SELECT grp, count(*), sum(price) FROM raw.items GROUP BY grp)
  UNION ALL
  (SELECT grp, count(*), sum(price) FROM raw.items GROUP BY grp
   EXCEPT ALL TABLE raw.mv_diff_groups)) d;}),
	"succeeded\n0", 'once restored, the view refreshes to its query exactly');

# --- a fresh CREATE EXTENSION without preloading --------------------------
$plain->safe_psql('postgres', 'CREATE DATABASE fresh');
is( $plain->safe_psql('fresh', q{
		CREATE EXTENSION pipeline;
		CREATE TABLE t (x int);
		INSERT INTO t SELECT generate_series(1, 10);
		SELECT pipeline.define($dpl$
		/**
		 * @matview-schema public
		 * @matview-name sums
		 * @interval-in-minutes 1
		 */
		SELECT sum(x) AS s FROM t
		$dpl$);
		SELECT pipeline.create_matview('public', 'doubled', 'SELECT s * 2 AS d FROM mv_sums', '1 minute');
		INSERT INTO t VALUES (45);
		SELECT matview || ':' || rows FROM pipeline.refresh('mv_sums');
		SELECT d FROM mv_doubled;}),
	"mv_sums\nmv_doubled\nmv_sums:1\nmv_doubled:1\n200",
	'CREATE EXTENSION, define and refresh work without shared_preload_libraries');

# --- a dump of an older version, restored where this one is installed -----
# pg_dump writes CREATE EXTENSION without a version: the restore makes this
# version and loads 1.7's catalog rows into it, without the data steps of
# the updates in between (1.8 counted each target's deleted keys, 1.11 kept
# a publication's delete function by OID)
$node->safe_psql('postgres', 'CREATE DATABASE old17');
$node->safe_psql('old17', qq{
CREATE EXTENSION pipeline VERSION '1.7';
CREATE TABLE cart (id int PRIMARY KEY, qty int, seq int);
CREATE TABLE cart_changes (id int, qty int, seq int, op text);
INSERT INTO cart_changes VALUES (1, 5, 1, 'I'), (2, 3, 1, 'I'), (2, 0, 5, 'D');
SELECT * FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
CREATE FUNCTION public.delete_partition(path text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE TABLE cases (id int, day int);
INSERT INTO cases VALUES (1, 1), (2, 2);
SELECT pipeline.create_matview('public', 'lake', 'SELECT id, day FROM cases', '1 hour', 'unload',
    options => '{"unload-destination": "$tmp/old17_lake", "unload-partition-by": "day",
                 "unload-delete-function": "public.delete_partition"}');
SELECT status FROM pipeline.refresh('mv_lake');
});
my $old_dump = "$tmp/old17.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $old_dump, '-d', 'old17' ], 'pg_dump of a 1.7 database');
$node->safe_psql('postgres', 'CREATE DATABASE new_from17');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'new_from17', $old_dump ],
	'restored where this version is installed');
# a copy beside the original: its publication's tree is old17's, whose
# publication wrote there, so the copy's runs are refused until the file
# that says so goes (the original no longer publishes: README, "pg_dump")
my (undef, undef, $copy_err) = $node->psql('new_from17', q{SELECT status FROM pipeline.refresh('mv_lake')});
like($copy_err, qr/overlaps a lake publication of database "old17"/,
	'the copy does not publish into the original database\'s tree');
unlink("$tmp/old17_lake/.pipeline-publication") or die "unlink: $!";
is($node->safe_psql('new_from17', q{
TRUNCATE cart_changes;
INSERT INTO cart_changes VALUES (2, 9, 3, 'U');  -- older than key 2's delete
SELECT inserted FROM pipeline.apply_changes('cart_changes', 'cart', '{id}', 'seq');
SELECT string_agg(id::text, ',' ORDER BY id) FROM cart;
SELECT keys FROM pipeline.deleted_keys_targets WHERE target = 'cart'::regclass;
DELETE FROM cases WHERE id = 2;
SELECT status FROM pipeline.refresh('mv_lake');}),
	"0\n1\n1\nsucceeded",
	'its remembered deletes still hold (their count is made again) and its publication finds its delete function');
# found by its text, the function is kept by OID from then on: the guard
# refuses dropping it, as for a publication defined under this version
is($node->safe_psql('new_from17',
		"SELECT delete_function::text FROM pipeline.matview_definitions WHERE matview = 'mv_lake'::regclass"),
	'delete_partition(text)', 'the delete function is kept by OID after the first run');
my ($rc, $out, $err) = $node->psql('new_from17', 'DROP FUNCTION public.delete_partition(text)');
like($err, qr/delete function/, 'and dropping it is refused');

$node->stop;
$plain->stop;
done_testing();
