# The README's examples, run: every ```sql block of README.md is executed, in
# order, in one psql session on a fresh server, and what psql prints is
# compared with the block right after it (a fence with no language) when
# there is one; a block without one must not raise an error or warning.
# So an example that drifts from the code fails here.
#
# What a block may be marked with, on the line before its fence:
#   <!-- not checked: REASON -->   not run (say why; keep these rare)
#   <!-- signatures -->            a list of pipeline.name(arg type, ...)
#                                  [RETURNS ...]: each must exist with these
#                                  argument names and types (and RETURNS
#                                  TABLE columns); a relation's columns too
#   <!-- file: PATH -->            must equal the repository's file PATH
# Every path the text names in backticks must exist in the repository.
#
# psql runs from the top of the tree (for \i demo/setup.sql) as
# psql -X -q -P footer=off, so outputs show no command tags and no row
# counts, with errors, notices and warnings where psql prints them; blank
# lines and trailing spaces are not compared.  The psql variable endpoint is
# the URL of /delete_partition of test/endpoint.py, started here as the
# README says, with --root a fresh directory, and lake is that directory.
# README_OUTPUT=FILE also writes what every example printed to FILE.
#
# Then: demo/setup.sql loads twice and leaves the session as it was, as the
# README says.  Last, the signature lists, in a database of their own.
use strict;
use warnings;

use Cwd;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PipelineNode;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $src = $ENV{PIPELINE_SRC} // '.';
my $tmp = PostgreSQL::Test::Utils::tempdir();

# --- the README's fenced blocks -----------------------------------------
my @lines = split /\n/, PostgreSQL::Test::Utils::slurp_file("$src/README.md"), -1;
my @blocks;    # { line, info, text, mark, markarg, follows_block }
my $last_end = -10;    # line index of the last closing fence
for (my $i = 0; $i < @lines; $i++)
{
	next unless $lines[$i] =~ /^(\s*)```\s*(\S*)\s*$/;
	my ($indent, $info) = (length($1), $2);
	my $start = $i;
	my @body;
	for ($i++; $i < @lines && $lines[$i] !~ /^\s*```\s*$/; $i++)
	{
		push @body, substr($lines[$i], $indent <= length($lines[$i]) ? $indent : 0);
	}
	BAIL_OUT("README.md:" . ($start + 1) . ": unclosed fence") if $i >= @lines;
	# the line before the fence, skipping blank lines
	my $p = $start - 1;
	$p-- while $p >= 0 && $lines[$p] =~ /^\s*$/;
	my ($mark, $markarg) = ('', '');
	if ($p >= 0 && $lines[$p] =~ /^\s*<!--\s*([a-z ]+?)\s*(?::\s*(.*?))?\s*-->\s*$/)
	{
		($mark, $markarg) = ($1, $2 // '');
	}
	push @blocks, {
		line => $start + 1,
		info => $info,
		text => join("\n", @body) . "\n",
		mark => $mark,
		markarg => $markarg,
		follows_block => ($p == $last_end) };
	$last_end = $i;
}

# an example is a sql block; its expected output the plain block right after it
my (@examples, @signatures, @files, @skipped);
for (my $b = 0; $b < @blocks; $b++)
{
	my $blk = $blocks[$b];
	next unless $blk->{info} eq 'sql';
	if ($blk->{mark} eq 'not checked')
	{
		BAIL_OUT("README.md:$blk->{line}: <!-- not checked: --> needs a reason")
		  if $blk->{markarg} eq '';
		push @skipped, $blk;
	}
	elsif ($blk->{mark} eq 'signatures') { push @signatures, $blk; }
	elsif ($blk->{mark} eq 'file') { push @files, $blk; }
	elsif ($blk->{mark} ne '')
	{
		BAIL_OUT("README.md:$blk->{line}: unknown mark <!-- $blk->{mark} -->");
	}
	else
	{
		my $next = $blocks[ $b + 1 ];
		$blk->{expected} = $next->{text}
		  if $next && $next->{info} eq '' && $next->{follows_block} && $next->{mark} eq '';
		# a statement left open would run into the next example
		my ($last) = grep { /\S/ && !/^\s*--/ } reverse split /\n/, $blk->{text};
		BAIL_OUT("README.md:$blk->{line}: an example must end with ';', \\g or a psql command")
		  unless defined $last
		  && ($last =~ /;\s*(--.*)?$/ || $last =~ /^\s*\\/ || $last =~ /\\g\S*(\s.*)?$/);
		push @examples, $blk;
	}
}
ok(@examples >= 10, scalar(@examples) . " examples to run");
note("not checked: README.md:$_->{line}: $_->{markarg}") for @skipped;

# --- blocks that must equal a file --------------------------------------
for my $blk (@files)
{
	my $want = PostgreSQL::Test::Utils::slurp_file("$src/$blk->{markarg}");
	is($blk->{text}, $want, "README.md:$blk->{line} is $blk->{markarg}");
}

# --- files the text names -------------------------------------------------
# every `path` of this repository the README names (a lone path in
# backticks, globs allowed, or a file name of the top folder) exists, so a
# moved or renamed file is noticed, and none it names lies outside it
my %named;
for my $line (@lines)
{
	while ($line =~ /`((?:src|sql|test|demo|bench|doc|expected|specs|\.ci)\/[^`\s<>]*)`/g)
	{
		$named{$1} = 1;
	}
	while ($line =~ /`([\w.-]+\.(?:md|sql|c|h|pl|pm|py|conf|control|spec|out))`/g)
	{
		$named{$1} = 1;
	}
}
for my $path (sort keys %named)
{
	my @found = glob("$src/$path");
	ok(@found && -e $found[0], "README.md names $path, which exists");
}

# --- a server and the reference endpoint --------------------------------
# the scheduler off from the start, as the README has it before any view
# exists, so no run but run_due's happens
my $node = PipelineNode->start_new('readme', "pipeline.enabled = off\n");
my $root = "$tmp/partitions";
mkdir $root or die "mkdir $root: $!";
my ($endpoint, $port) = PipelineNode->start_endpoint($tmp, '--root', $root);
# a partition for the example to delete
mkdir "$root/$_" for ('cases', 'cases/year=2020', 'cases/year=2020/month=3',
	'cases/year=2020/month=3/day=29');

# --- run the examples in one session ------------------------------------
my $script = '';
for my $n (0 .. $#examples)
{
	$script .= "\\echo '\@\@ example $n \@\@'\n$examples[$n]{text}";
}
$script .= "\\echo '\@\@ end \@\@'\n";
my $out = '';
{
	my $cwd = Cwd::getcwd();
	chdir $src or die "chdir $src: $!";
	IPC::Run::run(
		[
			'psql', '-X', '-q', '-P', 'footer=off',
			'-v', "endpoint=http://127.0.0.1:$port/delete_partition",
			'-v', "lake=$root",
			'-d', $node->connstr('postgres')
		],
		'<', \$script, '>&', \$out);
	chdir $cwd;
}

# README_OUTPUT=FILE: also write every example's output there, as psql
# printed it, to paste into README.md after a deliberate change
if ($ENV{README_OUTPUT})
{
	open my $fh, '>', $ENV{README_OUTPUT} or die "$ENV{README_OUTPUT}: $!";
	my @o = split /^\@\@ (?:example \d+|end) \@\@\n/m, $out, -1;
	shift @o;
	for my $n (0 .. $#examples)
	{
		print $fh "==== README.md:$examples[$n]{line}\n$examples[$n]{text}---- output\n", $o[$n] // '';
	}
	close $fh;
}

sub normalized
{
	my ($text) = @_;
	return join("\n", grep { $_ ne '' } map { s/\s+$//r } split /\n/, $text) . "\n";
}

my @outputs = split /^\@\@ (?:example \d+|end) \@\@\n/m, $out, -1;
shift @outputs;    # before the first example
is(scalar(@outputs), scalar(@examples) + 1, 'every example ran')
  or diag($out);
for my $n (0 .. $#examples)
{
	my $blk = $examples[$n];
	my $got = normalized($outputs[$n] // '');
	my $what = "README.md:$blk->{line}: " . (split /\n/, $blk->{text})[0];
	if (defined $blk->{expected})
	{
		is($got, normalized($blk->{expected}), $what);
	}
	else
	{
		unlike($got, qr/^(ERROR|WARNING|FATAL):/m, "$what (no output shown: no error)");
	}
}

# --- demo/setup.sql, loaded twice -----------------------------------------
# the README says loading it again starts over, and it leaves the session's
# psql variables and settings as they were
{
	$node->safe_psql('postgres', 'CREATE DATABASE reload');
	my $reload = q{
\i demo/setup.sql
\set dpl `cat demo/dpl/lifetime_value.dpl`
SELECT pipeline.define(:'dpl') IS NOT NULL AS defined;
SELECT count(*) AS orders FROM billingdb.orders;
INSERT INTO billingdb.orders VALUES (61, 12, '$1.00', now());
\i demo/setup.sql
SELECT count(*) AS orders FROM billingdb.orders;
SELECT string_agg(matview::text, ', ' ORDER BY matview::text) AS views FROM pipeline.matviews;
\echo ON_ERROR_STOP :ON_ERROR_STOP
SHOW client_min_messages;
};
	my $got = '';
	my $cwd = Cwd::getcwd();
	chdir $src or die "chdir $src: $!";
	IPC::Run::run([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('reload') ],
		'<', \$reload, '>&', \$got);
	chdir $cwd;
	is($got, "t\n60\n60\ndeviceevents.mv_heartbeat, webevents.mv_siteactivity\n"
		  . "ON_ERROR_STOP off\nnotice\n",
		'demo/setup.sql loads again, starting over, and leaves psql and the session as they were');
}

# --- signatures -----------------------------------------------------------
# in a database of their own (the examples end with DROP EXTENSION)
$node->safe_psql('postgres', 'CREATE DATABASE signatures');
$node->safe_psql('signatures', 'CREATE EXTENSION pipeline');

# name -> list of "arg type, ...|column type, ..." of each overload, types
# as format_type prints them
my %have;
for my $row (split /\n/, $node->safe_psql('signatures', q{
	SELECT p.proname || '=' ||
	       coalesce((SELECT string_agg(coalesce(p.proargnames[k], '?') || ' ' || format_type(t, NULL), ', ' ORDER BY k)
	                   FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY a(t, k)
	                  WHERE coalesce(p.proargmodes[k], 'i') IN ('i', 'b', 'v')), '') || '|' ||
	       coalesce((SELECT string_agg(p.proargnames[k] || ' ' || format_type(t, NULL), ', ' ORDER BY k)
	                   FROM unnest(p.proallargtypes) WITH ORDINALITY a(t, k)
	                  WHERE p.proargmodes[k] IN ('t', 'o')), format_type(p.prorettype, NULL))
	  FROM pg_proc p WHERE p.pronamespace = 'pipeline'::regnamespace
	UNION ALL
	SELECT c.relname || '=' ||
	       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, NULL), ', ' ORDER BY a.attnum)
	          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
	  FROM pg_class c WHERE c.relnamespace = 'pipeline'::regnamespace AND c.relkind IN ('r', 'v')}))
{
	my ($name, $sig) = split /=/, $row, 2;
	push @{ $have{$name} }, $sig;
}

# "a type DEFAULT x, b type" -> "a type, b type", types canonical
my %canonical;

sub canonical_type
{
	my ($type) = @_;
	$type =~ s/\s+/ /g;
	$canonical{$type} //= $node->safe_psql('signatures', "SELECT format_type('$type'::regtype, NULL)");
	return $canonical{$type};
}

sub split_top
{
	my ($s) = @_;
	my (@parts, $depth, $cur, $quote);
	($depth, $cur, $quote) = (0, '', 0);
	for my $c (split //, $s)
	{
		$quote = !$quote if $c eq "'";
		if (!$quote && $c eq ',' && $depth == 0) { push @parts, $cur; $cur = ''; next; }
		$depth++ if !$quote && $c eq '(';
		$depth-- if !$quote && $c eq ')';
		$cur .= $c;
	}
	push @parts, $cur if $cur =~ /\S/;
	return @parts;
}

sub args_of
{
	my ($list) = @_;
	my @args;
	for my $arg (split_top($list))
	{
		$arg =~ s/^\s+|\s+$//g;
		$arg =~ s/\s+DEFAULT\s.*$//is;
		my ($name, $type) = $arg =~ /^"?([a-z_]+)"?\s+(.+)$/ or return undef;
		push @args, "$name " . canonical_type($type);
	}
	return join(', ', @args);
}

# the text inside the parentheses that open at $pos
sub parenthesized
{
	my ($text, $pos) = @_;
	my ($depth, $i) = (0, $pos);
	for (; $i < length($text); $i++)
	{
		my $c = substr($text, $i, 1);
		$depth++ if $c eq '(';
		$depth-- if $c eq ')';
		last if $depth == 0;
	}
	return (substr($text, $pos + 1, $i - $pos - 1), $i + 1);
}

for my $blk (@signatures)
{
	my $text = $blk->{text} =~ s/--[^\n]*//gr;
	while ($text =~ /pipeline\.([a-z_]+)\(/g)
	{
		my ($name, $open) = ($1, pos($text) - 1);
		my ($args, $after) = parenthesized($text, $open);
		my $want = args_of($args);
		my $rest = substr($text, $after);
		if ($rest =~ /^\s*RETURNS\s+TABLE\s*\(/i)
		{
			my ($cols) = parenthesized($rest, index($rest, '('));
			$want .= '|' . args_of($cols);
		}
		elsif ($rest =~ /^\s*RETURNS\s+([a-z][a-z ]*?)\s*(?:$|\n|pipeline\.)/i)
		{
			$want .= '|' . canonical_type($1);
		}
		my @have = @{ $have{$name} // [] };
		# a relation's entry is its columns, with no RETURNS
		my $found = grep { $_ eq $want } @have;
		ok($found, "README.md:$blk->{line}: pipeline.$name(" . ($args =~ s/\s+/ /gr) . ")")
		  or diag("README says:   $want\nthe code has:\n  " . join("\n  ", @have));
		pos($text) = $after;
	}
}

$endpoint->kill_kill;
$node->stop;
done_testing();
