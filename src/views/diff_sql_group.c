/*-------------------------------------------------------------------------
 * diff_sql_group.c
 *	  The SQL of grouped views (GROUP BY, aggregates, DISTINCT): each
 *	  group's state in the state table (keys, row count, per aggregate
 *	  what maintaining it needs), the delta per group merged into it, the
 *	  groups whose minimum, maximum or numeric scale may have gone
 *	  recomputed from the sources, and the view's rows of the changed
 *	  groups written again from their state.  See diff_sql.h.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/typcache.h"

#include "util/analyze.h"
#include "views/diff_sql.h"
#include "views/diff_sql_private.h"

/* The type of inner column c<n> (an array of it), without its collation. */
static char *
column_type_name(Expr *expr, bool array)
{
	/* qualified: the state is made under the pinned search_path */
	char	   *name = format_type_extended(exprType((Node *) expr), exprTypmod((Node *) expr),
											FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);

	return array ? psprintf("%s[]", name) : name;
}

/* The same with its collation, for the state table. */
static char *
column_type(Expr *expr, bool array)
{
	Oid			collation = exprCollation((Node *) expr);

	if (OidIsValid(collation) && collation != get_typcollation(exprType((Node *) expr)))
		return psprintf("%s COLLATE %s", column_type_name(expr, array),
						collation_name_sql(collation));
	return column_type_name(expr, array);
}

static bool
is_extreme(DiffAgg *agg)
{
	return agg->kind == DIFF_MIN || agg->kind == DIFF_MAX;
}

/* Aggregate i keeps the count of its argument's non-NULL values itself. */
static bool
owns_nn(DiffSql *sql, DiffAgg *agg, int i)
{
	return agg->kind != DIFF_COUNT_STAR && sql->nn_column[i] == i;
}

/* Aggregate i is a sum() or avg() that keeps the sum itself. */
static bool
owns_sum(DiffSql *sql, DiffAgg *agg, int i)
{
	return (agg->kind == DIFF_SUM || agg->kind == DIFF_AVG) && sql->sum_column[i] == i;
}

int
diff_sql_shared_nn(DiffSql *sql)
{
	for (int i = 1; i <= list_length(sql->shape->aggs); i++)
		if (sql->nn_column[i] != i)
			return i;
	return 0;
}

void
diff_sql_keep_extremes(DiffSql *sql, bool keep)
{
	sql->keep_extremes = keep;
}

void
diff_sql_use_1_9_functions(DiffSql *sql, bool installed)
{
	sql->functions_1_9 = installed;
}

void
diff_sql_sum_by_adding(DiffSql *sql, bool by_adding)
{
	sql->sum_by_adding = by_adding;
}

/* The best values of the rows that came go into the kept ones (1.9). */
static bool
merges_inserted(DiffSql *sql)
{
	return sql->keep_extremes && sql->functions_1_9;
}

/* The best value of the rows that came to min() or max() number i, in d. */
static char *
inserted_best(DiffSql *sql, int i)
{
	return merges_inserted(sql) ? psprintf("(d.d_best_%d)[1]", i) : psprintf("d.d_ins_%d", i);
}

int
diff_sql_first_extreme(DiffSql *sql)
{
	ListCell   *lc;

	foreach(lc, sql->shape->aggs)
		if (is_extreme(lfirst(lc)))
			return foreach_current_index(lc) + 1;
	return 0;
}

char *
diff_sql_state_columns(DiffSql *sql)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	foreach(lc, sql->shape->keys)
		appendStringInfo(&buf, "k%d %s, ", ++i, column_type(lfirst_node(TargetEntry, lc)->expr, false));
	appendStringInfoString(&buf, "pipeline_count pg_catalog.int8 NOT NULL");
	i = 0;
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);

		i++;
		if (owns_nn(sql, agg, i))
			appendStringInfo(&buf, ", nn_%d pg_catalog.int8 NOT NULL", i);
		if (owns_sum(sql, agg, i))
			appendStringInfo(&buf, ", sum_%d pg_catalog.numeric NOT NULL", i);
		if (owns_sum(sql, agg, i) && agg->numeric_arg)
			appendStringInfo(&buf, ", scale_%d pg_catalog.int4, scale_n_%d pg_catalog.int8 NOT NULL", i, i);
		if (is_extreme(agg))
			appendStringInfo(&buf, ", ext_%d %s", i, column_type(agg->arg, false));
		if (is_extreme(agg) && sql->keep_extremes)
			appendStringInfo(&buf, ", top_%d %s", i, column_type(agg->arg, true));
		if (agg->kind == DIFF_BOOL_AND || agg->kind == DIFF_BOOL_OR)
			appendStringInfo(&buf, ", true_%d pg_catalog.int8 NOT NULL", i);
	}
	appendStringInfoString(&buf, ", pipeline_stale boolean NOT NULL DEFAULT false");
	return buf.data;
}

/*
 * When extremes are kept, the delta's d_gone_<n> and d_gone_n_<n> hold
 * the values that went of min() or max() number i's argument: n is the
 * first of them with the same argument (min(x) and max(x) share them).
 * 0 when extremes are not kept or i is no min() or max().
 */
static int
gone_values(DiffSql *sql, int i)
{
	DiffAgg    *agg = list_nth(sql->shape->aggs, i - 1);
	ListCell   *lc;

	if (!sql->keep_extremes || !is_extreme(agg))
		return 0;
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *other = lfirst(lc);

		if (is_extreme(other) && equal(other->arg, agg->arg))
			return foreach_current_index(lc) + 1;
	}
	return i;
}

/*
 * d's column d_<what>_<i> of what went, or in a delta of gains alone
 * (diff_sql.h), where nothing went, the constant it would hold: the
 * statement then neither reads nor carries it, and the planner folds what
 * depends on it.
 */
static char *
went(bool gains, const char *what, int i, const char *constant)
{
	return gains ? pstrdup(constant) : psprintf("d.d_%s_%d", what, i);
}

/* went() of min() or max() number i's argument, its array or its counts. */
static char *
went_value(DiffSql *sql, bool gains, const char *what, int i, bool array)
{
	DiffAgg    *agg = list_nth(sql->shape->aggs, i - 1);

	/*
	 * no COLLATE: PostgreSQL 15 merges the collations of a MERGE action's SET
	 * list, and two explicit ones conflict; the column has its own
	 */
	return went(gains, what, i, psprintf("NULL::%s", column_type_name(agg->arg, array)));
}

/* Window columns: the largest scale among the rows that came (went). */
char *
scale_windows(DiffSql *sql, bool delta)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;
	char	   *partition = sql->nkeys > 0 ?
	psprintf("PARTITION BY %s", column_list("c", 1, sql->nkeys)) : "";

	initStringInfo(&buf);
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);
		int			x = sql->arg_column[++i];

		if (!agg->numeric_arg || !owns_sum(sql, agg, i) || (delta && sql->functions_1_9))
			continue;
		if (delta)
			appendStringInfo(&buf,
							 ", pg_catalog.max(pg_catalog.scale(c%d)) FILTER (WHERE pipeline_m > 0) OVER (%s) AS ins_sc_%d"
							 ", pg_catalog.max(pg_catalog.scale(c%d)) FILTER (WHERE pipeline_m < 0) OVER (%s) AS del_sc_%d",
							 x, partition, i, x, partition, i);
		else
			appendStringInfo(&buf, ", pg_catalog.max(pg_catalog.scale(c%d)) OVER (%s) AS sc_%d",
							 x, partition, i);
	}
	return buf.data;
}

/*
 * Aggregate i's columns of the delta per group.  Of a delta of gains
 * alone, where every row came once, only those of the rows that came:
 * counted rather than summed, unfiltered.
 */
static const char *
delta_sum(DiffSql *sql)
{
	return sql->sum_by_adding ? "pipeline.numeric_sum" : "pg_catalog.sum";
}

static void
append_group_delta_aggregate(StringInfo buf, DiffSql *sql, DiffAgg *agg, int i, bool gains)
{
	int			x = sql->arg_column[i];
	int			gone = gone_values(sql, i);
	const char *came = gains ? "" : " FILTER (WHERE pipeline_m > 0)";

	if (owns_nn(sql, agg, i) && gains)
		appendStringInfo(buf, ", pg_catalog.count(c%d) AS d_nn_%d", x, i);
	else if (owns_nn(sql, agg, i))
		/* a row with a null field is no null value to count() */
		appendStringInfo(buf, ", COALESCE(pg_catalog.sum(pipeline_m) FILTER (WHERE NOT (%s)), 0)::pg_catalog.int8 AS d_nn_%d",
						 null_value_sql(psprintf("c%d", x), agg->argtype), i);
	switch (agg->kind)
	{
		case DIFF_SUM:
		case DIFF_AVG:
			if (!owns_sum(sql, agg, i))
				break;
			/* most rows come or go once: no multiplication for them */
			if (gains)
				appendStringInfo(buf, ", COALESCE(%s(c%d::pg_catalog.numeric), 0) AS d_sum_%d",
								 delta_sum(sql), x, i);
			else
				appendStringInfo(buf, ", COALESCE(%s(CASE WHEN pipeline_m OPERATOR(pg_catalog.=) 1 "
								 "THEN c%d::pg_catalog.numeric ELSE pipeline_m::pg_catalog.numeric "
								 "OPERATOR(pg_catalog.*) c%d::pg_catalog.numeric END), 0) AS d_sum_%d",
								 delta_sum(sql), x, x, i);
			/* the largest scale that came and went, and of how many rows */
			if (agg->numeric_arg && sql->functions_1_9)
			{
				appendStringInfo(buf,
								 ", pipeline.max_scale(c%d, pipeline_m)%s AS d_ins_sc_%d"
								 ", pipeline.max_scale_rows(c%d, pipeline_m)%s AS d_ins_sc_n_%d",
								 x, came, i, x, came, i);
				if (!gains)
					appendStringInfo(buf,
									 ", pipeline.max_scale(c%d, OPERATOR(pg_catalog.-) pipeline_m) FILTER (WHERE pipeline_m < 0) AS d_del_sc_%d"
									 ", pipeline.max_scale_rows(c%d, OPERATOR(pg_catalog.-) pipeline_m) FILTER (WHERE pipeline_m < 0) AS d_del_sc_n_%d",
									 x, i, x, i);
			}
			else if (agg->numeric_arg)
				appendStringInfo(buf,
								 ", pg_catalog.max(ins_sc_%d) AS d_ins_sc_%d"
								 ", COALESCE(pg_catalog.sum(pipeline_m) FILTER (WHERE pipeline_m > 0 AND pg_catalog.scale(c%d) = ins_sc_%d), 0)::pg_catalog.int8 AS d_ins_sc_n_%d"
								 ", pg_catalog.max(del_sc_%d) AS d_del_sc_%d"
								 ", COALESCE(OPERATOR(pg_catalog.-) pg_catalog.sum(pipeline_m) FILTER (WHERE pipeline_m < 0 AND pg_catalog.scale(c%d) = del_sc_%d), 0)::pg_catalog.int8 AS d_del_sc_n_%d",
								 i, i, x, i, i, i, i, x, i, i);
			/* a NaN or an infinity went: the scale is read again */
			if (agg->numeric_arg && !gains)
				appendStringInfo(buf, ", COALESCE(pg_catalog.bool_or(pipeline_m < 0 AND c%d IS NOT NULL "
								 "AND pg_catalog.scale(c%d) IS NULL), false) AS d_special_%d", x, x, i);
			break;
		case DIFF_MIN:
		case DIFF_MAX:
			/* the best of the rows that came, or (1.9) their best eight */
			if (merges_inserted(sql))
				appendStringInfo(buf, ", pipeline.kept_extremes(c%d, %s, pipeline_m)%s AS d_best_%d",
								 x, agg->kind == DIFF_MIN ? "false" : "true", came, i);
			else
				appendStringInfo(buf, ", pg_catalog.%s(c%d)%s AS d_ins_%d",
								 agg->kind == DIFF_MIN ? "min" : "max", x, came, i);
			if (gains)
				break;
			appendStringInfo(buf, ", pg_catalog.%s(c%d) FILTER (WHERE pipeline_m < 0) AS d_del_%d",
							 agg->kind == DIFF_MIN ? "min" : "max", x, i);
			/* every value that went, and of how many rows: once per argument */
			if (gone == i)
				appendStringInfo(buf,
								 ", pg_catalog.array_agg(c%d) FILTER (WHERE pipeline_m < 0 AND c%d IS NOT NULL) AS d_gone_%d"
								 ", pg_catalog.array_agg((OPERATOR(pg_catalog.-) pipeline_m)::pg_catalog.int8) "
								 "FILTER (WHERE pipeline_m < 0 AND c%d IS NOT NULL) AS d_gone_n_%d",
								 x, x, i, x, i);
			break;
		case DIFF_BOOL_AND:
		case DIFF_BOOL_OR:
			if (gains)
				appendStringInfo(buf, ", pg_catalog.count(*) FILTER (WHERE c%d) AS d_true_%d", x, i);
			else
				appendStringInfo(buf, ", COALESCE(pg_catalog.sum(pipeline_m) FILTER (WHERE c%d), 0)::pg_catalog.int8 AS d_true_%d",
								 x, i);
			break;
		default:
			break;
	}
}

char *
diff_sql_group_delta(DiffSql *sql, const char *delta, bool gains)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfo(&buf, "SELECT %s%s %s AS d_count",
					 column_list("c", 1, sql->nkeys), sql->nkeys > 0 ? "," : "",
					 gains ? "pg_catalog.count(*)" :
					 "COALESCE(pg_catalog.sum(pipeline_m), 0)::pg_catalog.int8");
	foreach(lc, sql->shape->aggs)
	{
		i++;
		append_group_delta_aggregate(&buf, sql, lfirst(lc), i, gains);
	}
	appendStringInfo(&buf, " FROM (SELECT *%s FROM (%s) d0) d", scale_windows(sql, true), delta);
	if (sql->nkeys > 0)
		appendStringInfo(&buf, " GROUP BY %s", column_list("c", 1, sql->nkeys));
	return buf.data;
}

/* SET list of the state MERGE for aggregate i: old state s, delta d. */
static void
append_state_update(StringInfo set, StringInfo stale, DiffSql *sql, DiffAgg *agg, int i,
					bool gains)
{
	int			n = sql->nn_column[i];
	int			gone = gone_values(sql, i);
	char	   *nn = psprintf("(s.nn_%d + d.d_nn_%d)", n, n);

	/*
	 * The group has no value left.  Not after gains alone: it had none and
	 * got none, so its state and the delta's are all NULL and zero, which
	 * each column's expression then gives as it is.
	 */
	char	   *emptied = gains ? "false" : psprintf("%s = 0", nn);
	char	   *del_sc = went(gains, "del_sc", i, "NULL::pg_catalog.int4");
	char	   *del;

	if (agg->kind == DIFF_COUNT_STAR)
		return;
	if (owns_nn(sql, agg, i))
		appendStringInfo(set, ", nn_%d = %s", i, nn);
	switch (agg->kind)
	{
		case DIFF_SUM:
		case DIFF_AVG:
			if (!owns_sum(sql, agg, i))
				break;
			appendStringInfo(set, ", sum_%d = CASE WHEN %s THEN 0 ELSE s.sum_%d + d.d_sum_%d END",
							 i, emptied, i, i);
			if (agg->numeric_arg)
			{
				/* the largest scale after the inserts (GREATEST skips NULLs) */
				char	   *scale = psprintf("GREATEST(s.scale_%d, d.d_ins_sc_%d)", i, i);

				/*
				 * How many inputs have it: those that had, minus the deletes,
				 * plus the inserts of it.  A row joined in by one delta term
				 * and out by another is an insert and a delete of one scale:
				 * only this net count says whether any is left.
				 */
				char	   *have = psprintf("((CASE WHEN s.scale_%d = %s THEN s.scale_n_%d ELSE 0 END) "
											"- (CASE WHEN %s = %s THEN %s ELSE 0 END) "
											"+ (CASE WHEN d.d_ins_sc_%d = %s THEN d.d_ins_sc_n_%d ELSE 0 END))",
											i, scale, i, del_sc, scale,
											went(gains, "del_sc_n", i, "NULL::pg_catalog.int8"),
											i, scale, i);

				/*
				 * none left, or a larger one gone: recomputed from the
				 * sources
				 */
				char	   *scale_stale = psprintf("COALESCE(%s OR %s > %s OR %s <= 0, false)",
												   went(gains, "special", i, "false"), del_sc,
												   scale, have);

				appendStringInfo(set, ", scale_%d = CASE WHEN %s THEN NULL ELSE %s END", i, emptied, scale);
				appendStringInfo(set, ", scale_n_%d = CASE WHEN %s OR %s THEN 0 ELSE %s END",
								 i, emptied, scale_stale, have);
				appendStringInfo(stale, " OR (%s > 0 AND %s)", nn, scale_stale);
			}
			break;
		case DIFF_MIN:
		case DIFF_MAX:
			if (gone > 0)
			{
				char	   *values_gone = went_value(sql, gains, "gone", gone, true);
				char	   *kept = psprintf("pipeline.%s(s.top_%d, s.nn_%d, %s, %s, d.d_%s_%d, %s, %s)",
											merges_inserted(sql) ? "extremes_merged" : "extremes_after",
											i, n, values_gone,
											went(gains, "gone_n", gone, "NULL::pg_catalog.int8[]"),
											merges_inserted(sql) ? "best" : "ins", i,
											nn, agg->kind == DIFF_MIN ? "false" : "true");

				/* without deletes the extreme is known as before */
				appendStringInfo(set, ", ext_%d = CASE WHEN %s THEN NULL WHEN %s IS NULL "
								 "THEN %s(s.ext_%d, %s) ELSE (%s)[1] END",
								 i, emptied, values_gone, agg->kind == DIFF_MIN ? "LEAST" : "GREATEST", i,
								 inserted_best(sql, i), kept);
				appendStringInfo(set, ", top_%d = CASE WHEN %s THEN NULL ELSE %s END", i, emptied, kept);
				/* unknown: read from the sources */
				appendStringInfo(stale, " OR (%s > 0 AND (%s IS NOT NULL OR s.top_%d IS NULL) AND %s IS NULL)",
								 nn, values_gone, i, kept);
				break;
			}
			appendStringInfo(set, ", ext_%d = CASE WHEN %s THEN NULL ELSE %s(s.ext_%d, d.d_ins_%d) END",
							 i, emptied, agg->kind == DIFF_MIN ? "LEAST" : "GREATEST", i, i);

			/*
			 * A deleted value at or beyond the new extreme may have been it
			 * (or the insert of it may be one a delta term took back)
			 */
			del = went_value(sql, gains, "del", i, false);
			appendStringInfo(stale, " OR (%s > 0 AND COALESCE(NOT (%s), %s IS NOT NULL))",
							 nn,
							 comparison_expr_sql(agg->argtype, agg->kind == DIFF_MIN ? BTGreaterStrategyNumber : BTLessStrategyNumber,
												 del, psprintf("%s(s.ext_%d, d.d_ins_%d)",
															   agg->kind == DIFF_MIN ? "LEAST" : "GREATEST", i, i)),
							 del);
			break;
		case DIFF_BOOL_AND:
		case DIFF_BOOL_OR:
			appendStringInfo(set, ", true_%d = s.true_%d + d.d_true_%d", i, i, i);
			break;
		default:
			break;
	}
}

/* INSERT values of the state MERGE for aggregate i: a new group. */
static void
append_state_insert(StringInfo columns, StringInfo values, StringInfo stale, DiffSql *sql,
					DiffAgg *agg, int i, bool gains)
{
	int			n = sql->nn_column[i];
	char	   *del;

	if (agg->kind == DIFF_COUNT_STAR)
		return;
	if (owns_nn(sql, agg, i))
	{
		appendStringInfo(columns, ", nn_%d", i);
		appendStringInfo(values, ", d.d_nn_%d", i);
	}
	switch (agg->kind)
	{
		case DIFF_SUM:
		case DIFF_AVG:
			if (!owns_sum(sql, agg, i))
				break;
			appendStringInfo(columns, ", sum_%d", i);
			appendStringInfo(values, ", CASE WHEN d.d_nn_%d = 0 THEN 0 ELSE d.d_sum_%d END", n, i);
			if (agg->numeric_arg)
			{
				char	   *del_sc = went(gains, "del_sc", i, "NULL::pg_catalog.int4");
				char	   *special = went(gains, "special", i, "false");

				appendStringInfo(columns, ", scale_%d, scale_n_%d", i, i);
				/* a row that came and went in one window may hold the scale */
				appendStringInfo(values, ", CASE WHEN d.d_nn_%d = 0 THEN NULL ELSE d.d_ins_sc_%d END, "
								 "CASE WHEN %s IS NOT NULL OR %s "
								 "THEN 0 ELSE COALESCE(d.d_ins_sc_n_%d, 0) END", n, i, del_sc, special, i);
				appendStringInfo(stale, " OR (d.d_nn_%d > 0 AND (%s IS NOT NULL OR %s))",
								 n, del_sc, special);
			}
			break;
		case DIFF_MIN:
		case DIFF_MAX:
			/* a value one delta term brought and another took back is none */
			del = went_value(sql, gains, "del", i, false);
			appendStringInfo(columns, ", ext_%d", i);
			appendStringInfo(values, ", CASE WHEN d.d_nn_%d = 0 THEN NULL ELSE %s END", n,
							 inserted_best(sql, i));
			if (sql->keep_extremes)
			{
				appendStringInfo(columns, ", top_%d", i);
				if (merges_inserted(sql))
					appendStringInfo(values, ", CASE WHEN d.d_nn_%d = 0 OR %s IS NOT NULL THEN NULL "
									 "ELSE d.d_best_%d END", n, del, i);
				else
					appendStringInfo(values, ", CASE WHEN d.d_nn_%d = 0 OR %s IS NOT NULL THEN NULL "
									 "ELSE ARRAY[d.d_ins_%d] END", n, del, i);
			}
			appendStringInfo(stale, " OR (d.d_nn_%d > 0 AND %s IS NOT NULL)", n, del);
			break;
		case DIFF_BOOL_AND:
		case DIFF_BOOL_OR:
			appendStringInfo(columns, ", true_%d", i);
			appendStringInfo(values, ", d.d_true_%d", i);
			break;
		default:
			break;
	}
}

/* The rows of pipeline_dg with (null_keys) or without a NULL key, as d. */
static char *
group_delta_rows(DiffSql *sql, bool null_keys)
{
	if (sql->nkeys == 0)
		return pstrdup("pipeline_dg");
	return psprintf("(SELECT * FROM pipeline_dg WHERE %s%s)", null_keys ? "" : "NOT ",
					some_key_null(sql, "c", sql->nkeys));
}

/*
 * The keys alone of group_delta_rows(), for the statements that only find
 * the changed groups by them: the executor keeps a copy of each joined row
 * of an UPDATE's or DELETE's other relations (a whole-row value, for
 * rechecking after a concurrent update), and OFFSET 0 keeps this subquery
 * from being pulled up, so that copy is of the keys, not of the delta's
 * wide rows.
 */
static char *
group_delta_keys(DiffSql *sql, bool null_keys)
{
	return psprintf("(SELECT %s FROM pipeline_dg WHERE %s%s OFFSET 0)",
					column_list("c", 1, sql->nkeys), null_keys ? "" : "NOT ",
					some_key_null(sql, "c", sql->nkeys));
}

char *
diff_sql_group_keys_left(DiffSql *sql)
{
	StringInfoData types;
	ListCell   *lc;

	/*
	 * Plans are kept by their text, and this one names no relation of the
	 * view: the keys' types and collations (as numbers, never a user's name)
	 * tell apart the texts of views whose keys differ.
	 */
	initStringInfo(&types);
	foreach(lc, sql->shape->keys)
	{
		Node	   *key = (Node *) lfirst_node(TargetEntry, lc)->expr;

		appendStringInfo(&types, " %u/%d/%u", exprType(key), exprTypmod(key), exprCollation(key));
	}
	return psprintf("SELECT %s, 1::pg_catalog.int8 FROM pipeline_dg WHERE NOT %s AND NOT EXISTS "
					"(SELECT FROM pipeline_du u WHERE %s) /* keys%s */",
					column_list("c", 1, sql->nkeys), some_key_null(sql, "c", sql->nkeys),
					keys_equal(sql, "u.c", "pipeline_dg.c", sql->nkeys), types.data);
}

/* The keys of diff_sql_group_keys_left() or _new(), kept as pipeline_dl. */
static char *
group_delta_keys_left(DiffSql *sql)
{
	return psprintf("(SELECT %s FROM pipeline_dl OFFSET 0)", column_list("c", 1, sql->nkeys));
}

/*
 * Whether a type's equality hashes (a hash index serves its lookups): an
 * array, record or range only when its elements' do (the type cache says
 * so by its hash function; bit[] has an opfamily but no hashing of bit).
 */
static bool
type_hashes(Oid type)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_EQ_OPR | TYPECACHE_HASH_OPFAMILY |
											  TYPECACHE_HASH_PROC);

	return OidIsValid(entry->eq_opr) && OidIsValid(entry->hash_opf) &&
		OidIsValid(entry->hash_proc) && op_in_opfamily(entry->eq_opr, entry->hash_opf);
}

bool
diff_sql_key_types_indexable(const Oid *types, int count)
{
	bool		all_hash = true;
	bool		all_fixed = true;

	for (int i = 0; i < count; i++)
	{
		all_hash &= type_hashes(types[i]);
		all_fixed &= get_typlen(types[i]) != -1;
	}
	return all_hash || all_fixed;
}

/*
 * Whether a lookup column of this type (a bag view's first, a grouped
 * view's only key, in the view and its state) is indexed by hash: a
 * variable-length value may outgrow a btree entry (2.7 kB: a long text
 * failed every refresh), and the lookups are by equality, which a hash
 * index serves when the type's = hashes.
 */
static bool
index_by_hash(Oid type)
{
	return OidIsValid(type) && get_typlen(type) == -1 && type_hashes(type);
}

/*
 * The type of the one column a view's lookup index is on (a bag view's
 * first, a grouped view's only key), or InvalidOid for several or none
 */
static Oid
lookup_column_type(DiffSql *sql)
{
	if (sql->shape->grouped ? sql->nkeys != 1 : sql->view_columns == NIL)
		return InvalidOid;
	return sql->key_types[0];
}

/*
 * Whether a grouped view's several keys are looked up by a hash index of
 * their record's hash (keys_hash_equal()): one is of variable length, whose
 * values may outgrow a btree entry as above, and each one's equality hashes.
 */
static bool
keys_by_hash(DiffSql *sql)
{
	bool		variable_length = false;

	if (!sql->shape->grouped || sql->nkeys < 2)
		return false;
	for (int i = 0; i < sql->nkeys; i++)
	{
		if (!type_hashes(sql->key_types[i]))
			return false;
		variable_length |= get_typlen(sql->key_types[i]) == -1;
	}
	return variable_length;
}

/*
 * The hash of the record of columns: what the index of several keys
 * (keys_by_hash()) holds, and the lookups must spell the same.
 */
static char *
record_hash(const char *columns)
{
	return psprintf("pg_catalog.hash_record(ROW(%s))", columns);
}

/*
 * "<record_hash(left)> = <record_hash(right)> AND ", what a hash index of
 * several keys is searched by, or "": also when the statement finds its
 * groups by hashing (not by_key), where it would only add a record's hash
 * to every row hashed.
 */
static char *
keys_hash_equal(DiffSql *sql, const char *left, const char *right, bool by_key)
{
	if (!keys_by_hash(sql) || !by_key)
		return "";
	return psprintf("%s OPERATOR(pg_catalog.=) %s AND ", record_hash(left), record_hash(right));
}

/* s's keys match d's: by equality, or as records for rows with a NULL key. */
static char *
state_matches(DiffSql *sql, const char *other, bool null_keys, bool by_key)
{
	return psprintf("%s%s",
					keys_hash_equal(sql, column_list("s.k", 1, sql->nkeys),
									column_list(other, 1, sql->nkeys), by_key),
					null_keys ? rows_equal("s.k", other, sql->nkeys) :
					keys_equal(sql, "s.k", other, sql->nkeys));
}

char *
diff_sql_state_merge(DiffSql *sql, bool null_keys, bool gains, bool by_key)
{
	StringInfoData set,
				update_stale,
				columns,
				values,
				insert_stale;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&set);
	initStringInfo(&update_stale);
	initStringInfo(&columns);
	initStringInfo(&values);
	initStringInfo(&insert_stale);
	appendStringInfoString(&set, "pipeline_count = s.pipeline_count + d.d_count");
	appendStringInfo(&columns, "%s%spipeline_count", column_list("k", 1, sql->nkeys),
					 sql->nkeys > 0 ? ", " : "");
	appendStringInfo(&values, "%s%sd.d_count", column_list("d.c", 1, sql->nkeys),
					 sql->nkeys > 0 ? ", " : "");
	foreach(lc, sql->shape->aggs)
	{
		i++;
		append_state_update(&set, &update_stale, sql, lfirst(lc), i, gains);
		append_state_insert(&columns, &values, &insert_stale, sql, lfirst(lc), i, gains);
	}
	return psprintf("MERGE INTO %s s USING %s d ON %s "
					"%s"
					"WHEN MATCHED THEN UPDATE SET %s, pipeline_stale = COALESCE(false%s, false) "
					"WHEN NOT MATCHED AND d.d_count > 0 THEN INSERT (%s, pipeline_stale) VALUES (%s, COALESCE(false%s, false))",
					sql->state, group_delta_rows(sql, null_keys),
					state_matches(sql, "d.c", null_keys, by_key),
	/* gains alone empty no group */
					sql->nkeys > 0 && !gains ?
					"WHEN MATCHED AND s.pipeline_count + d.d_count = 0 THEN DELETE " : "",
					set.data, update_stale.data, columns.data, values.data, insert_stale.data);
}

char *
diff_sql_state_stale_count(DiffSql *sql)
{
	return psprintf("SELECT pg_catalog.count(*) FILTER (WHERE NOT (%s)), "
					"pg_catalog.count(*) FILTER (WHERE %s) FROM %s s WHERE s.pipeline_stale",
					some_key_null(sql, "s.k", sql->nkeys), some_key_null(sql, "s.k", sql->nkeys), sql->state);
}

/* The state of each group from the inner rows now. */
static char *
state_query(DiffSql *sql)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (int k = 1; k <= sql->nkeys; k++)
		appendStringInfo(&buf, "c%d AS k%d, ", k, k);
	appendStringInfoString(&buf, "pg_catalog.count(*) AS pipeline_count");
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);
		int			x = sql->arg_column[++i];

		if (owns_nn(sql, agg, i))
			appendStringInfo(&buf, ", pg_catalog.count(c%d) AS nn_%d", x, i);
		if (owns_sum(sql, agg, i))
			appendStringInfo(&buf, ", COALESCE(pg_catalog.sum(c%d::pg_catalog.numeric), 0) AS sum_%d",
							 x, i);
		if (owns_sum(sql, agg, i) && agg->numeric_arg)
			appendStringInfo(&buf, ", pg_catalog.max(sc_%d) AS scale_%d, pg_catalog.count(*) "
							 "FILTER (WHERE pg_catalog.scale(c%d) = sc_%d) AS scale_n_%d", i, i, x, i, i);
		if (is_extreme(agg))
			appendStringInfo(&buf, ", pg_catalog.%s(c%d) AS ext_%d",
							 agg->kind == DIFF_MIN ? "min" : "max", x, i);
		if (is_extreme(agg) && sql->keep_extremes)
			appendStringInfo(&buf, ", pipeline.kept_extremes(c%d, %s) AS top_%d",
							 x, agg->kind == DIFF_MIN ? "false" : "true", i);
		if (agg->kind == DIFF_BOOL_AND || agg->kind == DIFF_BOOL_OR)
			appendStringInfo(&buf, ", pg_catalog.count(*) FILTER (WHERE c%d) AS true_%d", x, i);
	}
	appendStringInfo(&buf, " FROM (SELECT *%s FROM (%s) i0) i", scale_windows(sql, false),
					 inner_now(sql));
	if (sql->nkeys > 0)
		appendStringInfo(&buf, " GROUP BY %s", column_list("c", 1, sql->nkeys));
	return buf.data;
}

/* The state columns but the keys, in state_query()'s order. */
static char *
state_value_columns(DiffSql *sql)
{
	StringInfoData buf;
	ListCell   *lc;
	int			i = 0;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "pipeline_count");
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);

		i++;
		if (owns_nn(sql, agg, i))
			appendStringInfo(&buf, ", nn_%d", i);
		if (owns_sum(sql, agg, i))
			appendStringInfo(&buf, ", sum_%d", i);
		if (owns_sum(sql, agg, i) && agg->numeric_arg)
			appendStringInfo(&buf, ", scale_%d, scale_n_%d", i, i);
		if (is_extreme(agg))
			appendStringInfo(&buf, ", ext_%d", i);
		if (is_extreme(agg) && sql->keep_extremes)
			appendStringInfo(&buf, ", top_%d", i);
		if (agg->kind == DIFF_BOOL_AND || agg->kind == DIFF_BOOL_OR)
			appendStringInfo(&buf, ", true_%d", i);
	}
	return buf.data;
}

/* i's rows of s's group: "WHERE <keys match>" for a correlated subquery. */
static char *
group_rows(DiffSql *sql, bool null_keys)
{
	return psprintf("FROM (%s) i WHERE %s", inner_now(sql),
					null_keys ? rows_equal("i.c", "s.k", sql->nkeys) :
					keys_equal(sql, "i.c", "s.k", sql->nkeys));
}

/* The stale groups with (null_keys) or without a NULL key. */
static char *
stale_groups(DiffSql *sql, bool null_keys)
{
	return psprintf("s.pipeline_stale AND %s%s", null_keys ? "" : "NOT ",
					some_key_null(sql, "s.k", sql->nkeys));
}

/* "s.top_<n> IS NULL AND s.nn_<n> > 0 OR ...": some kept values unknown */
static char *
unknown_kept(DiffSql *sql)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, sql->shape->aggs)
		if (is_extreme(lfirst(lc)))
			appendStringInfo(&buf, "%s(s.top_%d IS NULL AND s.nn_%d > 0)", buf.len > 0 ? " OR " : "",
							 foreach_current_index(lc) + 1, sql->nn_column[foreach_current_index(lc) + 1]);
	return buf.data;
}

/*
 * The last two recompute steps when extremes are kept: the best values of
 * each stale group whose kept ones are unknown, read in order (an index on
 * the sources' (key, value) serves it) and no more than are kept; then the
 * extremes from them, and no group is stale any more.
 */
static char *
recompute_kept_extremes(DiffSql *sql, bool null_keys, bool read)
{
	StringInfoData set;
	ListCell   *lc;

	initStringInfo(&set);
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);
		int			i = foreach_current_index(lc) + 1;
		int			x = sql->arg_column[i];
		const char *order = agg->kind == DIFF_MIN ? "" : " DESC";

		if (!is_extreme(agg))
			continue;
		if (read)
			appendStringInfo(&set, "%stop_%d = CASE WHEN s.top_%d IS NULL AND s.nn_%d > 0 "
							 "THEN (SELECT pg_catalog.array_agg(t.v ORDER BY t.v%s) FROM "
							 "(SELECT i.c%d AS v %s AND i.c%d IS NOT NULL ORDER BY i.c%d%s LIMIT %d) t) "
							 "ELSE s.top_%d END",
							 set.len > 0 ? ", " : "", i, i, sql->nn_column[i], order, x, group_rows(sql, null_keys),
							 x, x, order, DIFF_EXTREMES_KEPT, i);
		else
			appendStringInfo(&set, "ext_%d = (s.top_%d)[1], ", i, i);
	}
	if (read)
		return psprintf("UPDATE %s s SET %s WHERE %s AND (%s)", sql->state, set.data,
						stale_groups(sql, null_keys), unknown_kept(sql));
	return psprintf("UPDATE %s s SET %spipeline_stale = false WHERE %s", sql->state, set.data,
					stale_groups(sql, null_keys));
}

/*
 * Step n: numeric aggregate n's largest scale, how many inputs have it and
 * its sum, in one pass over the group's rows, for the groups whose scale
 * went stale.  Last step: the extremes of the stale groups that a deleted
 * value reached (pipeline_dg still holds the delta), one index probe each
 * when the sources have an index on (key, value); and no group is stale
 * any more.
 */
char *
diff_sql_state_recompute(DiffSql *sql, bool null_keys, int step)
{
	int			naggs = list_length(sql->shape->aggs);
	StringInfoData set;
	ListCell   *lc;
	int			i = 0;

	if (step <= naggs)
	{
		DiffAgg    *agg = list_nth(sql->shape->aggs, step - 1);
		int			x = sql->arg_column[step];

		if (!agg->numeric_arg || !owns_sum(sql, agg, step))
			return NULL;
		return psprintf("UPDATE %s s SET (scale_%d, scale_n_%d, sum_%d) = "
						"(SELECT (pg_catalog.array_agg(g.sc ORDER BY g.sc DESC NULLS LAST))[1], "
						"COALESCE((pg_catalog.array_agg(g.n ORDER BY g.sc DESC NULLS LAST))[1], 0), "
						"COALESCE(pg_catalog.sum(g.part), 0) "
						"FROM (SELECT pg_catalog.scale(i.c%d) AS sc, pg_catalog.count(*) AS n, "
						"pg_catalog.sum(i.c%d) AS part %s AND i.c%d IS NOT NULL GROUP BY 1) g) "
						"WHERE %s AND s.nn_%d > 0 AND s.scale_n_%d <= 0",
						sql->state, step, step, step, x, x, group_rows(sql, null_keys), x,
						stale_groups(sql, null_keys), sql->nn_column[step], step);
	}
	if (step > diff_sql_state_recompute_steps(sql))
		return NULL;
	initStringInfo(&set);
	if (sql->keep_extremes)
		return recompute_kept_extremes(sql, null_keys, step == naggs + 1);
	foreach(lc, sql->shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);
		int			x = sql->arg_column[++i];

		/* only an extreme a deleted value reached (see the MERGE) */
		if (agg->kind == DIFF_MIN || agg->kind == DIFF_MAX)
			appendStringInfo(&set, "ext_%d = CASE WHEN COALESCE(NOT (%s), "
							 "d.d_del_%d IS NOT NULL) "
							 "THEN (SELECT pg_catalog.%s(i.c%d) %s) ELSE s.ext_%d END, ",
							 i,
							 comparison_expr_sql(agg->argtype, agg->kind == DIFF_MIN ? BTGreaterStrategyNumber : BTLessStrategyNumber,
												 psprintf("d.d_del_%d", i), psprintf("s.ext_%d", i)),
							 i, agg->kind == DIFF_MIN ? "min" : "max", x, group_rows(sql, null_keys), i);
	}
	if (set.len == 0)
		return psprintf("UPDATE %s s SET pipeline_stale = false WHERE %s", sql->state,
						stale_groups(sql, null_keys));
	return psprintf("UPDATE %s s SET %spipeline_stale = false FROM %s d WHERE %s AND %s",
					sql->state, set.data, group_delta_rows(sql, null_keys),
					stale_groups(sql, null_keys), state_matches(sql, "d.c", null_keys, true));
}

/* How many steps diff_sql_state_recompute() has. */
int
diff_sql_state_recompute_steps(DiffSql *sql)
{
	return list_length(sql->shape->aggs) + (sql->keep_extremes ? 2 : 1);
}

char *
diff_sql_state_populate(DiffSql *sql)
{
	return psprintf("INSERT INTO %s (%s%s%s) %s", sql->state, column_list("k", 1, sql->nkeys),
					sql->nkeys > 0 ? ", " : "", state_value_columns(sql),
					state_query(sql));
}

/* The view's key columns: the select list's entries that are group keys. */
static List *
view_key_columns(DiffSql *sql)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, sql->shape->keys)
		names = lappend(names, (char *) quote_identifier(lfirst_node(TargetEntry, lc)->resname));
	return names;
}

/* v's key columns match d's c1..: by equality, or as records. */
static char *
view_matches(DiffSql *sql, bool null_keys, bool by_key)
{
	char	   *view_keys = name_list(view_key_columns(sql), "v.");
	char	   *delta_keys = column_list("d.c", 1, sql->nkeys);
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, keys_hash_equal(sql, view_keys, delta_keys, by_key));
	if (null_keys)
	{
		appendStringInfo(&buf, "ROW(%s)::record OPERATOR(pg_catalog.=) ROW(%s)::record",
						 view_keys, delta_keys);
		return buf.data;
	}
	foreach(lc, view_key_columns(sql))
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) > 0 ? " AND " : "",
						 equality_expr_sql(sql->key_types[foreach_current_index(lc)],
										   psprintf("v.%s", (char *) lfirst(lc)),
										   psprintf("d.c%d", foreach_current_index(lc) + 1)));
	return buf.data;
}

/* " AND <HAVING on s>", or "" */
static char *
and_having(DiffSql *sql)
{
	return sql->finalize_having ? psprintf(" AND %s", sql->finalize_having) : "";
}

/*
 * The changed groups' rows are rewritten in place: most groups that change
 * had a row and keep one, and an update writes each once where a delete
 * and an insert wrote it twice.
 */
char *
diff_sql_view_update_groups(DiffSql *sql, bool null_keys, bool places, bool keys, bool by_key)
{
	StringInfoData returning;

	if (sql->nkeys == 0)
		return NULL;
	initStringInfo(&returning);
	if (!null_keys && keys)
		appendStringInfo(&returning, "%s, 1::pg_catalog.int8", column_list("d.c", 1, sql->nkeys));
	if (places)
		appendStringInfo(&returning, "%sv.ctid AS " DIFF_SQL_PLACE_COLUMN,
						 returning.len > 0 ? ", " : "");
	return psprintf("UPDATE %s v SET (%s) = ROW(%s) FROM %s s, %s d WHERE %s AND %s%s%s%s",
					sql->view, name_list(sql->view_columns, ""), sql->finalize_list,
					sql->state, group_delta_keys(sql, null_keys), view_matches(sql, null_keys, by_key),
					state_matches(sql, "d.c", null_keys, by_key), and_having(sql),
					returning.len > 0 ? " RETURNING " : "", returning.data);
}

char *
diff_sql_group_keys_new(DiffSql *sql)
{
	return psprintf("SELECT %s, 1::pg_catalog.int8 FROM pipeline_dg d WHERE NOT %s AND NOT EXISTS "
					"(SELECT FROM %s v WHERE %s)",
					column_list("d.c", 1, sql->nkeys), some_key_null(sql, "d.c", sql->nkeys),
					sql->view, view_matches(sql, false, false));
}

bool
diff_sql_null_keys_indexed(DiffSql *sql)
{
	return keys_by_hash(sql);
}

bool
diff_sql_has_having(DiffSql *sql)
{
	return sql->finalize_having != NULL;
}

/* Rows of changed groups that have no row in the view's answer any more. */
char *
diff_sql_view_delete_groups(DiffSql *sql, bool null_keys, bool left_only, bool by_key)
{
	if (sql->nkeys == 0)
		return psprintf("DELETE FROM %s", sql->view);
	return psprintf("DELETE FROM %s v USING %s d WHERE %s AND NOT EXISTS "
					"(SELECT FROM %s s WHERE %s%s)", sql->view,
					left_only ? group_delta_keys_left(sql) : group_delta_keys(sql, null_keys),
					view_matches(sql, null_keys, by_key),
					sql->state, state_matches(sql, "d.c", null_keys, by_key), and_having(sql));
}

static char *
view_insert_from_state(DiffSql *sql, const char *join, bool places)
{
	return psprintf("INSERT INTO %s (%s) SELECT %s FROM %s s %s%s%s%s",
					sql->view, name_list(sql->view_columns, ""), sql->finalize_list,
					sql->state, join,
					sql->finalize_having ? (strlen(join) > 0 ? " AND " : " WHERE ") : "",
					sql->finalize_having ? sql->finalize_having : "",
					places ? " RETURNING ctid AS " DIFF_SQL_PLACE_COLUMN : "");
}

/* Rows of changed groups that the view's answer has and the view has not. */
char *
diff_sql_view_insert_groups(DiffSql *sql, bool null_keys, bool left_only, bool places,
							bool by_key)
{
	if (sql->nkeys == 0)
		return view_insert_from_state(sql, "", places);
	return view_insert_from_state(sql, psprintf("JOIN %s d ON %s WHERE NOT EXISTS "
												"(SELECT FROM %s v WHERE %s)",
												left_only ? group_delta_keys_left(sql) :
												group_delta_keys(sql, null_keys),
												state_matches(sql, "d.c", null_keys, by_key),
												sql->view, view_matches(sql, null_keys, by_key)),
								  places);
}

char *
diff_sql_state_index(DiffSql *sql)
{
	if (sql->nkeys == 0)
		return NULL;
	/* its groups are made by one refresh at a time: unique by the MERGE */
	if (index_by_hash(lookup_column_type(sql)))
		return psprintf("CREATE INDEX ON %s USING hash (k1)", sql->state);
	if (keys_by_hash(sql))
		return psprintf("CREATE INDEX ON %s USING hash ((%s))", sql->state,
						record_hash(column_list("k", 1, sql->nkeys)));
	return psprintf("CREATE UNIQUE INDEX ON %s (%s) NULLS NOT DISTINCT", sql->state,
					column_list("k", 1, sql->nkeys));
}

char *
diff_sql_view_index(DiffSql *sql, const char *index_name)
{
	List	   *columns = sql->shape->grouped ? view_key_columns(sql) :
	list_make1(linitial(sql->view_columns));

	if (columns == NIL)
		return NULL;
	if (keys_by_hash(sql))
		return psprintf("CREATE INDEX %s ON %s USING hash ((%s))", quote_identifier(index_name),
						sql->view, record_hash(name_list(columns, "")));
	return psprintf("CREATE INDEX %s ON %s%s (%s)", quote_identifier(index_name), sql->view,
					index_by_hash(lookup_column_type(sql)) ? " USING hash" : "",
					name_list(columns, ""));
}

int
diff_sql_key_count(DiffSql *sql)
{
	return sql->shape->grouped ? sql->nkeys : list_length(sql->view_columns);
}

char *
diff_sql_view_populate(DiffSql *sql)
{
	return view_insert_from_state(sql, "", false);
}
