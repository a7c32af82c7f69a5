# A lake publication's run killed with -9 after it placed its files, in a
# transaction that also wrote the source: after the restart the source and
# the publication's state are as before that transaction, but its files are
# on disk.  The next run must take them back: remove the new partition's file
# and write back the partition it removed.
#
# It finds them through the list of files each run writes outside the
# transaction (views/publication_pending.c), each entry under the run's
# transaction id.  That id must not be handed out again after the crash: a
# later transaction committing under it would make the killed run's files
# look committed, and they would stay.  So transactions are committed in
# between, and the run that cleans up is a scheduled one (run_due), whose
# source did not change: it must not be skipped.
use strict;
use warnings;

use File::Find;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('publication_crash', qq{
pipeline.enabled = off
restart_after_crash = on
timezone = 'UTC'
});
my $lake = PostgreSQL::Test::Utils::tempdir() . '/lake';
make_path($lake);
chmod 0777, $lake;
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(qq{
CREATE EXTENSION pipeline;
CREATE TABLE src (id int PRIMARY KEY, day int);
INSERT INTO src VALUES (1, 10), (2, 11);
CREATE TABLE hold (x int);
-- the delete function waits (until killed) while hold has a row
CREATE FUNCTION held_delete(path text) RETURNS boolean LANGUAGE plpgsql AS \$f\$
BEGIN
  IF EXISTS (SELECT FROM public.hold) THEN PERFORM pg_sleep(3600); END IF;
  RETURN true;
END \$f\$;
SELECT pipeline.create_matview('public', 'lake', 'SELECT id, day FROM public.src', '1 hour', 'unload',
	options => '{"unload-destination": "$lake/p", "unload-partition-by": "day",
	             "unload-delete-function": "public.held_delete"}');
});

# relative path => contents (the header, then the rows sorted), of every
# file under the destination
sub files
{
	my %f;
	my $read = sub {
		return unless -f $_ && !m{/\.pipeline-publication$};
		my ($header, @rows) = split /\n/, PostgreSQL::Test::Utils::slurp_file($_);
		$f{ substr($_, length("$lake/p") + 1) } = join('', map { "$_\n" } $header, sort @rows);
	};
	find({ no_chdir => 1, wanted => $read }, "$lake/p") if -d "$lake/p";
	return \%f;
}
my %expected = ('day=10/part-00000.csv' => "id\n1\n", 'day=11/part-00000.csv' => "id\n2\n");

is(sql(q{SELECT string_agg(matview || ' ' || status, ', ') FROM pipeline.run_due('2031-01-01 00:00+00')}),
	'mv_lake succeeded', 'the first scheduled run publishes');
is_deeply(files(), \%expected, 'two partitions published');

# one transaction moves id 1 away from day 10 (its partition goes, so the
# delete function is called) and adds id 3 on a new day 12, then publishes
sql('INSERT INTO hold VALUES (1)');
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, q{
\echo started
BEGIN;
UPDATE src SET day = 11 WHERE id = 1;
INSERT INTO src VALUES (3, 12);
SELECT pipeline.refresh('mv_lake');
});
ok($node->poll_query_until('postgres', q{SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'}),
	'the run is in its delete function');
is_deeply(
	files(),
	{ 'day=11/part-00000.csv' => "id\n1\n2\n", 'day=12/part-00000.csv' => "id\n3\n" },
	'the run placed its files and removed day 10 before calling the delete function')
  or diag(explain(files()));
my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
kill 'KILL', $pid;
eval { $bg->quit; };
PipelineNode->wait_for_crash_restart($node, $pid);

is(sql(q{SELECT string_agg(id || ':' || day, ' ' ORDER BY id) FROM src}), '1:10 2:11',
	'after the crash the source is as before the transaction');
sql('DELETE FROM hold');
# transaction ids handed out after the restart, each committed: none may be
# the killed run's
for (1 .. 20)
{
	sql('SELECT pg_current_xact_id()');
}

is(sql(q{SELECT string_agg(matview || ' ' || status, ', ') FROM pipeline.run_due('2031-01-01 01:00+00')}),
	'mv_lake succeeded', 'the next scheduled run is not skipped, though the source did not change');
is_deeply(files(), \%expected, 'the killed run\'s files are taken back: day 12 removed, day 10 and 11 as before')
  or diag(explain(files()));
is(sql(q{SELECT string_agg(partition || ':' || rows, ' ' ORDER BY partition) FROM mv_lake}),
	'day=10:1 day=11:1', 'the manifest lists what is on disk');
like(sql(q{SELECT detail FROM pipeline.runs WHERE matview = 'mv_lake'::regclass ORDER BY run_id DESC LIMIT 1}),
	qr/did not commit/, 'the run says why it rewrote a partition');

is(sql(q{SELECT string_agg(matview || ' ' || status, ', ') FROM pipeline.run_due('2031-01-01 02:00+00')}),
	'mv_lake skipped', 'once cleaned up, an unchanged publication is skipped again');

$node->stop;
done_testing();
