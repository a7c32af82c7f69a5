/*-------------------------------------------------------------------------
 * incremental.c
 *	  Incremental (append-only) managed views.
 *
 * A materialized view cannot be appended to, so an incremental view is a
 * plain table <schema>.mv_<name> with the query's columns.  Its progress,
 * the greatest key appended so far, lives in pipeline.incremental_state
 * and is advanced in the same transaction as the append: after a crash
 * either both happened or neither, so nothing is appended twice or lost.
 * The mark is stored as text written and read with DateStyle ISO, so its
 * meaning does not depend on session settings.
 *
 * A new table is populated at once (incremental_populate); whether a
 * redefinition keeps a table or rebuilds it from scratch is decided by the
 * compile step (src/compile/).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "model/catalog.h"
#include "util/analyze.h"
#include "util/lock_tries.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "views/incremental.h"
#include "views/quarantine.h"

static void report_missing_key(const char *key, const char *viewname) pg_attribute_noreturn();
static void report_not_append(const char *reason, const char *viewname) pg_attribute_noreturn();

static void
report_missing_key(const char *key, const char *viewname)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("incremental key \"%s\" is not a column of the query of view \"%s\"",
					key, viewname),
			 errhint("Name one of the query's output columns in @incremental-key.")));
}

/* The key column's attribute, or an error naming the view. */
static Form_pg_attribute
key_attribute(Relation rel, const char *key, const char *viewname)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), key) == 0)
			return att;
	}
	report_missing_key(key, viewname);
}

void
incremental_check_key(const char *query_text, const char *key, const char *viewname)
{
	TargetEntry *tle = query_output_column(analyze_one(query_text), key);
	Oid			keytype;
	TypeCacheEntry *tc;

	if (tle == NULL)
		report_missing_key(key, viewname);
	keytype = exprType((Node *) tle->expr);
	tc = lookup_type_cache(keytype, TYPECACHE_LT_OPR | TYPECACHE_GT_OPR);
	if (!OidIsValid(tc->gt_opr) || !OidIsValid(tc->lt_opr))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("incremental key \"%s\" of view \"%s\" has type %s, which has no ordering",
						key, viewname, format_type_be(keytype)),
				 errhint("Use a column of an ordered type, such as a sequence number or a timestamp.")));
	/* every run compares it with the mark: refused here, not at a run */
	(void) comparison_type(keytype);
}

/* Refuses a query whose rows are answers, not new rows to append. */
static void
report_not_append(const char *reason, const char *viewname)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("incremental view \"%s\" cannot use %s", viewname, reason),
			 errdetail("An incremental view appends each new row of its query once and never changes it; a query with %s computes rows that change as data arrives.",
					   reason),
			 errhint("Define it as a regular view (@matview-type regular), or keep the incremental view a plain query of new rows and compute the rest in a regular view that reads it.")));
}

/*
 * True for an absent LIMIT or OFFSET, LIMIT ALL (a null constant) and,
 * when zero_ok, the fence OFFSET 0.
 */
static bool
limits_nothing(Node *limit, bool zero_ok)
{
	Const	   *c;

	if (limit == NULL)
		return true;
	limit = strip_implicit_coercions(limit);
	if (!IsA(limit, Const))
		return false;
	c = castNode(Const, limit);
	if (c->constisnull)
		return true;
	if (!zero_ok)
		return false;
	if (c->consttype == INT8OID)
		return DatumGetInt64(c->constvalue) == 0;
	if (c->consttype == INT4OID)
		return DatumGetInt32(c->constvalue) == 0;
	return false;
}

/*
 * Why one level of an incremental view's query computes answers rather
 * than selecting rows (a phrase for "cannot use %s"), or NULL.
 */
static const char *
non_append_reason(Query *query)
{
	if (query->hasAggs)
		return "aggregate functions";
	if (query->groupClause != NIL || query->groupingSets != NIL)
		return "GROUP BY";
	if (query->havingQual != NULL)
		return "HAVING";
	if (query->hasDistinctOn)
		return "DISTINCT ON";
	if (query->distinctClause != NIL)
		return "DISTINCT";
	if (query->hasWindowFuncs)
		return "window functions";
	if (!limits_nothing(query->limitCount, false))
		return "LIMIT";
	if (!limits_nothing(query->limitOffset, true))
		return "OFFSET";
	return NULL;
}

static void check_query_level(Query *query, AttrNumber keyno, const char *viewname);

/*
 * Checks every branch of a set operation tree of query: only UNION ALL
 * appends its branches' rows as they are.
 */
static void
check_set_operation(Query *query, Node *node, AttrNumber keyno, const char *viewname)
{
	SetOperationStmt *op;
	const char *reason = NULL;

	if (IsA(node, RangeTblRef))
	{
		RangeTblEntry *rte = list_nth_node(RangeTblEntry, query->rtable,
										   castNode(RangeTblRef, node)->rtindex - 1);

		check_query_level(rte->subquery, keyno, viewname);
		return;
	}
	op = castNode(SetOperationStmt, node);
	if (op->op == SETOP_UNION && !op->all)
		reason = "UNION without ALL";
	else if (op->op == SETOP_INTERSECT)
		reason = op->all ? "INTERSECT ALL" : "INTERSECT";
	else if (op->op == SETOP_EXCEPT)
		reason = op->all ? "EXCEPT ALL" : "EXCEPT";
	if (reason)
		report_not_append(reason, viewname);
	check_set_operation(query, op->larg, keyno, viewname);
	check_set_operation(query, op->rarg, keyno, viewname);
}

/*
 * Follows the key column's expression of a query level down to the level
 * that produces it: through subqueries in FROM, joins and (non-recursive)
 * WITH queries of that level.  A key computed by an expression ends the
 * walk.
 */
static void
follow_key(Query *query, Node *expr, const char *viewname)
{
	Var		   *var;
	RangeTblEntry *rte;

	if (expr == NULL || !IsA(expr, Var) || castNode(Var, expr)->varlevelsup != 0)
		return;
	var = castNode(Var, expr);
	if (var->varattno <= 0)
		return;
	rte = list_nth_node(RangeTblEntry, query->rtable, var->varno - 1);
	if (rte->rtekind == RTE_SUBQUERY)
		check_query_level(rte->subquery, var->varattno, viewname);
	else if (rte->rtekind == RTE_JOIN && var->varattno <= list_length(rte->joinaliasvars))
		follow_key(query, list_nth(rte->joinaliasvars, var->varattno - 1), viewname);
	else if (rte->rtekind == RTE_CTE && rte->ctelevelsup == 0 && !rte->self_reference)
	{
		ListCell   *lc;

		foreach(lc, query->cteList)
		{
			CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

			if (strcmp(cte->ctename, rte->ctename) == 0 && !cte->cterecursive &&
				IsA(cte->ctequery, Query))
				check_query_level(castNode(Query, cte->ctequery), var->varattno, viewname);
		}
	}
}

/*
 * Checks one level of the query, then the levels its rows (the key column
 * among them, output column keyno) come from.
 */
static void
check_query_level(Query *query, AttrNumber keyno, const char *viewname)
{
	const char *reason = non_append_reason(query);
	ListCell   *lc;

	if (reason)
		report_not_append(reason, viewname);
	if (query->setOperations)
	{
		check_set_operation(query, query->setOperations, keyno, viewname);
		return;
	}
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resno == keyno && !tle->resjunk)
			follow_key(query, (Node *) tle->expr, viewname);
	}
}

void
incremental_check_query(const char *query_text, const char *key, const char *viewname)
{
	Query	   *query = analyze_one(query_text);
	TargetEntry *tle = key ? query_output_column(query, key) : NULL;

	check_query_level(query, tle ? tle->resno : InvalidAttrNumber, viewname);
}

void
incremental_forget_mark(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.incremental_state WHERE matview = $1",
					1, argtypes, values, NULL, false, -1);
}

/* What an append needs to know about its view, read under its lock. */
typedef struct AppendTarget
{
	ManagedView *view;
	char	   *qualified;		/* the table's name, schema-qualified */
	Oid			keytypid;
	Oid			owner;
} AppendTarget;

/*
 * The format a mark is written in and read back in, whatever the
 * session's settings: the mark is the key's text form.
 */
static const RunAsSetting mark_format[] = {
	{"datestyle", "ISO, YMD"},
	{"intervalstyle", "postgres"},
	{"extra_float_digits", "3"},
};

/*
 * Waits for a refresh of the view in progress (one at a time; readers are
 * not blocked), then reads the view as it is now.  Fails with SQLSTATE
 * 40001 when the view went while we waited.
 */
static void
lock_append_target(Oid relid, AppendTarget *target)
{
	char	   *relname = get_rel_name(relid);
	Relation	rel;

	lock_unless_held_long(relid, ExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("incremental view \"%s\" was dropped or redefined while its refresh waited",
						relname ? relname : "?"),
				 errhint("Refresh it again by name.")));

	/*
	 * The definition as of now, not as of the caller's snapshot: it may
	 * predate our wait for the lock, or the catalog row written just before
	 * in this transaction (by define or a redefinition).
	 */
	target->view = catalog_get_now(relid);
	if (target->view->type != MATVIEW_INCREMENTAL)
		elog(ERROR, "\"%s\" is not an incremental view", relname);

	rel = table_open(relid, NoLock);
	target->keytypid = key_attribute(rel, target->view->incremental_key,
									 target->view->name)->atttypid;
	target->qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												   RelationGetRelationName(rel));
	target->owner = rel->rd_rel->relowner;
	table_close(rel, NoLock);
}

int
incremental_pin_mark_format(void)
{
	return runas_pin_settings(mark_format, lengthof(mark_format));
}

char *
incremental_read_mark(Oid relid)
{
	const char *sql = "SELECT high_water FROM pipeline.incremental_state WHERE matview = $1";
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows;

	/*
	 * Not read_only: that would read with the snapshot taken before we waited
	 * for the lock, and miss the mark that a refresh we waited for has just
	 * committed.
	 */
	rows = spi_rows(InvalidOid, sql, 1, argtypes, values, NULL, false, SPI_OK_SELECT);

	/*
	 * Under a transaction snapshot that is the mark as of the snapshot: one
	 * written since (by a refresh we waited for, or rewritten by a statement
	 * that changed how the key is written, whose old text no longer reads) is
	 * a serialization failure, before anything is appended.
	 */
	if (IsolationUsesXactSnapshot())
	{
		SpiRows    *latest;

		PushActiveSnapshot(GetLatestSnapshot());
		latest = spi_rows(InvalidOid, sql, 1, argtypes, values, NULL, true, SPI_OK_SELECT);
		PopActiveSnapshot();
		if (latest->count != rows->count ||
			(rows->count == 1 && strcmp(spi_rows_text(rows, 0, 0), spi_rows_text(latest, 0, 0)) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent change of the mark of %s",
							relation_qualified_name(relid)),
					 errdetail("Its mark was written after this transaction's snapshot, by a refresh or a statement that changed how its key is written."),
					 errhint("Retry the transaction.")));
	}
	return rows->count == 1 ? spi_rows_text(rows, 0, 0) : NULL;
}

/*
 * The statement that appends the rows above mark ($1), or every row but
 * those set aside before ($1, when set_aside), or every row; it returns
 * the count and the new mark (the greatest key appended or set aside).
 * A NULL key is left out, and so is a row-typed key with a NULL field (IS
 * NOT NULL is false for it): a NULL field sorts above every value, so that
 * such a mark would pass over the keys that come after it.
 */
static char *
append_statement(const AppendTarget *target, const char *mark, bool set_aside)
{
	const char *key = quote_identifier(target->view->incremental_key);
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "WITH pipeline_appended AS (INSERT INTO %s SELECT * FROM (%s) q WHERE q.%s IS NOT NULL",
					 target->qualified, target->view->bound_query, key);
	if (mark)
		appendStringInfo(&sql, " AND %s",
						 comparison_param_sql(target->keytypid, BTGreaterStrategyNumber, psprintf("q.%s", key), 1));
	else if (set_aside)
		appendStringInfoString(&sql, quarantine_leave_out_sql(psprintf("q.%s", key),
															  target->keytypid, 1));
	appendStringInfo(&sql, " RETURNING %s AS k) SELECT (SELECT pg_catalog.count(*) FROM pipeline_appended), ",
					 key);

	/*
	 * the mark passes the rows left out too, as the runs that set them aside
	 * did
	 */
	if (!mark && set_aside)
		appendStringInfo(&sql,
						 "(SELECT m.k::pg_catalog.text FROM (SELECT a.k::%s FROM pipeline_appended a "
						 " UNION ALL SELECT s::%s FROM pg_catalog.unnest($1::pg_catalog.text[]) s) m(k) "
						 " ORDER BY m.k DESC LIMIT 1)",
						 comparison_type_sql(target->keytypid), comparison_type_sql(target->keytypid));
	else
		appendStringInfoString(&sql,
							   "(SELECT a.k::pg_catalog.text AS mark FROM pipeline_appended a ORDER BY a.k DESC LIMIT 1)");
	return sql.data;
}

/*
 * Whether the query has a row above mark (an index probe when the key is a
 * stream table's indexed column).  Runs as the current user, the owner's
 * user code.
 */
static bool
rows_above_mark(const AppendTarget *target, const char *mark)
{
	const char *key = quote_identifier(target->view->incremental_key);
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(mark)};

	return spi_rows_user_code(psprintf("SELECT FROM (%s) q WHERE %s LIMIT 1",
									   target->view->bound_query,
									   comparison_param_sql(target->keytypid, BTGreaterStrategyNumber, psprintf("q.%s", key), 1)),
							  1, argtypes, values)->count > 0;
}

/*
 * Appends the rows above mark as the owner, like REFRESH: a
 * security-restricted operation, so the query cannot change the session or
 * escalate.  The statement is prepared with search_path pinned and run with
 * the owner's own search_path, under which the plan cache analyzes it
 * again: the bound query names everything with its schema, and the key is
 * compared with its type's own operator, qualified.
 * Returns the rows appended and, into *new_mark, the greatest key among
 * them (palloc'd; NULL when none).
 */
static uint64
append_above_mark(const AppendTarget *target, const char *mark, char **new_mark)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {mark ? TEXTOID : TEXTARRAYOID};
	Datum		values[1] = {mark ? CStringGetTextDatum(mark) : (Datum) 0};
	SPIPlanPtr	plan;
	RunAs		ra;
	bool		isnull;
	uint64		appended;
	char	   *greatest;

	SPI_connect();
	runas_begin_user_code(&ra, target->owner);

	/*
	 * Nothing above the mark: no INSERT at all, so the table's change
	 * tracking sees no write and its downstream views may skip
	 */
	if (mark && !rows_above_mark(target, mark))
	{
		runas_end(&ra);
		SPI_finish();
		*new_mark = NULL;
		return 0;
	}
	if (mark == NULL)
		values[0] = quarantine_replay_set_aside(target->view->relid,
												analyze_bound(target->view->bound_query, target->owner),
												target->view->incremental_key);
	plan = runas_spi_prepare(target->owner, append_statement(target, mark, values[0] != (Datum) 0),
							 values[0] != (Datum) 0 ? 1 : 0, argtypes);
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not append to \"%s\"", target->view->name);
	runas_end(&ra);
	appended = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	greatest = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	*new_mark = greatest ? MemoryContextStrdup(caller, greatest) : NULL;
	SPI_finish();
	return appended;
}

void
incremental_save_mark(Oid relid, const char *mark, const char *first_key, Oid key_type)
{
	Oid			argtypes[4] = {OIDOID, TEXTOID, TEXTOID, REGTYPEOID};
	Datum		values[4] = {ObjectIdGetDatum(relid), CStringGetTextDatum(mark),
	first_key ? CStringGetTextDatum(first_key) : (Datum) 0, ObjectIdGetDatum(key_type)};
	char		nulls[4] = {' ', ' ', first_key ? ' ' : 'n', ' '};

	/* a restore could not name the row type of a table pipeline makes */
	if (!OidIsValid(key_type) || catalog_type_holds_runtime_row(key_type))
		nulls[3] = 'n';
	if (catalog_has_column("incremental_state", "key_type"))
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.incremental_state AS s "
						"       (matview, high_water, advanced_at, first_key, key_type) "
						"VALUES ($1, $2, now(), $3, $4) ON CONFLICT (matview) DO UPDATE "
						"SET high_water = EXCLUDED.high_water, advanced_at = EXCLUDED.advanced_at, "
						"    first_key = coalesce(s.first_key, EXCLUDED.first_key), "
						"    key_type = EXCLUDED.key_type",
						4, argtypes, values, nulls, false, -1);
	else if (first_key == NULL)
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.incremental_state AS s (matview, high_water, advanced_at) "
						"VALUES ($1, $2, now()) ON CONFLICT (matview) DO UPDATE "
						"SET high_water = EXCLUDED.high_water, advanced_at = EXCLUDED.advanced_at",
						2, argtypes, values, NULL, false, -1);
	else
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.incremental_state AS s "
						"       (matview, high_water, advanced_at, first_key) "
						"VALUES ($1, $2, now(), $3) ON CONFLICT (matview) DO UPDATE "
						"SET high_water = EXCLUDED.high_water, advanced_at = EXCLUDED.advanced_at, "
						"    first_key = coalesce(s.first_key, EXCLUDED.first_key)",
						3, argtypes, values, NULL, false, -1);
}

char *
incremental_first_key(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows;

	rows = spi_rows(InvalidOid,
					"SELECT first_key FROM pipeline.incremental_state WHERE matview = $1",
					1, argtypes, values, NULL, false, SPI_OK_SELECT);
	return rows->count == 1 ? spi_rows_text(rows, 0, 0) : NULL;
}

/* Appends the batch's rows with stream keys in one range */
static void
append_range(StreamBatch *b, const StreamRange *range)
{
	const AppendTarget *target = b->arg;
	const char *key = quote_identifier(b->key);
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3] = {CStringGetTextDatum(range->hi),
	range->lo ? CStringGetTextDatum(range->lo) : (Datum) 0, b->set_aside};
	char	   *sql;

	sql = psprintf("INSERT INTO %s SELECT * FROM (%s) q WHERE %s%s%s",
				   target->qualified, target->view->bound_query,
				   comparison_param_sql(b->keytypid, range->hi_inclusive ? BTLessEqualStrategyNumber :
										BTLessStrategyNumber, psprintf("q.%s", key), 1),
				   range->lo ? psprintf(" AND %s",
										comparison_param_sql(b->keytypid, BTGreaterStrategyNumber, psprintf("q.%s", key), 2)) : "",
				   b->set_aside ? quarantine_leave_out_sql(psprintf("q.%s", key), b->keytypid, 3) : "");
	if (SPI_execute_plan(runas_spi_prepare(InvalidOid, sql, 3, argtypes),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not append to \"%s\"", target->view->name);
	b->applied[0] += SPI_processed;
}

/* Appends the batch's rows in the ranges: appends need no order among them */
static void
append_ranges(StreamBatch *b, const StreamRange *ranges, int nranges, Datum excluded)
{
	for (int r = 0; r < nranges; r++)
		append_range(b, &ranges[r]);
}

/*
 * The append of a view with @on-error quarantine: the batch is the stream
 * table's rows above the mark, and the mark passes every one of them, the
 * rows set aside included (views/quarantine.h).
 */
static uint64
append_quarantining(const AppendTarget *target, const char *mark, char **new_mark,
					int64 *quarantined)
{
	MemoryContext caller = CurrentMemoryContext;
	StreamBatch b = {0};
	RunAs		ra;

	quarantine_batch_begin(&b, target->view, target->owner,
						   analyze_bound(target->view->bound_query, target->owner), target->keytypid);
	b.mark = mark;
	b.run = append_ranges;
	b.arg = (void *) target;

	SPI_connect();
	runas_begin_user_code(&ra, target->owner);
	b.greatest = quarantine_greatest(&b);
	if (b.greatest)
		quarantine_run(&b);
	/* in SPI's memory, which SPI_finish() frees */
	*new_mark = b.greatest ? MemoryContextStrdup(caller, b.greatest) : NULL;
	runas_end(&ra);
	SPI_finish();
	*quarantined = b.quarantined;
	return (uint64) b.applied[0];
}

/*
 * Appends the rows above the mark (all rows when from_scratch, after
 * forgetting the mark) and stores the new mark.  See incremental.h.
 */
static uint64
append_rows(Oid relid, bool from_scratch, char **detail)
{
	AppendTarget target;
	char	   *mark = NULL;
	char	   *new_mark = NULL;
	uint64		appended;
	int64		quarantined = 0;
	int			format_level;

	lock_append_target(relid, &target);
	format_level = incremental_pin_mark_format();
	if (from_scratch)
		incremental_forget_mark(relid);
	else
		mark = incremental_read_mark(relid);
	if (dpl_stored_options(MATVIEW_INCREMENTAL, target.view->options_json)->quarantine)
		appended = append_quarantining(&target, mark, &new_mark, &quarantined);
	else
		appended = append_above_mark(&target, mark, &new_mark);
	if (new_mark)
		incremental_save_mark(relid, new_mark, NULL, target.keytypid);
	runas_unpin_settings(format_level);
	if (quarantined > 0 && detail)
		*detail = psprintf("quarantined " INT64_FORMAT " rows (pipeline.rejected)", quarantined);
	return appended;
}

uint64
incremental_refresh(Oid relid, char **detail)
{
	catalog_require_owner(relid, get_rel_name(relid));
	return append_rows(relid, false, detail);
}

uint64
incremental_populate(Oid relid)
{
	return append_rows(relid, true, NULL);
}
