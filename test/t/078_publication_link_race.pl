# A symbolic link swapped in and out of a lake publication's tree while it
# runs, as whoever may write in the lake's folder can (h138).  Each run
# checks that a partition's directory lies inside its destination before it
# puts a file there or removes one; a directory swapped for a link to
# another tree between that check and the rename or unlink() by path led
# the file into the other tree: its part-00000.csv (another database's
# publication, say) was replaced by this publication's rows, or removed.
# The renames and removals are now made in the directory as opened and
# checked (by identity, up through ".."), so the other tree's file stays,
# however the swaps fall.  A small program swaps the partition directory
# with a link to the other tree (renameat2 RENAME_EXCHANGE, in a loop) while
# the owner, a non-superuser allowed to write server files with a trap
# schema first in search_path, writes and removes that partition round
# after round; runs that meet the link fail, as they should.  The old code
# lost the file within the first hundred rounds on every try.
use strict;
use warnings;

use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;

if ($^O ne 'linux')
{
	plan skip_all => 'renameat2(RENAME_EXCHANGE) is Linux';
}

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $lake = "$tmp/lake";
my $other = "$tmp/other/k=1";    # another tree, with a file of the same name
make_path("$lake/p", $other);
chmod 0777, $tmp, $lake;
PostgreSQL::Test::Utils::append_to_file("$other/part-00000.csv", "another tree's file\n");

# the swapper: exchanges dir/name with a link to target until stop exists
my $swapper = "$tmp/swap";
PostgreSQL::Test::Utils::append_to_file("$swapper.c", <<'C');
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char		dir[4096];
	char		link[4096];
	struct stat st;

	snprintf(dir, sizeof dir, "%s/%s", argv[1], argv[2]);
	snprintf(link, sizeof link, "%s/%s.link", argv[1], argv[2]);
	if (symlink(argv[3], link) != 0)
		return 1;
	for (long i = 0;; i++)
	{
		(void) renameat2(AT_FDCWD, dir, AT_FDCWD, link, RENAME_EXCHANGE);
		if ((i & 0xffff) == 0 && access(argv[4], F_OK) == 0)
			break;
	}
	/* the real directory back under its name */
	if (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
		(void) renameat2(AT_FDCWD, dir, AT_FDCWD, link, RENAME_EXCHANGE);
	return unlink(link) != 0;
}
C
my $cc = $ENV{CC} // 'cc';
if (!PostgreSQL::Test::Utils::run_log([ $cc, '-O2', '-o', $swapper, "$swapper.c" ]))
{
	plan skip_all => "no C compiler ($cc) for the swapper";
}

my $node = PipelineNode->start_new('publication_link_race', qq{
pipeline.enabled = off
});
sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(qq{
CREATE EXTENSION pipeline;
CREATE ROLE lr_owner LOGIN;
GRANT pg_write_server_files TO lr_owner;
CREATE SCHEMA lr AUTHORIZATION lr_owner;
CREATE SCHEMA lr_trap AUTHORIZATION lr_owner;
SET ROLE lr_owner;
CREATE FUNCTION lr_trap.int4eq(int, int) RETURNS boolean LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: int = int ran as %', current_user; END \$f\$;
CREATE OPERATOR lr_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = lr_trap.int4eq);
CREATE FUNCTION lr_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  \$f\$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END \$f\$;
CREATE OPERATOR lr_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = lr_trap.texteq);
CREATE TABLE lr.t (k int, v text);
INSERT INTO lr.t VALUES (2, 'stays');
SELECT pipeline.create_matview('lr', 'lake', 'SELECT k, v FROM lr.t', '1 hour', 'unload',
	options => '{"unload-destination": "$lake/p", "unload-partition-by": "k"}');
});

# rounds: partition k=1 written (a new directory, or a file in the one
# there) and removed (its file, then its directory)
my $rounds = 150;
my $script = "SET ROLE lr_owner;\nSET search_path = lr_trap, pg_catalog;\n";
$script .= "INSERT INTO lr.t VALUES (1, 'round $_');\n"
  . "SELECT pipeline.refresh('lr.mv_lake');\n"
  . "DELETE FROM lr.t WHERE k OPERATOR(pg_catalog.=) 1;\n"
  . "SELECT pipeline.refresh('lr.mv_lake');\n"
  foreach 1 .. $rounds;

my $swapping = IPC::Run::start([ $swapper, "$lake/p", 'k=1', $other, "$tmp/stop" ]);
my ($out, $err);
$node->psql('postgres', $script, stdout => \$out, stderr => \$err, on_error_stop => 0);
PostgreSQL::Test::Utils::append_to_file("$tmp/stop", '');
ok($swapping->finish, 'the swapper put the directory back');

my @traps = $err =~ /(trap: .*)/g;
is_deeply(\@traps, [], 'no trap ran');
my %errors;
$errors{ s/"[^"]*"/"..."/gr }++ foreach $err =~ /ERROR:  (.*)/g;
note("runs that met the link: $errors{$_} x $_") foreach sort keys %errors;

is(-e "$other/part-00000.csv" ? PostgreSQL::Test::Utils::slurp_file("$other/part-00000.csv") : '(removed)',
	"another tree's file\n", "the other tree's file is neither removed nor replaced");
opendir(my $dh, $other) or die "opendir $other: $!";
my @others = sort grep { !/^\.\.?$/ && !/^\.pipeline-unload-/ } readdir $dh;
closedir $dh;
is_deeply(\@others, ['part-00000.csv'], 'nothing was placed in the other tree');

# without the swaps the publication catches up
sql(q{INSERT INTO lr.t VALUES (1, 'last')});
is(sql(q{SELECT status FROM pipeline.refresh('lr.mv_lake')}), 'succeeded', 'a run without swaps succeeds');
is(sql(q{SELECT string_agg(partition || ' ' || rows, ', ' ORDER BY partition) FROM lr.mv_lake}),
	'k=1 1, k=2 1', 'both partitions published');
is(PostgreSQL::Test::Utils::slurp_file("$lake/p/k=1/part-00000.csv"), "v\nlast\n",
	'the partition holds its rows');

done_testing();
