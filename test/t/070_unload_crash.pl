# unload: a kill -9 of the unloading backend (the postmaster then resets the
# whole server), or an immediate shutdown, in the middle of an unload leaves
# nothing half-done in the destination -- no empty directory, no partial or
# temporary file, an existing tree unchanged -- once the server is back: the
# launcher removes what the killed call journalled, and without the launcher
# the next unload() does.  On 1.1 the destination keeps the directories and
# the hidden partial files of the killed call.
#
# The unload's query sleeps at one row, so the kill lands while it is
# provably mid-way: some partitions are written, one is half-written.  The
# rows arrive in partition order through an index (enable_sort = off; the
# pause is a filter, so the subquery is flattened and the index can give the
# order), so that row comes after the earlier partitions' files are
# written.
use strict;
use warnings;

use File::Find;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PipelineNode->start_new('unload_crash', qq{
pipeline.enabled = off
restart_after_crash = on
});
my $lake = PostgreSQL::Test::Utils::tempdir() . '/lake';
make_path($lake);

$node->safe_psql('postgres', q{
CREATE EXTENSION pipeline;
CREATE TABLE cases (year int, month int, id int, note text);
INSERT INTO cases
SELECT 2020 + g % 3, 1 + (g / 3) % 12, g, 'case ' || g FROM generate_series(1, 36000) g;
CREATE INDEX ON cases (year, month);
ANALYZE cases;
-- true, but sleeps (until killed) at the row whose id is at
CREATE FUNCTION pause_at(id int, at int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF id = at THEN PERFORM pg_sleep(3600); END IF;
  RETURN true;
END $$;
});

# Every entry under dir: { relative path => 'dir' | file contents }.
sub tree
{
	my ($dir) = @_;
	my %tree;
	return \%tree unless -d $dir;
	find(
		{
			no_chdir => 1,
			wanted => sub {
				return if $_ eq $dir;
				my $rel = substr($_, length($dir) + 1);
				$tree{$rel} = -d $_ ? 'dir' : PostgreSQL::Test::Utils::slurp_file($_);
			}
		},
		$dir);
	return \%tree;
}

# What is wrong with the tree under dir: empty directories, files that are
# not a partition's part-00000.csv (temporaries, partial files under
# another name), hidden entries.
sub defects
{
	my ($dir) = @_;
	my $t = tree($dir);
	my @bad;
	for my $rel (sort keys %$t)
	{
		my $base = (split m{/}, $rel)[-1];
		if ($t->{$rel} eq 'dir')
		{
			push @bad, "empty directory $rel" unless grep { index($_, "$rel/") == 0 } keys %$t;
			push @bad, "hidden directory $rel" if $base =~ /^\./;
		}
		elsif ($base ne 'part-00000.csv')
		{
			push @bad, "stray file $rel";
		}
	}
	return join("\n", @bad);
}

sub journals
{
	my $d = $node->data_dir . '/pgsql_tmp_pipeline_unload';
	return 0 unless -d $d;
	opendir(my $dh, $d) or die "cannot read $d: $!";
	my @j = grep { !/^\.\.?$/ } readdir $dh;
	closedir $dh;
	return scalar @j;
}

# Starts an unload of cases (with rows of year >= $from_year) into $dest
# partitioned by year and month, pausing at the first row of partition
# ($year, $month); returns the session and the unloading backend's pid once
# it sleeps there.
sub start_paused_unload
{
	my ($dest, $year, $month, $overwrite) = @_;
	my $at = $node->safe_psql('postgres',
		"SELECT min(id) FROM cases WHERE year = $year AND month = $month");
	my $psql = $node->background_psql('postgres', on_error_stop => 0);
	$psql->query_until(qr/started/, qq{
SET enable_sort = off;
SET enable_seqscan = off;
\\echo started
SELECT count(*) FROM pipeline.unload(
  'SELECT year, month, id, note FROM cases WHERE pause_at(id, $at)',
  '$dest', '{year,month}', overwrite => $overwrite);
});
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'})
	  or die 'the unload never reached its pause';
	my $pid = $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep'});
	return ($psql, $pid);
}

# Kills the unloading backend with -9 and waits for the crash restart.
sub kill_backend
{
	my ($psql, $pid) = @_;
	my $log_offset = -s $node->logfile;
	kill 'KILL', $pid or die "could not kill $pid: $!";
	eval { $psql->quit };
	PipelineNode->wait_for_crash_restart($node, $pid);
	return $log_offset;
}

my $recovered = qr/removed \d+ temporary files? or director(?:y|ies) left by an interrupted unload/;

# 1. a new destination: after kill -9 of the backend, nothing of it exists
my $dest = "$lake/cases";
my ($psql, $pid) = start_paused_unload($dest, 2021, 6, 'false');
my $files_before_kill = grep { $_ ne 'dir' } values %{ tree($lake) };
ok($files_before_kill > 1, "mid-way: $files_before_kill files written when the backend is killed");
my $offset = kill_backend($psql, $pid);
$node->wait_for_log($recovered, $offset);
ok(!-e $dest, 'the destination the killed unload would have created does not exist');
is(defects($lake), '', 'no empty directory, temporary or partial file in the lake');
is(journals(), 0, 'no journal left');

# the same unload, not interrupted, works and leaves nothing temporary
my $rows = $node->safe_psql('postgres',
	"SELECT sum(rows) FROM pipeline.unload('SELECT year, month, id, note FROM cases WHERE year < 2022', '$dest', '{year,month}')");
is($rows, '24000', 'an uninterrupted unload writes every row');
is(defects($lake), '', 'and leaves no temporary behind');
is(journals(), 0, 'nor a journal');
my $before = tree($dest);
is(scalar(grep { $_ ne 'dir' } values %$before), 24, 'one file per partition');

# 2. overwriting an existing tree, adding new partitions (year 2022): stop
# the whole server mid-way (immediate shutdown: no clean-up runs) and start
# it again; the tree is exactly what it was
($psql, $pid) = start_paused_unload($dest, 2022, 3, 'true');
ok(scalar(grep { /^\.pipeline-unload-/ } map { (split m{/})[-1] } keys %{ tree($dest) }) > 0,
	'mid-way: files in existing directories are written under temporary names');
$offset = -s $node->logfile;
$node->stop('immediate');
eval { $psql->quit };	# its server is gone: \q may meet a closed pipe
$node->start;
$node->wait_for_log($recovered, $offset);
is_deeply(tree($dest), $before, 'after a crash the existing tree is unchanged, file by file');
is(defects($lake), '', 'no empty directory, temporary or partial file');
is(journals(), 0, 'no journal left');

# 3. without the launcher (pipeline not preloaded), the next unload() cleans up
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
($psql, $pid) = start_paused_unload("$lake/other", 2020, 9, 'false');
kill_backend($psql, $pid);
ok(!-e "$lake/other", 'the killed unload\'s destination never appeared under its name');
isnt(defects($lake), '', 'its temporaries are still there without a launcher');
is(journals(), 1, 'and so is its journal');
$node->safe_psql('postgres',
	"SELECT * FROM pipeline.unload('SELECT 1 AS x', '$lake/tiny/dir')");
is(defects($lake), '', 'the next unload removed them');
is(journals(), 0, 'and the journal');
is_deeply(tree($dest), $before, 'the earlier tree is untouched');
ok(-f "$lake/tiny/dir/part-00000.csv", 'and the next unload wrote its file');

# 4. a terminated backend (a FATAL error, as DROP DATABASE ... WITH (FORCE)
# or a fast shutdown sends) removes its temporaries as it exits: it never
# reached the error path that does, and they stayed until some later unload
($psql, $pid) = start_paused_unload("$lake/terminated", 2020, 9, 'false');
ok(defects($lake) ne '', 'mid-way: the unload to be terminated has temporaries');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the terminated backend is gone');
eval { $psql->quit };
ok(!-e "$lake/terminated", 'the terminated unload\'s destination does not exist');
is(defects($lake), '', 'nor any of its temporaries, without a later unload or a restart');
is(journals(), 0, 'nor its journal');

$node->stop;
done_testing();
