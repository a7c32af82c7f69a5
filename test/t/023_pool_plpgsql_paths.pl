# The refresh pool and PL/pgSQL's per-session compiled functions: an
# attacker's view calls the victim's PL/pgSQL function under the attacker's
# search_path, which finds the attacker's domain "label" (its CHECK logs
# who runs it) for the type the function declares.  The victim's view,
# downstream, calls the same function right after, every label.  With
# pipeline.max_workers = 1 a worker that served both would run the
# victim's function with the attacker's types, the CHECK as the victim.
# Each worker runs one owner's views: the victim's runs succeed, in
# workers that never ran the attacker's, and the CHECK runs as the
# attacker only.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('pool_paths', qq{
pipeline.tick = 100ms
pipeline.max_workers = 1
pipeline.retry_backoff = 1s
pipeline.worker_idle_timeout = 60s
max_worker_processes = 20
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE ROLE atk LOGIN;
	CREATE ROLE vic LOGIN;
	CREATE SCHEMA atk AUTHORIZATION atk;
	CREATE SCHEMA vic AUTHORIZATION vic;
	GRANT USAGE ON SCHEMA atk, vic TO PUBLIC;
	ALTER ROLE vic SET search_path = vic, public;
	ALTER ROLE atk SET search_path = atk, vic, public;
	CREATE TABLE public.spylog (who name, v text, pid int);
	GRANT INSERT ON public.spylog TO PUBLIC;

	SET ROLE vic;
	CREATE DOMAIN vic.label AS text;
	CREATE FUNCTION vic.tag(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
	DECLARE
		x label;
	BEGIN
		x := t;
		RETURN x;
	END $f$;
	RESET ROLE;

	SET ROLE atk;
	CREATE FUNCTION atk.spy(v text) RETURNS boolean LANGUAGE sql AS $f$
		INSERT INTO public.spylog VALUES (current_user, v, pg_catalog.pg_backend_pid()) RETURNING true $f$;
	CREATE DOMAIN atk.label AS text CHECK (atk.spy(VALUE));
	CREATE TABLE atk.src (t text);
	INSERT INTO atk.src VALUES ('a');
	SELECT pipeline.create_matview('atk', 'up', 'SELECT vic.tag(t) AS t FROM atk.src', '1 second',
	                               refresh_mode => 'full');
	GRANT SELECT ON atk.mv_up TO vic;
	RESET ROLE;
});
# (a session of its own: the one above ran vic.tag() as atk)
$node->safe_psql('postgres', q{
	SET ROLE vic;
	SELECT pipeline.create_matview('vic', 'down', 'SELECT vic.tag(t) AS t FROM atk.mv_up', '1 second',
	                               refresh_mode => 'full');
	RESET ROLE;
	DELETE FROM public.spylog;
});

# both views run label after label (a new row each time, so neither skips)
my $succeeded = q{
	SELECT count(*) FILTER (WHERE matview = 'atk.mv_up'::regclass) >= 3
	   AND count(*) FILTER (WHERE matview = 'vic.mv_down'::regclass) >= 3
	  FROM pipeline.runs WHERE status = 'succeeded' AND worker_pid IS NOT NULL};
my $rounds = 0;
until ($node->safe_psql('postgres', $succeeded) eq 't' || $rounds++ > 300)
{
	$node->safe_psql('postgres', q{INSERT INTO atk.src VALUES (pg_catalog.clock_timestamp()::text)});
	select(undef, undef, undef, 0.2);
}
is($node->safe_psql('postgres', $succeeded), 't', "both owners' views ran, label after label");

is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pipeline.runs
		 WHERE matview = 'vic.mv_down'::regclass AND status = 'failed'}),
	'0', "no run of the victim's view failed (none met the other owner's compiled function)")
  or diag($node->safe_psql('postgres', q{SELECT matview, status, error FROM pipeline.runs ORDER BY run_id}));

is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pipeline.runs u JOIN pipeline.runs d ON d.worker_pid = u.worker_pid
		 WHERE u.matview = 'atk.mv_up'::regclass AND d.matview = 'vic.mv_down'::regclass
		   -- a skip is the scheduler's (worker_pid is its pid), under load too
		   AND u.status <> 'skipped' AND d.status <> 'skipped'}),
	'0', "no worker ran both owners' views");

is( $node->safe_psql('postgres', q{SELECT string_agg(DISTINCT who::text, ',') FROM public.spylog}),
	'atk', "the attacker's CHECK ran as the attacker only");

is( $node->safe_psql('postgres', q{SELECT count(*) > 0 FROM vic.mv_down}),
	't', "the victim's view has its rows");

$node->stop;
done_testing();
