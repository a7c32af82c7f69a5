/*-------------------------------------------------------------------------
 * toposort.h
 *	  Kahn's topological sort over nodes numbered 0..n-1, once.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_TOPOSORT_H
#define PIPELINE_TOPOSORT_H

#include "nodes/pg_list.h"

typedef struct TopoSort
{
	int			placed;			/* nodes in order; < n when there is a cycle */
	int		   *order;			/* node indexes, every upstream first */
	bool	   *is_placed;		/* by node: false on or below a cycle */
	int		   *level;			/* by node: 1 + max level of its upstreams */
} TopoSort;

/*
 * Sorts n nodes, upstream[i] listing the nodes node i reads (integer lists
 * of indexes; a repeated index counts as one edge per occurrence).  Ties
 * keep index order: nodes become ready in index order and are placed first
 * come, first placed.  Never errors on a cycle: the caller sees placed < n
 * and reports it in its own words.  Result palloc'd in the current context.
 */
extern TopoSort *toposort(int n, List *const *upstream);

#endif
