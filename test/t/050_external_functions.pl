# External functions against the reference endpoint (test/endpoint.py) over
# real HTTP on loopback: calls, batching, keep-alive, every failure mode,
# retries, cancel / statement_timeout / terminate during a slow call, the
# the Datacoral upsert flow on a local lake, after-refresh hooks, and a soak of
# 100,000 calls with flat backend memory.
use strict;
use warnings;

use File::Find;
use File::Path qw(make_path);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $src = $ENV{PIPELINE_SRC} // '.';
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $lake = "$tmp/lake";
make_path($lake);

# the endpoint, on a free loopback port
my ($endpoint, $port) = PipelineNode->start_endpoint($tmp, '--root', $lake);
ok($port =~ /^\d+$/, "endpoint listens on port $port");
my $base = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10);

sub stats
{
	my $r = $http->get("$base/stats");
	return decode_json($r->{content});
}

sub reset_stats
{
	$http->post("$base/reset");
}

my $node = PipelineNode->start_new('external', qq{
pipeline.enabled = off
timezone = 'UTC'
});
$node->safe_psql('postgres', 'CREATE EXTENSION pipeline');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# psql that may fail: returns (stdout, stderr)
sub try_sql
{
	my ($out, $err);
	$node->psql('postgres', $_[0], stdout => \$out, stderr => \$err);
	return ($out, $err);
}

sub create_fn
{
	my ($sig, $ret, $path, %opt) = @_;
	my $extra = join('', map { ", $_ => '$opt{$_}'" } sort keys %opt);
	sql("SELECT pipeline.create_external_function('$sig', '$ret', '$base$path'$extra)");
}

# --- scalar calls -------------------------------------------------------
create_fn('public.echo_int(x int)', 'int', '/echo');
create_fn('public.echo_text(x text)', 'text', '/echo');
create_fn('public.add3(a int, b numeric, c float8)', 'numeric', '/add');
create_fn('public.concat3(a text, b int, c boolean)', 'text', '/concat');
create_fn('public.echo_arr(x int[])', 'int[]', '/echo');
create_fn('public.echo_ts(x timestamptz)', 'timestamptz', '/echo');
create_fn('public.echo_date(x date)', 'date', '/echo');
create_fn('public.echo_jsonb(x jsonb)', 'jsonb', '/echo');
create_fn('public.echo_bool(x boolean)', 'boolean', '/lambda');
create_fn('public.always_null(x int)', 'int', '/null');

is(sql(q{SELECT echo_int(42), echo_int(NULL) IS NULL, echo_text(E'a "q", \\\\ b\tc')}),
	qq{42|t|a "q", \\ b\tc}, 'scalar int and text round trip');
is(sql("SELECT add3(1, 2.5, 0.25), add3(1, NULL, 2), concat3('a', NULL, true)"),
	'3.75|3|atrue', 'several arguments, NULL arguments travel as null');
is(sql("SELECT echo_arr('{1,NULL,3}'), echo_ts('2024-02-29 12:34:56.5+00'), echo_date('2024-02-29')"),
	'{1,NULL,3}|2024-02-29 12:34:56.5+00|2024-02-29', 'arrays, timestamps and dates');
is(sql(q{SELECT echo_jsonb('{"a": [1, "x", null]}'), echo_bool(true), always_null(1) IS NULL}),
	'{"a": [1, "x", null]}|t|t', 'jsonb, a Lambda-style string reply, a null result');

# what is sent does not depend on the session's settings: floats in their
# shortest exact form, a domain's value as its base type's, arrays of
# floats under fixed settings (echo returns the JSON value sent, read as
# text)
sql(q{CREATE DOMAIN public.ts_d AS timestamptz});
create_fn('public.echo_f8(x float8)', 'float8', '/echo');
create_fn('public.sent_f8(x float8)', 'text', '/echo');
create_fn('public.sent_f8s(x float8[])', 'text', '/echo');
create_fn('public.sent_tsd(x public.ts_d)', 'text', '/echo');
my $pinned = q{SELECT sent_f8(3.14159265358979), echo_f8(3.14159265358979) = 3.14159265358979,
       sent_f8s('{0.1,2.5e-7}'), sent_tsd('2020-01-06 06:00:00+00')};
my $plain = sql($pinned);
is($plain, '3.14159265358979|t|[0.1, 0.00000025]|2020-01-06T06:00:00+00:00',
	'arguments as sent under the default settings');
is(sql(qq{SET extra_float_digits = -14; SET DateStyle = 'SQL, DMY'; SET lc_monetary = 'C'; $pinned}),
	$plain, 'and the same under another DateStyle and extra_float_digits');
# a reg* value is sent qualified, whatever search_path the caller has
sql(q{CREATE TABLE public.sent_rel_t (x int)});
create_fn('public.sent_rel(x regclass)', 'text', '/echo');
is(sql(q{SELECT sent_rel('public.sent_rel_t')}), 'public.sent_rel_t',
	'a regclass sent qualified under the default search_path');
is(sql(q{SET search_path = public, pg_catalog; SELECT sent_rel('sent_rel_t')}), 'public.sent_rel_t',
	'and the same when the caller can see it unqualified');

# --- keep-alive and invoke batching -------------------------------------
reset_stats();
is(sql("SELECT count(*) FROM generate_series(1, 300) g WHERE echo_int(g) = g"), '300',
	'300 scalar calls');
my $s = stats();
is($s->{requests}{'/echo'}, 300, 'one request per scalar call');
is($s->{connections}, 1, 'one kept-alive connection for all of them');

create_fn('public.echo7(x int)', 'int', '/echo', max_batch_rows => 7);
reset_stats();
is(sql("SELECT count(*), sum(ordinality), bool_and(result = to_jsonb(ordinality)) FROM pipeline.invoke('echo7(int)', (SELECT jsonb_agg(jsonb_build_array(g)) FROM generate_series(1, 50) g))"),
	'50|1275|t', 'invoke returns every row in order');
$s = stats();
is($s->{requests}{'/echo'}, 8, 'invoke sent ceil(50 / 7) = 8 requests');
is($s->{records}{'/echo'}, 50, 'carrying 50 records');
# a result that does not fit is named by its row among all of invoke's
# (the context gave its place in its batch)
create_fn('public.echo_as_int2(x text)', 'int', '/echo', max_batch_rows => 2);
my (undef, $cast_err) = try_sql(q{SELECT count(*) FROM pipeline.invoke('echo_as_int2(text)', '[["1"], ["2"], ["3"], ["x"]]')});
like($cast_err, qr/invalid input syntax for type integer: "x".*result 4 of external function echo_as_int2\(text\)/s,
	'invoke: a result that does not fit is named by its row');
is(sql(q{SELECT string_agg(coalesce(result::text, 'NULL'), ',' ORDER BY ordinality) FROM pipeline.invoke('add3(int,numeric,float8)', '[[1,2,3],[null,null,null],[4,5,6]]')}),
	'6,0,15', 'invoke with several arguments and nulls');
# invoke sends what a call with those values would: each value read as its
# parameter's type and written back by it (the endpoint sums numbers; the
# strings invoke was given would have failed its sum)
is(sql(q{SELECT result::text FROM pipeline.invoke('add3(int,numeric,float8)', '[["1", "2.50", "3e0"]]')}),
	'6.5', 'invoke sends its arguments as their parameters\' types');

# --- failure modes ------------------------------------------------------
my @failures = (
	[ 'f_fail(x int)', 'int', '/echo?fail=1', {}, qr/external function f_fail\(integer\) at "\Q$base\E\/echo\?fail=1" failed: requested failure/, 1 ],
	# an endpoint's message cannot start a line of its own in the server log
	[ 'f_lines(x int)', 'int', '/echo?fail_msg=one%0ALOG:%20%20forged%07', {}, qr/f_lines\(integer\) at ".*" failed: one\\nLOG:  forged\\x07/, 1 ],
	[ 'f_400(x int)', 'int', '/echo?status=400', {}, qr/f_400\(integer\) at "\Q$base\E.*" returned HTTP status 400/, 1 ],
	[ 'f_500(x int)', 'int', '/echo?status=500', { retries => 2 }, qr/f_500\(integer\) at ".*" returned HTTP status 500.*3 attempts/s, 3 ],
	[ 'f_garbage(x int)', 'int', '/echo?garbage=1', {}, qr/f_garbage\(integer\) at ".*" returned invalid JSON/, 1 ],
	[ 'f_deep(x int)', 'int', '/echo?deep=200000', {}, qr/f_deep\(integer\) at ".*" returned invalid JSON.*nested too deeply/s, 1 ],
	[ 'f_mismatch(x int)', 'int', '/echo?mismatch=1', {}, qr/f_mismatch\(integer\) at ".*" returned a wrong num_records/, 1 ],
	[ 'f_cast(x int)', 'int', '/echo?result=%22abc%22', {}, qr/invalid input syntax for type integer: "abc".*result 1 of external function f_cast\(integer\) at ".*", read as integer/s, 1 ],
	[ 'f_close(x int)', 'int', '/echo?close=1', { retries => 1 }, qr/f_close\(integer\) at ".*" failed: .*Tried 2 times/s, 2 ],
	[ 'f_slow(x int)', 'int', '/echo?sleep=3', { retries => 1, timeout => '300ms' }, qr/f_slow\(integer\) at ".*" timed out after 300 ms.*Tried 2 times/s, 2 ],
);
for my $f (@failures)
{
	my ($sig, $ret, $path, $opt, $re, $attempts) = @$f;
	create_fn("public.$sig", $ret, $path, %$opt);
	my ($name) = $sig =~ /^(\w+)/;
	reset_stats();
	my ($out, $err) = try_sql("SELECT $name(1)");
	like($err, $re, "$name: error names function and endpoint");
	my $path_only = (split /\?/, $path)[0];
	is(stats()->{requests}{$path_only} // 0, $attempts, "$name: $attempts attempt(s)");
}
# replies no function of the endpoint gives, as raw bytes (raw=HEX)
sub raw_path
{
	my ($bytes, $status) = @_;
	return '/echo?raw=' . unpack('H*', $bytes) . ($status ? "&raw_status=$status" : '');
}
my $e_acute = "\xc3\xa9";    # U+00E9 in UTF-8
my @raw_replies = (
	# an error_msg that is no string: said, never a crash
	[ 'r_null_msg', '{"success":false,"error_msg":null}', undef,
		qr/r_null_msg\(integer\) at ".*" failed: \(no error_msg\)/ ],
	[ 'r_object_msg', '{"success":false,"error_msg":{"why":[1,2]}}', undef,
		qr/r_object_msg\(integer\) at ".*" failed: \{"why": \[1, 2\]\}/ ],
	[ 'r_array_msg', '{"success":false,"error_msg":["a"]}', undef,
		qr/r_array_msg\(integer\) at ".*" failed: \["a"\]/ ],
	[ 'r_count_text', '{"success":true,"num_records":"1","results":[1]}', undef,
		qr/r_count_text\(integer\) at ".*" returned a wrong num_records.*the reply says "1", not a number/s ],
	# one result per record sent, no more and no fewer, whatever num_records says
	[ 'r_surplus', '{"success":true,"results":[1,2]}', undef,
		qr/r_surplus\(integer\) at ".*" returned a wrong number of results.*Sent 1 record, got 2 results/s ],
	[ 'r_surplus_counted', '{"success":true,"num_records":1,"results":[1,2]}', undef,
		qr/r_surplus_counted\(integer\) at ".*" returned a wrong number of results.*Sent 1 record, got 2 results/s ],
	[ 'r_short', '{"success":true,"results":[]}', undef,
		qr/r_short\(integer\) at ".*" returned a wrong number of results.*Sent 1 record, got 0 results/s ],
	# a reply that is not UTF-8 never becomes text in the database
	[ 'r_not_utf8', qq({"success":true,"num_records":1,"results":["ab\xff\xfecd"]}), undef,
		qr/r_not_utf8\(integer\) at ".*" returned a reply that is not valid UTF-8.*Reply: .*ab\\xff\\xfecd/s ],
	[ 'r_nul', qq({"success":true,"num_records":1,"results":[1]}\x00), undef,
		qr/r_nul\(integer\) at ".*" returned invalid JSON.*NUL byte/s ],
	# no redirect is followed, nor its body taken for a reply
	[ 'r_redirect', '{"success":true,"num_records":1,"results":[1]}', 302,
		qr/r_redirect\(integer\) at ".*" returned HTTP status 302/ ],
	# an error body is cut at a character, never inside one
	[ 'r_500_utf8', '{"err":"x' . ($e_acute x 150) . '"}', 500,
		qr/r_500_utf8\(integer\) at ".*" returned HTTP status 500.*Reply: \{"err":"x(\Q$e_acute\E)+\.\.\. \(3 attempts\)/s ],
);
for my $r (@raw_replies)
{
	my ($name, $bytes, $status, $re) = @$r;
	create_fn("public.$name(x int)", 'int', raw_path($bytes, $status));
	my ($out, $err) = try_sql("SELECT $name(1)");
	like($err, $re, "$name: a clear error");
}
# the same error reaches a LATIN1 client whole
my ($out, $err) = try_sql("SET client_encoding = 'LATIN1'; SELECT r_500_utf8(1)");
like($err, qr/r_500_utf8\(integer\) at ".*" returned HTTP status 500/, 'a cut error body reaches a LATIN1 client');
is(sql('SELECT 1'), '1', 'the server is still up after the replies above');

# a result's domain check that calls an external function in turn (invoke
# and a scalar call): the reply being read is not reset under it
sql(q{CREATE FUNCTION public.check_by_call(t text) RETURNS boolean LANGUAGE sql
        AS $$ SELECT length(public.echo_text(repeat('Z', 30000))) = 30000 $$;
      CREATE DOMAIN public.checked_text AS text CHECK (public.check_by_call(VALUE))});
create_fn('public.echo_checked(x text)', 'public.checked_text', '/echo', max_batch_rows => 20);
is(sql(q{SELECT count(*), bool_and(result = to_jsonb('value-' || ordinality || repeat('x', 500)))
           FROM pipeline.invoke('echo_checked(text)',
                (SELECT jsonb_agg(jsonb_build_array('value-' || g || repeat('x', 500)) ORDER BY g)
                   FROM generate_series(1, 50) g))}),
	'50|t', 'invoke: nested calls in a domain check leave the batch intact');
is(sql(q{SELECT count(*), bool_and(echo_checked('v' || g) = 'v' || g) FROM generate_series(1, 30) g}),
	'30|t', 'scalar calls: nested calls in a domain check');

# calls whose errors an EXCEPTION block catches leave no request open: the
# next calls are not taken for nested ones, whose memory piled up
is(sql(q{DO $$
BEGIN
  FOR i IN 1..200 LOOP
    BEGIN
      PERFORM public.f_fail(i);
    EXCEPTION WHEN others THEN NULL;
    END;
  END LOOP;
END $$;
SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'pipeline nested external call'}),
	'0', 'caught errors leave no nested request memory behind');

# a LATIN1 database: text goes out as UTF-8 and comes back in LATIN1
$node->safe_psql('postgres',
	q{CREATE DATABASE latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'});
$node->safe_psql('latin1', "CREATE EXTENSION pipeline;
	SELECT pipeline.create_external_function('public.echo_text(x text)', 'text', '$base/echo')");
is($node->safe_psql('latin1', q{SELECT echo_text(chr(233) || 't' || chr(233)) = chr(233) || 't' || chr(233)}),
	't', 'LATIN1 database: a non-ASCII argument and result round trip');
$node->psql('latin1', "SELECT pipeline.create_external_function('public.r_snow(x int)', 'text', '$base"
	  . raw_path(qq({"success":true,"num_records":1,"results":["\xe2\x98\x83"]})) . "'); SELECT r_snow(1)",
	stdout => \$out, stderr => \$err);
like($err, qr/has no equivalent in encoding "LATIN1".*reply of external function r_snow\(integer\)/s, 'LATIN1 database: a result it cannot hold is an error naming the function');

# connection refused: a port nobody listens on (the endpoint's, after it closed? use port 1)
sql("SELECT pipeline.create_external_function('public.f_refused(x int)', 'int', 'http://127.0.0.1:1/x', retries => 2)");
($out, $err) = try_sql("SELECT f_refused(1)");
like($err, qr/could not connect to external function f_refused\(integer\) at "http:\/\/127.0.0.1:1\/x".*Tried 3 times/s,
	'connection refused, retried');
($out, $err) = try_sql("SELECT count(*) FROM pipeline.invoke('f_fail(int)', '[[1],[2]]')");
like($err, qr/f_fail\(integer\).*failed: requested failure/, 'invoke reports success:false too');

# a flaky endpoint succeeds within the retries
create_fn('public.f_flaky(x int)', 'int', '/echo?flaky=2&key=k1', retries => 2);
reset_stats();
is(sql("SELECT f_flaky(7)"), '7', 'two 503s then success');
is(stats()->{keys}{k1}, 3, 'three attempts');

# a call after all those failures still works and reuses a connection
reset_stats();
is(sql("SELECT sum(echo_int(g)) FROM generate_series(1, 10) g"), '55', 'calls work after failures');

# --- cancel, statement_timeout, terminate during a slow call ------------
create_fn('public.very_slow(x int)', 'int', '/echo?sleep=30', retries => 0, timeout => '60 s');

sub start_slow
{
	my ($query) = @_;
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', $query ],
		'>', \$o, '2>', \$e);
	my $pid = '';
	for (my $i = 0; $i < 100 && $pid eq ''; $i++)
	{
		sleep 0.1;
		$pid = sql("SELECT pid FROM pg_stat_activity WHERE query LIKE '%very_slow(%' AND pid <> pg_backend_pid()");
	}
	sleep 0.3;    # let the request reach the endpoint
	return ($h, \$o, \$e, $pid);
}

my ($h, $o, $e, $pid) = start_slow('SELECT very_slow(1)');
ok($pid ne '', 'slow call is running');
my $t0 = time;
sql("SELECT pg_cancel_backend($pid)");
$h->finish;
my $elapsed = time - $t0;
like($$e, qr/canceling statement due to user request/, 'cancel interrupts the call');
ok($elapsed < 10, sprintf('cancel returned after %.2f s, long before the 30 s reply', $elapsed));

$t0 = time;
($out, $err) = try_sql("SET statement_timeout = '500ms'; SELECT very_slow(1)");
$elapsed = time - $t0;
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout interrupts the call');
ok($elapsed < 10, sprintf('statement_timeout returned after %.2f s', $elapsed));

($h, $o, $e, $pid) = start_slow('SELECT very_slow(2)');
$t0 = time;
sql("SELECT pg_terminate_backend($pid)");
$h->finish;
$elapsed = time - $t0;
like($$e, qr/terminating connection|server closed the connection/, 'terminate ends the backend');
ok($elapsed < 10, sprintf('terminate took %.2f s', $elapsed));
is(sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '0', 'the backend is gone');

# --- the upsert flow: upsert into cases, delete and rewrite lake partitions ----
create_fn('public.delete_partition(path text)', 'boolean', '/delete_partition', volatility => 'stable');
($out, $err) = try_sql("SELECT delete_partition('../outside')");
like($err, qr/delete_partition\(text\).*failed: path '..\/outside' is outside the root/,
	'the endpoint refuses paths outside its root');

sql(qq{
CREATE TABLE cases (oid__id text PRIMARY KEY, case_type text, cases int, date date,
                    country_region text, prep_flow_runtime date,
                    year smallint, month smallint, day smallint);
CREATE TABLE cases_stage (op text, oid__id text, case_type text, cases int, date text,
                          country_region text, prep_flow_runtime text);
-- history: 6 days x 5 keys
INSERT INTO cases
SELECT 'id' || d || '_' || k, CASE WHEN k % 2 = 0 THEN 'Deaths' ELSE 'Confirmed' END,
       d * 10 + k, dt, 'Country' || k, dt, extract(year FROM dt), extract(month FROM dt), extract(day FROM dt)
  FROM generate_series(1, 6) d, generate_series(1, 5) k, LATERAL (SELECT date '2020-03-28' + d AS dt) x;
CREATE PROCEDURE upsert(lake text) LANGUAGE plpgsql AS \$\$
BEGIN
  DROP TABLE IF EXISTS affected_dates;
  CREATE TEMP TABLE affected_dates AS
    SELECT date FROM cases WHERE oid__id IN (SELECT DISTINCT oid__id FROM cases_stage)
    UNION SELECT to_date(date, 'mm/dd/yyyy') FROM cases_stage WHERE op <> 'D';
  PERFORM delete_partition(partition_path)
     FROM (SELECT DISTINCT 'cases/year=' || year || '/month=' || month || '/day=' || day AS partition_path
             FROM cases WHERE date IN (SELECT date FROM affected_dates)) p;
  DELETE FROM cases USING cases_stage WHERE cases.oid__id = cases_stage.oid__id;
  INSERT INTO cases
  SELECT oid__id, case_type, cases, d, country_region, p,
         extract(year FROM d), extract(month FROM d), extract(day FROM d)
    FROM (SELECT row_number() OVER (PARTITION BY oid__id
                                    ORDER BY to_date(prep_flow_runtime, 'mm/dd/yyyy') DESC) AS seq,
                 oid__id, case_type, cases, to_date(date, 'mm/dd/yyyy') AS d, country_region,
                 to_date(prep_flow_runtime, 'mm/dd/yyyy') AS p
            FROM cases_stage WHERE op <> 'D') s
   WHERE seq = 1;
  PERFORM pipeline.unload('SELECT * FROM cases WHERE date IN (SELECT date FROM affected_dates)',
                          lake || '/cases', '{year,month,day}', 'csv', true);
  TRUNCATE cases_stage;
END
\$\$;
});
is(sql("SELECT count(*), sum(rows) FROM pipeline.unload('SELECT * FROM cases', '$lake/cases', '{year,month,day}')"),
	'6|30', 'historical load: 6 partitions, 30 rows');

# CDC: two versions of one key (latest wins), a delete emptying... no: deletes,
# an update moving a row to a new day, and new rows on a new day
sql(q{
INSERT INTO cases_stage VALUES
  ('U', 'id1_1', 'Confirmed', 111, '3/29/2020', 'Sudan', '4/1/2020'),
  ('U', 'id1_1', 'Confirmed', 112, '3/29/2020', 'Sudan', '4/2/2020'),
  ('D', 'id2_1', NULL, NULL, NULL, NULL, NULL),
  ('D', 'id2_2', NULL, NULL, NULL, NULL, NULL),
  ('U', 'id3_3', 'Deaths', 5, '4/10/2020', 'Chad', '4/10/2020'),
  ('I', 'new_1', 'Confirmed', 1, '4/10/2020', 'Mali', '4/10/2020'),
  ('I', 'new_2', 'Deaths', 2, '4/11/2020', 'Niger', '4/11/2020');
});
reset_stats();
sql("CALL upsert('$lake')");
is(stats()->{records}{'/delete_partition'}, 3, 'delete_partition called for the 3 affected existing partitions');
is(sql("SELECT count(*) FROM cases_stage"), '0', 'staging truncated');
is(sql("SELECT cases FROM cases WHERE oid__id = 'id1_1'"), '112', 'the latest version of a key wins');

# the files on disk match the table
my @disk;
find(sub {
	return unless $_ eq 'part-00000.csv';
	my ($y, $m, $d) = $File::Find::dir =~ m{year=(\d+)/month=(\d+)/day=(\d+)$};
	open my $fh, '<', $_ or die;
	my $header = <$fh>;
	chomp $header;
	die "bad header $header" unless $header eq 'oid__id,case_type,cases,date,country_region,prep_flow_runtime';
	while (my $line = <$fh>)
	{
		chomp $line;
		push @disk, join('|', split(/,/, $line, -1), $y, $m, $d);
	}
	close $fh;
}, "$lake/cases");
my $table = sql("SELECT oid__id, case_type, cases, date, country_region, prep_flow_runtime, year, month, day FROM cases ORDER BY 1");
is(join("\n", sort @disk), $table, 'the lake holds exactly the rows of the table');
is(scalar(@disk), sql("SELECT count(*) FROM cases"), 'row counts match');

# --- after-refresh hook: unload a managed view to the lake as its owner --
sql(qq{
CREATE ROLE lake_owner;
GRANT pg_write_server_files TO lake_owner;
GRANT CREATE ON SCHEMA public TO lake_owner;
GRANT SELECT ON cases TO lake_owner;
GRANT EXECUTE ON FUNCTION delete_partition(text) TO lake_owner;
SET ROLE lake_owner;
SELECT pipeline.create_matview('public', 'deaths', \$q\$SELECT country_region, sum(cases) AS cases FROM cases WHERE case_type = 'Deaths' GROUP BY 1\$q\$, '1 day');
CREATE TABLE hook_log (who name, label timestamptz);
CREATE FUNCTION publish(m regclass, t timestamptz) RETURNS void LANGUAGE plpgsql AS \$f\$
BEGIN
  INSERT INTO hook_log VALUES (current_user, t);
  PERFORM delete_partition('deaths');
  PERFORM pipeline.unload(format('SELECT * FROM %s', m), '$lake/deaths', overwrite => true);
END \$f\$;
SELECT pipeline.set_after_refresh('mv_deaths', 'publish(regclass,timestamptz)');
RESET ROLE;
});
sql("INSERT INTO cases VALUES ('late', 'Deaths', 1000, '2020-04-12', 'Chad', '2020-04-12', 2020, 4, 12)");
is(sql("SELECT status FROM pipeline.refresh('mv_deaths')"), 'succeeded', 'refresh with the hook');
is(sql("SELECT who, label = date_trunc('day', now()) FROM hook_log"), 'lake_owner|t', 'the hook ran as the owner with the time label');
my $published = PostgreSQL::Test::Utils::slurp_file("$lake/deaths/part-00000.csv");
my $expected = "country_region,cases\n" . join('', map { "$_\n" } split /\n/,
	sql("SELECT country_region || ',' || cases FROM mv_deaths ORDER BY 1"));
is(join("\n", sort split /\n/, $published), join("\n", sort split /\n/, $expected), 'the hook published the view');
# the endpoint failing fails the refresh, and the view keeps its old contents
sql("SELECT pipeline.drop_external_function('delete_partition(text)')");
sql("SELECT pipeline.create_external_function('public.delete_partition(path text)', 'boolean', '$base/delete_partition?fail=1', retries => 0)");
sql("GRANT EXECUTE ON FUNCTION delete_partition(text) TO lake_owner");
sql("INSERT INTO cases VALUES ('later', 'Deaths', 5000, '2020-04-12', 'Chad', '2020-04-12', 2020, 4, 12)");
($out, $err) = try_sql("SELECT status FROM pipeline.refresh('mv_deaths')");
like($err, qr/delete_partition\(text\).*failed: requested failure/, 'a failing hook fails the refresh');
is(sql("SELECT cases FROM mv_deaths WHERE country_region = 'Chad'"), '1005', 'the view kept its old contents');

# --- pipeline.allowed_endpoints: normalised URLs, checked at every call ---
# A dot segment cannot climb out of an allowed prefix: libcurl would squash
# it and request $base/echo.  Refused at creation ...
($out, $err) = try_sql(qq{SET pipeline.allowed_endpoints = '$base/ok';
SELECT pipeline.create_external_function('public.f_climb(x int)', 'int', '$base/ok/../../echo')});
like($err, qr/endpoint "\Q$base\E\/ok\/\.\.\/\.\.\/echo" is not allowed.*resolves to "\Q$base\E\/echo"/s,
	'allow-list: a dot-segment escape from the prefix is refused at creation');
is(sql("SELECT count(*) FROM pg_proc WHERE proname = 'f_climb'"), '0', 'allow-list: nothing was created');
sql("DROP FUNCTION IF EXISTS f_climb(int)");	# so that 1.1 can run the rest
# ... and at every call: created while nothing was restricted, it is called at
# its normalised URL, and refused once the list is narrowed
sql("SELECT pipeline.create_external_function('public.f_climb(x int)', 'int', '$base/ok/../echo', retries => 0)");
reset_stats();
is(sql("SELECT f_climb(5)"), '5', 'allow-list: without a list the function works');
is(stats()->{requests}{'/echo'}, 1, 'allow-list: and requests the normalised URL');
reset_stats();
($out, $err) = try_sql(qq{SET pipeline.allowed_endpoints = '$base/ok';
SELECT f_climb(5)});
like($err, qr/endpoint "\Q$base\E\/ok\/\.\.\/echo" of external function f_climb\(integer\) is not allowed.*resolves to "\Q$base\E\/echo"/s,
	'allow-list: a dot-segment endpoint is refused at its call, naming function and endpoint');
($out, $err) = try_sql(qq{SET pipeline.allowed_endpoints = '$base/ok';
SELECT * FROM pipeline.invoke('f_climb(int)', '[[1], [2]]')});
like($err, qr/endpoint "\Q$base\E\/ok\/\.\.\/echo" of external function f_climb\(integer\) is not allowed/,
	'allow-list: and by invoke');
is(stats()->{requests}{'/echo'} // 0, 0, 'allow-list: no request reached the endpoint');

# Narrowing the list stops a function at its next call in the same session
# (the verdict is cached per backend until the setting changes) ...
reset_stats();
($out, $err) = try_sql(qq{SELECT echo_int(1);
SET pipeline.allowed_endpoints = '$base/delete_partition';
SELECT echo_int(2);});
is($out, '1', 'allow-list: the call before narrowing went through');
like($err, qr/endpoint "\Q$base\E\/echo" of external function echo_int\(integer\) is not allowed/,
	'allow-list: the call after narrowing is refused');
is(stats()->{requests}{'/echo'}, 1, 'allow-list: only the first call reached the endpoint');
# ... and through the configuration file, for a hook inside a refresh
sql(q{
CREATE TABLE hook_src (x int);
SELECT pipeline.create_matview('public', 'hooked', 'SELECT count(*) AS n FROM hook_src', '1 day');
CREATE FUNCTION ping(m regclass, t timestamptz) RETURNS void LANGUAGE plpgsql
AS $f$ BEGIN PERFORM echo_int(1); END $f$;
SELECT pipeline.set_after_refresh('mv_hooked', 'ping(regclass,timestamptz)');
});
is(sql("SELECT status FROM pipeline.refresh('mv_hooked')"), 'succeeded', 'allow-list: a hook calling echo_int works');
sub reload_allowed
{
	my ($value) = @_;
	sql("ALTER SYSTEM SET pipeline.allowed_endpoints = '$value'");
	sql("SELECT pg_reload_conf()");
	$node->poll_query_until('postgres',
		"SELECT current_setting('pipeline.allowed_endpoints') = '$value'")
	  or die "the reload did not arrive";
}
reload_allowed("$base/delete_partition, $base/ech");
sql("INSERT INTO hook_src VALUES (1)");
($out, $err) = try_sql("SELECT status FROM pipeline.refresh('mv_hooked')");
like($err, qr/endpoint "\Q$base\E\/echo" of external function echo_int\(integer\) is not allowed/,
	'allow-list: narrowed in the configuration, the hook fails the refresh (no prefix "/ech" of "/echo")');
is(sql("SELECT n FROM mv_hooked"), '0', 'allow-list: and the view kept its old contents');
# a malformed entry in the configuration closes the list instead of opening it
reload_allowed('not a url');
($out, $err) = try_sql("SELECT echo_int(3)");
like($err, qr/echo_int\(integer\) is not allowed/, 'allow-list: a malformed configured list admits nothing');
reload_allowed("$base/echo/");
($out, $err) = try_sql("SELECT echo_int(3)");
like($err, qr/echo_int\(integer\) is not allowed/, 'allow-list: "/echo/" does not admit "/echo"');
reload_allowed("HTTP://127.0.0.1:$port/echo");
is(sql("SELECT status FROM pipeline.refresh('mv_hooked')"), 'succeeded', 'allow-list: widened again, the hook works');
# A list given to the view's owner (ALTER ROLE ... SET) holds for its code
# whoever runs the refresh: a scheduler's worker, or a superuser's session,
# does not have the owner's settings.  The owner is a plain role with a
# hostile schema first in its search_path.
sql(qq{
CREATE ROLE hooker LOGIN;
CREATE SCHEMA hostile AUTHORIZATION hooker;
CREATE SCHEMA hk AUTHORIZATION hooker;
ALTER ROLE hooker SET search_path = hostile, public;
ALTER ROLE hooker SET pipeline.allowed_endpoints = '$base/delete_partition';
GRANT SELECT ON hook_src TO hooker;
GRANT EXECUTE ON FUNCTION echo_int(int) TO hooker;
});
$node->safe_psql('postgres', q{
CREATE FUNCTION hostile.echo_int(x int) RETURNS int LANGUAGE sql AS 'SELECT x';
CREATE FUNCTION hk.ping(m regclass, t timestamptz) RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog AS $f$ BEGIN PERFORM public.echo_int(1); END $f$;
SELECT pipeline.create_matview('hk', 'hooked', 'SELECT count(*) AS n FROM public.hook_src', '1 day');
SELECT pipeline.set_after_refresh('hk.mv_hooked', 'hk.ping(regclass,timestamptz)');
}, extra_params => ['-U', 'hooker']);
reset_stats();
($out, $err) = try_sql("SELECT status FROM pipeline.refresh('hk.mv_hooked')");
like($err, qr/endpoint "\Q$base\E\/echo" of external function public\.echo_int\(integer\) is not allowed.*matches no prefix of pipeline.allowed_endpoints \("\Q$base\E\/delete_partition"\)/s,
	'allow-list: the owner\'s own list holds for its hook in a superuser\'s refresh');
is(stats()->{requests}{'/echo'} // 0, 0, 'allow-list: the owner\'s hook reached no endpoint');
sql("ALTER ROLE hooker RESET pipeline.allowed_endpoints");
is(sql("SELECT status FROM pipeline.refresh('hk.mv_hooked')"), 'succeeded',
	'allow-list: without a list of its own, the owner\'s hook calls what the server allows');
is(stats()->{requests}{'/echo'}, 1, 'allow-list: and reached the endpoint');
sql("ALTER SYSTEM RESET pipeline.allowed_endpoints");
sql("SELECT pg_reload_conf()");
$node->poll_query_until('postgres', "SELECT current_setting('pipeline.allowed_endpoints') = ''")
  or die "the reload did not arrive";

# --- soak: 100,000 calls, flat memory -----------------------------------
my $rss = q{SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\s+(\d+)'))[1] || ' ' || (SELECT sum(total_bytes) FROM pg_backend_memory_contexts);};
$t0 = time;
my $soak = sql(qq{
SELECT count(*) FROM generate_series(1, 5000) g WHERE echo_int(g) = g;
$rss
SELECT count(*) FROM generate_series(1, 100000) g WHERE echo_int(g) = g;
$rss
});
$elapsed = time - $t0;
my @lines = split /\n/, $soak;
is($lines[0] . '/' . $lines[2], '5000/100000', sprintf('soak: 105,000 calls in %.1f s (%.0f/s)', $elapsed, 105000 / $elapsed));
my ($rss1, $ctx1) = split / /, $lines[1];
my ($rss2, $ctx2) = split / /, $lines[3];
note("VmRSS $rss1 kB -> $rss2 kB, memory contexts $ctx1 -> $ctx2 bytes");
ok($rss2 - $rss1 < 4096, "backend RSS flat over 100,000 calls ($rss1 kB -> $rss2 kB)");
ok($ctx2 - $ctx1 < 256 * 1024, "memory contexts flat over 100,000 calls ($ctx1 -> $ctx2 bytes)");

# --- the postmaster dies during a slow call ------------------------------
# the backend waiting on the endpoint shows it, and leaves at once (it kept
# the old shared memory until the endpoint answered: no restart till then)
($h, $o, $e, $pid) = start_slow('SELECT very_slow(3)');
is(sql("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid"), 'Extension',
	'a call waiting on its endpoint is a wait event');
my $postmaster = $node->{_pid};
$t0 = time;
kill 'KILL', $postmaster;
sleep 0.1 while kill(0, $pid) && time - $t0 < 25;
$elapsed = time - $t0;
ok(!kill(0, $pid), sprintf('the backend left %.2f s after the postmaster died, before the 30 s reply', $elapsed));
$h->finish;
# the node believes its postmaster runs; the stale pid file tells otherwise
$node->_update_pid(-1);
$node->start;
is(sql('SELECT 1'), '1', 'the server starts again');

$node->stop;
$endpoint->kill_kill;
done_testing();
