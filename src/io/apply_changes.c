/*-------------------------------------------------------------------------
 * apply_changes.c
 *	  pipeline.apply_changes(): merging a staging table of CDC change rows
 *	  into a Type-1 mirror table.  The SQL entry point, the order of the
 *	  steps, and counting what the MERGE did.
 *
 * The change table holds one row per change: the target's columns (matched
 * by name), an operation column ('I', 'U' or the delete op) and a sequence
 * column.  Per key the change with the greatest sequence wins; the delete op
 * deletes, any other op upserts.  A delete whose sequence is NULL (a source's
 * delete rows carry only the key) counts as the newest change of its key.
 * The statements that read the change table and write the target run as
 * the calling user.
 *
 * The whole application is one MERGE (apply_plan.c) whose source reads the
 * change table once, sorted; the row check (apply_check.c) and the
 * deleted-key memory (deleted_keys.c) ride on that sorted stream.  Applies
 * into one target are serialized by a self-conflicting lock, since
 * concurrent MERGEs inserting one new key would collide.
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
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "optimizer/plancat.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/syscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "io/apply_changes.h"
#include "io/apply_check.h"
#include "io/apply_plan.h"
#include "io/deleted_keys.h"
#include "model/catalog.h"
#include "util/lock_tries.h"
#include "util/relation_name.h"
#include "util/runas.h"

/*
 * The hooks' state: the running apply's MERGE, known by the text its plan
 * hands the executor (its own copy), and what it counted.
 */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static bool hook_installed = false;
static const char *merge_text = NULL;
static ChangeCounts captured;
static bool captured_any;

/*
 * Whether queryDesc, just started or ending, is the running apply's MERGE
 * itself: not one a trigger or a function runs while it is planned or
 * runs, into the same target or not.
 */
static bool
is_apply_merge(QueryDesc *queryDesc)
{
	return merge_text != NULL && queryDesc->sourceText == merge_text &&
		queryDesc->planstate != NULL && IsA(queryDesc->planstate, ModifyTableState);
}

static void
changes_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
	if (is_apply_merge(queryDesc))
		deleted_keys_merge_started(queryDesc->estate->es_query_cxt);
}

static void
changes_ExecutorEnd(QueryDesc *queryDesc)
{
	if (is_apply_merge(queryDesc))
	{
		/* the root's counts, also when the target is partitioned */
		ModifyTableState *mt = (ModifyTableState *) queryDesc->planstate;

		captured.inserted = (int64) mt->mt_merge_inserted;
		captured.updated = (int64) mt->mt_merge_updated;
		captured.deleted = (int64) mt->mt_merge_deleted;
		captured_any = true;
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

/*
 * Runs the merge, counting what it did and what apply_changes_row() saw,
 * and collecting the deleted keys; then raises the error for any bad
 * change.  Needs SPI connected and the deleted-key memory set up.
 */
static ChangeCounts
run_merge(ApplyPlan *p, const char *delete_op, bool probe)
{
	char	   *sql = apply_plan_merge(p, deleted_keys_installed(), probe);
	Oid		   *argtypes;
	Datum	   *args;
	int			nargs = apply_plan_args(p, delete_op, &argtypes, &args);
	Snapshot	snapshot;
	SPIPlanPtr	plan;

	if (!hook_installed)
	{
		prev_ExecutorStart = ExecutorStart_hook;
		ExecutorStart_hook = changes_ExecutorStart;
		prev_ExecutorEnd = ExecutorEnd_hook;
		ExecutorEnd_hook = changes_ExecutorEnd;
		hook_installed = true;
	}
	captured_any = false;
	apply_check_begin();

	/*
	 * The merge and the checks after it read the changes under one snapshot,
	 * taken after the locks: in READ COMMITTED the statement's own snapshot
	 * predates the wait for them, and a check under it would miss changes
	 * committed meanwhile that the merge applied.
	 */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	/* the target's own triggers are the caller's code, with its names */
	plan = runas_spi_prepare(InvalidOid, sql, nargs, argtypes);
	PG_TRY();
	{
		int			ret;

		merge_text = ((CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan)))->query_string;
		ret = SPI_execute_snapshot(plan, args, NULL, snapshot, InvalidSnapshot, false, true, 0);
		if (ret != SPI_OK_MERGE)
			elog(ERROR, "apply_changes merge failed: %s", SPI_result_code_string(ret));
	}
	PG_FINALLY();
	{
		merge_text = NULL;
	}
	PG_END_TRY();
	/* the merge's snapshot, which the probes used, is gone */
	deleted_keys_merge_end();

	/* errors found on the way undo the merge with the transaction */
	PushActiveSnapshot(snapshot);
	apply_check_report(p, delete_op);
	PopActiveSnapshot();
	UnregisterSnapshot(snapshot);
	if (!captured_any)
		elog(ERROR, "apply_changes could not count the merged rows");
	return captured;
}

/*
 * Whether the change table is emptied by TRUNCATE.  TRUNCATE is safe under
 * READ COMMITTED thanks to the lock; with a transaction snapshot, rows
 * committed before the lock may be invisible to us, so only what we saw is
 * deleted.  Since the lock, a DELETE's new snapshot sees what the MERGE's
 * saw: a role that may only delete empties the table that way.
 */
static bool
empties_by_truncate(Oid table)
{
	return !IsolationUsesXactSnapshot() &&
		pg_class_aclcheck(table, GetUserId(), ACL_TRUNCATE) == ACLCHECK_OK;
}

/* Whether the current user may empty the change table as it will be. */
static bool
may_empty(Oid table)
{
	return empties_by_truncate(table) ||
		pg_class_aclcheck(table, GetUserId(), ACL_DELETE) == ACLCHECK_OK;
}

/*
 * Refuses to empty a change table of rows the apply did not read: rows its
 * row-level security hides from the current user would go unapplied
 * (TRUNCATE and a bare DELETE pass over SELECT policies).  Then that the
 * user may empty it, before any work.
 */
static void
check_emptying(Oid table)
{
	if (check_enable_rls(table, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot empty change table %s: row-level security hides rows of it from role %s",
						relation_qualified_name(table), GetUserNameFromId(GetUserId(), false)),
				 errdetail("Emptying it would remove changes that were not applied."),
				 errhint("Apply as a role that reads every row of it, or keep the changes (truncate_changes => false; for a mirror, @incremental-key).")));
	if (!may_empty(table))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to empty change table %s", relation_qualified_name(table)),
				 IsolationUsesXactSnapshot() ?
				 errdetail("Under a transaction snapshot it is emptied by DELETE, which role %s may not do.",
						   GetUserNameFromId(GetUserId(), false)) :
				 errdetail("It is emptied by TRUNCATE or DELETE, neither of which role %s may do.",
						   GetUserNameFromId(GetUserId(), false))));
}

/*
 * Empties the change table of what was applied.  Needs SPI connected.
 */
static void
empty_changes(Oid table)
{
	/* TRUNCATE's locks, children too, in its order: held long, given up */
	if (empties_by_truncate(table))
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(table, NoLock, NULL))
			lock_unless_held_long(lfirst_oid(lc), AccessExclusiveLock);
	}
	runas_spi(InvalidOid, psprintf("%s %s", empties_by_truncate(table) ? "TRUNCATE" : "DELETE FROM",
								   relation_qualified_name(table)),
			  0, NULL, NULL, NULL, false, 0, -1);
}

/* The checks that need no relation opened */
static void
check_arguments(ApplyPlan *p, Oid changes_relid, Oid target_relid, const char *delete_op)
{
	if (OidIsValid(deleted_keys_target()))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apply_changes() cannot run inside another apply_changes()"),
				 errdetail("It was called while applying changes into \"%s\".",
						   display_name(deleted_keys_target()))));
	if (strcmp(delete_op, "I") == 0 || strcmp(delete_op, "U") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delete_op must not be \"%s\"", delete_op),
				 errdetail("'I' and 'U' are the insert and update operations."),
				 errhint("Use the operation your change feed uses for deletes, such as 'D'.")));
	if (p->keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keys must name at least one column")));
	if (changes_relid == target_relid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("change table and target are the same relation \"%s\"", p->target_name)));
}

/* Checks the kinds and columns of both relations and fills in the plan */
static void
plan_apply(ApplyPlan *p, Relation changes, Relation target, bool truncate_changes)
{
	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target \"%s\" is not a table", p->target_name)));
	if (truncate_changes &&
		changes->rd_rel->relkind != RELKIND_RELATION &&
		changes->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("change table \"%s\" is not a table", p->changes_name),
				 errhint("Pass truncate_changes => false to read changes from a view.")));
	catalog_refuse_own_table(RelationGetRelid(target), "target", p->target_name);
	if (truncate_changes)
		catalog_refuse_own_table(RelationGetRelid(changes), "change table", p->changes_name);
	p->changes_sql = qualified_name(changes);
	p->target_sql = qualified_name(target);
	apply_plan_columns(p, changes, target);
}

/*
 * The locks that order this apply among others.  Keep writers of the
 * change table (table, InvalidOid for none) out until commit, so that
 * what we empty is exactly what we applied; in READ COMMITTED every
 * statement after this takes a fresh snapshot after the lock.
 *
 * One apply into a target at a time: two MERGEs inserting the same new key
 * would otherwise fail with a unique violation, since MERGE does not turn a
 * concurrent insert into an update.  The lock is self-conflicting but lets
 * readers and other writers of the target through; the MERGE takes its
 * snapshot after the wait, so it sees what the previous apply committed.
 * It also makes this apply the only writer of the target's deleted keys
 * (pruning aside).  Needs SPI connected.
 */
static void
lock_for_apply(Oid table, Oid target_relid)
{
	/*
	 * The rights the MERGE will need, before its lock: a role without them
	 * must not hold the target (and its VACUUM, its owner's applies) up.
	 */
	static const AclMode needed[] = {ACL_INSERT, ACL_UPDATE, ACL_DELETE};

	for (size_t i = 0; i < lengthof(needed); i++)
		if (pg_class_aclcheck(target_relid, GetUserId(), needed[i]) != ACLCHECK_OK &&
			(needed[i] == ACL_DELETE ||
			 pg_attribute_aclcheck_all(target_relid, GetUserId(), needed[i],
									   ACLMASK_ANY) != ACLCHECK_OK))
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(target_relid));

	/*
	 * Every key of the target is the apply's: a delete of a row the caller's
	 * policy hides would be remembered (and block its owner's later inserts),
	 * and which older inserts were taken would tell of others' deletes.
	 */
	if (check_enable_rls(target_relid, InvalidOid, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot apply changes to %s: row-level security hides rows of it from role %s",
						relation_qualified_name(target_relid), GetUserNameFromId(GetUserId(), false)),
				 errdetail("apply_changes() keeps every key of its target and remembers the deletes of keys whatever their rows."),
				 errhint("Apply as the table's owner or as a role with BYPASSRLS.")));
	if (OidIsValid(table))
	{
		check_emptying(table);
		runas_spi(InvalidOid, psprintf("LOCK TABLE %s IN EXCLUSIVE MODE", relation_qualified_name(table)),
				  0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
	}
	LockRelationOid(target_relid, ShareUpdateExclusiveLock);
}

/*
 * Applies the planned changes (columns described by cdesc) to the target:
 * the locks, the merge with the deleted-key memory, then emptying
 * empty_table when valid.
 */
static ChangeCounts
apply_planned(ApplyPlan *plan, TupleDesc cdesc, Oid target_relid,
			  const char *delete_op, Oid empty_table)
{
	ChangeCounts result;

	SPI_connect();
	lock_for_apply(empty_table, target_relid);
	deleted_keys_begin(target_relid, cdesc, plan->seq_attno, plan->key_attnos,
					   plan->changes_estimate);
	PG_TRY();
	{
		result = run_merge(plan, delete_op, deleted_keys_prune());
		deleted_keys_record();
		deleted_keys_end();
	}
	PG_FINALLY();
	{
		/* after an error, the (sub)transaction's abort releases the rest */
		deleted_keys_forget();
	}
	PG_END_TRY();

	if (OidIsValid(empty_table))
		empty_changes(empty_table);
	SPI_finish();
	return result;
}

/* The rows of the change table, as the planner would estimate them */
static double
changes_estimate(Relation changes)
{
	int32	   *widths = palloc0(sizeof(int32) * (RelationGetDescr(changes)->natts + 1));
	BlockNumber pages;
	double		tuples;
	double		allvisfrac;

	if (changes->rd_rel->relkind != RELKIND_RELATION)
		return 0;
	estimate_rel_size(changes, widths, &pages, &tuples, &allvisfrac);
	return tuples;
}

ChangeCounts
changes_apply(Oid changes_relid, Oid target_relid, List *keys,
			  const char *sequence_by, const char *op_column,
			  const char *delete_op, List *ignore_columns, bool truncate_changes)
{
	ApplyPlan	plan = {0};
	Relation	changes;
	Relation	target;
	TupleDesc	cdesc;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(changes_relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", changes_relid)));
	catalog_require_lasting_table(target_relid, "target");
	plan.changes_name = display_name(changes_relid);
	plan.target_name = display_name(target_relid);
	plan.keys = keys;
	plan.sequence_by = sequence_by;
	plan.op_column = op_column;
	plan.ignored = ignore_columns;
	check_arguments(&plan, changes_relid, target_relid, delete_op);
	/* the guard would stop the MERGE halfway: say so before anything */
	if (catalog_is_managed(target_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("managed view %s is written only by its refresh",
						relation_qualified_name(target_relid)),
				 errhint("Apply the changes into the table its query reads, or declare a mirror (@matview-type mirror).")));

	/*
	 * The lock the emptying takes first (lock_for_apply()), before reading:
	 * two applies from one change table, each reading it and then waiting for
	 * that lock, deadlocked when the first truncated.  Only for a role that
	 * may empty it, as LOCK TABLE checks.
	 */
	if (truncate_changes && may_empty(changes_relid))
		LockRelationOid(changes_relid, ExclusiveLock);
	changes = table_open(changes_relid, AccessShareLock);
	target = table_open(target_relid, AccessShareLock);
	plan_apply(&plan, changes, target, truncate_changes);
	plan.changes_estimate = changes_estimate(changes);
	cdesc = CreateTupleDescCopy(RelationGetDescr(changes));
	table_close(target, NoLock);
	table_close(changes, NoLock);
	return apply_planned(&plan, cdesc, target_relid, delete_op,
						 truncate_changes ? changes_relid : InvalidOid);
}

ChangeCounts
changes_apply_query(const ChangeQuery *source, Oid target_relid, List *keys,
					const char *sequence_by, const char *op_column,
					const char *delete_op, List *ignore_columns)
{
	ApplyPlan	plan = {0};
	Relation	target;

	catalog_require_lasting_table(target_relid, "target");
	plan.changes_name = source->name;
	plan.target_name = display_name(target_relid);
	plan.keys = keys;
	plan.sequence_by = sequence_by;
	plan.op_column = op_column;
	plan.ignored = ignore_columns;
	plan.changes_sql = psprintf("(%s)", source->sql);
	plan.source_nargs = source->nargs;
	plan.source_argtypes = source->argtypes;
	plan.source_values = source->values;
	check_arguments(&plan, InvalidOid, target_relid, delete_op);
	target = table_open(target_relid, AccessShareLock);
	plan.target_sql = qualified_name(target);
	apply_plan_columns_desc(&plan, source->desc, RelationGetDescr(target));
	table_close(target, NoLock);
	return apply_planned(&plan, source->desc, target_relid, delete_op, source->empty_table);
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

/* A text[] argument as a list of names; none may be null */
static List *
name_list(ArrayType *keyarray, const char *argname)
{
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	List	   *keys = NIL;

	deconstruct_array(keyarray, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain null", argname)));
		keys = lappend(keys, TextDatumGetCString(elems[i]));
	}
	return keys;
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes);

/*
 * apply_changes(changes regclass, target regclass, keys text[],
 *				 sequence_by text, op_column text, delete_op text,
 *				 truncate_changes boolean, ignore_columns text[])
 *	 RETURNS TABLE(inserted bigint, updated bigint, deleted bigint)
 *
 * SQL older than 1.5 has no ignore_columns.
 */
Datum
pipeline_apply_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const argnames[] = {"changes", "target", "keys", "sequence_by",
	"op_column", "delete_op", "truncate_changes", "ignore_columns"};
	List	   *keys;
	List	   *ignored = NIL;
	ChangeCounts counts;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	PreventCommandDuringRecovery("pipeline.apply_changes()");

	PreventCommandIfReadOnly("pipeline.apply_changes()");
	for (int i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argnames[i])));
	/* its row check is 1.1's pipeline.apply_changes_row() */
	catalog_require_sql_1_1("pipeline.apply_changes()");
	keys = name_list(PG_GETARG_ARRAYTYPE_P(2), "keys");
	if (PG_NARGS() > 7)
		ignored = name_list(PG_GETARG_ARRAYTYPE_P(7), "ignore_columns");

	InitMaterializedSRF(fcinfo, 0);
	counts = changes_apply(PG_GETARG_OID(0), PG_GETARG_OID(1), keys,
						   text_to_cstring(PG_GETARG_TEXT_PP(3)),
						   text_to_cstring(PG_GETARG_TEXT_PP(4)),
						   text_to_cstring(PG_GETARG_TEXT_PP(5)),
						   ignored, PG_GETARG_BOOL(6));
	values[0] = Int64GetDatum(counts.inserted);
	values[1] = Int64GetDatum(counts.updated);
	values[2] = Int64GetDatum(counts.deleted);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
