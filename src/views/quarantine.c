/*-------------------------------------------------------------------------
 * quarantine.c
 *	  @on-error quarantine for stream views and mirrors.
 *
 * A batch is first run whole, in a subtransaction: when nothing fails, that
 * is all it costs.  When it fails with a data error (SQLSTATE classes 22
 * and 23: a bad cast, a NULL key, a constraint; never a cancel, a lock
 * timeout or a serialization failure), the batch's stream keys are
 * bisected: each half is run again in a subtransaction that is always
 * rolled back, until the keys that fail on their own are found; while the
 * batch without them still fails (rows that fail only together: two
 * changes of one key and sequence that differ, a unique index of the
 * view), the key completing the shortest failing prefix is added.  The rest
 * of the batch, the ranges between the failing keys, then runs as one change
 * (for a mirror, also without any change of a failing change's mirror key,
 * so that key keeps its row), and the stream table's rows left out go to
 * pipeline.rejected as to_jsonb of the row, with the error.  The caller
 * advances its mark past the whole batch.
 *
 * Everything here runs as the view's owner, security-restricted (the
 * caller's runas_begin_user_code()); only pipeline.rejected is written as
 * the catalog owner.  Rows set aside are readable by roles that may read
 * both the view and the stream table (the policy on pipeline.rejected).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "model/catalog.h"
#include "util/analyze.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/quarantine.h"
#include "util/relation_name.h"

/*
 * The table column the query's output column key is, through joins, or
 * false.  A rebuild looks for it in any query: one that stopped
 * quarantining may read other tables too.
 */
static bool
key_column_of(Query *query, const char *key, Oid *table, char **column)
{
	TargetEntry *tle = query_output_column(query, key);
	Node	   *expr = tle ? (Node *) tle->expr : NULL;

	while (expr && IsA(expr, Var) && castNode(Var, expr)->varlevelsup == 0 &&
		   castNode(Var, expr)->varattno > 0)
	{
		Var		   *var = castNode(Var, expr);
		RangeTblEntry *rte = rt_fetch(var->varno, query->rtable);

		if (rte->rtekind == RTE_RELATION)
		{
			*table = rte->relid;
			*column = get_attname(rte->relid, var->varattno, false);
			return true;
		}
		if (rte->rtekind != RTE_JOIN || var->varattno > list_length(rte->joinaliasvars))
			break;
		expr = list_nth(rte->joinaliasvars, var->varattno - 1);
	}
	return false;
}

bool
quarantine_stream_of(Query *query, const char *key, Oid *table, char **column)
{
	char		relkind;

	if (query->setOperations || query->hasSubLinks || query->cteList != NIL ||
		list_length(query->rtable) != 1 || !key_column_of(query, key, table, column))
		return false;
	relkind = get_rel_relkind(*table);
	return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE;
}

void
quarantine_check(const MatviewDefinition *def)
{
	Oid			table;
	char	   *column;

	if (!def->quarantine)
		return;
	if (!catalog_has_options())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("@on-error quarantine needs version 1.5 of the extension's SQL"),
				 errhint("Run ALTER EXTENSION pipeline UPDATE.")));
	if (def->incremental_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("@on-error quarantine of \"%s\" needs @incremental-key", def->name),
				 errdetail("Bad rows are found and set aside by their stream key.")));
	if (!quarantine_stream_of(analyze_one(def->query), def->incremental_key, &table, &column))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("@on-error quarantine of \"%s\" needs a query that reads exactly one table, with the incremental key a plain column of it",
						def->name),
				 errdetail("A row set aside is that table's row; the key finds it."),
				 errhint("Keep the stream view a plain query of its table, and join or compute in a view that reads it.")));
}

static char *
stream_sql(const StreamBatch *b)
{
	return relation_qualified_name(b->stream);
}

/*
 * The first column of every row of sql, as text (NULL for a null), run as
 * the current user (spi_rows_user_code()).
 */
static List *
query_texts(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	SpiRows    *rows = spi_rows_user_code(sql, nargs, argtypes, values);
	List	   *texts = NIL;

	for (uint64 r = 0; r < rows->count; r++)
		texts = lappend(texts, spi_rows_text(rows, r, 0));
	return texts;
}

void
quarantine_batch_begin(StreamBatch *b, const ManagedView *view, Oid owner, Query *query,
					   Oid keytype)
{
	char	   *column;

	if (!quarantine_stream_of(query, view->incremental_key, &b->stream, &column))
		elog(ERROR, "the stream of \"%s\" no longer reads one table", view->name);
	b->view = view->relid;
	b->view_name = view->name;
	b->owner = owner;
	b->bound_query = view->bound_query;
	b->key = view->incremental_key;
	b->keytype = comparison_type_sql(keytype);
	b->keytypid = keytype;
	b->stream_column = column;
}

/* the least or greatest of the stream table's keys above the mark, as text (or NULL) */
static char *
stream_extreme(const StreamBatch *b, bool greatest)
{
	const char *key = psprintf("s.%s", quote_identifier(b->stream_column));
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {b->mark ? CStringGetTextDatum(b->mark) : (Datum) 0};

	return linitial(query_texts(extremes_select_sql(b->keytypid, key, psprintf("%s s", stream_sql(b)),
													b->mark ? comparison_param_sql(b->keytypid,
																				   BTGreaterStrategyNumber,
																				   key, 1) : "true",
													!greatest, greatest),
								b->mark ? 1 : 0, argtypes, values));
}

/*
 * The stream keys of the rows pipeline.rejected holds for view from
 * stream, as a text[] of the key column's values (0 when none), each the
 * text of a keytype.
 */
static Datum
set_aside_keys(Oid view, Oid stream, const char *stream_column, Oid keytype)
{
	Oid			argtypes[3] = {REGCLASSOID, REGCLASSOID, TEXTOID};
	Datum		values[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(stream),
	CStringGetTextDatum(stream_column)};
	SpiRows    *rows;
	bool		isnull;
	Datum		keys;

	/* before 1.5 nothing was set aside, and rejected has no source column */
	if (!catalog_has_options())
		return (Datum) 0;

	/*
	 * Read back from the row's JSON as comparison_type(), which holds no
	 * domain, so only built-in and base types' input runs: as the catalog
	 * owner.  The JSON value's own text is not the key's for every type (an
	 * array is [0, 6] there, a record {"a": 1}, a jsonb string "s").
	 */
	rows = spi_rows(catalog_owner(),
					psprintf("SELECT pg_catalog.array_agg(DISTINCT x.k::pg_catalog.text) "
							 "  FROM pipeline.rejected r, pg_catalog.jsonb_to_record("
							 "       pg_catalog.jsonb_build_object('k', r.message -> $3)) AS x(k %s)"
							 " WHERE r.target = $1 AND r.source = $2 AND r.message ->> $3 IS NOT NULL",
							 comparison_type_sql(keytype)),
					3, argtypes, values, NULL, false, SPI_OK_SELECT);
	keys = spi_rows_value(rows, 0, 0, &isnull);
	return isnull ? (Datum) 0 : keys;
}

Datum
quarantine_replay_set_aside(Oid view, Query *query, const char *key)
{
	Oid			stream;
	char	   *column;

	if (!key_column_of(query, key, &stream, &column))
		return (Datum) 0;
	return set_aside_keys(view, stream, column,
						  exprType((Node *) query_output_column(query, key)->expr));
}

char *
quarantine_leave_out_sql(const char *key_sql, Oid keytype, int param)
{
	return psprintf(" AND NOT %s",
					comparison_any_param_sql(keytype, BTEqualStrategyNumber, key_sql, param));
}

char *
quarantine_greatest(const StreamBatch *b)
{
	return stream_extreme(b, true);
}

char *
quarantine_least(const StreamBatch *b)
{
	return stream_extreme(b, false);
}

/* The batch's distinct stream keys, ascending. */
static char **
batch_keys(const StreamBatch *b, int *count)
{
	const char *col = quote_identifier(b->stream_column);
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3] = {CStringGetTextDatum(b->greatest),
	b->mark ? CStringGetTextDatum(b->mark) : (Datum) 0, b->set_aside};
	List	   *texts;
	char	  **keys;
	ListCell   *lc;
	int			n = 0;

	texts = query_texts(psprintf("SELECT d.k::pg_catalog.text FROM (SELECT DISTINCT s.%s AS k FROM %s s "
								 " WHERE %s%s%s) d ORDER BY d.k",
								 col, stream_sql(b),
								 comparison_param_sql(b->keytypid, BTLessEqualStrategyNumber, psprintf("s.%s", col), 1),
								 b->mark ? psprintf(" AND %s",
													comparison_param_sql(b->keytypid, BTGreaterStrategyNumber, psprintf("s.%s", col), 2)) : "",
								 b->set_aside ? quarantine_leave_out_sql(psprintf("s.%s", col), b->keytypid, 3) : ""),
						3, argtypes, values);
	keys = palloc(sizeof(char *) * Max(list_length(texts), 1));
	foreach(lc, texts)
		keys[n++] = lfirst(lc);
	*count = n;
	return keys;
}

/* One run of part of the batch, for subxact_try() and subxact_probe() */
typedef struct Attempt
{
	StreamBatch *batch;
	StreamRange range;
} Attempt;

static void
attempt_work(void *arg)
{
	Attempt    *a = arg;

	a->batch->run(a->batch, &a->range, 1, (Datum) 0);
}

/* What running keys[first..last] raises (rolled back either way). */
static ErrorData *
probe_range(StreamBatch *b, char **keys, int first, int last)
{
	Attempt		a = {b, {first == 0 ? b->mark : keys[first - 1], keys[last], true}};
	ErrorData  *edata = subxact_probe(attempt_work, &a);

	if (edata && !subxact_is_data_error(edata))
		ReThrowError(edata);
	return edata;
}

/* A stream key whose rows fail (on their own, or completing a failure) */
typedef struct BadKey
{
	char	   *key;
	int			index;			/* in the batch's keys */
	char	   *error;
} BadKey;

/*
 * keys[first..last] fail with error: adds, in ascending order, the keys
 * that fail on their own.
 */
static void
bisect(StreamBatch *b, char **keys, int first, int last, const char *error, List **bad)
{
	int			middle;
	ErrorData  *edata;

	CHECK_FOR_INTERRUPTS();
	if (first == last)
	{
		BadKey	   *k = palloc(sizeof(BadKey));

		k->key = keys[first];
		k->index = first;
		k->error = pstrdup(error);
		*bad = lappend(*bad, k);
		return;
	}
	middle = first + (last - first) / 2;
	if ((edata = probe_range(b, keys, first, middle)) != NULL)
		bisect(b, keys, first, middle, edata->message, bad);
	if ((edata = probe_range(b, keys, middle + 1, last)) != NULL)
		bisect(b, keys, middle + 1, last, edata->message, bad);
}

/*
 * The ranges of the batch's keys between the bad ones (BadKey, ascending),
 * up to last_hi inclusive (NULL: up to the last bad key); *n of them.
 */
static StreamRange *
ranges_between(const StreamBatch *b, List *bad, const char *last_hi, int *n)
{
	StreamRange *ranges = palloc(sizeof(StreamRange) * (list_length(bad) + 1));
	const char *lo = b->mark;
	ListCell   *lc;

	*n = 0;
	foreach(lc, bad)
	{
		ranges[*n].lo = lo;
		ranges[*n].hi = lo = ((BadKey *) lfirst(lc))->key;
		ranges[(*n)++].hi_inclusive = false;
	}
	if (last_hi != NULL)
	{
		ranges[*n].lo = lo;
		ranges[*n].hi = last_hi;
		ranges[(*n)++].hi_inclusive = true;
	}
	return ranges;
}

/* Part of the batch, for subxact_probe(): keys up to keys[last] but bad's */
typedef struct PrefixAttempt
{
	StreamBatch *batch;
	char	  **keys;
	int			last;
	List	   *bad;			/* BadKey, ascending */
} PrefixAttempt;

static void
prefix_work(void *arg)
{
	PrefixAttempt *a = arg;
	int			n;
	StreamRange *ranges = ranges_between(a->batch, a->bad,
										 a->last >= 0 ? a->keys[a->last] : NULL, &n);

	if (n > 0)
		a->batch->run(a->batch, ranges, n, (Datum) 0);
}

/* What running keys[0..last] but bad's raises (rolled back either way). */
static ErrorData *
probe_prefix(StreamBatch *b, char **keys, int last, List *bad)
{
	PrefixAttempt a = {b, keys, last, NIL};
	ErrorData  *edata;
	ListCell   *lc;

	/* the bad keys up to keys[last] */
	foreach(lc, bad)
		if (((BadKey *) lfirst(lc))->index <= last)
			a.bad = lappend(a.bad, lfirst(lc));
	edata = subxact_probe(prefix_work, &a);
	if (edata && !subxact_is_data_error(edata))
		ReThrowError(edata);
	return edata;
}

/*
 * Keys that fail only together with others (two changes of one key and
 * sequence that differ, two rows a unique index of the view refuses
 * together): while the batch without the bad keys fails, the key that
 * completes the shortest failing prefix is set aside too.  Adds them to
 * *bad, keeping it ascending; false when a failing prefix has no key of
 * its own to blame.
 */
static bool
blame_completing_keys(StreamBatch *b, char **keys, int nkeys, List **bad)
{
	ErrorData  *edata;

	while ((edata = probe_prefix(b, keys, nkeys - 1, *bad)) != NULL)
	{
		int			first = 0;
		int			last = nkeys - 1;
		char	   *error = edata->message;
		BadKey	   *k;
		ListCell   *lc;
		int			at = 0;

		CHECK_FOR_INTERRUPTS();
		/* the shortest failing prefix: keys[last] completes what fails */
		while (first < last)
		{
			int			middle = first + (last - first) / 2;

			if ((edata = probe_prefix(b, keys, middle, *bad)) != NULL)
			{
				last = middle;
				error = edata->message;
			}
			else
				first = middle + 1;
		}
		foreach(lc, *bad)
		{
			if (((BadKey *) lfirst(lc))->index == last)
				return false;
			if (((BadKey *) lfirst(lc))->index < last)
				at++;
		}
		k = palloc(sizeof(BadKey));
		k->key = keys[last];
		k->index = last;
		k->error = pstrdup(error);
		*bad = list_insert_nth(*bad, at, k);
	}
	return true;
}

/*
 * A key column of the view as the text it is set aside by: in one spelling
 * of equal values (1.0 and 1, -0 and 0, '1 day' and '24 hours'), as the
 * mirror's primary key and the deleted-key memory tell keys apart.
 */
static char *
canonical_key_sql(const char *column, Oid type)
{
	switch (getBaseType(type))
	{
		case NUMERICOID:
			return psprintf("pg_catalog.trim_scale(%s)", column);
		case FLOAT8OID:
			return psprintf("(%s OPERATOR(pg_catalog.+) 0::pg_catalog.float8)", column);
		case FLOAT4OID:
			return psprintf("(%s OPERATOR(pg_catalog.+) 0::pg_catalog.float4)", column);
		case INTERVALOID:
			return psprintf("pg_catalog.justify_interval(%s)", column);
		default:
			return pstrdup(column);
	}
}

char *
quarantine_mirror_key_sql(const StreamBatch *b)
{
	StringInfoData buf;
	ListCell   *name;
	ListCell   *type;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "ROW(");
	forboth(name, b->mirror_keys, type, b->mirror_key_types)
		appendStringInfo(&buf, "%s%s", name == list_head(b->mirror_keys) ? "" : ", ",
						 canonical_key_sql(psprintf("q.%s", quote_identifier(lfirst(name))),
										   lfirst_oid(type)));
	appendStringInfoString(&buf, ")::pg_catalog.text");
	return buf.data;
}

/* The query for collect_texts() and its arguments */
typedef struct Collect
{
	const char *sql;
	int			nargs;
	Oid		   *argtypes;
	Datum	   *values;
	List	   *texts;
} Collect;

static void
collect_work(void *arg)
{
	Collect    *c = arg;

	c->texts = query_texts(c->sql, c->nargs, c->argtypes, c->values);
}

/*
 * The mirror keys of the bad stream keys' rows, through the view's query.
 * A row the query fails on (in its WHERE, say) is only set aside itself:
 * its key is not read from the stream table's row, since the WHERE may
 * have been about to leave that row out, and a row outside the view's
 * input (written by whoever may write the stream) must not set aside
 * the changes of a key it names.
 */
static List *
bad_mirror_keys(StreamBatch *b, List *bad)
{
	List	   *keys = NIL;
	ListCell   *lc;
	Oid			argtypes[1] = {TEXTOID};
	char	   *equals = comparison_param_sql(b->keytypid, BTEqualStrategyNumber, psprintf("q.%s", quote_identifier(b->key)), 1);

	foreach(lc, bad)
	{
		BadKey	   *k = lfirst(lc);
		Datum		values[1] = {CStringGetTextDatum(k->key)};
		Collect		c = {psprintf("SELECT DISTINCT %s FROM (%s) q WHERE %s",
								  quarantine_mirror_key_sql(b), b->bound_query, equals),
		1, argtypes, values, NIL};
		ErrorData  *edata = subxact_try(collect_work, &c, false);

		if (edata && !subxact_is_data_error(edata))
			ReThrowError(edata);
		/* repeats are harmless in <> ALL (equal() is for nodes, not strings) */
		if (edata == NULL)
			keys = list_concat(keys, c.texts);
	}
	return keys;
}

/*
 * The stream keys, in (lo, hi), of the other changes of the mirror keys
 * set aside.
 */
static List *
sibling_keys(StreamBatch *b, const char *lo, const char *hi, bool hi_inclusive, Datum excluded)
{
	const char *key = quote_identifier(b->key);
	Oid			argtypes[4] = {TEXTARRAYOID, TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[4] = {excluded, CStringGetTextDatum(hi), lo ? CStringGetTextDatum(lo) : (Datum) 0,
	b->set_aside};

	/* behind a fence: the mirror keys' expressions only for the range's rows */
	return query_texts(psprintf("SELECT DISTINCT q.%s::pg_catalog.text "
								"  FROM (SELECT * FROM (%s) q WHERE %s%s%s OFFSET 0) q "
								" WHERE %s = ANY ($1)",
								key, b->bound_query,
								comparison_param_sql(b->keytypid, hi_inclusive ? BTLessEqualStrategyNumber : BTLessStrategyNumber, psprintf("q.%s", key), 2),
								lo ? psprintf(" AND %s",
											  comparison_param_sql(b->keytypid, BTGreaterStrategyNumber, psprintf("q.%s", key), 3)) : "",
								b->set_aside ? quarantine_leave_out_sql(psprintf("q.%s", key), b->keytypid, 4) : "",
								quarantine_mirror_key_sql(b)),
					   4, argtypes, values);
}

/*
 * Records the stream table's rows of the keys set aside in
 * pipeline.rejected: read as the owner, written as the catalog owner.
 */
static void
record(StreamBatch *b, List *bad, List *siblings)
{
	const char *col = quote_identifier(b->stream_column);
	List	   *keys = NIL;
	Oid			argtypes[4] = {OIDOID, TEXTARRAYOID, TEXTARRAYOID, OIDOID};
	Datum		values[4];
	List	   *messages = NIL;
	List	   *errors = NIL;
	ListCell   *lc;
	SpiRows    *rows;
	Oid			readtypes[1] = {TEXTARRAYOID};
	Datum		readvalues[1];
	MemoryContext caller = CurrentMemoryContext;

	foreach(lc, bad)
		keys = lappend(keys, ((BadKey *) lfirst(lc))->key);
	keys = list_concat(keys, siblings);
	readvalues[0] = spi_text_array(keys);
	if (SPI_execute_plan(runas_spi_prepare(InvalidOid,
										   psprintf("SELECT s.%s::pg_catalog.text, pg_catalog.to_jsonb(s.*)::pg_catalog.text "
													"  FROM %s s WHERE %s ORDER BY s.%s",
													col, stream_sql(b),
													comparison_any_param_sql(b->keytypid, BTEqualStrategyNumber,
																			 psprintf("s.%s", col), 1),
													col),
										   1, readtypes),
						 readvalues, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the rows set aside");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *key = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		char	   *message = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
		const char *error = "set aside: another change of its mirror key in this batch failed";
		MemoryContext old = MemoryContextSwitchTo(caller);

		foreach(lc, bad)
			if (strcmp(((BadKey *) lfirst(lc))->key, key) == 0)
				error = ((BadKey *) lfirst(lc))->error;
		messages = lappend(messages, pstrdup(message));
		errors = lappend(errors, pstrdup(error));
		MemoryContextSwitchTo(old);
	}
	b->quarantined = list_length(messages);
	values[0] = ObjectIdGetDatum(b->view);
	values[1] = spi_text_array(messages);
	values[2] = spi_text_array(errors);
	values[3] = ObjectIdGetDatum(b->stream);
	rows = spi_rows(catalog_owner(),
					"INSERT INTO pipeline.rejected (target, message, error, source) "
					"SELECT $1, m::pg_catalog.jsonb, e, $4 FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) u(m, e)",
					4, argtypes, values, NULL, false, SPI_OK_INSERT);
	(void) rows;
}

void
quarantine_run(StreamBatch *b)
{
	Attempt		whole = {b, {b->mark, b->greatest, true}};
	ErrorData  *edata;
	char	  **keys;
	int			nkeys;
	List	   *bad = NIL;
	List	   *excluded_keys = NIL;
	Datum		excluded = (Datum) 0;
	List	   *siblings = NIL;
	StreamRange *ranges;
	int			nranges;

	b->quarantined = 0;
	memset(b->applied, 0, sizeof(b->applied));
	if (b->mark == NULL)
		b->set_aside = set_aside_keys(b->view, b->stream, b->stream_column, b->keytypid);
	edata = subxact_try(attempt_work, &whole, false);
	if (edata == NULL)
		return;
	if (!subxact_is_data_error(edata))
		ReThrowError(edata);

	keys = batch_keys(b, &nkeys);
	if (nkeys > 0)
		bisect(b, keys, 0, nkeys - 1, edata->message, &bad);
	/* keys failing only together; where no key can tell: stop, as without */
	if (nkeys == 0 || !blame_completing_keys(b, keys, nkeys, &bad) || bad == NIL)
		ReThrowError(edata);

	if (b->mirror_keys != NIL)
		excluded_keys = bad_mirror_keys(b, bad);
	if (excluded_keys != NIL)
		excluded = spi_text_array(excluded_keys);
	/* the probes were rolled back: only what follows counts */
	memset(b->applied, 0, sizeof(b->applied));

	/* the rest: the ranges between the failing keys, as one change */
	ranges = ranges_between(b, bad, b->greatest, &nranges);
	if (excluded)
		for (int r = 0; r < nranges; r++)
			siblings = list_concat(siblings, sibling_keys(b, ranges[r].lo, ranges[r].hi,
														  ranges[r].hi_inclusive, excluded));
	b->run(b, ranges, nranges, excluded);
	record(b, bad, siblings);
}
