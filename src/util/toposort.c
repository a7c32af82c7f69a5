/*-------------------------------------------------------------------------
 * toposort.c
 *	  Kahn's topological sort: the refresh order of the DAG (model/dag.c)
 *	  and the order of a change set (compile/changeset.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/toposort.h"

TopoSort *
toposort(int n, List *const *upstream)
{
	TopoSort   *ts = palloc0(sizeof(TopoSort));
	int		   *pending = palloc0(sizeof(int) * Max(n, 1));
	List	  **downstream = palloc0(sizeof(List *) * Max(n, 1));
	int			i;

	ts->order = palloc(sizeof(int) * Max(n, 1));
	ts->is_placed = palloc0(sizeof(bool) * Max(n, 1));
	ts->level = palloc(sizeof(int) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ListCell   *lc;

		pending[i] = list_length(upstream[i]);
		foreach(lc, upstream[i])
			downstream[lfirst_int(lc)] = lappend_int(downstream[lfirst_int(lc)], i);
	}
	for (i = 0; i < n; i++)
	{
		ts->level[i] = 1;
		if (pending[i] == 0)
			ts->order[ts->placed++] = i;
	}

	/* a node's level is final once all its upstreams are placed */
	for (i = 0; i < ts->placed; i++)
	{
		int			node = ts->order[i];
		ListCell   *lc;

		ts->is_placed[node] = true;
		foreach(lc, downstream[node])
		{
			int			down = lfirst_int(lc);

			ts->level[down] = Max(ts->level[down], ts->level[node] + 1);
			if (--pending[down] == 0)
				ts->order[ts->placed++] = down;
		}
	}

	for (i = 0; i < n; i++)
		list_free(downstream[i]);
	pfree(downstream);
	pfree(pending);
	return ts;
}
