/*-------------------------------------------------------------------------
 * diff_expand.h
 *	  Plain views a differentially refreshed query reads, expanded into it
 *	  (diff_expand.c).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DIFF_EXPAND_H
#define PIPELINE_DIFF_EXPAND_H

#include "catalog/pg_class.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"

/*
 * query (one SELECT, no set operations) with every plain view and every
 * subquery in its FROM replaced by its tables and conditions, views in
 * views too; query itself when it reads none.  Its FROM is then a flat
 * list of inner-joined items.  A view it reads stays in its range table,
 * out of FROM, for the permission check on it.  Appends "oid:hash" of each view's definition to
 * fingerprint.  *reason says why not (the query returned is then not to
 * be used): a view that aggregates, a security barrier, ...
 */
extern Query *diff_expand_views(Query *query, Oid owner, StringInfo fingerprint,
								const char **reason);

/*
 * Whether query reads the whole row of a join or a subquery in FROM
 * (to_jsonb(j) of an aliased join): neither the SQL a differential refresh
 * writes (which drops join aliases) nor an expanded view or subquery (whose
 * joins are flattened into a ROW() of their columns, names lost) can spell
 * it.
 */
extern bool diff_reads_unnamed_whole_row(Query *query);

/*
 * The expressions of query that read columns: its select list, FROM and
 * HAVING, and the arguments of its functions and VALUES lists in FROM,
 * which may read another FROM item's columns (unnest(t.tags)).
 */
extern List *diff_query_expressions(Query *query);

/*
 * Whether rte is a plain view's entry: after diff_expand_views(), out of
 * FROM, kept for the permission check on the view and read by nothing.
 */
static inline bool
diff_view_entry(RangeTblEntry *rte)
{
	return rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_VIEW;
}

#endif
