# Attacks on external functions by the roles that may define them and by
# the endpoints they call (h139), each run by a member of pipeline_admin
# who is no superuser, with a hostile schema first in its search_path:
# - the function called again from its own result's domain check, after
#   DDL, read its cache entry again and freed the one the running call
#   used (a crash: the server runs with glibc filling freed memory);
# - a reply of small JSON numbers that become huge texts (1e131071 is
#   131,072 digits) took gigabytes in invoke() and in an array result;
# - int2vector and oidvector results were built as arrays and stored
#   invalid;
# - a definition row a plain DROP FUNCTION left made invoke() treat the
#   function that came back with its OID as an external function;
# - a timeout or cancel while the endpoint's name was being resolved left
#   the call (or the next one) waiting for the resolver, uninterruptibly
#   (test/slow_dns.c makes one name take 60 s to resolve).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $tmp = PostgreSQL::Test::Utils::tempdir();
my ($endpoint, $port) = PipelineNode->start_endpoint($tmp);
ok($port =~ /^\d+$/, "endpoint listens on port $port");
my $base = "http://127.0.0.1:$port";

my $src = $ENV{PIPELINE_SRC} // '.';
system('cc', '-shared', '-fPIC', '-o', "$tmp/slow_dns.so", "$src/test/slow_dns.c", '-ldl') == 0
  or die 'could not build test/slow_dns.c';

# freed memory filled (and no per-thread cache keeping it as it was), so a
# use of freed memory crashes instead of reading what was there
my $node;
{
	local $ENV{GLIBC_TUNABLES} = 'glibc.malloc.tcache_count=0:glibc.malloc.perturb=165';
	local $ENV{LD_PRELOAD} = "$tmp/slow_dns.so";
	$node = PipelineNode->start_new('attacks', "pipeline.enabled = off\n");
}
$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE ROLE fnadmin LOGIN IN ROLE pipeline_admin;
CREATE SCHEMA hostile AUTHORIZATION fnadmin;
CREATE SCHEMA ef AUTHORIZATION fnadmin;
ALTER ROLE fnadmin SET search_path = hostile, pg_catalog, ef, public;
});

# psql as fnadmin, going on after an error
sub as_admin
{
	my ($out, $err);
	$node->psql('postgres', $_[0], stdout => \$out, stderr => \$err,
		on_error_stop => 0, extra_params => [ '-U', 'fnadmin' ]);
	return ($out, $err);
}

# lookalikes of pg_catalog's functions and operators, found first
my ($out, $err) = as_admin(q{
CREATE FUNCTION hostile.array_length(anyarray, int) RETURNS int LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'hostile array_length ran'; END $$;
CREATE FUNCTION hostile.jsonb_build_array(int) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'hostile jsonb_build_array ran'; END $$;
CREATE FUNCTION hostile.length(text) RETURNS int LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'hostile length ran'; END $$;
CREATE FUNCTION hostile.texteq(text, text) RETURNS boolean LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'hostile texteq ran'; END $$;
CREATE OPERATOR hostile.= (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.texteq);
});
is($err, '', 'the hostile schema is set up');

# --- the function called from its own result's domain check, after DDL ----
($out, $err) = as_admin(qq{
CREATE FUNCTION ef.recheck(v text) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog AS \$\$
BEGIN
    IF v OPERATOR(pg_catalog.=) 'outer' THEN
        -- any change to pg_proc makes the cached function stale
        CREATE OR REPLACE FUNCTION ef.bump() RETURNS int LANGUAGE sql AS 'SELECT 1';
        PERFORM ef.echo_checked('inner');
    END IF;
    RETURN true;
END \$\$;
CREATE DOMAIN ef.checked AS text CHECK (ef.recheck(VALUE));
SELECT pipeline.create_external_function('ef.echo_checked(x text)', 'ef.checked', '$base/echo');
});
is($err, '', 'an external function returning a domain whose check calls it again');
($out, $err) = as_admin(q{SELECT echo_checked('outer'), echo_checked('x')});
is($out, 'outer|x', 'called again from its own result\'s check after DDL: the call completes');
is($err, '', '... with no error');
($out, $err) = as_admin(
	q{SELECT string_agg(result #>> '{}', ',' ORDER BY ordinality) FROM pipeline.invoke('echo_checked(text)', '[["outer"], ["x"], ["outer"]]')});
is($out, 'outer,x,outer', 'invoke(): the same, between and within batches');
is($err, '', '... with no error');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');

# --- small replies of huge numbers --------------------------------------
# a fixed reply of n results (or one result of n elements), each 1e131071
sub big_numbers_path
{
	my ($n, $one_array) = @_;
	my $numbers = join(',', ('1e131071') x $n);
	my $results = $one_array ? "[[$numbers]]" : "[$numbers]";
	return '/echo?raw=' . unpack('H*', qq({"success": true, "results": $results}));
}

# the peak memory of a session's backend after sql, in kB
sub peak_kb_after
{
	my ($sql) = @_;
	my $session = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', 'fnadmin' ]);
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	my $result = $session->query($sql);
	my ($peak) = PostgreSQL::Test::Utils::slurp_file("/proc/$pid/status") =~ /VmHWM:\s+(\d+)/;
	$session->quit;
	return ($result, $peak);
}

my $n = 3000;
($out, $err) = as_admin(sprintf(q{
SELECT pipeline.create_external_function('ef.big_text(x int)', 'text', '%s%s', max_batch_rows => %d);
SELECT pipeline.create_external_function('ef.big_array(x int)', 'numeric[]', '%s%s');
}, $base, big_numbers_path($n, 0), $n, $base, big_numbers_path($n, 1)));
is($err, '', 'functions whose endpoints reply with huge numbers');
my ($result, $peak) = peak_kb_after(
	"SELECT count(*), sum(pg_catalog.length(result #>> '{}')) FROM pipeline.invoke('big_text(int)', "
	  . "(SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(i)) FROM generate_series(1, $n) i))");
is($result, "$n|" . $n * 131072, "invoke(): $n results of 131,072 digits each read");
ok($peak < 200 * 1024, "invoke(): the backend's peak memory stays small ($peak kB; a reply of 27 kB)");
($result, $peak) = peak_kb_after(
	'SELECT pg_catalog.array_length(big_array(1), 1), pg_catalog.length((big_array(1))[1]::text)');
is($result, "$n|131072", "an array result of $n huge numbers read");
ok($peak < 200 * 1024, "an array result: the backend's peak memory stays small ($peak kB)");

# --- array types that are not arrays of their element -------------------
for my $type ('int2vector', 'oidvector')
{
	($out, $err) = as_admin(
		"SELECT pipeline.create_external_function('ef.vec(x int)', '$type', '$base/echo')");
	like($err, qr/external functions do not support return type $type/,
		"$type is refused as a return type");
	($out, $err) = as_admin(
		"SELECT pipeline.create_external_function('ef.vec(x $type)', 'int', '$base/echo')");
	like($err, qr/external functions do not support argument type $type/,
		"$type is refused as an argument type");
}
($out, $err) = as_admin(
	"SELECT pipeline.create_external_function('ef.vec(x int2[])', 'int2[]', '$base/echo')");
is($err, '', 'a true array type is still accepted');

# --- a definition row whose OID is another function's now ----------------
# DROP FUNCTION leaves an external function's row; the OID's coming back
# as another function's is simulated by writing such a row
($out, $err) = as_admin(q{
CREATE FUNCTION ef.not_external(x text) RETURNS text LANGUAGE sql AS 'SELECT x';
});
is($err, '', 'a plain SQL function');
$node->safe_psql('postgres', qq{
INSERT INTO pipeline.external_function_definitions (fn, endpoint, max_batch_rows, timeout, retries)
VALUES ('ef.not_external(text)', '$base/echo', 1, '1 second', 0);
});
($out, $err) = as_admin(q{SELECT * FROM pipeline.invoke('not_external(text)', '[["x"]]')});
like($err, qr/function (?:ef\.)?not_external\(text\) is not an external function/,
	'invoke() does not take a function with a stale definition row for an external one');
($out, $err) = as_admin(q{SELECT pipeline.drop_external_function('not_external(text)')});
like($err, qr/function (?:ef\.)?not_external\(text\) is not an external function/,
	'nor does drop_external_function()');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_proc WHERE proname = 'not_external'}), '1',
	'the function is still there');

# --- a name that takes long to resolve ----------------------------------
($out, $err) = as_admin(qq{
SELECT pipeline.create_external_function('ef.slow_name(x int)', 'int', 'http://slow-dns.invalid:1/',
                                         timeout => '1 second', retries => 0);
SELECT pipeline.create_external_function('ef.echo_int(x int)', 'int', '$base/echo');
});
is($err, '', 'a function whose endpoint\'s name resolves in 60 s');
my $t0 = time;
($out, $err) = as_admin('SELECT slow_name(1)');
my $elapsed = time - $t0;
like($err, qr/slow_name\(integer\) at "http:\/\/slow-dns.invalid:1\/" timed out after 1000 ms/,
	'a timeout while resolving is the timeout error');
ok($elapsed < 30, sprintf('... after %.1f s, not when the resolver gives up (60 s)', $elapsed));
$t0 = time;
($out, $err) = as_admin(q{
SET statement_timeout = '200ms';
SELECT slow_name(1);
RESET statement_timeout;
SELECT echo_int(7);
});
$elapsed = time - $t0;
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout ends a call while resolving');
is($out, '7', 'the next call in the session is answered');
ok($elapsed < 30, sprintf('... %.1f s after the first began, not after the resolver (60 s)', $elapsed));

$node->stop;
$endpoint->kill_kill;
done_testing();
