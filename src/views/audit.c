/*-------------------------------------------------------------------------
 * audit.c
 *	  Audits before publishing: binding a view's expectations when it is
 *	  defined, checking them over its new contents before its transaction
 *	  commits, and recording every check.
 *
 * A view's contents are checked by one scan for its row expectations and
 * its row count, and one grouping per @expect-unique; examples are read
 * only for an expectation that failed.  A full refresh counts its row
 * expectations as it writes the rows instead (audit_tally_receiver()), so
 * they cost no scan of their own.  An expectation is stored as
 * "name: <expression over v>", v being a row of the view, bound as a
 * view's query is (util/README.md): qualified with an empty search_path,
 * so it means at every check what it meant when the view was defined.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "model/access.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "util/analyze.h"
#include "util/named_objects.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/audit.h"
#include "util/relation_name.h"

/* What one check found. */
typedef struct AuditOutcome
{
	char	   *expectation;	/* its name; unique(...) and rows(...) for the
								 * others */
	bool		passed;
	int64		violations;
	char	   *example;		/* one violating row, or NULL */
} AuditOutcome;

/* The outcomes of the last check, for audit_record() (audit_context). */
static MemoryContext audit_context = NULL;
static Oid	outcomes_relid = InvalidOid;
static List *outcomes = NIL;
static bool last_failed = false;

/* An example is one row as text, cut to this many bytes and "..." */
#define AUDIT_EXAMPLE_MAX 200

void
audit_forget(void)
{
	if (audit_context == NULL)
		audit_context = AllocSetContextCreate(TopMemoryContext, "pipeline audits",
											  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(audit_context);
	outcomes = NIL;
	outcomes_relid = InvalidOid;
	last_failed = false;
}

bool
audit_failed(void)
{
	return last_failed;
}

bool
audit_has_expectations(const char *options_json)
{
	return options_json != NULL && strstr(options_json, "\"expect") != NULL;
}

static void report_not_expression(const char *name, const char *view) pg_attribute_noreturn();

static void
report_not_expression(const char *name, const char *view)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("expectation \"%s\" of view \"%s\" is not an expression over one row of the view",
					name, view),
			 errhint("Write @expect <name>: <boolean expression>, e.g. @expect positive: amount > 0.")));
}

static void report_broken(MemoryContext caller, const char *name, const char *view) pg_attribute_noreturn();

/*
 * Inside PG_CATCH: the error parsing or analyzing an expectation, saying
 * which, with no cursor position (the text parsed is not the text the user
 * sent).
 */
static void
report_broken(MemoryContext caller, const char *name, const char *view)
{
	ErrorData  *error;

	MemoryContextSwitchTo(caller);
	error = CopyErrorData();
	FlushErrorState();
	ereport(ERROR,
			(errcode(error->sqlerrcode),
			 errmsg("expectation \"%s\" of view \"%s\" is broken: %s", name, view, error->message),
			 error->hint ? errhint("%s", error->hint) : 0));
}

/*
 * The expression's text parsed alone: "SELECT expression" must be a bare
 * target list of one unnamed entry, so no text of the user's can add a
 * FROM, a clause or a statement, nor close a parenthesis it did not open.
 * The line break ends a comment the expression ends with.
 */
static RawStmt *
parse_expression(const char *name, const char *expression, const char *view, char **text)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *raw = NIL;
	RawStmt    *stmt;
	SelectStmt *select;

	*text = psprintf("SELECT %s\n", expression);
	PG_TRY();
	{
		raw = raw_parser(*text, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		report_broken(caller, name, view);
	}
	PG_END_TRY();
	if (list_length(raw) != 1)
		report_not_expression(name, view);
	stmt = linitial_node(RawStmt, raw);
	select = (SelectStmt *) stmt->stmt;
	if (!IsA(select, SelectStmt) || list_length(select->targetList) != 1 ||
		linitial_node(ResTarget, select->targetList)->name != NULL ||
		select->fromClause != NIL || select->whereClause != NULL ||
		select->groupClause != NIL || select->havingClause != NULL ||
		select->windowClause != NIL || select->valuesLists != NIL ||
		select->sortClause != NIL || select->limitCount != NULL ||
		select->limitOffset != NULL || select->lockingClause != NIL ||
		select->withClause != NULL || select->op != SETOP_NONE ||
		select->distinctClause != NIL || select->intoClause != NULL)
		report_not_expression(name, view);
	return stmt;
}

/*
 * The expectation's query analyzed; its errors (a column the view lacks,
 * a function that does not exist) say which expectation (report_broken()).
 */
static Query *
analyze_expectation(RawStmt *stmt, const char *text, const char *name, const char *view)
{
	MemoryContext caller = CurrentMemoryContext;
	Query	   *query = NULL;

	PG_TRY();
	{
		query = parse_analyze_fixedparams(stmt, text, NULL, 0, NULL);
	}
	PG_CATCH();
	{
		report_broken(caller, name, view);
	}
	PG_END_TRY();
	return query;
}

/* check_functions_in_node() checker: a function gone with a session */
static bool
temporary_function(Oid fn, void *context)
{
	return dag_depends_on_temporary(ProcedureRelationId, fn);
}

/*
 * Whether an expression names anything a session's end drops: a function
 * (or one whose body does), an operator, a type, a collation.
 */
static bool
uses_temporary_objects(Node *node, void *context)
{
	Oid			opno = InvalidOid;

	if (node == NULL)
		return false;
	if (IsA(node, OpExpr) || IsA(node, DistinctExpr) || IsA(node, NullIfExpr))
		opno = ((OpExpr *) node)->opno;
	else if (IsA(node, ScalarArrayOpExpr))
		opno = ((ScalarArrayOpExpr *) node)->opno;
	if (dag_depends_on_temporary(OperatorRelationId, opno) ||
		check_functions_in_node(node, temporary_function, NULL))
		return true;
	if (!IsA(node, List) && !IsA(node, TargetEntry) && !IsA(node, CaseWhen) &&
		(dag_depends_on_temporary(TypeRelationId, exprType(node)) ||
		 dag_depends_on_temporary(CollationRelationId, exprCollation(node)) ||
		 (IsA(node, CollateExpr) &&
		  dag_depends_on_temporary(CollationRelationId, ((CollateExpr *) node)->collOid))))
		return true;
	return expression_tree_walker(node, uses_temporary_objects, context);
}

/* One expectation analyzed over a row v of relation shape: its expression. */
static Node *
analyze_over_shape(const char *name, const char *expression, Oid shape, const char *view)
{
	char	   *text;
	RawStmt    *stmt = parse_expression(name, expression, view, &text);
	SelectStmt *select = (SelectStmt *) stmt->stmt;
	RangeVar   *row = makeRangeVar(get_namespace_name(get_rel_namespace(shape)),
								   get_rel_name(shape), -1);
	Query	   *query;
	Node	   *expr;
	Oid			type;

	row->alias = makeAlias("v", NIL);
	select->fromClause = list_make1(row);
	query = analyze_expectation(stmt, text, name, view);
	if (query->hasAggs || query->hasWindowFuncs || query->hasTargetSRFs || query->hasSubLinks)
		report_not_expression(name, view);
	/* kept as text and read again, as a view's query is */
	refuse_unnamed_operators(query);
	expr = (Node *) linitial_node(TargetEntry, query->targetList)->expr;
	/* kept by name, it would name what the session's end drops */
	if (uses_temporary_objects(expr, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("expectation \"%s\" of view \"%s\" must not use temporary objects", name, view)));
	type = exprType(expr);
	if (type != BOOLOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("expectation \"%s\" of view \"%s\" is not boolean: it is of type %s",
						name, view, format_type_be(type)),
				 errhint("An expectation is a condition every row must meet, e.g. amount > 0.")));
	return expr;
}

/* An analyzed expectation's bound text, deparsed as runas_deparse_bound() does. */
static char *
deparse_over_shape(Node *expr, Oid shape)
{
	int			nestlevel;
	char	   *bound;

	/* a rename in progress ends first, and none passes until we commit */
	lock_named_objects(expr);
	nestlevel = runas_pin_bound_text_settings();
	bound = deparse_expression(expr, deparse_context_for("v", shape), true, false);

	runas_unpin_settings(nestlevel);
	return bound;
}

/* One expectation bound over a row v of relation shape. */
static char *
bind_expectation(const char *name, const char *expression, Oid shape, const char *view)
{
	return deparse_over_shape(analyze_over_shape(name, expression, shape, view), shape);
}

/* An expectation of a stored view, analyzed before a rename. */
typedef struct AnalyzedExpectation
{
	char	   *name;
	Node	   *expr;
} AnalyzedExpectation;

List *
audit_analyze_stored(Oid relid, MatviewType type, const char *options_json)
{
	MatviewDefinition *def;
	List	   *analyzed = NIL;
	ListCell   *lc;

	if (type == MATVIEW_UNLOAD || !audit_has_expectations(options_json))
		return NIL;
	def = dpl_stored_options(type, options_json);
	foreach(lc, def->expectations)
	{
		AnalyzedExpectation *e = palloc(sizeof(AnalyzedExpectation));
		char	   *expression;

		(void) dpl_split_expectation(lfirst(lc), &e->name, &expression);
		e->expr = analyze_over_shape(e->name, expression, relid, get_rel_name(relid));
		analyzed = lappend(analyzed, e);
	}
	return analyzed;
}

char *
audit_rebound_options(Oid relid, MatviewType type, const char *options_json, List *analyzed)
{
	MatviewDefinition *def = dpl_stored_options(type, options_json);
	List	   *bound = NIL;
	ListCell   *lc;

	foreach(lc, analyzed)
	{
		AnalyzedExpectation *e = lfirst(lc);

		bound = lappend(bound, psprintf("%s: %s", e->name, deparse_over_shape(e->expr, relid)));
	}
	def->options_json = pstrdup(options_json);
	def->expectations = bound;
	dpl_set_expectations(def);
	return def->options_json;
}

/*
 * A temporary view with the query's columns, for a publication's shape,
 * under a name the session's temporary relations leave free.
 */
static Oid
make_shape(const char *bound_query)
{
	char	   *name = "pipeline_audit_shape";

	for (int n = 1; OidIsValid(RangeVarGetRelid(makeRangeVar("pg_temp", name, -1), NoLock, true)); n++)
		name = psprintf("pipeline_audit_shape_%d", n);
	runas_ddl(GetUserId(), psprintf("CREATE TEMPORARY VIEW %s AS %s", quote_identifier(name), bound_query));
	return RangeVarGetRelid(makeRangeVar("pg_temp", name, -1), NoLock, false);
}

void
audit_bind(MatviewDefinition *def, Oid shape)
{
	/* a publication's relation is its manifest, not its query's rows */
	bool		temporary = def->type == MATVIEW_UNLOAD || !OidIsValid(shape);
	List	   *bound = NIL;
	ListCell   *lc;

	if (def->expectations == NIL && def->expect_unique == NIL)
		return;
	if (temporary)
		shape = make_shape(def->bound_query);
	foreach(lc, def->expectations)
	{
		char	   *name;
		char	   *expression;

		if (!dpl_split_expectation(lfirst(lc), &name, &expression))
			elog(ERROR, "malformed expectation \"%s\"", (char *) lfirst(lc));
		bound = lappend(bound, psprintf("%s: %s", name,
										bind_expectation(name, expression, shape, def->name)));
	}
	foreach(lc, def->expect_unique)
	{
		AttrNumber	attnum = get_attnum(shape, lfirst(lc));
		Oid			type;

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("@expect-unique of view \"%s\" names column \"%s\", which the view does not have",
							def->name, (char *) lfirst(lc))));

		/*
		 * the check groups by the columns: they need equality (point, json
		 * have none)
		 */
		type = get_atttype(shape, attnum);
		if (!OidIsValid(lookup_type_cache(type, TYPECACHE_EQ_OPR)->eq_opr))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("@expect-unique of view \"%s\" names column \"%s\" of type %s, which has no equality operator",
							def->name, (char *) lfirst(lc), format_type_be(type))));
	}
	if (temporary)
		runas_ddl(GetUserId(), psprintf("DROP VIEW pg_temp.%s", quote_identifier(get_rel_name(shape))));
	if (def->expectations != NIL)
	{
		def->expectations = bound;
		dpl_set_expectations(def);
	}
}

/* Keeps one outcome (in audit_context). */
static void
keep_outcome(const char *expectation, int64 violations, const char *example)
{
	MemoryContext old = MemoryContextSwitchTo(audit_context);
	AuditOutcome *o = palloc0(sizeof(AuditOutcome));

	o->expectation = pstrdup(expectation);
	o->passed = violations == 0;
	o->violations = violations;
	if (example != NULL)
	{
		int			length = strlen(example);
		int			kept = pg_mbcliplen(example, length, AUDIT_EXAMPLE_MAX);

		o->example = kept < length ? psprintf("%.*s...", kept, example) : pstrdup(example);
	}
	outcomes = lappend(outcomes, o);
	MemoryContextSwitchTo(old);
}

/*
 * An expectation raised an error (edata) while it was checked: the audit
 * fails, naming it, as a violated one does; its outcome, failed, keeps the
 * error as its example.  Callable in a PG_CATCH block after
 * FlushErrorState().
 */
static void
			report_raised(Oid relid, const char *name, ErrorData *edata, Oid reader) pg_attribute_noreturn();

static void
report_raised(Oid relid, const char *name, ErrorData *edata, Oid reader)
{
	char	   *error = psprintf("raised an error: %s", edata->message);
	bool		visible;

	audit_forget();
	outcomes_relid = relid;
	keep_outcome(name, 0, error);
	((AuditOutcome *) llast(outcomes))->passed = false;
	last_failed = true;

	/*
	 * The error can carry a row's values: only for a reader (the role that
	 * called for the check, not the owner it runs as: a redefinition upstream
	 * rebuilds and audits other owners' views) who may read the view.
	 */
	visible = access_can_see(relid, reader);
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("audit of %s failed: expectation \"%s\" %s", relation_qualified_name(relid), name,
					visible ? error : psprintf("raised an error (SQLSTATE %s)",
											   unpack_sql_state(edata->sqlerrcode))),
			 errdetail("Nothing this refresh wrote is kept."),
			 visible ? 0 : errdetail_log("Nothing this refresh wrote is kept. The expectation's error: %s",
										 edata->message)));
}

/* "a, b" of quoted names, each prefixed (e.g. "v.") */
static char *
column_names(List *columns, const char *prefix)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, columns)
		appendStringInfo(&buf, "%s%s%s", buf.len ? ", " : "", prefix,
						 quote_identifier(lfirst(lc)));
	return buf.data;
}

/*
 * Whether index is unique, immediate and valid, with no predicate and no
 * expressions: what guarantees an @expect-unique on its columns.
 */
static bool
plain_unique_index(Relation index)
{
	Form_pg_index form = index->rd_index;

	return form->indisunique && form->indimmediate && form->indisvalid &&
		RelationGetIndexPredicate(index) == NIL &&
		RelationGetIndexExpressions(index) == NIL;
}

/* Whether two collations take the same strings as equal */
static bool
same_equality(Oid a, Oid b)
{
	return a == b ||
		(OidIsValid(a) && OidIsValid(b) &&
		 get_collation_isdeterministic(a) && get_collation_isdeterministic(b));
}

/*
 * Whether relation relid has a unique index (valid, immediate, no
 * predicate, no expressions) on exactly these columns, each with its
 * collation and its type's default operator class: then no two rows can
 * share a key with no NULL in it, and the refresh would have failed.
 */
static bool
unique_index_on(Oid relid, List *columns)
{
	Relation	rel = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (plain_unique_index(index) && form->indnkeyatts == list_length(columns))
		{
			ListCell   *col;

			found = true;
			foreach(col, columns)
			{
				AttrNumber	attnum = get_attnum(relid, lfirst(col));
				Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
				Oid			opclass = GetDefaultOpClass(att->atttypid, BTREE_AM_OID);
				bool		covered = false;

				/* compared as the grouping compares: its =, its collation */
				for (int k = 0; k < form->indnkeyatts; k++)
					covered |= form->indkey.values[k] == attnum &&
						same_equality(index->rd_indcollation[k], att->attcollation) &&
						OidIsValid(opclass) && index->rd_opfamily[k] == get_opclass_family(opclass);
				found &= covered;
			}
		}
		index_close(index, AccessShareLock);
		if (found)
			break;
	}
	list_free(indexes);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Rows of source, or some of them: a stream's batch, those above its mark
 * (batch_where compares the key with $1, the mark as text), or the rows a
 * differential refresh wrote (batch_where takes $1, their places); NULL
 * for every row.
 */
typedef struct AuditRows
{
	const char *source;			/* "<relation or (query)> v" */
	const char *batch_where;
	Oid			batch_type;		/* of $1 */
	Datum		batch_value;
	int64		known_rows;		/* the relation's row count, or -1 */

	/*
	 * The rows outside the scope passed the audit together before, and
	 * nothing but refreshes writes the relation (a differential view's
	 * guard): a duplicate key is then one a row of the scope has.
	 */
	bool		others_audited;
} AuditRows;

/*
 * @expect-unique: rows whose key (no column NULL: NULLs are distinct, as
 * in a UNIQUE constraint) another row has too, and one such key.  A
 * grouping of every row, unless the view's relation (is_relation) has a
 * unique index on the key.  When the scope is what a differential refresh
 * wrote (others_audited), only the keys those rows have are grouped.  A
 * stream's owner may write its table itself (only a differential view is
 * guarded), so its batch is checked by a grouping of every row.
 */
static void
check_unique(Oid relid, List *columns, const AuditRows *scope, bool is_relation)
{
	/* some rows: the relation is u, the scope's rows (its alias v) a subquery */
	bool		some = is_relation && scope->batch_where != NULL && scope->others_audited;
	const char *alias = some ? "u" : "v";
	char	   *keys = column_names(columns, psprintf("%s.", alias));
	char	   *name = psprintf("unique(%s)", column_names(columns, ""));
	StringInfoData where;
	ListCell   *lc;
	SpiRows    *rows;
	bool		isnull;
	Datum		count;
	Oid			argtypes[1] = {scope->batch_type};
	Datum		values[1] = {scope->batch_value};

	if (is_relation && unique_index_on(relid, columns))
	{
		keep_outcome(name, 0, NULL);
		return;
	}
	initStringInfo(&where);
	foreach(lc, columns)
		appendStringInfo(&where, "%s%s.%s IS NOT NULL", where.len ? " AND " : "", alias,
						 quote_identifier(lfirst(lc)));
	if (some)
	{
		/* a key of the scope's rows, equal as the grouping takes it */
		appendStringInfo(&where, " AND EXISTS (SELECT FROM %s WHERE %s", scope->source,
						 scope->batch_where);
		foreach(lc, columns)
			appendStringInfo(&where, " AND %s",
							 equality_expr_sql(get_atttype(relid, get_attnum(relid, lfirst(lc))),
											   psprintf("v.%s", quote_identifier(lfirst(lc))),
											   psprintf("u.%s", quote_identifier(lfirst(lc)))));
		appendStringInfoChar(&where, ')');
	}
	rows = spi_rows_user_code_scan(psprintf("SELECT pg_catalog.sum(d.n)::pg_catalog.int8, pg_catalog.min(d.k) "
											"  FROM (SELECT pg_catalog.count(*) AS n, ROW(%s)::pg_catalog.text AS k "
											"          FROM %s WHERE %s GROUP BY %s "
											"        HAVING pg_catalog.count(*) > 1) d",
											keys, some ? psprintf("%s u", relation_qualified_name(relid)) :
											scope->source, where.data, keys),
								   some ? 1 : 0, argtypes, values, true);
	count = spi_rows_value(rows, 0, 0, &isnull);
	keep_outcome(name, isnull ? 0 : DatumGetInt64(count),
				 isnull ? NULL : psprintf("(%s)=%s", column_names(columns, ""),
										  spi_rows_text(rows, 0, 1)));
}

/*
 * The row expectations counted on the rows as a full refresh writes them:
 * the receiver evaluates each on a row before handing it on.
 */
typedef struct AuditTally
{
	DestReceiver pub;			/* first: a DestReceiver */
	DestReceiver *inner;		/* where the rows go */
	Oid			relid;			/* the view */
	List	   *names;			/* the row expectations' names, in order */
	List	   *checks;			/* an ExprState per row expectation, in order */
	int			evaluating;		/* the one being evaluated, or -1 */
	ExprContext *econtext;		/* its per-tuple memory reset per row */
	int64		rows;
	int64	   *violations;		/* per row expectation: not true */
} AuditTally;

static bool
tally_receive(TupleTableSlot *slot, DestReceiver *self)
{
	AuditTally *tally = (AuditTally *) self;
	ListCell   *lc;

	tally->econtext->ecxt_scantuple = slot;
	tally->evaluating = 0;
	foreach(lc, tally->checks)
	{
		bool		isnull;
		Datum		passed = ExecEvalExprSwitchContext(lfirst(lc), tally->econtext, &isnull);

		if (isnull || !DatumGetBool(passed))
			tally->violations[tally->evaluating]++;
		tally->evaluating++;
	}
	tally->evaluating = -1;
	ResetExprContext(tally->econtext);
	tally->rows++;
	return tally->inner->receiveSlot(slot, tally->inner);
}

void
audit_tally_rethrow(DestReceiver *receiver, MemoryContext caller, Oid reader)
{
	AuditTally *tally = receiver->receiveSlot == tally_receive ? (AuditTally *) receiver : NULL;
	ErrorData  *edata;

	if (tally == NULL || tally->evaluating < 0)
		PG_RE_THROW();
	MemoryContextSwitchTo(caller);
	edata = CopyErrorData();
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED || edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
		PG_RE_THROW();
	FlushErrorState();
	report_raised(tally->relid, list_nth(tally->names, tally->evaluating), edata, reader);
}

static void
tally_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	AuditTally *tally = (AuditTally *) self;

	tally->inner->rStartup(tally->inner, operation, typeinfo);
}

static void
tally_shutdown(DestReceiver *self)
{
	AuditTally *tally = (AuditTally *) self;

	tally->inner->rShutdown(tally->inner);
}

static void
tally_destroy(DestReceiver *self)
{
	AuditTally *tally = (AuditTally *) self;

	tally->inner->rDestroy(tally->inner);
	FreeExprContext(tally->econtext, true);
	tally->inner = NULL;
}

/*
 * Whether expr may run in a fill whose plan is parallel: the fill was planned
 * without it, and in parallel mode the leader, which has written rows, may
 * not start another command (a volatile function running SQL), nor run
 * what is not parallel safe.
 */
static bool
runs_beside_parallel_fill(Node *expr)
{
	Query	   *query = makeNode(Query);

	query->commandType = CMD_SELECT;
	query->targetList = list_make1(makeTargetEntry((Expr *) expr, 1, NULL, false));
	return max_parallel_hazard(query) == PROPARALLEL_SAFE && !contain_volatile_functions(expr);
}

DestReceiver *
audit_tally_receiver(Oid relid, const char *options_json, DestReceiver *inner,
					 bool parallel_fill)
{
	MatviewDefinition *def;
	AuditTally *tally;
	ListCell   *lc;
	List	   *exprs = NIL;
	List	   *names = NIL;

	if (!audit_has_expectations(options_json))
		return inner;
	def = dpl_stored_options(MATVIEW_REGULAR, options_json);
	if (def->expectations == NIL && !def->has_expect_rows)
		return inner;

	/*
	 * Bound text is read back as pipeline reads it (the pinned path, pg_temp
	 * last: runas_pin_internal_settings()); then planned (inlining SQL
	 * functions) and run with the caller's: the owner's, as user code is. One
	 * expectation that may not run beside a parallel fill leaves them all to
	 * the audit's scan when the fill is parallel.
	 */
	foreach(lc, def->expectations)
	{
		char	   *name;
		char	   *expression;
		Node	   *expr;
		int			nestlevel = runas_pin_internal_settings();

		(void) dpl_split_expectation(lfirst(lc), &name, &expression);
		expr = analyze_over_shape(name, expression, relid, get_rel_name(relid));
		runas_unpin_settings(nestlevel);
		if (parallel_fill && !runs_beside_parallel_fill(expr))
			return inner;
		exprs = lappend(exprs, expr);
		names = lappend(names, name);
	}

	tally = palloc0(sizeof(AuditTally));
	tally->evaluating = -1;
	tally->relid = relid;
	tally->names = names;
	tally->pub.receiveSlot = tally_receive;
	tally->pub.rStartup = tally_startup;
	tally->pub.rShutdown = tally_shutdown;
	tally->pub.rDestroy = tally_destroy;
	tally->pub.mydest = DestNone;
	tally->inner = inner;
	tally->violations = palloc0(sizeof(int64) * Max(1, list_length(def->expectations)));
	tally->econtext = CreateStandaloneExprContext();
	foreach(lc, exprs)
		tally->checks = lappend(tally->checks,
								ExecInitExpr(expression_planner(lfirst(lc)), NULL));
	return &tally->pub;
}

static SpiRows *
select_rows(const AuditRows *rows, const char *select, const char *where, const char *tail,
			bool parallel)
{
	Oid			argtypes[1] = {rows->batch_type};
	Datum		values[1] = {rows->batch_value};
	char	   *conditions = rows->batch_where && where ?
	psprintf(" WHERE %s AND (%s)", rows->batch_where, where) :
	rows->batch_where ? psprintf(" WHERE %s", rows->batch_where) :
	where ? psprintf(" WHERE %s", where) : "";

	return spi_rows_user_code_scan(psprintf("SELECT %s FROM %s%s%s", select, rows->source,
											conditions, tail),
								   rows->batch_where ? 1 : 0, argtypes, values, parallel);
}

/* A statement over the audited rows, for subxact_try() and subxact_probe() */
typedef struct RowsStatement
{
	const AuditRows *scope;
	const char *select;
	bool		parallel;
	SpiRows    *rows;
} RowsStatement;

static void
rows_statement_work(void *arg)
{
	RowsStatement *st = arg;

	st->rows = select_rows(st->scope, st->select, NULL, "", st->parallel);
}

/*
 * The counts of the row expectations' violations; when one raises an
 * error, the audit fails naming the first that does alone.
 */
static SpiRows *
count_violations(Oid relid, MatviewDefinition *def, const AuditRows *scope, const char *counts,
				 Oid reader)
{
	RowsStatement all = {scope, counts, true, NULL};
	RowsStatement bare = {scope, "pg_catalog.count(*)", false, NULL};
	ErrorData  *edata = subxact_try(rows_statement_work, &all, false);
	ListCell   *lc;

	if (edata == NULL)
		return all.rows;

	/*
	 * the rows' own error (a publication's query, audited before it is
	 * written)
	 */
	if (subxact_probe(rows_statement_work, &bare) != NULL)
		ReThrowError(edata);
	foreach(lc, def->expectations)
	{
		char	   *name;
		char	   *expression;
		RowsStatement one = {scope, NULL, false, NULL};
		ErrorData  *raised;

		(void) dpl_split_expectation(lfirst(lc), &name, &expression);
		one.select = psprintf("pg_catalog.count(*) FILTER (WHERE (%s) IS NOT TRUE)", expression);
		if ((raised = subxact_probe(rows_statement_work, &one)) != NULL)
			report_raised(relid, name, raised, reader);
	}
	ReThrowError(edata);		/* the count itself: not an expectation's */
}

/*
 * The row expectations, over the rows (a stream's batch only), in one scan
 * with the row count when it is of every row; an example of each
 * expectation that failed.  The row count is of the whole relation.
 */
static void
check_rows(Oid relid, MatviewDefinition *def, const AuditRows *scope, const AuditTally *tally,
		   Oid reader)
{
	ListCell   *lc;
	SpiRows    *rows = NULL;
	bool		isnull;
	int			i;

	/* counted as written, or a scan of every row (worth parallel workers) */
	if (tally == NULL)
	{
		StringInfoData counts;

		initStringInfo(&counts);
		appendStringInfoString(&counts, "pg_catalog.count(*)");
		foreach(lc, def->expectations)
		{
			char	   *name;
			char	   *expression;

			(void) dpl_split_expectation(lfirst(lc), &name, &expression);
			appendStringInfo(&counts, ", pg_catalog.count(*) FILTER (WHERE (%s) IS NOT TRUE)", expression);
		}
		rows = count_violations(relid, def, scope, counts.data, reader);
	}

	i = 1;
	foreach(lc, def->expectations)
	{
		char	   *name;
		char	   *expression;
		int64		violations = tally ? tally->violations[i - 1] :
		DatumGetInt64(spi_rows_value(rows, 0, i, &isnull));
		char	   *example = NULL;

		(void) dpl_split_expectation(lfirst(lc), &name, &expression);
		if (violations > 0)
		{
			/* a volatile expectation may hold when asked again: no example */
			SpiRows    *found = select_rows(scope, "ROW(v.*)::pg_catalog.text",
											psprintf("(%s) IS NOT TRUE", expression),
											" LIMIT 1", false);

			if (found->count > 0)
				example = spi_rows_text(found, 0, 0);
		}
		keep_outcome(name, violations, example);
		i++;
	}

	if (def->has_expect_rows)
	{
		AuditRows	whole = {.source = scope->source,.known_rows = -1};
		int64		count;
		int64		violations = 0;
		char	   *bounds = def->expect_rows_max < 0 ?
		psprintf(INT64_FORMAT "..", def->expect_rows_min) :
		psprintf(INT64_FORMAT ".." INT64_FORMAT, def->expect_rows_min, def->expect_rows_max);

		count = tally ? tally->rows :
			scope->known_rows >= 0 ? scope->known_rows :
			DatumGetInt64(spi_rows_value(scope->batch_where ?
										 select_rows(&whole, "pg_catalog.count(*)", NULL, "", true) :
										 rows, 0, 0, &isnull));
		/* the rows missing, or the rows too many */
		if (count < def->expect_rows_min)
			violations = def->expect_rows_min - count;
		else if (def->expect_rows_max >= 0 && count > def->expect_rows_max)
			violations = count - def->expect_rows_max;
		keep_outcome(psprintf("rows(%s)", bounds), violations,
					 violations ? psprintf(INT64_FORMAT " %s", count, count == 1 ? "row" : "rows") : NULL);
	}
}

/* Errors with the first failed outcome, when any failed. */
static void
report_failures(Oid relid)
{
	AuditOutcome *first = NULL;
	int			failed = 0;
	ListCell   *lc;
	const char *example;

	foreach(lc, outcomes)
	{
		AuditOutcome *o = lfirst(lc);

		if (o->passed)
			continue;
		if (first == NULL)
			first = o;
		failed++;
	}
	if (first == NULL)
		return;
	last_failed = true;

	/*
	 * The example is a row of the view, and the count says how many rows are
	 * so: only for who may read it (a redefinition upstream runs the audits
	 * of others' views, and could count another's rows at will)
	 */
	if (!access_can_see(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("audit of %s failed: expectation \"%s\" is violated",
						relation_qualified_name(relid), first->expectation),
				 errdetail("Nothing this refresh wrote is kept."),
				 errdetail_log("Nothing this refresh wrote is kept. %d expectations failed, \"%s\" by " INT64_FORMAT " rows.",
							   failed, first->expectation, first->violations)));
	example = first->example;
	/* a count is the row expectation's example: "violated by 90 rows" is not */
	if (strncmp(first->expectation, "rows(", 5) == 0 && example != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("audit of %s failed: expectation \"%s\" is violated: the view has %s%s",
						relation_qualified_name(relid), first->expectation, example,
						failed > 1 ? psprintf(" (and %d more expectations failed)", failed - 1) : ""),
				 errdetail("Nothing this refresh wrote is kept.")));
	ereport(ERROR,
			(errcode(ERRCODE_CHECK_VIOLATION),
			 errmsg("audit of %s failed: expectation \"%s\" is violated by " INT64_FORMAT " %s%s%s%s",
					relation_qualified_name(relid),
					first->expectation, first->violations, first->violations == 1 ? "row" : "rows",
					example ? ", e.g. " : "", example ? example : "",
					failed > 1 ? psprintf(" (and %d more expectations failed)", failed - 1) : ""),
			 errdetail("Nothing this refresh wrote is kept.")));
}

static void check_scope(Oid relid, MatviewType type, const char *options_json,
						const char *source_query, AuditRows *scope, const AuditTally *tally);

void
audit_check(Oid relid, MatviewType type, const char *options_json, const char *source_query)
{
	AuditRows	scope = {.known_rows = -1};

	check_scope(relid, type, options_json, source_query, &scope, NULL);
}

void
audit_check_batch(Oid relid, MatviewType type, const char *options_json,
				  const char *source_query, const char *batch_key, const char *batch_mark)
{
	AuditRows	scope = {.known_rows = -1};

	if (batch_key != NULL && batch_mark != NULL)
	{
		Oid			keytype = get_atttype(relid, get_attnum(relid, batch_key));

		scope.batch_where = comparison_param_sql(keytype, BTGreaterStrategyNumber, psprintf("v.%s", quote_identifier(batch_key)), 1);
		scope.batch_type = TEXTOID;
		scope.batch_value = CStringGetTextDatum(batch_mark);
	}
	check_scope(relid, type, options_json, source_query, &scope, NULL);
}

/*
 * Beyond this share of the view's rows written, a scan of every row costs
 * less than fetching them one by one; beyond this many, their array would
 * outgrow an allocation.
 */
#define WRITTEN_SHARE_FOR_SCAN 0.2
#define WRITTEN_MAX_FETCHED ((int64) (MaxAllocSize / sizeof(Datum)))

void
audit_check_written(Oid relid, const char *options_json,
					const ItemPointerData *places, int64 nplaces, int64 rows)
{
	AuditRows	scope = {.known_rows = rows,.others_audited = true};

	/* a TID scan: only the rows written are read */
	if (nplaces <= WRITTEN_SHARE_FOR_SCAN * rows && nplaces <= WRITTEN_MAX_FETCHED)
	{
		Datum	   *elements = palloc(sizeof(Datum) * Max(nplaces, 1));

		for (int64 i = 0; i < nplaces; i++)
			elements[i] = PointerGetDatum(&places[i]);
		scope.batch_where = "v.ctid OPERATOR(pg_catalog.=) ANY ($1)";
		scope.batch_type = TIDARRAYOID;
		scope.batch_value = PointerGetDatum(nplaces > 0 ?
											construct_array(elements, nplaces, TIDOID,
															sizeof(ItemPointerData), false,
															TYPALIGN_SHORT) :
											construct_empty_array(TIDOID));
	}
	check_scope(relid, MATVIEW_REGULAR, options_json, NULL, &scope, NULL);
}

void
audit_check_tallied(Oid relid, const char *options_json, const char *source_query,
					DestReceiver *receiver)
{
	const AuditTally *tally = receiver->rStartup == tally_startup ? (AuditTally *) receiver : NULL;
	AuditRows	scope = {.known_rows = -1};

	check_scope(relid, MATVIEW_REGULAR, options_json, source_query, &scope, tally);
}

/* The checks over scope's rows (of source_query, or of the relation). */
static void
check_scope(Oid relid, MatviewType type, const char *options_json,
			const char *source_query, AuditRows *scope, const AuditTally *tally)
{
	MatviewDefinition *def;
	RunAs		ra;
	Oid			reader;

	audit_forget();
	if (!audit_has_expectations(options_json))
		return;
	def = dpl_stored_options(type, options_json);
	if (def->expectations == NIL && def->expect_unique == NIL && !def->has_expect_rows)
		return;
	outcomes_relid = relid;
	scope->source = source_query ?
		psprintf("(%s) v", source_query) :
		psprintf("%s v", relation_qualified_name(relid));

	/* what the refresh wrote, as REFRESH reads the query: as the owner */
	CommandCounterIncrement();
	reader = GetUserId();
	runas_begin_user_code(&ra, catalog_relation_owner(relid));
	if (def->expectations != NIL || def->has_expect_rows)
		check_rows(relid, def, scope, tally, reader);
	if (def->expect_unique != NIL)
		check_unique(relid, def->expect_unique, scope, source_query == NULL);
	runas_end(&ra);
	report_failures(relid);
}

void
audit_record(int64 run_id, Oid relid)
{
	ListCell   *lc;

	if (outcomes == NIL || outcomes_relid != relid || !OidIsValid(catalog_table("audits")))
		return;
	foreach(lc, outcomes)
	{
		AuditOutcome *o = lfirst(lc);
		Oid			argtypes[6] = {INT8OID, OIDOID, TEXTOID, BOOLOID, INT8OID, TEXTOID};
		Datum		values[6] = {Int64GetDatum(run_id), ObjectIdGetDatum(relid),
			CStringGetTextDatum(o->expectation), BoolGetDatum(o->passed),
		Int64GetDatum(o->violations), o->example ? CStringGetTextDatum(o->example) : (Datum) 0};
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', o->example ? ' ' : 'n'};

		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.audits (run_id, matview, expectation, passed, violations, example) "
						"VALUES ($1, $2::pg_catalog.regclass, $3, $4, $5, $6)",
						6, argtypes, values, nulls, false, -1);
	}
}
