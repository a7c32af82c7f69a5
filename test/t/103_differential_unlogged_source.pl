# A differential view's source made UNLOGGED, emptied by crash recovery
# (which writes nothing the change log sees) and made LOGGED again before
# any refresh: the views follow (an attack pass, h107, found them keeping
# every row, refresh after refresh).  Changing a captured table's
# persistence forgets its readers' positions, so their next refresh is full.
# As a non-superuser owner with a trap schema first in its search_path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('unloggedsrc', qq{
pipeline.enabled = off
restart_after_crash = on
});
$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE ROLE mallory LOGIN;
CREATE SCHEMA app AUTHORIZATION mallory;
CREATE SCHEMA trap;
GRANT USAGE, CREATE ON SCHEMA trap TO PUBLIC;
ALTER ROLE mallory SET search_path = trap, pg_catalog;
});
my $as_mallory = sub { $node->safe_psql('postgres', $_[0], extra_params => [ '-U', 'mallory' ]) };
$as_mallory->(q{
CREATE TABLE app.t (id int, g int, v numeric);
INSERT INTO app.t SELECT i, i % 10, i % 97 FROM generate_series(1, 2000) i;
SELECT pipeline.create_matview('app', 'agg', 'SELECT g, count(*) AS c, sum(v) AS sv FROM app.t GROUP BY g',
                               '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('app', 'bag', 'SELECT id, v FROM app.t WHERE v > 50',
                               '1 hour', refresh_mode => 'differential');
INSERT INTO app.t VALUES (5000, 1, 60);
SELECT pipeline.refresh('app.mv_agg'), pipeline.refresh('app.mv_bag');
});
is($as_mallory->(q{SELECT string_agg(refresh_mode, ',' ORDER BY name) FROM pipeline.matviews WHERE schema_name = 'app'}),
	'differential,differential', 'both views are differential');

my $differences = sub {
	$as_mallory->(q{
SELECT (SELECT count(*) FROM ((TABLE app.mv_agg EXCEPT ALL SELECT g, count(*), sum(v) FROM app.t GROUP BY g)
        UNION ALL (SELECT g, count(*), sum(v) FROM app.t GROUP BY g EXCEPT ALL TABLE app.mv_agg)) d)
     + (SELECT count(*) FROM ((TABLE app.mv_bag EXCEPT ALL SELECT id, v FROM app.t WHERE v > 50)
        UNION ALL (SELECT id, v FROM app.t WHERE v > 50 EXCEPT ALL TABLE app.mv_bag)) d)});
};
is($differences->(), '0', 'the views equal their queries before');

$as_mallory->('ALTER TABLE app.t SET UNLOGGED');
$node->stop('immediate');
$node->start;
is($as_mallory->('SELECT count(*) FROM app.t'), '0', 'crash recovery emptied the unlogged source');
$as_mallory->('ALTER TABLE app.t SET LOGGED');
$as_mallory->(q{SELECT pipeline.refresh('app.mv_agg'), pipeline.refresh('app.mv_bag')});
is($differences->(), '0', 'after the crash the views follow their emptied source');
is($as_mallory->('SELECT count(*) FROM app.mv_agg') . ' ' . $as_mallory->('SELECT count(*) FROM app.mv_bag'),
	'0 0', 'both views are empty');
# and then differential again
$as_mallory->(q{INSERT INTO app.t VALUES (1, 1, 70), (2, 2, 10);
SELECT pipeline.refresh('app.mv_agg'), pipeline.refresh('app.mv_bag')});
is($differences->(), '0', 'the next refresh is exact');
done_testing();
