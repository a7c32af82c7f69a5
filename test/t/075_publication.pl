# Seed 004's flow declared in DPL only: a stage table of CDC rows -> a
# mirror "cases" with the seed's transformations -> a lake publication
# partitioned by year, month and day, whose delete function is the
# endpoint's delete_partition (test/endpoint.py, over loopback).  After
# several randomized CDC rounds the CSV files under the destination, parsed,
# equal the mirror partition by partition; untouched partitions keep their
# files (same inode and mtime); the delete function was called for every
# partition removed or replaced.  Then: a run killed with -9 while it calls
# the delete function leaves every partition complete (old or new), and the
# next run finishes the job; a redefinition writes nothing and republishes
# everything at the next run; bad definitions are refused.  Last, a small
# stage -> mirror -> publication flow under the background scheduler.
#
# PIPELINE_PUBLICATION_SEED sets the seed (printed either way).
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
use Time::HiRes qw(sleep);

my $seed = $ENV{PIPELINE_PUBLICATION_SEED} // (time() % 100000);
srand($seed);
diag("seed $seed (PIPELINE_PUBLICATION_SEED=$seed to repeat)");

my $src = $ENV{PIPELINE_SRC} // '.';
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $remote = "$tmp/remote";    # the endpoint's lake: what delete_partition deletes in
my $lake = "$tmp/lake";        # the publication's destination
make_path($remote, $lake);
chmod 0777, $tmp, $lake;

my ($endpoint, $port) = PipelineNode->start_endpoint($tmp, '--root', $remote);
my $base = "http://127.0.0.1:$port";
my $http = HTTP::Tiny->new(timeout => 10);
sub deletes { return decode_json($http->get("$base/stats")->{content})->{records}{'/delete_partition'} // 0; }

my $node = PipelineNode->start_new('publication', qq{
pipeline.enabled = off
timezone = 'UTC'
restart_after_crash = on
});
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try_sql
{
	my ($out, $err);
	$node->psql('postgres', $_[0], stdout => \$out, stderr => \$err);
	return $err // '';
}

sql(qq{
CREATE EXTENSION pipeline;
SELECT pipeline.create_external_function('public.delete_partition(path text)', 'boolean',
                                         '$base/delete_partition');
-- seed 004's stage, as DMS writes it: an operation, a change time, the document
CREATE TABLE cases_stage (op text, changed_at timestamptz, id int, case_type text,
                          cases int, report_date text, country_region text);
SELECT pipeline.define(\$d\$/**
 * \@matview-schema public
 * \@matview-name cases
 * \@matview-type mirror
 * \@mirror-keys id
 * \@mirror-sequence changed_at
 * \@interval-in-minutes 60
 */
SELECT op, changed_at, id, upper(case_type) AS case_type, cases,
       to_date(report_date, 'MM/DD/YYYY') AS report_date, country_region
  FROM public.cases_stage\$d\$);
SELECT pipeline.define(\$d\$/**
 * \@matview-schema public
 * \@matview-name cases_lake
 * \@matview-type unload
 * \@unload-destination $lake/cases
 * \@unload-partition-by year, month, day
 * \@unload-delete-function delete_partition
 * \@interval-in-minutes 60
 */
SELECT id, case_type, cases, country_region,
       extract(year FROM report_date)::int AS year, extract(month FROM report_date)::int AS month,
       extract(day FROM report_date)::int AS day
  FROM public.mv_cases\$d\$);
});

# --- the files, parsed --------------------------------------------------
sub files
{
	my %f;
	find(sub { $f{$File::Find::name} = [ (stat($_))[ 1, 9 ] ] if -f $_ && $_ =~ /\.csv$/ }, "$lake/cases")
	  if -d "$lake/cases";
	return \%f;
}

# partition => sorted "id|case_type|cases|country" lines, from the files
sub lake_contents
{
	my %parts;
	for my $file (sort keys %{ files() })
	{
		my ($dir) = $file =~ m{^\Q$lake\E/cases/(.*)/part-00000\.csv$};
		my @lines = split /\n/, PostgreSQL::Test::Utils::slurp_file($file);
		my $header = shift @lines;
		die "unexpected header $header" unless $header eq 'id,case_type,cases,country_region';
		$parts{$dir} = join("\n", sort map { s/,/|/gr } @lines);
	}
	return \%parts;
}

sub same_contents
{
	my ($label) = @_;
	my $lake_parts = lake_contents();
	my $db = sql(q{
		SELECT format('year=%s/month=%s/day=%s', extract(year FROM report_date)::int,
		              extract(month FROM report_date)::int, extract(day FROM report_date)::int)
		       || '#' || concat_ws('|', id, case_type, cases, country_region)
		  FROM mv_cases});
	my %db;
	for (split /\n/, $db)
	{
		my ($dir, $row) = split /#/, $_, 2;
		push @{ $db{$dir} }, $row;
	}
	my %want = map { $_ => join("\n", sort @{ $db{$_} }) } keys %db;
	is_deeply($lake_parts, \%want, "$label: the files equal the mirror, partition by partition")
	  or diag(explain({ lake => $lake_parts, mirror => \%want }));
	is(sql(q{SELECT string_agg(partition || ':' || rows, ' ' ORDER BY partition) FROM mv_cases_lake}),
		join(' ', map { "$_:" . scalar(@{ $db{$_} }) } sort keys %db),
		"$label: the manifest lists every partition with its rows");
}

# --- randomized CDC rounds ------------------------------------------------
my %case;    # id => [type, cases, date, country]
my $clock = 0;
my @dates = map { sprintf('5/%d/2020', $_) } 10 .. 19;
sub change_row
{
	my ($op, $id) = @_;
	$clock++;
	my $c = $case{$id};
	return sprintf("('%s', timestamptz '2022-06-05' + interval '%d seconds', %d, %s)", $op, $clock, $id,
		$op eq 'D' ? 'NULL, NULL, NULL, NULL' : sprintf("'%s', %d, '%s', '%s'", @$c));
}

my $label = 0;
sub run_round
{
	$label++;
	return sql(sprintf(q{SELECT string_agg(matview || ' ' || status, ', ' ORDER BY matview::text)
		FROM pipeline.run_due('2031-01-01 00:00+00'::timestamptz + interval '%d hours')}, $label));
}

for my $round (1 .. 6)
{
	my @rows;
	for (1 .. 5 + int(rand(25)))
	{
		my @ids = sort { $a <=> $b } keys %case;
		my $r = rand();
		if (!@ids || $r < 0.4)
		{
			my $id = 1 + int(rand(200));
			$case{$id} = [ (rand() < 0.5 ? 'confirmed' : 'deaths'), int(rand(5000)), $dates[ int(rand(@dates)) ],
				(rand() < 0.5 ? 'Sudan' : 'Chad') ];
			push @rows, change_row('I', $id);
		}
		elsif ($r < 0.85)
		{
			my $id = $ids[ int(rand(@ids)) ];
			$case{$id}[1] = int(rand(5000));
			$case{$id}[2] = $dates[ int(rand(@dates)) ] if rand() < 0.3;    # moves to another day
			push @rows, change_row('U', $id);
		}
		else
		{
			my $id = $ids[ int(rand(@ids)) ];
			delete $case{$id};
			push @rows, change_row('D', $id);
		}
	}
	my $before_files = files();
	my %old_digest = map { split /#/, $_, 2 } split / /, sql(q{
		SELECT string_agg(partition || '#' || digest, ' ' ORDER BY partition) FROM pipeline.publication_state});
	my $deletes_before = deletes();
	sql('INSERT INTO cases_stage VALUES ' . join(', ', @rows));
	like(run_round(), qr/^mv_cases succeeded, mv_cases_lake succeeded$/, "round $round: both ran");
	same_contents("round $round");
	like(sql(q{SELECT detail FROM pipeline.runs WHERE matview = 'mv_cases_lake'::regclass ORDER BY run_id DESC LIMIT 1}),
		qr/; read by changes \((no changes|\d+ changes? in public\.mv_cases)\)$/,
		"round $round: the run read the changed partitions only");

	my %new_digest = map { split /#/, $_, 2 } split / /, sql(q{
		SELECT string_agg(partition || '#' || digest, ' ' ORDER BY partition) FROM pipeline.publication_state});
	my $after_files = files();
	my ($kept, $same, $expected_deletes) = (0, 0, 0);
	for my $dir (sort keys %old_digest)
	{
		my $file = "$lake/cases/$dir/part-00000.csv";
		if (!exists $new_digest{$dir} || $new_digest{$dir} ne $old_digest{$dir})
		{
			$expected_deletes++;
			next;
		}
		$kept++;
		$same++ if $after_files->{$file} && $before_files->{$file}
		  && join(',', @{ $after_files->{$file} }) eq join(',', @{ $before_files->{$file} });
	}
	is($same, $kept, "round $round: the $kept untouched partitions kept their files (inode and mtime)");
	is(deletes() - $deletes_before, $expected_deletes,
		"round $round: delete_partition called for the $expected_deletes removed or replaced partitions");
}
is(sql('SELECT count(*) FROM cases_stage'), '0', 'the mirror emptied its stage');
like(sql(q{SELECT detail FROM pipeline.runs WHERE matview = 'mv_cases_lake'::regclass ORDER BY run_id DESC LIMIT 1}),
	qr/^published: \d+ written.*, \d+ removed.*, \d+ unchanged; read /, 'runs.detail lists partitions written and removed');

# a file damaged on disk is written again by the next run that is not
# skipped (nothing changed upstream, so a scheduled run would skip)
my ($victim) = sort keys %{ files() };
open(my $fh, '>>', $victim) or die;
print $fh "garbage\n";
close $fh;
like(run_round(), qr/mv_cases_lake skipped/, 'nothing changed upstream: the publication is skipped');
sql("SELECT status FROM pipeline.refresh('mv_cases_lake')");
same_contents('after a damaged file');

# --- kill -9 during a publication -----------------------------------------
# a delete function that stops the run after the local tree is updated
sql(q{
CREATE TABLE hold (x int);
CREATE FUNCTION slow_delete(path text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN PERFORM pg_sleep(60); RETURN true; END $f$;
});
my $defn = sql(q{SELECT query FROM pipeline.matview_definitions WHERE name = 'cases_lake'});
sql(qq{SELECT pipeline.create_matview('public', 'cases_lake', \$q\$$defn\$q\$, '1 hour', 'unload',
	options => '{"unload-destination": "$lake/cases", "unload-partition-by": "year, month, day",
	             "unload-delete-function": "public.slow_delete"}')});
is(scalar(keys %{ files() }) > 0, 1, 'the redefinition kept the published files');
my $old = lake_contents();
my $ids = join(',', map { $_ } grep { rand() < 0.5 } sort { $a <=> $b } keys %case) || '0';
sql("INSERT INTO cases_stage SELECT 'U', now(), id, case_type, cases + 1, to_char(report_date, 'FMMM/FMDD/YYYY'), country_region FROM mv_cases WHERE id IN ($ids)");
sql("SELECT status FROM pipeline.refresh('mv_cases', false)");
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, q{
\echo started
SELECT pipeline.refresh('mv_cases_lake');
});
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'}),
	'the publication is in its delete function');
my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
kill 'KILL', $pid;
eval { $bg->quit; };
PipelineNode->wait_for_crash_restart($node, $pid);
my $mid = lake_contents();
my $new_count = 0;
for my $dir (sort keys %$mid)
{
	ok(exists $old->{$dir}, "after kill -9: partition $dir was published before");
}
is(scalar(keys %$mid), scalar(keys %$old), 'after kill -9: no partition is missing');
my $complete = 1;
for my $file (keys %{ files() })
{
	my $text = PostgreSQL::Test::Utils::slurp_file($file);
	$complete = 0 unless $text =~ /^id,case_type,cases,country_region\n(?:\d+,\w+,\d+,\w+\n)*\z/;
}
ok($complete, 'after kill -9: every file is whole');
is(join('', map { "$_ " } grep { /^\.pipeline-unload/ } map { s{.*/}{}r } keys %{ files() }), '',
	'no temporary file is left where readers look');

# the next run (with a delete function that answers) finishes the job
sql(qq{SELECT pipeline.create_matview('public', 'cases_lake', \$q\$$defn\$q\$, '1 hour', 'unload',
	options => '{"unload-destination": "$lake/cases", "unload-partition-by": "year, month, day",
	             "unload-delete-function": "public.delete_partition"}')});
is(sql(q{SELECT count(*) FROM pipeline.publication_state WHERE digest IS NOT NULL}), '0',
	'a redefinition marks every partition for republishing, and writes nothing');
my $before_deletes = deletes();
sql("SELECT status FROM pipeline.refresh('mv_cases_lake')");
same_contents('after the kill and the redefinition');
is(deletes() - $before_deletes, scalar(keys %{ lake_contents() }), 'every partition republished and deleted remotely');

# --- bad definitions --------------------------------------------------------
my $q = 'SELECT id, cases, extract(day FROM report_date)::int AS day FROM public.mv_cases';
my @bad = (
	[ '{"unload-partition-by": "day"}', qr/needs \@unload-destination/, 'no destination' ],
	[ qq{{"unload-destination": "$lake/other"}}, qr/needs \@unload-partition-by/, 'no partition columns' ],
	[ '{"unload-destination": "relative/dir", "unload-partition-by": "day"}', qr/must be an absolute path/, 'relative destination' ],
	[ qq{{"unload-destination": "$lake/../x", "unload-partition-by": "day"}}, qr/must not contain "\.\."/, 'destination with ..' ],
	[ qq{{"unload-destination": "$lake/cases/day", "unload-partition-by": "day"}}, qr/overlaps/, 'overlapping destination' ],
	[ qq{{"unload-destination": "$lake", "unload-partition-by": "day"}}, qr/overlaps/, 'enclosing destination' ],
	[ qq{{"unload-destination": "$lake/other", "unload-partition-by": "nope"}}, qr/partition column "nope" is not a column/, 'partition column not in the query' ],
	[ qq{{"unload-destination": "$lake/other", "unload-partition-by": "day", "unload-delete-function": "public.hold_it"}}, qr/function "public.hold_it" does not exist/, 'missing delete function' ],
	[ qq{{"unload-destination": "$lake/other", "unload-partition-by": "day", "unload-delete-function": "pg_catalog.abs(int)"}}, qr/cannot be a delete function/, 'delete function with the wrong signature' ],
	[ qq{{"unload-destination": "$lake/other", "unload-partition-by": "day", "mirror-keys": "id"}}, qr/option "mirror-keys" does not apply to unload views/, 'a key unload does not take' ],
);
for my $b (@bad)
{
	my ($options, $re, $what) = @$b;
	like(try_sql(qq{SELECT pipeline.create_matview('public', 'bad', '$q', '1 hour', 'unload', options => '$options')}),
		$re, "refused: $what");
}
like(try_sql(qq{SELECT pipeline.create_matview('public', 'bad', '$q', '1 hour', 'unload', 'day',
		options => '{"unload-destination": "$lake/other", "unload-partition-by": "day"}')}),
	qr/\@incremental-key does not apply to unload views/, 'refused: an incremental key');
is(sql(q{SELECT count(*) FROM pg_class WHERE relname = 'mv_bad'}), '0', 'nothing was created');
ok(!-e "$lake/other", 'no file was written');

# a role that may not write server files cannot own a publication
sql(q{CREATE ROLE plain_user; GRANT CREATE, USAGE ON SCHEMA public TO plain_user; GRANT SELECT ON mv_cases TO plain_user;});
like(try_sql(qq{SET ROLE plain_user; SELECT pipeline.create_matview('public', 'bad', '$q', '1 hour', 'unload',
		options => '{"unload-destination": "$lake/other", "unload-partition-by": "day"}')}),
	qr/permission denied to publish "bad" to files/, 'refused: an owner who may not write server files');
is(sql(q{SET ROLE plain_user; SELECT count(*) FROM pipeline.publication_state}), '0',
	'what a publication published is readable only by readers of its manifest');

# --- a publication of a non-superuser, run with traps first in search_path ---
# the owner may write server files; the caller's search_path holds operators
# and functions that raise if anything resolves to them
sql(qq{
CREATE ROLE lake_writer;
GRANT pg_write_server_files TO lake_writer;
GRANT CREATE, USAGE ON SCHEMA public TO lake_writer;
GRANT SELECT ON mv_cases TO lake_writer;
CREATE SCHEMA trap;
CREATE FUNCTION trap.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: text = text resolved to the trap'; END \$f\$;
CREATE OPERATOR trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.text_eq);
CREATE FUNCTION trap.md5(text) RETURNS text LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: md5'; END \$f\$;
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: now'; END \$f\$;
-- what a run by changes finds its partitions' rows with
CREATE FUNCTION trap.int_eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: int = int resolved to the trap'; END \$f\$;
CREATE OPERATOR trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = trap.int_eq);
CREATE FUNCTION trap.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: unnest'; END \$f\$;
CREATE FUNCTION trap.int4out(int) RETURNS text LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: int4out'; END \$f\$;
GRANT USAGE ON SCHEMA trap TO PUBLIC;
});
sql(qq{SET ROLE lake_writer;
	SELECT pipeline.create_matview('public', 'writer_lake', 'SELECT id, cases, extract(day FROM report_date)::int AS day FROM public.mv_cases',
	                               '1 hour', 'unload', options => '{"unload-destination": "$lake/writer", "unload-partition-by": "day"}')});
is(sql(q{SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'mv_writer_lake'}), 'lake_writer',
	'a role with pg_write_server_files owns its publication');
sql(q{INSERT INTO cases_stage SELECT 'U', now(), id, case_type, cases + 5, to_char(report_date, 'FMMM/FMDD/YYYY'), country_region FROM mv_cases});
is(sql(q{SET search_path = trap, public, pg_catalog;
	SELECT string_agg(matview::text || ' ' || status, ', ' ORDER BY matview::text) FROM pipeline.refresh('mv_cases')}),
	'mv_cases succeeded, mv_cases_lake succeeded, mv_writer_lake succeeded',
	'traps first in the caller\'s search_path: the cascade runs, no trap resolves');
is(sql(q{SELECT sum(rows) FROM mv_writer_lake}), sql(q{SELECT count(*) FROM mv_cases}),
	'the non-superuser\'s publication has every row');
# the right to write files is checked again at every run
sql(q{REVOKE pg_write_server_files FROM lake_writer});
like(try_sql(q{SELECT pipeline.refresh('mv_writer_lake')}),
	qr/permission denied to publish "writer_lake" to files/, 'an owner who lost pg_write_server_files cannot publish');
sql(q{GRANT pg_write_server_files TO lake_writer});

# --- the same flow under the background scheduler ---------------------------
sql(q{ALTER SYSTEM SET pipeline.enabled = on});
sql(q{ALTER SYSTEM SET pipeline.tick = '100ms'});
sql(q{SELECT pg_reload_conf()});
sql(qq{
CREATE TABLE stage2 (op text, changed_at timestamptz, id int, cases int, report_date date);
SELECT pipeline.create_matview('public', 'cases2', 'SELECT op, changed_at, id, cases, report_date FROM public.stage2',
                               '1 second', 'mirror', options => '{"mirror-keys": "id", "mirror-sequence": "changed_at"}');
SELECT pipeline.create_matview('public', 'cases2_lake',
    'SELECT id, cases, extract(day FROM report_date)::int AS day FROM public.mv_cases2', '1 second', 'unload',
    options => '{"unload-destination": "$lake/cases2", "unload-partition-by": "day"}');
INSERT INTO stage2 VALUES ('I', now(), 1, 10, '2020-05-12'), ('I', now(), 2, 20, '2020-05-13');
SELECT pipeline.wake();
});
my $day12 = "$lake/cases2/day=12/part-00000.csv";
my $day13 = "$lake/cases2/day=13/part-00000.csv";
my $day14 = "$lake/cases2/day=14/part-00000.csv";
sub wait_for_files
{
	my ($want) = @_;
	for (my $i = 0; $i < 300; $i++)
	{
		my %got;
		for my $f ($day12, $day13, $day14)
		{
			$got{$f} = PostgreSQL::Test::Utils::slurp_file($f) if -f $f;
		}
		return 1 if join('|', map { "$_=" . ($got{$_} // '') } sort keys %got) eq $want;
		sleep 0.1;
	}
	return 0;
}
ok(wait_for_files("$day12=id,cases\n1,10\n|$day13=id,cases\n2,20\n"),
	'under the scheduler: the stage reached the lake');
sql(q{INSERT INTO stage2 VALUES ('U', now(), 1, 11, '2020-05-12'), ('U', now(), 2, 20, '2020-05-14');
      SELECT pipeline.wake()});
ok(wait_for_files("$day12=id,cases\n1,11\n|$day14=id,cases\n2,20\n"),
	'under the scheduler: a change and a move reached the lake, the emptied day is gone');
is(sql(q{SELECT count(*) FROM pipeline.runs WHERE matview::text LIKE 'mv_cases2%' AND status = 'failed'}), '0',
	'under the scheduler: no run failed');

$node->stop;
$endpoint->kill_kill;
done_testing();
