# PipelineNode: the PostgreSQL::Test::Cluster setup the TAP tests and the
# benchmarks share -- a node that preloads pipeline, configured and started.
package PipelineNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;

# start_new(name, conf): a started node whose postgresql.conf preloads
# pipeline, plus conf (more settings, one per line)
sub start_new
{
	my ($class, $name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'pipeline'\n" . ($conf // ''));
	$node->start;
	return $node;
}

# scheduler_pid(node, db): the pid of database db's scheduler, once it runs
sub scheduler_pid
{
	my ($class, $node, $db) = @_;
	my $which = "backend_type = 'pipeline scheduler' AND datname = '" . ($db // 'postgres') . "'";
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE $which")
	  or die "no pipeline scheduler";
	return $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE $which");
}

# wait_for_ticks(node, db, n): returns once database db's scheduler has
# begun n more planning passes (each sets its query_start); a handle
# instead of a sleep, for tests that assert something did NOT happen
sub wait_for_ticks
{
	my ($class, $node, $db, $n) = @_;
	my $which = "backend_type = 'pipeline scheduler' AND datname = '" . ($db // 'postgres') . "'";
	for (1 .. $n)
	{
		my $last = $node->safe_psql('postgres',
			"SELECT coalesce(max(query_start), '-infinity') FROM pg_stat_activity WHERE $which");
		$node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE $which AND query_start > '$last'")
		  or die "the pipeline scheduler of $db does not tick";
	}
	return;
}

1;
