/*-------------------------------------------------------------------------
 * changes.c
 *	  pipeline.apply_changes(): merging a staging table of CDC change rows
 *	  into a Type-1 mirror table.
 *
 * The change table holds one row per change: the target's columns (matched
 * by name), an operation column ('I', 'U' or the delete op) and a sequence
 * column.  Per key the change with the greatest sequence wins; the delete op
 * deletes, any other op upserts.  The statements run as the calling user.
 *
 * The whole application is one MERGE whose source reads the change table
 * once, sorted by key and descending sequence.  Over that sorted stream
 * apply_changes_row() checks every change (null keys, null sequences,
 * unknown operations, repeated (key, sequence) pairs); a bad change that is
 * the latest of its key matches no WHEN clause, and any bad change is an
 * error after the MERGE, which undoes it with the rest of the transaction.
 * Validation so rides on the sort the merge needs anyway instead of costing
 * scans of its own.  Applies into one target are serialized by a
 * self-conflicting lock, since concurrent MERGEs inserting one new key
 * would collide.
 *
 * MERGE in PostgreSQL 15 reports only its total row count; the split into
 * inserted/updated/deleted is read from the ModifyTable node's own counters
 * (the ones EXPLAIN ANALYZE prints) by a short-lived ExecutorEnd hook.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "changes.h"
#include "pipeline.h"

/* ExecutorEnd hook state: counts of the last MERGE into capture_relid */
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static bool hook_installed = false;
static Oid	capture_relid = InvalidOid;
static ChangeCounts captured;
static bool captured_any;

/* What apply_changes_row() saw in the MERGE's source, while capturing */
typedef struct ChangeCheck
{
	int64		null_keys;
	int64		null_sequences;
	int64		unknown_ops;
	int64		ties;			/* a (key, sequence) pair repeated */
} ChangeCheck;
static ChangeCheck checked;

static void
changes_ExecutorEnd(QueryDesc *queryDesc)
{
	if (OidIsValid(capture_relid) &&
		queryDesc->operation == CMD_MERGE &&
		queryDesc->planstate != NULL &&
		IsA(queryDesc->planstate, ModifyTableState))
	{
		ModifyTableState *mt = (ModifyTableState *) queryDesc->planstate;

		if (mt->resultRelInfo != NULL &&
			RelationGetRelid(mt->resultRelInfo->ri_RelationDesc) == capture_relid)
		{
			/* nested MERGEs (triggers) end first: the outer one is last */
			captured.inserted = (int64) mt->mt_merge_inserted;
			captured.updated = (int64) mt->mt_merge_updated;
			captured.deleted = (int64) mt->mt_merge_deleted;
			captured_any = true;
		}
	}
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* "schema"."name" of a relation, for SQL text */
static char *
qualified_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/* The relation as the user would name it, for messages */
static char *
display_name(Oid relid)
{
	return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)));
}

/* attribute number of a live column called name, or InvalidAttrNumber */
static AttrNumber
find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

static bool
list_has_string(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	}
	return false;
}

/* " AND " joined "prefix.k = prefix2.k" or "prefix.k IS NULL" lists */
static void
append_key_list(StringInfo buf, List *keys, const char *prefix, const char *sep)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		if (lc != list_head(keys))
			appendStringInfoString(buf, sep);
		if (prefix)
			appendStringInfo(buf, "%s.", prefix);
		appendStringInfoString(buf, quote_identifier((char *) lfirst(lc)));
	}
}

/*
 * Raises the error for the first kind of bad change apply_changes_row()
 * counted: null keys, null sequences, unknown operations, with the number
 * of such rows and an example, found by a scan that runs only on this error
 * path.  Needs SPI connected.
 */
static void
report_bad_changes(const char *changes_sql, const char *changes_name, List *keys,
				   const char *sequence_by, const char *op_column, const char *delete_op)
{
	StringInfoData bad;			/* SQL condition: the offending rows */
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(delete_op)};
	int			sqlstate;
	const char *what;
	const char *hint;
	int64		seen;
	int64		count;
	char	   *example;
	bool		isnull;

	/* the merge's own counts decide which error this is */
	initStringInfo(&bad);
	if (checked.null_keys > 0)
	{
		append_key_list(&bad, keys, "c", " IS NULL OR ");
		appendStringInfoString(&bad, " IS NULL");
		sqlstate = ERRCODE_NOT_NULL_VIOLATION;
		what = "a null key";
		hint = "Key columns identify the target row; they must not be null.";
		seen = checked.null_keys;
	}
	else if (checked.null_sequences > 0)
	{
		appendStringInfo(&bad, "c.%s IS NULL", quote_identifier(sequence_by));
		sqlstate = ERRCODE_NOT_NULL_VIOLATION;
		what = psprintf("a null sequence \"%s\"", sequence_by);
		hint = "The sequence orders the changes of a key; it must not be null.";
		seen = checked.null_sequences;
	}
	else
	{
		appendStringInfo(&bad, "c.%s IS NULL OR c.%s::text NOT IN ('I', 'U', $1)",
						 quote_identifier(op_column), quote_identifier(op_column));
		sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
		what = psprintf("an unknown operation in \"%s\"", op_column);
		hint = psprintf("Operations are 'I' (insert), 'U' (update) and '%s' (delete).", delete_op);
		seen = checked.unknown_ops;
	}

	/*
	 * The scan gives the example, and the count (unless the change relation
	 * is a view whose rows changed since the merge read them).
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT count(*), min(c::text) FROM %s c WHERE %s",
					 changes_sql, bad.data);
	if (SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "apply_changes check failed: %s", sql.data);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (count == 0)
		count = seen;
	example = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_plural("change table \"%s\" has %lld row with %s",
						   "change table \"%s\" has %lld rows with %s",
						   count, changes_name, (long long) count, what),
			 example ? errdetail("For example: %s", example) : 0,
			 errhint("%s", hint)));
}

/*
 * Changes that repeat a (key, sequence) pair must be identical (a
 * redelivered change); different ones are an error naming how many pairs
 * conflict and an example.  Runs only when apply_changes_row() saw
 * repeats.  Needs SPI connected.
 */
static void
check_repeated_changes(const char *changes_sql, const char *changes_name, List *keys,
					   const char *sequence_by)
{
	StringInfoData sql;
	bool		isnull;
	int64		conflicts;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT count(*), min(example) FROM ("
					 " SELECT min(c::text) AS example FROM %s c GROUP BY ",
					 changes_sql);
	append_key_list(&sql, keys, "c", ", ");
	appendStringInfo(&sql, ", c.%s HAVING count(DISTINCT c::text) > 1) d",
					 quote_identifier(sequence_by));
	if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "apply_changes duplicate check failed");
	conflicts = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											1, &isnull));
	if (conflicts > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg_plural("change table \"%s\" has different changes for the same key and \"%s\" in %lld place",
							   "change table \"%s\" has different changes for the same key and \"%s\" in %lld places",
							   conflicts, changes_name, sequence_by, (long long) conflicts),
				 errdetail("For example: %s",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Changes with the same key and sequence must be identical; give them distinct sequence values.")));
}

ChangeCounts
changes_apply(Oid changes_relid, Oid target_relid, List *keys,
			  const char *sequence_by, const char *op_column,
			  const char *delete_op, bool truncate_changes)
{
	Relation	changes;
	Relation	target;
	TupleDesc	cdesc;
	TupleDesc	tdesc;
	char	   *changes_sql;
	char	   *target_sql;
	char	   *changes_name = display_name(changes_relid);
	char	   *target_name = display_name(target_relid);
	List	   *columns = NIL;	/* change columns copied into the target */
	List	   *set_columns = NIL;	/* non-key columns of those */
	List	   *source_columns;	/* what the merge reads of a change */
	bool		target_has_sequence;
	ListCell   *lc;
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	ChangeCounts result = {0, 0, 0};
	int			ret;

	if (strcmp(delete_op, "I") == 0 || strcmp(delete_op, "U") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delete_op must not be \"%s\"", delete_op),
				 errdetail("'I' and 'U' are the insert and update operations."),
				 errhint("Use the operation your change feed uses for deletes, such as 'D'.")));
	if (keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keys must name at least one column")));
	if (changes_relid == target_relid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("change table and target are the same relation \"%s\"", target_name)));

	changes = table_open(changes_relid, AccessShareLock);
	target = table_open(target_relid, AccessShareLock);
	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target \"%s\" is not a table", target_name)));
	if (truncate_changes &&
		changes->rd_rel->relkind != RELKIND_RELATION &&
		changes->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("change table \"%s\" is not a table", changes_name),
				 errhint("Pass truncate_changes => false to read changes from a view.")));
	cdesc = RelationGetDescr(changes);
	tdesc = RelationGetDescr(target);
	changes_sql = qualified_name(changes);
	target_sql = qualified_name(target);

	/* keys: distinct, in both relations */
	foreach(lc, keys)
	{
		char	   *key = lfirst(lc);

		for (ListCell *prev = list_head(keys); prev != lc; prev = lnext(keys, prev))
			if (strcmp((char *) lfirst(prev), key) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key column \"%s\" is listed twice", key)));
		if (find_column(cdesc, key) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" has no key column \"%s\"", changes_name, key),
					 errhint("Every key column must be in the change table and in the target.")));
		if (find_column(tdesc, key) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target \"%s\" has no key column \"%s\"", target_name, key),
					 errhint("Every key column must be in the change table and in the target.")));
		if (strcmp(key, op_column) == 0 || strcmp(key, sequence_by) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"%s\" cannot also be the operation or sequence column", key)));
	}
	if (find_column(cdesc, sequence_by) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("change table \"%s\" has no sequence column \"%s\"", changes_name, sequence_by)));
	if (find_column(cdesc, op_column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("change table \"%s\" has no operation column \"%s\"", changes_name, op_column),
				 errhint("Name it with op_column => '...'.")));
	if (strcmp(op_column, sequence_by) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the operation and sequence columns must differ")));
	target_has_sequence = find_column(tdesc, sequence_by) != InvalidAttrNumber;

	/* every other change column must be a writable target column */
	for (int i = 0; i < cdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(cdesc, i);
		char	   *name = NameStr(att->attname);
		AttrNumber	tattno;

		if (att->attisdropped || strcmp(name, op_column) == 0)
			continue;
		tattno = find_column(tdesc, name);
		if (tattno == InvalidAttrNumber)
		{
			if (strcmp(name, sequence_by) == 0)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" column \"%s\" has no column in target \"%s\"",
							changes_name, name, target_name),
					 errhint("Columns are matched by name; drop the column from the change table or add it to the target.")));
		}
		if (TupleDescAttr(tdesc, tattno - 1)->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("change table \"%s\" column \"%s\" is a generated column of target \"%s\"",
							changes_name, name, target_name)));
		columns = lappend(columns, pstrdup(name));
		if (!list_has_string(keys, name))
			set_columns = lappend(set_columns, pstrdup(name));
	}
	table_close(target, NoLock);
	table_close(changes, NoLock);

	args[0] = CStringGetTextDatum(delete_op);
	SPI_connect();

	/*
	 * Keep writers of the change table out until commit, so that what we
	 * truncate is exactly what we applied.  In READ COMMITTED every
	 * statement below takes a fresh snapshot after this lock.
	 */
	if (truncate_changes)
	{
		initStringInfo(&sql);
		appendStringInfo(&sql, "LOCK TABLE %s IN EXCLUSIVE MODE", changes_sql);
		if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not lock \"%s\"", changes_name);
	}

	/*
	 * One apply into a target at a time: two MERGEs inserting the same new
	 * key would otherwise fail with a unique violation, since MERGE does not
	 * turn a concurrent insert into an update.  The lock is self-conflicting
	 * but lets readers and other writers of the target through; the MERGE
	 * below takes its snapshot after the wait, so it sees what the previous
	 * apply committed.
	 */
	LockRelationOid(target_relid, ShareUpdateExclusiveLock);

	/*
	 * The merge.  Its source reads the change table sorted by key and
	 * descending sequence.  apply_changes_row() is volatile, so the planner
	 * evaluates it after that sort, on every change in order, and DISTINCT
	 * ON then keeps the first, the latest, change of each key without
	 * sorting again.  A bad latest change matches no WHEN clause; the error
	 * raised after the merge undoes the rest.
	 */
	source_columns = list_copy(columns);
	if (!list_has_string(source_columns, sequence_by))
		source_columns = lappend(source_columns, (char *) sequence_by);
	source_columns = lappend(source_columns, (char *) op_column);
	initStringInfo(&sql);
	appendStringInfo(&sql, "MERGE INTO %s t USING (SELECT DISTINCT ON (", target_sql);
	append_key_list(&sql, keys, NULL, ", ");
	appendStringInfoString(&sql, ") * FROM (SELECT ");
	append_key_list(&sql, source_columns, "c", ", ");
	appendStringInfo(&sql, ", %s.apply_changes_row(c.%s::text, $1, c.%s, ",
					 quote_identifier(PIPELINE_SCHEMA), quote_identifier(op_column),
					 quote_identifier(sequence_by));
	append_key_list(&sql, keys, "c", ", ");
	appendStringInfo(&sql, ") AS pipeline_good FROM %s c ORDER BY ", changes_sql);
	append_key_list(&sql, keys, "c", ", ");
	appendStringInfo(&sql, ", c.%s DESC) w ORDER BY ",
					 quote_identifier(sequence_by));
	append_key_list(&sql, keys, NULL, ", ");
	appendStringInfo(&sql, ", %s DESC) s ON ", quote_identifier(sequence_by));
	foreach(lc, keys)
	{
		const char *k = quote_identifier((char *) lfirst(lc));

		if (lc != list_head(keys))
			appendStringInfoString(&sql, " AND ");
		appendStringInfo(&sql, "t.%s = s.%s", k, k);
	}
	appendStringInfoString(&sql, " WHEN MATCHED AND NOT s.pipeline_good THEN DO NOTHING");
	if (target_has_sequence)
		appendStringInfo(&sql, " WHEN MATCHED AND t.%s > s.%s THEN DO NOTHING",
						 quote_identifier(sequence_by), quote_identifier(sequence_by));
	appendStringInfo(&sql, " WHEN MATCHED AND s.%s::text = $1 THEN DELETE",
					 quote_identifier(op_column));
	appendStringInfoString(&sql, " WHEN MATCHED THEN UPDATE SET ");
	{
		/* with only key columns, a no-op assignment still counts the update */
		List	   *set = set_columns != NIL ? set_columns : list_make1(linitial(keys));

		foreach(lc, set)
		{
			const char *c = quote_identifier((char *) lfirst(lc));

			if (lc != list_head(set))
				appendStringInfoString(&sql, ", ");
			appendStringInfo(&sql, "%s = s.%s", c, c);
		}
	}
	appendStringInfo(&sql, " WHEN NOT MATCHED AND s.pipeline_good AND s.%s::text <> $1 THEN INSERT (",
					 quote_identifier(op_column));
	append_key_list(&sql, columns, NULL, ", ");
	appendStringInfoString(&sql, ") VALUES (");
	append_key_list(&sql, columns, "s", ", ");
	appendStringInfoString(&sql, ")");

	if (!hook_installed)
	{
		prev_ExecutorEnd = ExecutorEnd_hook;
		ExecutorEnd_hook = changes_ExecutorEnd;
		hook_installed = true;
	}
	captured_any = false;
	memset(&checked, 0, sizeof(checked));
	capture_relid = target_relid;
	PG_TRY();
	{
		ret = SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		capture_relid = InvalidOid;
	}
	PG_END_TRY();
	if (ret != SPI_OK_MERGE)
		elog(ERROR, "apply_changes merge failed: %s", SPI_result_code_string(ret));

	/* errors found on the way undo the merge with the transaction */
	if (checked.null_keys > 0 || checked.null_sequences > 0 || checked.unknown_ops > 0)
		report_bad_changes(changes_sql, changes_name, keys, sequence_by, op_column,
						   delete_op);
	if (checked.ties > 0)
		check_repeated_changes(changes_sql, changes_name, keys, sequence_by);

	if (captured_any)
		result = captured;
	else
		elog(ERROR, "apply_changes could not count the merged rows");

	if (truncate_changes)
	{
		initStringInfo(&sql);
		/*
		 * TRUNCATE is safe under READ COMMITTED thanks to the lock; with a
		 * transaction snapshot, rows committed before the lock may be
		 * invisible to us, so only delete what we saw.
		 */
		if (IsolationUsesXactSnapshot())
			appendStringInfo(&sql, "DELETE FROM %s", changes_sql);
		else
			appendStringInfo(&sql, "TRUNCATE %s", changes_sql);
		if (SPI_execute(sql.data, false, 0) < 0)
			elog(ERROR, "could not empty \"%s\"", changes_name);
	}
	SPI_finish();
	return result;
}

/*
 * apply_changes_row()'s memory between calls of one scan: how to compare
 * the sequence and key values, and those of the previous good change.
 */
typedef struct RowCheckState
{
	int			nvalues;		/* the sequence, then the keys */
	FmgrInfo   *equal;			/* each one's default equality */
	Oid		   *collation;
	int16	   *typlen;
	bool	   *typbyval;
	bool		any_byref;
	bool		have_previous;
	Datum	   *previous;
	MemoryContext previous_cxt[2];	/* by-reference copies, alternating */
	int			current_cxt;
} RowCheckState;

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
	state->collation = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(Oid) * state->nvalues);
	state->typlen = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(int16) * state->nvalues);
	state->typbyval = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(bool) * state->nvalues);
	state->previous = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(Datum) * state->nvalues);
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

/* op is 'I', 'U' or the delete op */
static bool
known_operation(text *op, text *delete_op)
{
	size_t		len = VARSIZE_ANY_EXHDR(op);
	const char *p = VARDATA_ANY(op);

	return (len == 1 && (p[0] == 'I' || p[0] == 'U')) ||
		(len == VARSIZE_ANY_EXHDR(delete_op) && memcmp(p, VARDATA_ANY(delete_op), len) == 0);
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_row);

/*
 * apply_changes_row(op text, delete_op text, seq "any", VARIADIC keys "any")
 *	 RETURNS boolean
 *
 * apply_changes()'s MERGE calls this on every change, in key and descending
 * sequence order.  It returns whether the change may be applied: a change
 * with a null key, a null sequence or an unknown operation is counted and
 * refused.  A change with the same key and sequence as the good change
 * before it is counted as a repeat, whose contents apply_changes() compares
 * afterwards.  Counts are kept only while apply_changes() runs.
 */
Datum
pipeline_apply_changes_row(PG_FUNCTION_ARGS)
{
	RowCheckState *state = row_check_state(fcinfo);
	bool		counting = OidIsValid(capture_relid);
	bool		same_key;
	bool		same_sequence;
	MemoryContext oldcxt;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) ||
		!known_operation(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1)))
	{
		if (counting)
			checked.unknown_ops++;
		PG_RETURN_BOOL(false);
	}
	for (int i = 1; i < state->nvalues; i++)
		if (PG_ARGISNULL(i + 2))
		{
			if (counting)
				checked.null_keys++;
			PG_RETURN_BOOL(false);
		}
	if (PG_ARGISNULL(2))
	{
		if (counting)
			checked.null_sequences++;
		PG_RETURN_BOOL(false);
	}

	same_key = state->have_previous;
	for (int i = 1; same_key && i < state->nvalues; i++)
		same_key = DatumGetBool(FunctionCall2Coll(&state->equal[i], state->collation[i],
												  state->previous[i], PG_GETARG_DATUM(i + 2)));
	same_sequence = same_key &&
		DatumGetBool(FunctionCall2Coll(&state->equal[0], state->collation[0],
									   state->previous[0], PG_GETARG_DATUM(2)));
	if (same_sequence && counting)
		checked.ties++;

	/* remember this change's values for the next call */
	if (state->any_byref)
	{
		state->current_cxt = 1 - state->current_cxt;
		MemoryContextReset(state->previous_cxt[state->current_cxt]);
		oldcxt = MemoryContextSwitchTo(state->previous_cxt[state->current_cxt]);
	}
	else
		oldcxt = CurrentMemoryContext;
	for (int i = 0; i < state->nvalues; i++)
		state->previous[i] = datumCopy(PG_GETARG_DATUM(i + 2), state->typbyval[i],
									   state->typlen[i]);
	MemoryContextSwitchTo(oldcxt);
	state->have_previous = true;
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_tie);

/*
 * Version 1.0's internal tie counter, gone since 1.1.  The symbol stays so
 * that CREATE EXTENSION pipeline VERSION '1.0' (and so the upgrade path)
 * still loads; it does nothing.
 */
Datum
pipeline_apply_changes_tie(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(false);
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes);

/*
 * apply_changes(changes regclass, target regclass, keys text[],
 *				 sequence_by text, op_column text, delete_op text,
 *				 truncate_changes boolean)
 *	 RETURNS TABLE(inserted bigint, updated bigint, deleted bigint)
 */
Datum
pipeline_apply_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const argnames[] = {"changes", "target", "keys", "sequence_by",
	"op_column", "delete_op", "truncate_changes"};
	ArrayType  *keyarray;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	List	   *keys = NIL;
	ChangeCounts counts;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argnames[i])));

	keyarray = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(keyarray, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("keys must not contain null")));
		keys = lappend(keys, TextDatumGetCString(elems[i]));
	}

	InitMaterializedSRF(fcinfo, 0);
	counts = changes_apply(PG_GETARG_OID(0), PG_GETARG_OID(1), keys,
						   text_to_cstring(PG_GETARG_TEXT_PP(3)),
						   text_to_cstring(PG_GETARG_TEXT_PP(4)),
						   text_to_cstring(PG_GETARG_TEXT_PP(5)),
						   PG_GETARG_BOOL(6));
	values[0] = Int64GetDatum(counts.inserted);
	values[1] = Int64GetDatum(counts.updated);
	values[2] = Int64GetDatum(counts.deleted);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
