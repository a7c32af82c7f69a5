# A differential view's table published by logical replication stays
# published, with its replica identity, when it is rebuilt (its own
# redefinition, or an upstream's), and its subscriber's copy equals it
# after every refresh and rebuild: the rebuild's new table is truncated
# before it is filled, so the subscriber drops the old rows it cannot be
# told were deleted (the old table was dropped).  The rebuilds are made by
# non-superusers with a hostile schema first in search_path, one of them
# rebuilding the other's view.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $publisher = PipelineNode->start_new('publisher', qq{
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
pipeline.enabled = off
});
my $subscriber = PostgreSQL::Test::Cluster->new('subscriber');
$subscriber->init;
$subscriber->start;

$publisher->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE ROLE owner_role LOGIN;
	CREATE ROLE up_role LOGIN;
	CREATE SCHEMA s AUTHORIZATION owner_role;
	CREATE SCHEMA u AUTHORIZATION up_role;
	CREATE SCHEMA trap AUTHORIZATION up_role;
	GRANT USAGE ON SCHEMA u TO owner_role;
	SET ROLE up_role;
	CREATE FUNCTION trap.sum(int) RETURNS bigint LANGUAGE sql AS 'SELECT -1::bigint';
	CREATE TABLE u.src (k int, x int);
	INSERT INTO u.src SELECT g % 10, g FROM generate_series(1, 100) g;
	SELECT pipeline.create_matview('u', 'up', 'SELECT k, x FROM u.src', '1 hour');
	GRANT SELECT ON u.mv_up TO owner_role;
	SET ROLE owner_role;
	SELECT pipeline.create_matview('s', 'sums', 'SELECT k, pg_catalog.sum(x) AS total FROM u.mv_up GROUP BY k',
	                               '1 hour', refresh_mode => 'differential');
	ALTER TABLE s.mv_sums ALTER COLUMN k SET NOT NULL;
	CREATE UNIQUE INDEX sums_k ON s.mv_sums (k);
	ALTER TABLE s.mv_sums REPLICA IDENTITY USING INDEX sums_k;
	RESET ROLE;
	CREATE PUBLICATION pub FOR TABLE s.mv_sums;
});
$subscriber->safe_psql('postgres', q{
	CREATE SCHEMA s;
	CREATE TABLE s.mv_sums (k int PRIMARY KEY, total bigint);
});
my $connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION sub CONNECTION '$connstr' PUBLICATION pub");
$subscriber->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_subscription_rel WHERE srsubstate NOT IN ('r', 's')")
  or die "initial synchronization did not finish";

my $rows = "SELECT coalesce(string_agg(k || ':' || total, ',' ORDER BY k), '') FROM s.mv_sums";

sub same_on_both
{
	my ($what) = @_;
	$publisher->wait_for_catchup('sub');
	is($subscriber->safe_psql('postgres', $rows), $publisher->safe_psql('postgres', $rows), $what);
}

sub as_role
{
	my ($role, $sql) = @_;
	return $publisher->safe_psql('postgres',
		"SET ROLE $role; SET search_path = trap, public, pg_catalog; $sql");
}

same_on_both('the subscriber has the view after the first sync');

as_role('up_role', q{
	UPDATE u.src SET x = x + 1 WHERE k < 3;
	DELETE FROM u.src WHERE k = 9;
	SELECT pipeline.refresh('u.mv_up');
});
as_role('owner_role', q{SELECT pipeline.refresh('s.mv_sums')});
same_on_both('a differential refresh is replicated (updates and deletes by the replica identity)');

# the view's own redefinition: a new relation under its name
as_role('owner_role', q{
	SELECT pipeline.create_matview('s', 'sums',
	    'SELECT k, pg_catalog.sum(x) * 2 AS total FROM u.mv_up GROUP BY k',
	    '1 hour', refresh_mode => 'differential');
});
is($publisher->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM pg_publication_tables WHERE pubname = 'pub' AND tablename = 'mv_sums')
	    || ' ' || relreplident::text
	    || ' ' || (SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = c.oid AND indisreplident)
	  FROM pg_class c WHERE oid = 's.mv_sums'::regclass}),
	'1 i s.sums_k', 'the rebuilt table is published, with its replica identity');
same_on_both('the subscriber has the rebuilt view\'s rows, not the old ones too');

# an upstream's redefinition by another role rebuilds it too, in that
# role's session (its DDL as the view's owner runs with event triggers
# quiet: session_replication_role = replica changes nothing published)
as_role('up_role', q{
	SELECT pipeline.create_matview('u', 'up', 'SELECT k, x, 0 AS extra FROM u.src', '1 hour');
});
same_on_both('the subscriber follows a rebuild made by another role\'s redefinition upstream');

as_role('up_role', q{
	INSERT INTO u.src VALUES (11, 5), (1, 1);
	SELECT pipeline.refresh('u.mv_up', cascade => false);
});
as_role('owner_role', q{SELECT pipeline.refresh('s.mv_sums')});
same_on_both('and the refreshes after it');
is($subscriber->safe_psql('postgres', 'SELECT count(*) FROM s.mv_sums'), '10',
	'one row per group on the subscriber');

# a publication of the table that does not publish truncates cannot tell
# its subscribers to drop the old rows: the rebuild warns, naming it (h101
# F4: silent before); so does one of all tables
$publisher->safe_psql('postgres', q{
	CREATE PUBLICATION pub_no_truncate FOR TABLE s.mv_sums WITH (publish = 'insert, update, delete');
	CREATE PUBLICATION pub_all_no_truncate FOR ALL TABLES WITH (publish = 'insert');
	CREATE PUBLICATION pub_nothing FOR TABLE s.mv_sums WITH (publish = '');
});
my ($ret, $out, $err) = $publisher->psql('postgres', q{
	SET ROLE owner_role; SET search_path = trap, public, pg_catalog;
	SELECT pipeline.create_matview('s', 'sums',
	    'SELECT k, pg_catalog.sum(x) * 3 AS total FROM u.mv_up GROUP BY k',
	    '1 hour', refresh_mode => 'differential');
});
is($ret, 0, 'a rebuild under publications without truncates runs');
like($err, qr/WARNING:  subscribers of publication pub_no_truncate keep the rows s\.mv_sums had before this rebuild beside its new ones/,
	'with a warning naming a publication of the table');
like($err, qr/WARNING:  subscribers of publication pub_all_no_truncate keep the rows/,
	'and one of all tables');
unlike($err, qr/pub_nothing/, 'not one that publishes no inserts');
$publisher->safe_psql('postgres', q{DROP PUBLICATION pub_no_truncate, pub_all_no_truncate, pub_nothing});
same_on_both('the subscriber of the publication with truncates follows the rebuild');

$subscriber->stop;
$publisher->stop;
done_testing();
