/*-------------------------------------------------------------------------
 * diff_expand.c
 *	  Plain views a differentially refreshed query reads, and its subqueries
 *	  in FROM, expanded into it (diff_expand.h), so that their tables become
 *	  the query's sources.
 *
 *	  As the rewriter expands a view, permissions included: the query's
 *	  entry for the view stays in its range table (out of FROM) so that the
 *	  owner's SELECT on the view is checked, and the view's own entries
 *	  carry the view owner's identity (or none, for a security_invoker
 *	  view).  Unlike the rewriter, the view's tables are then joined into
 *	  the query itself rather than kept as a subquery: the differential SQL
 *	  swaps FROM items of one SELECT.  Every join being inner, the FROM
 *	  clause becomes a flat list and every ON condition part of WHERE.  A
 *	  subquery in FROM is a view written in place: pulled up the same way,
 *	  as the planner pulls up a simple subquery, with no entry left behind.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/sysattr.h"
#include "access/table.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "views/diff_expand.h"

/* Views inside views inside ...: deeper than this is refused. */
#define MAX_VIEW_DEPTH 16

/* A plain view or a subquery: a FROM item to expand. */
static bool
is_view_entry(Query *query, Node *item)
{
	RangeTblEntry *rte;

	if (!IsA(item, RangeTblRef))
		return false;
	rte = rt_fetch(((RangeTblRef *) item)->rtindex, query->rtable);
	return diff_view_entry(rte) || rte->rtekind == RTE_SUBQUERY;
}

static bool
reads_a_view(Query *query, Node *node)
{
	ListCell   *lc;

	if (IsA(node, FromExpr))
	{
		foreach(lc, ((FromExpr *) node)->fromlist)
			if (reads_a_view(query, lfirst(lc)))
				return true;
		return false;
	}
	if (IsA(node, JoinExpr))
		return reads_a_view(query, ((JoinExpr *) node)->larg) ||
			reads_a_view(query, ((JoinExpr *) node)->rarg);
	return is_view_entry(query, node);
}

/*
 * The FROM items under node as a flat list (*items) and its conditions
 * (*quals).  A join's range table entry is referenced no more: it becomes
 * an empty one, which the deparser names but never prints.
 */
static const char *
flatten_from(Query *query, Node *node, List **items, List **quals)
{
	if (IsA(node, RangeTblRef))
		*items = lappend(*items, node);
	else if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
		{
			const char *reason = flatten_from(query, lfirst(lc), items, quals);

			if (reason != NULL)
				return reason;
		}
		if (((FromExpr *) node)->quals != NULL)
			*quals = lappend(*quals, ((FromExpr *) node)->quals);
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *join = (JoinExpr *) node;
		RangeTblEntry *rte = rt_fetch(join->rtindex, query->rtable);
		const char *reason;

		if (join->jointype != JOIN_INNER)
			return "outer joins are not supported";
		reason = flatten_from(query, join->larg, items, quals);
		if (reason == NULL)
			reason = flatten_from(query, join->rarg, items, quals);
		if (reason != NULL)
			return reason;
		if (join->quals != NULL)
			*quals = lappend(*quals, join->quals);
		rte->rtekind = RTE_RESULT;
		rte->joinaliasvars = NIL;
		rte->joinleftcols = NIL;
		rte->joinrightcols = NIL;
		rte->join_using_alias = NULL;
	}
	else
		elog(ERROR, "unrecognized node type in FROM: %d", (int) nodeTag(node));
	return NULL;
}

/*
 * A column written through a join's alias (j.id) names the join for the
 * deparser (varnosyn); the join is gone from FROM, so it names its table.
 */
static bool
name_tables_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup == 0)
	{
		((Var *) node)->varnosyn = ((Var *) node)->varno;
		((Var *) node)->varattnosyn = ((Var *) node)->varattno;
		return false;
	}
	return expression_tree_walker(node, name_tables_walker, context);
}

List *
diff_query_expressions(Query *query)
{
	List	   *expressions = list_make3(query->targetList, query->jointree, query->havingQual);
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_FUNCTION)
			expressions = lappend(expressions, rte->functions);
		else if (rte->rtekind == RTE_VALUES)
			expressions = lappend(expressions, rte->values_lists);
	}
	return expressions;
}

bool
diff_reads_unnamed_whole_row(Query *query)
{
	Node	   *reads = (Node *) diff_query_expressions(query);
	int			rtindex = 0;
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		Bitmapset  *attnums = NULL;
		RTEKind		kind = lfirst_node(RangeTblEntry, lc)->rtekind;

		rtindex++;
		if (kind != RTE_JOIN && kind != RTE_SUBQUERY)
			continue;
		pull_varattnos(reads, rtindex, &attnums);
		if (bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber, attnums))
			return true;
	}
	return false;
}

/*
 * Join alias columns replaced by the columns they stand for, wherever
 * diff_query_expressions() reads them.
 */
static void
flatten_join_columns(Query *query)
{
	ListCell   *lc;

	query->targetList = (List *) flatten_join_alias_vars(query, (Node *) query->targetList);
	query->jointree = (FromExpr *) flatten_join_alias_vars(query, (Node *) query->jointree);
	query->havingQual = flatten_join_alias_vars(query, query->havingQual);
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_FUNCTION)
			rte->functions = (List *) flatten_join_alias_vars(query, (Node *) rte->functions);
		else if (rte->rtekind == RTE_VALUES)
			rte->values_lists = (List *) flatten_join_alias_vars(query, (Node *) rte->values_lists);
	}
}

static bool
contains_collate_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CollateExpr))
		return true;
	return expression_tree_walker(node, contains_collate_walker, context);
}

/*
 * Whether a column of view has a collatable type but no collation (a || b
 * of two columns of different collations): it has none in the reader, but
 * written into the reader its two collations meet the reader's operator,
 * which then cannot choose.
 */
static bool
mixes_collations(Query *view)
{
	ListCell   *lc;

	foreach(lc, view->targetList)
	{
		Node	   *expr = (Node *) lfirst_node(TargetEntry, lc)->expr;

		if (type_is_collatable(exprType(expr)) && !OidIsValid(exprCollation(expr)))
			return true;
	}
	return false;
}

/*
 * Whether view sorts by anything but its columns: PostgreSQL does not pull
 * such a subquery up, so it evaluates the sort's expressions, which may
 * fail where the reader's rows alone would not.
 */
static bool
sorts_by_expressions(Query *view)
{
	ListCell   *lc;

	foreach(lc, view->sortClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst_node(SortGroupClause, lc),
												   view->targetList);

		if (!IsA(tle->expr, Var))
			return true;
	}
	return false;
}

/*
 * Why the query of view name (NULL: a subquery in FROM) cannot be joined
 * into its reader, or NULL.  What PostgreSQL would not pull up is refused
 * too: its columns are computed whether the reader reads them or not (a
 * volatile function, an ORDER BY expression), so joining it would skip
 * their errors and side effects.  And a column with COLLATE (its collation
 * is implicit in the reader, explicit once written into it) or of two.
 */
static const char *
view_query_reason(const char *name, Query *view)
{
	const char *what = NULL;

	if (view->setOperations != NULL)
		what = "set operations";
	else if (view->hasAggs || view->groupClause != NIL || view->groupingSets != NIL ||
			 view->havingQual != NULL)
		what = "aggregates or GROUP BY";
	else if (view->distinctClause != NIL)
		what = "DISTINCT";
	else if (view->hasWindowFuncs)
		what = "window functions";
	else if (view->limitCount != NULL || view->limitOffset != NULL)
		what = "LIMIT or OFFSET";
	else if (view->cteList != NIL)
		what = "WITH";
	else if (view->hasSubLinks)
		what = "subqueries in expressions";
	else if (view->hasTargetSRFs)
		what = "set-returning functions";
	else if (view->rowMarks != NIL)
		what = "FOR UPDATE or FOR SHARE";
	else if (contain_volatile_functions((Node *) view->targetList))
		what = "volatile functions";
	else if (sorts_by_expressions(view))
		what = "ORDER BY an expression";
	else if (contains_collate_walker((Node *) view->targetList, NULL))
		what = "COLLATE in the select list";
	else if (mixes_collations(view))
		what = "a column of two collations";
	if (what == NULL)
		return NULL;
	if (name == NULL)
		return psprintf("subqueries in FROM with %s are not supported", what);
	return psprintf("plain view %s uses %s, so it cannot be expanded", name, what);
}

/*
 * A subquery in FROM, ready to join into query as view_to_join() readies a
 * view.  It names no relation of its own: its tables are checked as the
 * reader's.  A LATERAL one, or one reading the reader's CTEs, reads the
 * query around it, which a join of its tables could not.
 */
static const char *
subquery_to_join(Query *query, int rtindex, Query **subqueryp)
{
	RangeTblEntry *rte = rt_fetch(rtindex, query->rtable);
	Query	   *subquery = copyObject(rte->subquery);
	const char *reason;
	ListCell   *lc;

	if (rte->lateral)
		return "LATERAL subqueries are not supported";
	foreach(lc, subquery->rtable)
		if (lfirst_node(RangeTblEntry, lc)->rtekind == RTE_CTE)
			return "WITH queries are not supported";
	reason = view_query_reason(NULL, subquery);
	if (reason == NULL && diff_reads_unnamed_whole_row(subquery))
		reason = "whole-row references are not supported";
	if (reason != NULL)
		return reason;
	flatten_join_columns(subquery);
	OffsetVarNodes((Node *) subquery, list_length(query->rtable), 0);
	*subqueryp = subquery;
	return NULL;
}

/*
 * The query of the view at rtindex, ready to join into query: checked,
 * its join columns flattened and its range table entries numbered after
 * query's.  Appends the view's fingerprint.
 */
static const char *
view_to_join(Query *query, int rtindex, Oid owner, StringInfo fingerprint, Query **viewp)
{
	RangeTblEntry *rte = rt_fetch(rtindex, query->rtable);
	Relation	rel = table_open(rte->relid, AccessShareLock);
	char	   *name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel));
	Query	   *view = copyObject(get_view_query(rel));
	const char *reason = NULL;
	char	   *text = nodeToString(view);

	/* a replaced view changes it: the next refresh is then full */
	appendStringInfo(fingerprint, "%s%u:" UINT64_FORMAT, fingerprint->len > 0 ? " " : "",
					 rte->relid,
					 hash_bytes_extended((const unsigned char *) text, strlen(text), 0));
	if (RelationIsSecurityView(rel))
		reason = psprintf("plain view %s is a security barrier", name);
	else if (rel->rd_rel->relowner != owner && !RelationHasSecurityInvoker(rel))
		reason = psprintf("plain view %s belongs to another role", name);
	else
		reason = view_query_reason(name, view);
	if (reason == NULL && diff_reads_unnamed_whole_row(view))
		reason = psprintf("plain view %s reads the whole row of a join or subquery", name);
	table_close(rel, NoLock);
	if (reason != NULL)
		return reason;
	flatten_join_columns(view);
	OffsetVarNodes((Node *) view, list_length(query->rtable), 0);
	*viewp = view;
	return NULL;
}

/*
 * The FROM items of the view at rtindex replace it; its conditions are
 * appended to *view_quals, the reader's are in *quals.
 */
static const char *
expand_one(Query **queryp, int rtindex, Oid owner, StringInfo fingerprint,
		   List **items, List **quals, List **view_quals)
{
	Query	   *query = *queryp;
	RangeTblEntry *rte = rt_fetch(rtindex, query->rtable);
	bool		subquery = rte->rtekind == RTE_SUBQUERY;
	Query	   *view;
	const char *reason = subquery ? subquery_to_join(query, rtindex, &view) :
	view_to_join(query, rtindex, owner, fingerprint, &view);
	List	   *view_items = NIL;
	bool		sublinks = false;

	if (reason != NULL)
		return reason;
	/* the reader's columns of the view become the view's expressions */
	*quals = (List *) ReplaceVarsFromTargetList((Node *) *quals, rtindex, 0, rte,
												view->targetList, REPLACEVARS_REPORT_ERROR,
												0, &sublinks);
	query = (Query *) ReplaceVarsFromTargetList((Node *) query, rtindex, 0, rte,
												view->targetList, REPLACEVARS_REPORT_ERROR,
												0, &sublinks);
	query->hasSubLinks |= sublinks;
	query->rtable = list_concat(query->rtable, view->rtable);
	/* nothing reads a subquery's entry now: empty, as a flattened join's */
	if (subquery)
	{
		rte = rt_fetch(rtindex, query->rtable);
		rte->rtekind = RTE_RESULT;
		rte->subquery = NULL;
	}
	reason = flatten_from(query, (Node *) view->jointree, &view_items, view_quals);
	*items = list_concat(*items, view_items);
	*queryp = query;
	return reason;
}

Query *
diff_expand_views(Query *query, Oid owner, StringInfo fingerprint, const char **reason)
{
	List	   *items = NIL;
	List	   *quals = NIL;

	*reason = NULL;
	if (query->jointree == NULL || !reads_a_view(query, (Node *) query->jointree))
		return query;
	if (diff_reads_unnamed_whole_row(query))
	{
		*reason = "whole-row references are not supported";
		return query;
	}
	query = copyObject(query);
	flatten_join_columns(query);
	*reason = flatten_from(query, (Node *) query->jointree, &items, &quals);
	for (int depth = 0; *reason == NULL; depth++)
	{
		List	   *expanded = NIL;
		List	   *view_quals = NIL;
		bool		any = false;
		ListCell   *lc;

		if (depth == MAX_VIEW_DEPTH)
		{
			*reason = "plain views and subqueries in FROM are nested too deeply";
			break;
		}
		foreach(lc, items)
		{
			if (*reason == NULL && is_view_entry(query, lfirst(lc)))
			{
				*reason = expand_one(&query, ((RangeTblRef *) lfirst(lc))->rtindex, owner,
									 fingerprint, &expanded, &quals, &view_quals);
				any = true;
			}
			else
				expanded = lappend(expanded, lfirst(lc));
		}
		items = expanded;

		/*
		 * the views' conditions first, as PostgreSQL tests a pulled-up
		 * subquery's
		 */
		quals = list_concat(view_quals, quals);
		if (!any)
			break;
	}
	query->jointree = makeFromExpr(items, quals == NIL ? NULL : (Node *) make_ands_explicit(quals));
	(void) name_tables_walker((Node *) diff_query_expressions(query), NULL);
	return query;
}
