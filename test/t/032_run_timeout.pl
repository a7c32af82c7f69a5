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
		IF EXISTS (SELECT FROM napper.mode WHERE m = 'nap') THEN PERFORM pg_catalog.pg_sleep(60); END IF;
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

# The owner cannot lift the bound the database sets: any role may ALTER
# ROLE itself ... SET statement_timeout = 0 (also IN DATABASE), and its
# runs then held the pool.  Its own value only narrows the database's.
# The owner has a hostile schema first in its search_path.
sql(q{
	ALTER DATABASE postgres SET statement_timeout = '1s';
	CREATE SCHEMA napper_trap AUTHORIZATION napper;
	ALTER ROLE napper SET search_path = napper_trap, public;
});
$node->safe_psql('postgres', q{
	CREATE FUNCTION napper_trap.pg_sleep(float8) RETURNS void LANGUAGE sql AS 'SELECT';
	ALTER ROLE napper SET statement_timeout = 0;
	ALTER ROLE napper IN DATABASE postgres SET statement_timeout = 0;
	INSERT INTO napper.mode VALUES ('nap');
}, extra_params => ['-U', 'napper']);
my $lifted_at = sql('SELECT now()');
$node->poll_query_until('postgres', qq{
	SELECT EXISTS (SELECT FROM pipeline.runs
	                WHERE matview = 'napper.mv_napping'::regclass AND status = 'failed'
	                  AND started_at > '$lifted_at')})
  or die 'no failed run under the database bound';
is(sql(qq{SELECT error FROM pipeline.runs WHERE matview = 'napper.mv_napping'::regclass AND status = 'failed'
           AND started_at > '$lifted_at' ORDER BY run_id LIMIT 1}),
	'canceling statement due to statement timeout',
	"the owner's own statement_timeout = 0 does not lift the database's");
sql(q{
	ALTER DATABASE postgres RESET statement_timeout;
	DELETE FROM napper.mode;
});

# A view's code that catches the cancel of its statement_timeout kept its
# worker for ever (only a superuser's pg_terminate_backend() freed it):
# five seconds past the timeout the worker now ends itself, and the run is
# failed.  The owner still has its hostile schema first in search_path.
sql(q{
	ALTER ROLE napper SET statement_timeout = '1s';
	ALTER ROLE napper IN DATABASE postgres RESET statement_timeout;
});
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	CREATE FUNCTION napper.stubborn() RETURNS int LANGUAGE plpgsql AS $f$
	BEGIN
		IF NOT EXISTS (SELECT FROM napper.mode WHERE m = 'stubborn') THEN RETURN 1; END IF;
		LOOP
			BEGIN
				PERFORM pg_catalog.pg_sleep(60);
			EXCEPTION WHEN query_canceled THEN
				NULL;
			END;
		END LOOP;
	END $f$;
	SELECT pipeline.create_matview('napper', 'stubborn', 'SELECT napper.stubborn() AS x', '1 second');
	INSERT INTO napper.mode VALUES ('stubborn');
}, extra_params => ['-U', 'napper']);
$node->poll_query_until('postgres', q{
	SELECT EXISTS (SELECT FROM pipeline.runs
	                WHERE matview = 'napper.mv_stubborn'::regclass AND status = 'failed')})
  or die 'the run that caught its cancel never ended';
is(sql(q{SELECT error FROM pipeline.runs WHERE matview = 'napper.mv_stubborn'::regclass AND status = 'failed'
          ORDER BY run_id LIMIT 1}),
	'the process running the refresh ended before it finished',
	'a run whose code caught the cancel fails: its worker was ended');
cmp_ok(sql(q{SELECT extract(epoch FROM finished_at - started_at) FROM pipeline.runs
              WHERE matview = 'napper.mv_stubborn'::regclass AND status = 'failed' ORDER BY run_id LIMIT 1}),
	'<', 30, 'well before the view would have let go');
ok($node->wait_for_log(qr/the refresh of "mv_stubborn" went on 5000 ms past its statement_timeout \(1000 ms\)/,
		$log_offset), 'the server log says why the worker ended');
# and the pool goes on: the view runs, and is ended, again
$node->poll_query_until('postgres', q{
	SELECT count(*) >= 2 FROM pipeline.runs
	 WHERE matview = 'napper.mv_stubborn'::regclass AND status = 'failed'})
  or die 'the view did not run again after its worker was ended';
pass('the view runs again after its worker was ended');
sql(q{SELECT pipeline.drop_matview('napper.mv_stubborn')});

$node->stop;
done_testing();
