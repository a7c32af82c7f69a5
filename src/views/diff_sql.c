/*-------------------------------------------------------------------------
 * diff_sql.c
 *	  Generating a differential refresh's SQL (diff_sql.h).
 *
 *	  The view's FROM and WHERE are deparsed once, with every table given
 *	  an alias of ours (pipeline_src_<n>) and the select list replaced by
 *	  the expressions the refresh needs (c1..cN) and a placeholder for the
 *	  row's multiplicity.  A delta term is that text with some FROM items
 *	  swapped: for changed tables t_1..t_k in order, term i reads t_1..t_i-1
 *	  as they are now, t_i's changes, and t_i+1..t_k as they were (now
 *	  minus the changes), so the terms add up to exactly the change of the
 *	  join (the telescoping sum of signed bags).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "util/analyze.h"
#include "util/name_list.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "views/diff_expand.h"
#include "views/diff_sql.h"
#include "views/diff_sql_private.h"

char *
column_list(const char *prefix, int from, int to)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = from; i <= to; i++)
		appendStringInfo(&buf, "%s%s%d", i > from ? ", " : "", prefix, i);
	return buf.data;
}

/* ROW(a..)::record = ROW(b..)::record: equal, NULLs included, hashable */
char *
rows_equal(const char *left_prefix, const char *right_prefix, int n)
{
	if (n == 0)
		return pstrdup("true");
	return psprintf("ROW(%s)::record OPERATOR(pg_catalog.=) ROW(%s)::record",
					column_list(left_prefix, 1, n), column_list(right_prefix, 1, n));
}

char *
keys_equal(DiffSql *sql, const char *left_prefix, const char *right_prefix, int n)
{
	StringInfoData buf;

	if (n == 0)
		return pstrdup("true");
	initStringInfo(&buf);
	for (int i = 1; i <= n; i++)
		appendStringInfo(&buf, "%s%s", i > 1 ? " AND " : "",
						 equality_expr_sql(sql->key_types[i - 1], psprintf("%s%d", left_prefix, i),
										   psprintf("%s%d", right_prefix, i)));
	return buf.data;
}

char *
null_value_sql(const char *expr, Oid type)
{
	/*
	 * A row whose fields are all null is a value (its own group, equal to
	 * itself by record =), yet IS NULL says true of it: num_nulls() asks
	 * about the value.  Other types keep IS NULL, which the planner
	 * estimates.
	 */
	if (type_is_rowtype(getBaseType(type)))
		return psprintf("pg_catalog.num_nulls(%s) OPERATOR(pg_catalog.>) 0", expr);
	return psprintf("%s IS NULL", expr);
}

char *
some_key_null(DiffSql *sql, const char *prefix, int n)
{
	StringInfoData buf;

	if (n == 0)
		return pstrdup("false");
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int i = 1; i <= n; i++)
		appendStringInfo(&buf, "%s%s", i > 1 ? " OR " : "",
						 null_value_sql(psprintf("%s%d", prefix, i), sql->key_types[i - 1]));
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The one place from occurs in text as a whole: not followed by a character
 * of an identifier ("x pipeline_src_1" is not in "x pipeline_src_10").
 */
static const char *
find_whole(const char *text, const char *from)
{
	size_t		len = strlen(from);
	const char *found = NULL;

	for (const char *at = strstr(text, from); at != NULL; at = strstr(at + 1, from))
	{
		char		next = at[len];

		if (isalnum((unsigned char) next) || next == '_' || next == '$')
			continue;
		if (found != NULL)
			return NULL;
		found = at;
	}
	return found;
}

static char *
replace_once(const char *text, const char *from, const char *to)
{
	const char *at = find_whole(text, from);
	StringInfoData buf;

	if (at == NULL)
		elog(ERROR, "differential refresh: \"%s\" does not occur exactly once in \"%s\"",
			 from, text);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, text, at - text);
	appendStringInfoString(&buf, to);
	appendStringInfoString(&buf, at + strlen(from));
	return buf.data;
}

static char *
deparse_pinned_expression(Node *expr)
{
	RunAsSetting path = {"search_path", ""};
	int			nestlevel = runas_pin_settings(&path, 1);
	char	   *text = deparse_expression(expr, NIL, false, false);

	runas_unpin_settings(nestlevel);
	return text;
}

/* base, or base_s<salt> after the first salt */
static char *
salted(const char *base, int salt)
{
	return salt == 0 ? pstrdup(base) : psprintf("%s_s%d", base, salt);
}

/*
 * A join's alias would hide the tables our multiplicity names: the joins
 * of the from list lose theirs (their range-table entries too), and the
 * deparser spells their columns by the tables' then.
 */
static void
forget_join_aliases(Node *node)
{
	if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			forget_join_aliases(lfirst(lc));
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *join = (JoinExpr *) node;

		join->alias = NULL;
		forget_join_aliases(join->larg);
		forget_join_aliases(join->rarg);
	}
}

/*
 * A SELECT of the view with our aliases and the select list exprs, its
 * names of ours spelled with salt; NULL when the text does not hold each
 * of them exactly once (the query's own text has one: a literal, an alias).
 */
static DiffBranch *
flatten_query_salted(Query *block, List *exprs, int salt)
{
	Query	   *query = copyObject(block);
	DiffBranch *branch = palloc0(sizeof(DiffBranch));
	List	   *targets = NIL;
	char	   *multiplicity = salted("pipeline_multiplicity", salt);
	int			rtindex = 0;
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		DiffOccurrence *occurrence;

		rtindex++;
		if (rte->rtekind == RTE_JOIN)
			rte->alias = NULL;	/* see forget_join_aliases() */
		if (rte->rtekind != RTE_RELATION || diff_view_entry(rte))
			continue;
		occurrence = palloc0(sizeof(DiffOccurrence));
		occurrence->relid = rte->relid;
		occurrence->alias = psprintf("%s_%d", salted("pipeline_src", salt), rtindex);
		occurrence->from_item = psprintf("%s%s %s", rte->inh ? "" : "ONLY ",
										 relation_qualified_name(rte->relid),
										 occurrence->alias);
		rte->alias = makeAlias(occurrence->alias, NIL);
		rte->eref->aliasname = occurrence->alias;
		branch->occurrences = lappend(branch->occurrences, occurrence);
	}
	forget_join_aliases((Node *) query->jointree);
	foreach(lc, exprs)
		targets = lappend(targets, makeTargetEntry(lfirst(lc), list_length(targets) + 1,
												   psprintf("c%d", list_length(targets) + 1),
												   false));
	targets = lappend(targets, makeTargetEntry((Expr *) makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1,
																  CStringGetTextDatum(multiplicity),
																  false, false),
											   list_length(targets) + 1, "pipeline_m", false));
	query->targetList = targets;
	query->groupClause = NIL;
	query->havingQual = NULL;
	query->hasAggs = false;
	query->distinctClause = NIL;
	query->sortClause = NIL;
	branch->inner = runas_deparse_bound(query);
	branch->placeholder = psprintf("'%s'::text", multiplicity);

	if (find_whole(branch->inner, branch->placeholder) == NULL)
		return NULL;
	foreach(lc, branch->occurrences)
		if (find_whole(branch->inner, ((DiffOccurrence *) lfirst(lc))->from_item) == NULL)
			return NULL;
	return branch;
}

/* The view's SELECT (or a UNION ALL branch) flattened into a branch of sql. */
static void
flatten_query(DiffSql *sql, Query *block, List *exprs)
{
	/* the names in from items as the deparsed text spells them */
	int			nestlevel = runas_pin_bound_text_settings();
	DiffBranch *branch = NULL;

	/* a query holds few names of ours, if any: a few salts find a free one */
	for (int salt = 0; branch == NULL; salt++)
	{
		CHECK_FOR_INTERRUPTS();
		if (salt == 100)
			elog(ERROR, "differential refresh: no aliases of ours are free in the view's query");
		branch = flatten_query_salted(block, exprs, salt);
	}
	runas_unpin_settings(nestlevel);
	sql->branches = lappend(sql->branches, branch);
}

/* Aggregates and keys of the select list become $n, deparsed; see below. */
static Node *
finalize_mutator(Node *node, DiffSql *sql)
{
	ListCell   *lc;
	int			i = 0;

	if (node == NULL)
		return NULL;
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);

		i++;
		if (equal(node, agg->aggref))
		{
			Param	   *param = makeNode(Param);

			param->paramkind = PARAM_EXTERN;
			param->paramid = AGG_PARAM_BASE + i;
			param->paramtype = agg->aggref->aggtype;
			param->paramtypmod = -1;
			param->paramcollid = agg->aggref->aggcollid;
			param->location = -1;
			return (Node *) param;
		}
	}
	i = 0;
	foreach(lc, sql->shape->keys)
	{
		Expr	   *key = lfirst_node(TargetEntry, lc)->expr;

		i++;
		if (equal(node, key))
		{
			Param	   *param = makeNode(Param);

			param->paramkind = PARAM_EXTERN;
			param->paramid = KEY_PARAM_BASE + i;
			param->paramtype = exprType((Node *) key);
			param->paramtypmod = exprTypmod((Node *) key);
			param->paramcollid = exprCollation((Node *) key);
			param->location = -1;
			return (Node *) param;
		}
	}
	return expression_tree_mutator(node, finalize_mutator, sql);
}

/*
 * s's numeric sum number n at its inputs' largest scale, as sum() gives
 * it: a sum keeps the largest scale it ever had, and a delete may take
 * the inputs that had it.  Rounded only then: rounding to the scale the
 * sum has changes nothing, and costs a copy.
 */
static char *
sum_at_scale(int n)
{
	return psprintf("(CASE WHEN pg_catalog.scale(s.sum_%d) = s.scale_%d THEN s.sum_%d "
					"ELSE pg_catalog.round(s.sum_%d, s.scale_%d) END)", n, n, n, n, n);
}

/* The value of aggregate number n (1-based) from its state in s. */
static char *
aggregate_value(DiffSql *sql, DiffAgg *agg, int n)
{
	int			nn = sql->nn_column[n];
	int			sum = sql->sum_column[n];

	switch (agg->kind)
	{
		case DIFF_COUNT_STAR:
			return pstrdup("s.pipeline_count");
		case DIFF_COUNT:
			return psprintf("s.nn_%d", nn);
		case DIFF_SUM:
			if (agg->argtype == INT2OID || agg->argtype == INT4OID)
				return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL ELSE s.sum_%d::pg_catalog.int8 END)", nn, sum);
			if (agg->argtype == INT8OID)
				return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL ELSE s.sum_%d END)", nn, sum);
			return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL WHEN s.scale_%d IS NULL THEN s.sum_%d "
							"ELSE %s END)", nn, sum, sum, sum_at_scale(sum));
		case DIFF_AVG:
			if (!agg->numeric_arg)
				return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL "
								"ELSE s.sum_%d OPERATOR(pg_catalog./) s.nn_%d::pg_catalog.numeric END)",
								nn, sum, nn);
			return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL WHEN s.scale_%d IS NULL "
							"THEN s.sum_%d OPERATOR(pg_catalog./) s.nn_%d::pg_catalog.numeric "
							"ELSE %s OPERATOR(pg_catalog./) s.nn_%d::pg_catalog.numeric END)",
							nn, sum, sum, nn, sum_at_scale(sum), nn);
		case DIFF_MIN:
		case DIFF_MAX:
			return psprintf("s.ext_%d", n);
		case DIFF_BOOL_AND:
			return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL ELSE s.true_%d = s.nn_%d END)", nn, n, nn);
		case DIFF_BOOL_OR:
			return psprintf("(CASE WHEN s.nn_%d = 0 THEN NULL ELSE s.true_%d > 0 END)", nn, n);
	}
	return NULL;
}

/*
 * Replaces every parameter $9001.. and $9501.. of a deparsed expression by
 * its value from s: aggregate n (1-based) by aggs[n - 1], group key n by
 * "s.k<n>".  Only parameters outside quoted literals and identifiers are
 * parameters: the query's own text may hold '$9001'.
 */
static char *
substitute_params(DiffSql *sql, const char *text)
{
	int			naggs = list_length(sql->shape->aggs);
	int			nkeys = list_length(sql->shape->keys);
	char	  **aggs = palloc(sizeof(char *) * Max(naggs, 1));
	StringInfoData buf;
	char		quote = 0;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, sql->shape->aggs)
	{
		aggs[i] = aggregate_value(sql, lfirst(lc), i + 1);
		i++;
	}
	initStringInfo(&buf);
	for (const char *p = text; *p; p++)
	{
		char	   *end;
		long		n;

		/* a doubled quote inside a literal closes and reopens it: no harm */
		if (quote != 0 || *p == '\'' || *p == '"')
		{
			if (quote == 0)
				quote = *p;
			else if (*p == quote)
				quote = 0;
			appendStringInfoChar(&buf, *p);
			continue;
		}
		if (*p != '$' || !isdigit((unsigned char) p[1]))
		{
			appendStringInfoChar(&buf, *p);
			continue;
		}
		n = strtol(p + 1, &end, 10);
		if (n > AGG_PARAM_BASE && n <= AGG_PARAM_BASE + naggs)
			appendStringInfoString(&buf, aggs[n - AGG_PARAM_BASE - 1]);
		else if (n > KEY_PARAM_BASE && n <= KEY_PARAM_BASE + nkeys)
			appendStringInfo(&buf, "s.k%ld", n - KEY_PARAM_BASE);
		else
			appendBinaryStringInfo(&buf, p, end - p);
		p = end - 1;
	}
	return buf.data;
}

static void
prepare_finalize(DiffSql *sql)
{
	StringInfoData list;
	ListCell   *lc;

	initStringInfo(&list);
	foreach(lc, sql->shape->query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Node	   *value;

		if (tle->resjunk)
			continue;
		value = finalize_mutator((Node *) tle->expr, sql);
		appendStringInfo(&list, "%s%s", list.len > 0 ? ", " : "",
						 substitute_params(sql, deparse_pinned_expression(value)));
	}
	sql->finalize_list = list.data;
	if (sql->shape->query->havingQual != NULL)
		sql->finalize_having =
			substitute_params(sql, deparse_pinned_expression(finalize_mutator(sql->shape->query->havingQual,
																			  sql)));
}

/*
 * With share, aggregates of one argument keep one count of its non-NULL
 * values (nn_<n>, n the first of them), and sum() and avg() of it one sum
 * and scale (sum_<n>, scale_<n>, scale_n_<n>): view A's count, sum, avg,
 * min and max of amount keep one count instead of four, one sum instead
 * of two.  State tables made before 1.9 keep them per aggregate.
 */
void
diff_sql_share_columns(DiffSql *sql, bool share)
{
	int			naggs = list_length(sql->shape->aggs);

	sql->nn_column = palloc0(sizeof(int) * (naggs + 1));
	sql->sum_column = palloc0(sizeof(int) * (naggs + 1));
	for (int i = 1; i <= naggs; i++)
	{
		DiffAgg    *agg = list_nth(sql->shape->aggs, i - 1);
		bool		sums = agg->kind == DIFF_SUM || agg->kind == DIFF_AVG;

		sql->nn_column[i] = i;
		sql->sum_column[i] = i;
		for (int j = 1; share && j < i; j++)
		{
			DiffAgg    *other = list_nth(sql->shape->aggs, j - 1);
			bool		other_sums = other->kind == DIFF_SUM || other->kind == DIFF_AVG;

			if (agg->arg == NULL || other->arg == NULL || !equal(agg->arg, other->arg))
				continue;
			if (sql->nn_column[i] == i)
				sql->nn_column[i] = j;
			if (sums && other_sums && sql->sum_column[i] == i)
				sql->sum_column[i] = j;
		}
	}
	prepare_finalize(sql);
}

DiffSql *
diff_sql_prepare(DiffShape *shape, const char *view, const char *state)
{
	DiffSql    *sql = palloc0(sizeof(DiffSql));
	List	   *exprs = NIL;
	ListCell   *lc;
	int			i = 0;

	sql->shape = shape;
	sql->view = view;
	sql->state = state;
	/* a bag view's rows are matched by every column, a grouped one's by key */
	foreach(lc, shape->query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk)
			continue;
		sql->view_columns = lappend(sql->view_columns, (char *) quote_identifier(tle->resname));
		if (!shape->grouped)
			exprs = lappend(exprs, tle->expr);
	}
	foreach(lc, shape->keys)
		exprs = lappend(exprs, lfirst_node(TargetEntry, lc)->expr);
	sql->read_types = palloc0(sizeof(Oid) * (list_length(exprs) + 1));
	sql->key_types = palloc0(sizeof(Oid) * (list_length(exprs) + 1));
	sql->bag_collations = palloc0(sizeof(Oid) * (list_length(exprs) + 1));
	sql->bag_types = palloc0(sizeof(char *) * (list_length(exprs) + 1));
	foreach(lc, exprs)
	{
		Node	   *expr = lfirst(lc);

		sql->key_types[foreach_current_index(lc)] = exprType(expr);
		if (!shape->grouped && !equality_is_image(exprType(expr), exprCollation(expr)))
			sql->read_types[foreach_current_index(lc)] = exprType(expr);
		/* with its typmod, or none: bit or character alone would mean (1) */
		if (!shape->grouped)
			sql->bag_types[foreach_current_index(lc)] =
				format_type_extended(exprType(expr), exprTypmod(expr),
									 FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
		if (!shape->grouped && type_is_collatable(exprType(expr)))
			sql->bag_collations[foreach_current_index(lc)] =
				OidIsValid(exprCollation(expr)) ? exprCollation(expr) : DEFAULT_COLLATION_OID;
	}
	if (shape->grouped)
	{
		/* c1..c<nkeys> the keys, then each aggregate's argument */
		sql->nkeys = list_length(exprs);
		sql->arg_column = palloc0(sizeof(int) * (list_length(shape->aggs) + 1));
		foreach(lc, shape->aggs)
		{
			DiffAgg    *agg = lfirst(lc);

			i++;
			if (agg->arg != NULL)
			{
				exprs = lappend(exprs, agg->arg);
				sql->arg_column[i] = list_length(exprs);
			}
		}
		diff_sql_share_columns(sql, true);
		flatten_query(sql, shape->query, exprs);
	}
	else
	{
		/* each branch's own select list (a UNION ALL's columns by position) */
		foreach(lc, shape->blocks)
		{
			Query	   *block = lfirst(lc);
			List	   *columns = NIL;
			ListCell   *tl;

			foreach(tl, block->targetList)
				if (!lfirst_node(TargetEntry, tl)->resjunk)
					columns = lappend(columns, lfirst_node(TargetEntry, tl)->expr);
			flatten_query(sql, block, columns);
		}
	}
	return sql;
}

List *
diff_sql_captured_columns(DiffSql *sql, Oid relid)
{
	DiffSource *source = diff_shape_source(sql->shape, relid);
	List	   *names = NIL;
	int			attnum = -1;

	while ((attnum = bms_next_member(source->attnums, attnum)) >= 0)
		names = lappend(names, (char *) quote_identifier(get_attname(relid, attnum, false)));
	return names;
}

/* whether names (C strings) hold name */

const char *
diff_sql_multiplicity_column(DiffSql *sql, Oid relid)
{
	/* quoted names: ours need no quotes */
	List	   *captured = diff_sql_captured_columns(sql, relid);
	char	   *name = "pipeline_m";

	for (int n = 1; name_list_has(captured, name); n++)
		name = psprintf("pipeline_m_%d", n);
	return name;
}

char *
name_list(List *names, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s%s", buf.len > 0 ? ", " : "", prefix, (char *) lfirst(lc));
	return buf.data;
}

/* A source as it was before the changes: now, minus what came, plus what went. */
static char *
source_before(DiffSql *sql, DiffOccurrence *occurrence)
{
	List	   *captured = diff_sql_captured_columns(sql, occurrence->relid);

	/* a source the query reads no column of (a cross join's count) has none */
	char	   *columns = captured ? psprintf("%s, ", name_list(captured, "")) : "";
	const char *multiplicity = diff_sql_multiplicity_column(sql, occurrence->relid);

	return psprintf("(SELECT %s1::pg_catalog.int8 AS %s FROM %s "
					"UNION ALL SELECT %sOPERATOR(pg_catalog.-) %s FROM pipeline_delta_%u) %s",
					columns, multiplicity,
					relation_qualified_name(occurrence->relid),
					columns, multiplicity, occurrence->relid, occurrence->alias);
}

/* The terms of one branch's delta, each "(...)", appended to buf. */
static void
append_branch_delta(DiffSql *sql, DiffBranch *branch, List *changed_relids, StringInfo buf)
{
	List	   *changed = NIL;
	ListCell   *lc;

	foreach(lc, branch->occurrences)
		if (list_member_oid(changed_relids, ((DiffOccurrence *) lfirst(lc))->relid))
			changed = lappend(changed, lfirst(lc));
	for (int term = 0; term < list_length(changed); term++)
	{
		char	   *text = branch->inner;
		StringInfoData multiplicity;

		initStringInfo(&multiplicity);
		for (int i = term; i < list_length(changed); i++)
		{
			DiffOccurrence *occurrence = list_nth(changed, i);

			text = replace_once(text, occurrence->from_item,
								i == term ?
								psprintf("pipeline_delta_%u %s", occurrence->relid, occurrence->alias) :
								source_before(sql, occurrence));

			appendStringInfo(&multiplicity, "%s%s.%s",
							 multiplicity.len > 0 ? " OPERATOR(pg_catalog.*) " : "",
							 occurrence->alias,
							 diff_sql_multiplicity_column(sql, occurrence->relid));
		}
		text = replace_once(text, branch->placeholder, multiplicity.data);

		appendStringInfo(buf, "%s(%s)", buf->len > 0 ? " UNION ALL " : "", text);
	}
}

char *
diff_sql_delta(DiffSql *sql, List *changed_relids)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, sql->branches)
		append_branch_delta(sql, lfirst(lc), changed_relids, &buf);
	if (buf.len == 0)
		elog(ERROR, "differential refresh: no changed source");
	return buf.data;
}

int
diff_sql_changed_occurrences(DiffSql *sql, List *changed_relids)
{
	int			most = 0;
	ListCell   *lc;

	foreach(lc, sql->branches)
	{
		DiffBranch *branch = lfirst(lc);
		ListCell   *oc;
		int			changed = 0;

		foreach(oc, branch->occurrences)
			if (list_member_oid(changed_relids, ((DiffOccurrence *) lfirst(oc))->relid))
				changed++;
		most = Max(most, changed);
	}
	return most;
}

bool
diff_sql_gains_only(DiffSql *sql, List *changed_relids)
{
	if (!sql->functions_1_9 || (!sql->keep_extremes && diff_sql_first_extreme(sql) > 0))
		return false;
	return diff_sql_changed_occurrences(sql, changed_relids) <= 1;
}

/* The view's inner rows as they are now, each once. */
char *
inner_now(DiffSql *sql)
{
	/* grouped views have one branch */
	DiffBranch *branch = linitial(sql->branches);

	return replace_once(branch->inner, branch->placeholder, "1::pg_catalog.int8");
}

/*
 * " AND <how v.column reads> IS NOT DISTINCT FROM <how d.c<n> reads>"
 * (reading_sql()) for each column whose equal values may read differently.  Rows that read
 * differently are different rows of a bag: a recompute shows each as it
 * reads.
 */
static char *
view_row_reads_alike(DiffSql *sql)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, sql->view_columns)
	{
		int			i = foreach_current_index(lc);

		if (OidIsValid(sql->read_types[i]))
			appendStringInfo(&buf, " AND %s IS NOT DISTINCT FROM %s",
							 reading_sql(psprintf("v.%s", (char *) lfirst(lc)), sql->read_types[i]),
							 reading_sql(psprintf("d.c%d", i + 1), sql->read_types[i]));
	}
	return buf.data;
}

char *
diff_sql_bag_counts(DiffSql *sql, const char *delta)
{
	StringInfoData columns;
	StringInfoData group_by;

	initStringInfo(&columns);
	initStringInfo(&group_by);
	for (int i = 0; i < list_length(sql->view_columns); i++)
	{
		/*
		 * Of the view's own type and collation: a UNION ALL branch's delta
		 * has its branch's (an int where the view has bigint, a domain where
		 * it has the base type), which a match of rows as records refuses,
		 * and of branches of other collations it has none, which could not be
		 * hashed or sorted
		 */
		char	   *typed = psprintf("CAST(c%d AS %s)", i + 1, sql->bag_types[i]);
		char	   *column = OidIsValid(sql->bag_collations[i]) ?
		psprintf("%s COLLATE %s", typed, collation_name_sql(sql->bag_collations[i])) :
		typed;

		appendStringInfo(&columns, "%s%s AS c%d", i > 0 ? ", " : "", column, i + 1);
		appendStringInfo(&group_by, "%s%s", i > 0 ? ", " : "", column);
	}
	for (int i = 0; i < list_length(sql->view_columns); i++)
		if (OidIsValid(sql->read_types[i]))
			appendStringInfo(&group_by, ", %s",
							 reading_sql(psprintf("c%d", i + 1), sql->read_types[i]));
	return psprintf("SELECT %s, pg_catalog.sum(pipeline_m)::pg_catalog.int8 AS pipeline_m, "
					"pg_catalog.row_number() OVER () AS pipeline_row "
					"FROM (%s) d GROUP BY %s HAVING pg_catalog.sum(pipeline_m) <> 0",
					columns.data, delta, group_by.data);
}

char *
diff_sql_bag_delete(DiffSql *sql, bool null_columns)
{
	int			n = list_length(sql->view_columns);
	StringInfoData match;
	ListCell   *lc;

	initStringInfo(&match);
	if (null_columns)
		appendStringInfo(&match, "ROW(%s)::record OPERATOR(pg_catalog.=) ROW(%s)::record AND %s",
						 name_list(sql->view_columns, "v."), column_list("d.c", 1, n),
						 some_key_null(sql, "d.c", n));
	else
	{
		/* every column equal, by name on the view's side */
		foreach(lc, sql->view_columns)
			appendStringInfo(&match, "%s AND ",
							 equality_expr_sql(sql->key_types[foreach_current_index(lc)],
											   psprintf("v.%s", (char *) lfirst(lc)),
											   psprintf("d.c%d", foreach_current_index(lc) + 1)));
		appendStringInfo(&match, "NOT %s", some_key_null(sql, "d.c", n));
	}
	appendStringInfoString(&match, view_row_reads_alike(sql));
	return psprintf("DELETE FROM %s WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
					"SELECT x.ctid FROM (SELECT v.ctid, pg_catalog.row_number() OVER "
					"(PARTITION BY d.pipeline_row ORDER BY v.ctid) AS rn, "
					"OPERATOR(pg_catalog.-) d.pipeline_m AS k "
					"FROM %s v JOIN pipeline_dv d ON %s "
					"WHERE d.pipeline_m < 0) x WHERE x.rn <= x.k))",
					sql->view, sql->view, match.data);
}

char *
diff_sql_bag_insert(DiffSql *sql, bool places)
{
	return psprintf("INSERT INTO %s (%s) SELECT %s FROM pipeline_dv d "
					"CROSS JOIN LATERAL pg_catalog.generate_series(1, d.pipeline_m) "
					"WHERE d.pipeline_m > 0%s",
					sql->view, name_list(sql->view_columns, ""),
					column_list("d.c", 1, list_length(sql->view_columns)),
					places ? " RETURNING ctid AS " DIFF_SQL_PLACE_COLUMN : "");
}

char *
diff_sql_bag_populate(DiffSql *sql, const char *bound_query)
{
	return psprintf("INSERT INTO %s (%s) %s", sql->view, name_list(sql->view_columns, ""),
					bound_query);
}

char *
diff_sql_bag_analyze(DiffSql *sql)
{
	if (sql->view_columns == NIL)
		return NULL;
	return psprintf("ANALYZE %s (%s)", sql->view, (char *) linitial(sql->view_columns));
}
