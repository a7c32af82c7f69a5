# The DAG of the idle-scheduler benchmarks (bench/idle_scheduler.pl,
# bench/idle_pg_cron.pl): 100 source tables; 40% of the views count rows of
# one source, 30% join two of those (fan-in), 20% read one of the second
# level (chains), 10% join three of the third level.  Intervals of 1 or 2
# days.  Every view then succeeds for its current label in one run_due(),
# so that nothing is due for hours.
package IdleDag;
use strict;
use warnings;
use Time::HiRes qw(time);
use PipelineNode;

# the server settings of the idle benches' node (10,000 views created and
# run by one run_due() need the locks)
our $settings = q{
pipeline.enabled = off
max_worker_processes = 20
shared_buffers = 256MB
max_wal_size = 4GB
# run_due() refreshes every view once in one transaction
max_locks_per_transaction = 256
};

# create(node, views, extra create_matview arguments): returns the seconds
# the definitions took, run_due()'s outcome ("N succeeded, M other") and
# its seconds
sub create
{
	my ($node, $views, $extra) = @_;
	my $n1 = int($views * 0.4);
	my $n2 = int($views * 0.3);
	my $n3 = int($views * 0.2);
	my $n4 = $views - $n1 - $n2 - $n3;
	my @sql = ('CREATE EXTENSION pipeline;');
	for my $s (1 .. 100)
	{
		push @sql, "CREATE TABLE src_$s (id int); INSERT INTO src_$s SELECT generate_series(1, 10);";
	}
	for my $i (1 .. $n1)
	{
		my $s = 1 + $i % 100;
		push @sql, "SELECT pipeline.create_matview('public', 'a$i', 'SELECT count(*) AS n FROM src_$s', '1 day'$extra);";
	}
	for my $i (1 .. $n2)
	{
		my ($x, $y) = (1 + $i % $n1, 1 + (7 * $i + 3) % $n1);
		my $iv = $i % 3 ? '1 day' : '2 days';
		push @sql, "SELECT pipeline.create_matview('public', 'b$i', 'SELECT x.n + y.n AS n FROM mv_a$x x, mv_a$y y', '$iv'$extra);";
	}
	for my $i (1 .. $n3)
	{
		my $x = 1 + $i % $n2;
		push @sql, "SELECT pipeline.create_matview('public', 'c$i', 'SELECT n * 2 AS n FROM mv_b$x', '2 days'$extra);";
	}
	for my $i (1 .. $n4)
	{
		my ($x, $y, $z) = (1 + $i % $n3, 1 + (3 * $i + 1) % $n3, 1 + (5 * $i + 2) % $n3);
		push @sql, "SELECT pipeline.create_matview('public', 'd$i', 'SELECT x.n + y.n + z.n AS n FROM mv_c$x x, mv_c$y y, mv_c$z z', '1 day'$extra);";
	}
	my $t0 = time;
	$node->safe_psql('postgres', join("\n", @sql), timeout => 3600);
	my $define_s = time - $t0;

	$t0 = time;
	my $ran = $node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE status = 'succeeded') || ' succeeded, ' || count(*) FILTER (WHERE status <> 'succeeded') || ' other' FROM pipeline.run_due()",
		timeout => 3600);
	my $run_due_s = time - $t0;
	$node->safe_psql('postgres', 'VACUUM ANALYZE');
	return ($define_s, $ran, $run_due_s);
}

# seconds until the first view's next label: nothing may become due
# while a benchmark measures
sub seconds_to_next_label
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT extract(epoch FROM min(pipeline.time_label(refresh_interval) + refresh_interval) - now())::int FROM pipeline.matview_definitions");
}

# start_worker(node): turns pipeline's worker on, as the idle benches
# measure it (with DEBUG1 lines for the planning passes' times); returns the
# pids of the scheduler and the launcher, and the tick
sub start_worker
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
		ALTER SYSTEM SET pipeline.enabled = on;
		ALTER SYSTEM SET log_min_messages = debug1;
		SELECT pg_reload_conf();
	});
	my $scheduler = PipelineNode->scheduler_pid($node);
	my $launcher = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'pipeline launcher'");
	return ($scheduler, $launcher, $node->safe_psql('postgres', 'SHOW pipeline.tick'));
}

sub median
{
	my @s = sort { $a <=> $b } @_;
	my $n = @s;
	return $n % 2 ? $s[ ($n - 1) / 2 ] : ($s[ $n / 2 - 1 ] + $s[ $n / 2 ]) / 2;
}

1;
