# Refresh of one view (run through bench/run refresh_one):
# pipeline.refresh(view, cascade => false) against a bare
# REFRESH MATERIALIZED VIEW of the same materialized view, in one psql
# session, alternating (A B B A ...) so drift and order effects cancel.
# Each pair gives a ratio pipeline/bare; the median ratio is the figure
# (target <= 1.05).  Three cases:
#   small:         10 rows from a 100-row table (fixed overhead dominates)
#   small in 1000: the same kind of view while 1,000 other managed views
#                  exist (what the fixed overhead scales with)
#   medium:        100,000 groups aggregated from 1,000,000 rows
# The views are full-mode (materialized views); "differential" lines refresh
# a differential view of the same query (nothing changed) instead.
# Repetitions: BENCH_SMALL_PAIRS (default 200), BENCH_MEDIUM_PAIRS (15).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PipelineNode;

my $small_pairs = $ENV{BENCH_SMALL_PAIRS} // 200;
my $medium_pairs = $ENV{BENCH_MEDIUM_PAIRS} // 30;

my $node = PipelineNode->start_new('bench_refresh_one', qq{
pipeline.enabled = off
shared_buffers = 256MB
max_wal_size = 4GB
});

$node->safe_psql('postgres', q{
	CREATE EXTENSION pipeline;
	CREATE TABLE small_src (id int, v int);
	INSERT INTO small_src SELECT g, g FROM generate_series(1, 100) g;
	CREATE TABLE big_src (id int, v int);
	INSERT INTO big_src SELECT g, g % 1000 FROM generate_series(1, 1000000) g;
	VACUUM ANALYZE small_src, big_src;
	SELECT pipeline.create_matview('public', 'small',
		'SELECT id % 10 AS k, count(*) AS n, sum(v) AS s FROM small_src GROUP BY 1', '1 hour',
		refresh_mode => 'full');
	SELECT pipeline.create_matview('public', 'medium',
		'SELECT id % 100000 AS k, count(*) AS n, sum(v) AS s, max(v) AS m FROM big_src GROUP BY 1', '1 hour',
		refresh_mode => 'full');
	SELECT pipeline.create_matview('public', 'small_diff',
		'SELECT id % 10 AS k, count(*) AS n, sum(v) AS s FROM small_src GROUP BY 1', '1 hour',
		refresh_mode => 'differential');
	SELECT pipeline.create_matview('public', 'medium_diff',
		'SELECT id % 100000 AS k, count(*) AS n, sum(v) AS s, max(v) AS m FROM big_src GROUP BY 1', '1 hour',
		refresh_mode => 'differential');
});

sub median
{
	my @s = sort { $a <=> $b } @_;
	my $n = @s;
	return $n % 2 ? $s[ ($n - 1) / 2 ] : ($s[ $n / 2 - 1 ] + $s[ $n / 2 ]) / 2;
}

# Alternating pairs in one session; returns (pipeline ms list, bare ms list).
# $piped is the view pipeline.refresh refreshes (by default $view, the
# materialized view REFRESH refreshes).
sub alternate
{
	my ($view, $pairs, $piped) = @_;
	$piped //= $view;
	my @stmts = (
		"SELECT count(*) FROM pipeline.refresh('$piped'::regclass, false);",
		"REFRESH MATERIALIZED VIEW $view;");
	my $script = "\\timing on\n";
	# warm-up: one of each, not counted
	$script .= "$stmts[0]\n$stmts[1]\n";
	for my $i (1 .. $pairs)
	{
		# A B, then B A: each kind goes first half the time
		my @order = $i % 2 ? (0, 1) : (1, 0);
		$script .= "$stmts[$_]\n" for @order;
	}
	my ($ret, $out, $err) = $node->psql('postgres', $script);
	die "psql failed: $err" if $ret != 0;
	my @times = ($out =~ /^Time: ([0-9.]+) ms/mg);
	die "expected " . (2 * $pairs + 2) . " timings, got " . scalar(@times)
	  unless @times == 2 * $pairs + 2;
	shift @times for 1 .. 2;	# the warm-up
	my (@p, @b);
	for my $i (1 .. $pairs)
	{
		my ($first, $second) = splice(@times, 0, 2);
		if ($i % 2) { push @p, $first; push @b, $second; }
		else { push @b, $first; push @p, $second; }
	}
	return (\@p, \@b);
}

sub report
{
	my ($label, $view, $pairs, $piped) = @_;
	my ($pl, $bare) = alternate($view, $pairs, $piped);
	my @ratios = map { $pl->[$_] / $bare->[$_] } 0 .. $#$pl;
	my @sr = sort { $a <=> $b } @ratios;
	printf "%s: %d alternating pairs; bare REFRESH median %.3f ms, pipeline.refresh median %.3f ms\n",
	  $label, $pairs, median(@$bare), median(@$pl);
	printf "%s: per-pair ratio pipeline/bare median %.3f (quartiles %.3f .. %.3f), ratio of medians %.3f (target <= 1.05)\n",
	  $label, median(@ratios), $sr[ int(@sr / 4) ], $sr[ int(3 * @sr / 4) ],
	  median(@$pl) / median(@$bare);
	printf "%s: fixed overhead (median pipeline - median bare) %.3f ms\n",
	  $label, median(@$pl) - median(@$bare);
}

report('small', 'mv_small', $small_pairs);
report('medium', 'mv_medium', $medium_pairs);
# the same queries as differential views, nothing changed since their last
# refresh, against the bare REFRESH of the materialized views
report('small differential', 'mv_small', $small_pairs, 'mv_small_diff');
report('medium differential', 'mv_medium', $medium_pairs, 'mv_medium_diff');

# the same small view again with 1,000 more managed views in the database:
# 100 roots over small_src and 900 views reading them
$node->safe_psql('postgres', join("\n",
	(map { "SELECT pipeline.create_matview('public', 'o$_', 'SELECT count(*) AS n FROM small_src', '1 hour', refresh_mode => 'full');" } 1 .. 100),
	(map { "SELECT pipeline.create_matview('public', 'p$_', 'SELECT n FROM mv_o" . (1 + $_ % 100) . "', '1 hour');" } 1 .. 900)));
report('small in thousand', 'mv_small', $small_pairs);

$node->stop;
