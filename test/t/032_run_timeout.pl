# A scheduled run is bounded as a session of its view's owner would be:
# by the statement_timeout the owner gets from ALTER ROLE or ALTER
# DATABASE (or the server's configuration).  Before, nothing bounded a
# refresh worker's run, its owner could not cancel it (the worker is no
# process of theirs), and a few such views took the whole pool.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('run_timeout', qq{
pipeline.tick = 100ms
pipeline.max_workers = 2
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE EXTENSION pipeline;
	CREATE ROLE napper LOGIN;
	ALTER ROLE napper SET statement_timeout = '1s';
	CREATE SCHEMA napper AUTHORIZATION napper;
	SET ROLE napper;
	CREATE TABLE napper.mode (m text);
	CREATE FUNCTION napper.nap() RETURNS int LANGUAGE plpgsql AS $f$
	BEGIN
		IF EXISTS (SELECT FROM napper.mode) THEN PERFORM pg_catalog.pg_sleep(60); END IF;
		RETURN 1;
	END $f$;
	SELECT pipeline.create_matview('napper', 'napping', 'SELECT napper.nap() AS x', '1 second');
	INSERT INTO napper.mode VALUES ('nap');
});

$node->poll_query_until('postgres', q{
	SELECT EXISTS (SELECT FROM pipeline.runs
	                WHERE matview = 'napper.mv_napping'::regclass AND status = 'failed')})
  or die 'no failed run';
is(sql(q{SELECT error FROM pipeline.runs WHERE matview = 'napper.mv_napping'::regclass AND status = 'failed'
          ORDER BY run_id LIMIT 1}),
	'canceling statement due to statement timeout', "the owner's statement_timeout ended the run");
cmp_ok(sql(q{SELECT extract(epoch FROM finished_at - started_at) FROM pipeline.runs
              WHERE matview = 'napper.mv_napping'::regclass AND status = 'failed' ORDER BY run_id LIMIT 1}),
	'<', 30, 'well before the nap would have ended');

# once it no longer naps, it runs again
sql(q{
	ALTER ROLE napper RESET statement_timeout;
	DELETE FROM napper.mode;
});
$node->poll_query_until('postgres', q{
	SELECT EXISTS (SELECT FROM pipeline.runs
	                WHERE matview = 'napper.mv_napping'::regclass AND status = 'succeeded'
	                  AND started_at > (SELECT max(finished_at) FROM pipeline.runs
	                                     WHERE matview = 'napper.mv_napping'::regclass AND status = 'failed'))})
  or die 'the view did not recover';
pass('it runs again once it no longer naps');

$node->stop;
done_testing();
