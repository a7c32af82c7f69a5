/*-------------------------------------------------------------------------
 * changes.c
 *	  pipeline.apply_changes(): merging a staging table of CDC change rows
 *	  into a Type-1 mirror table.
 *
 * The change table holds one row per change: the target's columns (matched
 * by name), an operation column ('I', 'U' or the delete op) and a sequence
 * column.  Per key the change with the greatest sequence wins; the delete op
 * deletes, any other op upserts.  Everything is checked before the target is
 * touched, and the whole application is one MERGE statement, so a failure
 * changes nothing.  The statements run as the calling user.
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
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "changes.h"
#include "pipeline.h"

/* ExecutorEnd hook state: counts of the last MERGE into capture_relid */
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static bool hook_installed = false;
static Oid	capture_relid = InvalidOid;
static ChangeCounts captured;
static bool captured_any;
static int64 ties;				/* same (key, sequence) pairs seen by the MERGE */

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

	/* null keys, null sequences, unknown ops: one scan */
	initStringInfo(&sql);
	{
		StringInfoData nullkey;

		initStringInfo(&nullkey);
		append_key_list(&nullkey, keys, "c", " IS NULL OR ");
		appendStringInfoString(&nullkey, " IS NULL");
		appendStringInfo(&sql,
						 "SELECT count(*) FILTER (WHERE %s), "
						 "       min(c::text) FILTER (WHERE %s), "
						 "       count(*) FILTER (WHERE c.%s IS NULL), "
						 "       min(c::text) FILTER (WHERE c.%s IS NULL), "
						 "       count(*) FILTER (WHERE c.%s IS NULL OR c.%s::text NOT IN ('I', 'U', $1)), "
						 "       min(c::text) FILTER (WHERE c.%s IS NULL OR c.%s::text NOT IN ('I', 'U', $1)) "
						 "  FROM %s c",
						 nullkey.data, nullkey.data,
						 quote_identifier(sequence_by), quote_identifier(sequence_by),
						 quote_identifier(op_column), quote_identifier(op_column),
						 quote_identifier(op_column), quote_identifier(op_column),
						 changes_sql);
	}
	if (SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "apply_changes check failed: %s", sql.data);
	else
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		nullkey = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int64		nullseq = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
		int64		badop = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));

		if (nullkey > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("change table \"%s\" has %lld rows with a null key",
							changes_name, (long long) nullkey),
					 errdetail("For example: %s", SPI_getvalue(tup, desc, 2)),
					 errhint("Key columns identify the target row; they must not be null.")));
		if (nullseq > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("change table \"%s\" has %lld rows with a null sequence \"%s\"",
							changes_name, (long long) nullseq, sequence_by),
					 errdetail("For example: %s", SPI_getvalue(tup, desc, 4)),
					 errhint("The sequence orders the changes of a key; it must not be null.")));
		if (badop > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("change table \"%s\" has %lld rows with an unknown operation in \"%s\"",
							changes_name, (long long) badop, op_column),
					 errdetail("For example: %s", SPI_getvalue(tup, desc, 6)),
					 errhint("Operations are 'I' (insert), 'U' (update) and '%s' (delete).", delete_op)));
	}

	/*
	 * The merge.  Its source keeps the change with the greatest sequence of
	 * each key (DISTINCT ON, so the planner knows how many rows to expect).
	 * A change with the same key and sequence as the one sorted before it
	 * is counted by apply_changes_tie(); this rides on the sort the MERGE
	 * needs anyway.  Only when there were such
	 * ties does a second query check that their contents are identical (a
	 * redelivered change); a conflict is an error, which undoes the MERGE
	 * with the transaction.
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql, "MERGE INTO %s t USING (SELECT DISTINCT ON (", target_sql);
	append_key_list(&sql, keys, NULL, ", ");
	appendStringInfoString(&sql, ") ");
	append_key_list(&sql, columns, NULL, ", ");
	appendStringInfo(&sql, ", %s", quote_identifier(op_column));
	if (!list_has_string(columns, sequence_by))
		appendStringInfo(&sql, ", %s", quote_identifier(sequence_by));
	/*
	 * The tie check is volatile, so its subquery level is not flattened and
	 * it runs for every row below the DISTINCT ON, in window (sort) order.
	 */
	appendStringInfo(&sql,
					 " FROM (SELECT w.*, CASE WHEN w.pipeline_prev_seq = w.%s"
					 " THEN %s.apply_changes_tie() END AS pipeline_tie"
					 " FROM (SELECT c.*, lag(c.%s) OVER (PARTITION BY ",
					 quote_identifier(sequence_by), quote_identifier(PIPELINE_SCHEMA),
					 quote_identifier(sequence_by));
	append_key_list(&sql, keys, "c", ", ");
	appendStringInfo(&sql, " ORDER BY c.%s DESC) AS pipeline_prev_seq FROM %s c) w) w2 ORDER BY ",
					 quote_identifier(sequence_by), changes_sql);
	append_key_list(&sql, keys, NULL, ", ");
	appendStringInfo(&sql, ", %s DESC) s ON ", quote_identifier(sequence_by));
	foreach(lc, keys)
	{
		const char *k = quote_identifier((char *) lfirst(lc));

		if (lc != list_head(keys))
			appendStringInfoString(&sql, " AND ");
		appendStringInfo(&sql, "t.%s = s.%s", k, k);
	}
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
	appendStringInfo(&sql, " WHEN NOT MATCHED AND s.%s::text <> $1 THEN INSERT (",
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
	ties = 0;
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
	if (ties > 0)
	{
		/* same (key, sequence) more than once: must be identical */
		initStringInfo(&sql);
		appendStringInfo(&sql,
						 "SELECT count(*), min(example) FROM ("
						 " SELECT min(c::text) AS example FROM %s c WHERE (",
						 changes_sql);
		append_key_list(&sql, keys, "c", ", ");
		appendStringInfo(&sql, ", c.%s) IN (SELECT ", quote_identifier(sequence_by));
		append_key_list(&sql, keys, NULL, ", ");
		appendStringInfo(&sql, ", %s FROM %s GROUP BY ", quote_identifier(sequence_by), changes_sql);
		append_key_list(&sql, keys, NULL, ", ");
		appendStringInfo(&sql, ", %s HAVING count(*) > 1) GROUP BY ", quote_identifier(sequence_by));
		append_key_list(&sql, keys, "c", ", ");
		appendStringInfo(&sql, ", c.%s HAVING count(DISTINCT c::text) > 1) d",
						 quote_identifier(sequence_by));
		if (SPI_execute(sql.data, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "apply_changes duplicate check failed");
		else
		{
			bool		isnull;
			int64		conflicts = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
																SPI_tuptable->tupdesc, 1, &isnull));

			if (conflicts > 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("change table \"%s\" has different changes for the same key and \"%s\" in %lld places",
								changes_name, sequence_by, (long long) conflicts),
						 errdetail("For example: %s",
								   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
						 errhint("Changes with the same key and sequence must be identical; give them distinct sequence values.")));
		}
	}
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

PG_FUNCTION_INFO_V1(pipeline_apply_changes_tie);

/*
 * apply_changes_tie() RETURNS boolean
 *
 * Called by apply_changes()'s MERGE for a change whose key and sequence
 * equal those of the change sorted before it: counts it.  Does nothing
 * outside apply_changes().
 */
Datum
pipeline_apply_changes_tie(PG_FUNCTION_ARGS)
{
	if (OidIsValid(capture_relid))
		ties++;
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
