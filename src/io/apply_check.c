/*-------------------------------------------------------------------------
 * apply_check.c
 *	  apply_changes()'s check of every change: pipeline.apply_changes_row(),
 *	  which the MERGE calls on each change in key and descending sequence
 *	  order, and the errors raised after the MERGE from what it counted.
 *
 * Validation so rides on the sort the MERGE needs anyway instead of costing
 * scans of its own: comparing each change with the one before it finds
 * repeated (key, sequence) pairs, and the first change of a key is its
 * winner, which is what the deleted-key memory needs to know.  Only the
 * error paths read the change table again, to count and show an example.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "io/apply_check.h"
#include "io/deleted_keys.h"
#include "util/spi_rows.h"

/* What apply_changes_row() saw in the MERGE's source, while counting */
typedef struct ChangeCheck
{
	int64		null_keys;
	int64		null_sequences;
	int64		unknown_ops;
	int64		ties;			/* a (key, sequence) pair repeated */
} ChangeCheck;

static ChangeCheck checked;

/* whether deleted_keys_note() wants the current key's next changes */
static bool note_key = false;

void
apply_check_begin(void)
{
	memset(&checked, 0, sizeof(checked));
	note_key = false;
}

/*
 * The change rows, for a search among them: a query's own conditions (a
 * stream's batch, the rows set aside before) are applied before the
 * search's, which could otherwise be evaluated first on rows the batch
 * leaves out (a cast failing on a row quarantined before).
 */
static char *
rows_as_given(const ApplyPlan *p)
{
	return psprintf("(SELECT * FROM %s c OFFSET 0)", p->changes_sql);
}

/*
 * The first row of the change table's rows matching condition (SQL over
 * alias c, $1 the delete op): how many there are and the smallest as text.
 * Run as the current user.
 */
static void
find_bad_rows(const ApplyPlan *p, const char *condition, const char *delete_op,
			  int64 *count, char **example)
{
	Oid		   *argtypes;
	Datum	   *args;
	int			nargs = apply_plan_args(p, delete_op, &argtypes, &args);
	char	   *sql = psprintf("SELECT pg_catalog.count(*), pg_catalog.min((c.*)::pg_catalog.text)"
							   " FROM %s c WHERE %s", rows_as_given(p), condition);
	SpiRows    *rows = spi_rows(InvalidOid, sql, nargs, argtypes, args, NULL, true, SPI_OK_SELECT);
	bool		isnull;

	if (rows->count != 1)
		elog(ERROR, "apply_changes check failed: %s", sql);
	*count = DatumGetInt64(spi_rows_value(rows, 0, 0, &isnull));
	*example = spi_rows_text(rows, 0, 1);
}

/*
 * The error for the first kind of bad change the row check counted, with
 * the number of such rows and an example, found by a scan that runs only
 * on this path.  The scan gives the count too, unless the change relation
 * is a view whose rows changed since the MERGE read them.
 */
static void
pg_attribute_noreturn()
report_bad_changes(const ApplyPlan *p, const char *delete_op)
{
	StringInfoData bad;			/* SQL condition: the offending rows */
	int64		count;
	char	   *example;

	initStringInfo(&bad);
	if (checked.null_keys > 0)
	{
		append_name_list(&bad, p->keys, "c", " IS NULL OR ");
		appendStringInfoString(&bad, " IS NULL");
		find_bad_rows(p, bad.data, delete_op, &count, &example);
		if (count == 0)
			count = checked.null_keys;
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg_plural("change table \"%s\" has %lld row with a null key",
							   "change table \"%s\" has %lld rows with a null key",
							   count, p->changes_name, (long long) count),
				 example ? errdetail("For example: %s", example) : 0,
				 errhint("Key columns identify the target row; they must not be null.")));
	}
	if (checked.null_sequences > 0)
	{
		appendStringInfo(&bad, "c.%s IS NULL AND c.%s::pg_catalog.text IS DISTINCT FROM $1",
						 quote_identifier(p->sequence_by), quote_identifier(p->op_column));
		find_bad_rows(p, bad.data, delete_op, &count, &example);
		if (count == 0)
			count = checked.null_sequences;
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg_plural("change table \"%s\" has %lld row with a null sequence \"%s\" on an insert or update",
							   "change table \"%s\" has %lld rows with a null sequence \"%s\" on an insert or update",
							   count, p->changes_name, (long long) count, p->sequence_by),
				 example ? errdetail("For example: %s", example) : 0,
				 errhint("The sequence orders the changes of a key; only a delete may have a null sequence, which makes it the newest change of its key.")));
	}
	appendStringInfo(&bad, "c.%s IS NULL OR c.%s::pg_catalog.text"
					 " OPERATOR(pg_catalog.<>) ALL (ARRAY['I', 'U', $1])",
					 quote_identifier(p->op_column), quote_identifier(p->op_column));
	find_bad_rows(p, bad.data, delete_op, &count, &example);
	if (count == 0)
		count = checked.unknown_ops;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg_plural("change table \"%s\" has %lld row with an unknown operation in \"%s\"",
						   "change table \"%s\" has %lld rows with an unknown operation in \"%s\"",
						   count, p->changes_name, (long long) count, p->op_column),
			 example ? errdetail("For example: %s", example) : 0,
			 errhint("Operations are 'I' (insert), 'U' (update) and '%s' (delete).", delete_op)));
	pg_unreachable();
}

/*
 * Changes that repeat a (key, sequence) pair must be identical (a
 * redelivered change); different ones are an error naming how many pairs
 * conflict and an example.  The key and the sequence are the pair itself,
 * equal by their types' equality however they are spelled (numeric 5 and
 * 5.0); what must be identical is the rest: the other copied columns (a
 * stream's offset and other ignored columns aside) and the operation.  Runs
 * only when the row check saw repeats.
 */
static void
check_repeated_changes(const ApplyPlan *p, const char *delete_op)
{
	Oid		   *argtypes;
	Datum	   *args;
	int			nargs = apply_plan_args(p, delete_op, &argtypes, &args);
	StringInfoData rest;
	StringInfoData change;
	StringInfoData sql;
	ListCell   *lc;
	SpiRows    *rows;
	bool		isnull;
	int64		conflicts;

	initStringInfo(&rest);
	appendStringInfoString(&rest, "ROW(");
	foreach(lc, p->set_columns)
	{
		if (strcmp((char *) lfirst(lc), p->sequence_by) != 0)
			appendStringInfo(&rest, "c.%s, ", quote_identifier((char *) lfirst(lc)));
	}
	appendStringInfo(&rest, "c.%s)::pg_catalog.text", quote_identifier(p->op_column));

	/* the example: the whole change as given */
	initStringInfo(&change);
	appendStringInfoString(&change, "ROW(");
	append_name_list(&change, p->columns, "c", ", ");
	if (!apply_plan_copies(p, p->sequence_by))
		appendStringInfo(&change, ", c.%s", quote_identifier(p->sequence_by));
	appendStringInfo(&change, ", c.%s)::pg_catalog.text", quote_identifier(p->op_column));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.count(*), pg_catalog.min(example) FROM ("
					 " SELECT pg_catalog.min(%s) AS example FROM %s c"
					 " WHERE c.%s IS NOT NULL GROUP BY ",
					 change.data, rows_as_given(p), quote_identifier(p->sequence_by));
	append_name_list(&sql, p->keys, "c", ", ");
	appendStringInfo(&sql, ", c.%s HAVING pg_catalog.count(DISTINCT %s)"
					 " OPERATOR(pg_catalog.>) 1) d",
					 quote_identifier(p->sequence_by), rest.data);
	rows = spi_rows(InvalidOid, sql.data, nargs, argtypes, args, NULL, true, SPI_OK_SELECT);
	if (rows->count != 1)
		elog(ERROR, "apply_changes duplicate check failed");
	conflicts = DatumGetInt64(spi_rows_value(rows, 0, 0, &isnull));
	if (conflicts > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg_plural("change table \"%s\" has different changes for the same key and \"%s\" in %lld place",
							   "change table \"%s\" has different changes for the same key and \"%s\" in %lld places",
							   conflicts, p->changes_name, p->sequence_by, (long long) conflicts),
				 errdetail("For example: %s", spi_rows_text(rows, 0, 1)),
				 errhint("Changes with the same key and sequence must be identical; give them distinct sequence values.")));
}

void
apply_check_report(const ApplyPlan *p, const char *delete_op)
{
	if (checked.null_keys > 0 || checked.null_sequences > 0 || checked.unknown_ops > 0)
		report_bad_changes(p, delete_op);
	if (checked.ties > 0)
		check_repeated_changes(p, delete_op);
}

/*
 * apply_changes_row()'s memory between calls of one scan: how to compare
 * the sequence and key values, and those of the previous change.
 */
typedef struct RowCheckState
{
	int			nvalues;		/* the sequence, then the keys */
	FmgrInfo   *equal;			/* each one's default equality */
	bool	   *by_image;		/* ... is that of the Datums themselves */
	Oid		   *collation;
	int16	   *typlen;
	bool	   *typbyval;
	bool		any_byref;
	bool		have_previous;
	Datum	   *previous;
	bool	   *previous_null;
	MemoryContext previous_cxt[2];	/* by-reference copies, alternating */
	int			current_cxt;
	uint64		memory_checked; /* deleted_keys_note()'s mark */
} RowCheckState;

/*
 * Whether equality function eqfn is equality of the by-value Datums: the
 * integer types' and oid's, whose values have one Datum each.
 */
static bool
equal_by_image(Oid eqfn)
{
	switch (eqfn)
	{
		case F_INT2EQ:
		case F_INT4EQ:
		case F_INT8EQ:
		case F_OIDEQ:
		case F_DATE_EQ:
			return true;
		default:
			return false;
	}
}

static RowCheckState *
row_check_state(FunctionCallInfo fcinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	RowCheckState *state = flinfo->fn_extra;
	List	   *argexprs;

	if (state != NULL)
		return state;
	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		elog(ERROR, "apply_changes_row() needs its call expression");
	argexprs = ((FuncExpr *) flinfo->fn_expr)->args;
	state = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(RowCheckState));
	state->nvalues = fcinfo->nargs - 2;
	state->equal = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(FmgrInfo) * state->nvalues);
	state->by_image = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(bool) * state->nvalues);
	state->collation = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(Oid) * state->nvalues);
	state->typlen = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(int16) * state->nvalues);
	state->typbyval = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(bool) * state->nvalues);
	state->previous = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(Datum) * state->nvalues);
	state->previous_null = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(bool) * state->nvalues);
	for (int i = 0; i < state->nvalues; i++)
	{
		Oid			type = get_fn_expr_argtype(flinfo, i + 2);
		TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_EQ_OPR_FINFO);

		if (!OidIsValid(entry->eq_opr_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("could not identify an equality operator for type %s",
							format_type_be(type)),
					 errhint("Sequence and key columns need a type with a default btree operator class.")));
		fmgr_info_cxt(entry->eq_opr_finfo.fn_oid, &state->equal[i], flinfo->fn_mcxt);
		state->by_image[i] = equal_by_image(entry->eq_opr_finfo.fn_oid);
		state->collation[i] = exprCollation(list_nth(argexprs, i + 2));
		get_typlenbyval(type, &state->typlen[i], &state->typbyval[i]);
		state->any_byref |= !state->typbyval[i];
	}
	if (state->any_byref)
		for (int i = 0; i < 2; i++)
			state->previous_cxt[i] = AllocSetContextCreate(flinfo->fn_mcxt,
														   "apply_changes_row",
														   ALLOCSET_SMALL_SIZES);
	flinfo->fn_extra = state;
	return state;
}

/* A text argument, detoasted only if it must be (PG_GETARG_TEXT_PP inline) */
static inline text *
text_arg(Datum value)
{
	text	   *t = (text *) DatumGetPointer(value);

	if (VARATT_IS_COMPRESSED(t) || VARATT_IS_EXTERNAL(t))
		t = pg_detoast_datum_packed(t);
	return t;
}

/* Which operation op is: 'I' or 'U' (1), the delete op (2), or none (0) */
static int
operation_kind(text *op, text *delete_op)
{
	size_t		len = VARSIZE_ANY_EXHDR(op);
	const char *p = VARDATA_ANY(op);
	const char *d = VARDATA_ANY(delete_op);

	/* the ops are a letter each, mostly */
	if (len == VARSIZE_ANY_EXHDR(delete_op) &&
		(len == 1 ? p[0] == d[0] : memcmp(p, d, len) == 0))
		return 2;
	return len == 1 && (p[0] == 'I' || p[0] == 'U') ? 1 : 0;
}

/*
 * Whether value i of this call equals the previous change's, NULLs equal
 * to each other (as DISTINCT ON groups them).
 */
static bool
same_as_previous(RowCheckState *state, FunctionCallInfo fcinfo, int i)
{
	if (PG_ARGISNULL(i + 2) || state->previous_null[i])
		return PG_ARGISNULL(i + 2) && state->previous_null[i];
	if (state->by_image[i])
		return state->previous[i] == PG_GETARG_DATUM(i + 2);
	return DatumGetBool(FunctionCall2Coll(&state->equal[i], state->collation[i],
										  state->previous[i], PG_GETARG_DATUM(i + 2)));
}

/* Keeps this call's values as the previous change's for the next call */
static void
remember_change(RowCheckState *state, FunctionCallInfo fcinfo)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	if (state->any_byref)
	{
		state->current_cxt = 1 - state->current_cxt;
		MemoryContextReset(state->previous_cxt[state->current_cxt]);
		oldcxt = MemoryContextSwitchTo(state->previous_cxt[state->current_cxt]);
	}
	for (int i = 0; i < state->nvalues; i++)
	{
		state->previous_null[i] = PG_ARGISNULL(i + 2);
		if (state->previous_null[i])
			continue;
		state->previous[i] = state->typbyval[i] ? PG_GETARG_DATUM(i + 2) :
			datumCopy(PG_GETARG_DATUM(i + 2), false, state->typlen[i]);
	}
	MemoryContextSwitchTo(oldcxt);
	state->have_previous = true;
}

/*
 * Counts a bad change by its first fault: an unknown operation, a null key,
 * or a null sequence on an insert or update.  Returns whether it is bad.
 */
static bool
count_if_bad(RowCheckState *state, FunctionCallInfo fcinfo, int kind, bool counting)
{
	int64	   *fault = NULL;

	if (kind == 0)
		fault = &checked.unknown_ops;
	for (int i = 1; fault == NULL && i < state->nvalues; i++)
		if (PG_ARGISNULL(i + 2))
			fault = &checked.null_keys;
	if (fault == NULL && PG_ARGISNULL(2) && kind != 2)
		fault = &checked.null_sequences;
	if (fault != NULL && counting)
		(*fault)++;
	return fault != NULL;
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_row);

/*
 * apply_changes_row(op text, delete_op text, seq "any", VARIADIC keys "any")
 *	 RETURNS boolean
 *
 * apply_changes()'s MERGE calls this on every change, in key and descending
 * sequence order (nulls first), as the filter "IS NOT NULL" of its source.
 * It returns true for the first change of each key, when it is good, and
 * NULL for every other change, so the MERGE sees exactly the newest change
 * of each key (as DISTINCT ON would keep it, NULL keys grouped together)
 * and only if it may be applied: a key whose newest change is bad is left
 * alone.  A change is bad if it has a null key, if it is an insert or
 * update with a null sequence, or if its operation is unknown; bad changes
 * are counted wherever they are.  A change with the same key and
 * (non-null) sequence as the one before it is counted as a repeat, whose
 * contents apply_changes() compares afterwards.  Counts, deleted keys and
 * the NULLs are only for apply_changes()'s MERGE: called anywhere else, the
 * function only answers whether the change is good, and so is harmless (it
 * is executable by PUBLIC because the MERGE runs as apply_changes()'
 * caller).
 */
Datum
pipeline_apply_changes_row(PG_FUNCTION_ARGS)
{
	RowCheckState *state = row_check_state(fcinfo);
	bool		counting = deleted_keys_merge_call(fcinfo);
	int			kind;
	bool		bad;
	bool		same_key;

	kind = PG_ARGISNULL(0) || PG_ARGISNULL(1) ? 0 :
		operation_kind(text_arg(PG_GETARG_DATUM(0)), text_arg(PG_GETARG_DATUM(1)));
	bad = count_if_bad(state, fcinfo, kind, counting);
	same_key = state->have_previous;
	for (int i = 1; same_key && i < state->nvalues; i++)
		same_key = same_as_previous(state, fcinfo, i);
	if (counting && !bad)
	{
		/* a repeat matters only when no change is bad */
		if (same_key && !PG_ARGISNULL(2) && !state->previous_null[0] &&
			same_as_previous(state, fcinfo, 0))
			checked.ties++;
		if (same_key ? note_key : kind == 2)
			note_key = deleted_keys_note(fcinfo, &state->memory_checked, same_key, kind == 2);
		else if (!same_key)
			note_key = false;
	}
	remember_change(state, fcinfo);
	if (!counting)
		PG_RETURN_BOOL(!bad);
	if (bad || same_key)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(true);
}
