/*-------------------------------------------------------------------------
 * refresh.c
 *	  Refreshing managed views, alone or with their downstream views.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/xact.h"
#include "access/table.h"
#include "commands/matview.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "nodes/makefuncs.h"
#include "portability/instr_time.h"
#include "storage/lmgr.h"
#include "tcop/cmdtag.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "after_refresh.h"
#include "catalog.h"
#include "dag.h"
#include "incremental.h"
#include "refresh.h"
#include "schedule.h"

/* The conditions REFRESH ... CONCURRENTLY places on a unique index. */
static bool
has_usable_unique_index(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		found = form->indisunique && form->indimmediate && form->indisvalid &&
			RelationGetIndexPredicate(index) == NIL &&
			RelationGetIndexExpressions(index) == NIL;
		index_close(index, AccessShareLock);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

void
refresh_lock(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char		relkind = get_rel_relkind(relid);
	char	   *qualified;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("a managed view was dropped or redefined while the refresh ran"),
				 errdetail("The relation with OID %u no longer exists.", relid),
				 errhint("Retry the refresh.")));
	qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										   relname);
	/* like REFRESH: no lock for someone who may not refresh */
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   relkind == RELKIND_RELATION ? OBJECT_TABLE : OBJECT_MATVIEW,
					   relname);
	LockRelationOid(relid, ShareUpdateExclusiveLock);
	/* a redefinition replaces the relation: an OID from before the wait may be gone */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("managed view %s was dropped or redefined while the refresh waited for it",
						qualified),
				 errhint("Retry the refresh.")));
}

uint64
refresh_matview(Oid relid)
{
	Relation	rel;
	RefreshMatViewStmt *stmt = makeNode(RefreshMatViewStmt);
	QueryCompletion qc;

	refresh_lock(relid);
	/* an incremental view is an append-only table */
	if (get_rel_relkind(relid) == RELKIND_RELATION)
		return incremental_refresh(relid);
	rel = table_open(relid, AccessShareLock);
	stmt->concurrent = RelationIsPopulated(rel) && has_usable_unique_index(rel);
	stmt->skipData = false;
	stmt->relation = makeRangeVar(get_namespace_name(RelationGetNamespace(rel)),
								  pstrdup(RelationGetRelationName(rel)), -1);
	table_close(rel, NoLock);

	InitializeQueryCompletion(&qc);
	ExecRefreshMatView(stmt, "pipeline refresh", NULL, &qc);
	return qc.nprocessed;
}

PG_FUNCTION_INFO_V1(pipeline_refresh);

/*
 * refresh(matview regclass, cascade boolean)
 *	 RETURNS TABLE(matview regclass, status text, rows bigint, duration interval)
 */
Datum
pipeline_refresh(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	bool		cascade;
	Dag		   *dag;
	List	   *todo;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("matview must not be null")));
	relid = PG_GETARG_OID(0);
	cascade = PG_ARGISNULL(1) || PG_GETARG_BOOL(1);
	catalog_get_required(relid);

	InitMaterializedSRF(fcinfo, 0);
	dag = dag_load();
	todo = dag_with_downstream(dag, dag_find(dag, relid));
	if (!cascade)
		todo = list_make1_int(linitial_int(todo));

	/*
	 * Every view first, in DAG order, as run_due() does one by one: none of
	 * them can then be redefined or dropped under the cascade, and a
	 * redefinition that wants one of them waits without holding any.
	 */
	foreach(lc, todo)
		refresh_lock(dag->nodes[lfirst_int(lc)].relid);

	foreach(lc, todo)
	{
		Oid			view = dag->nodes[lfirst_int(lc)].relid;
		instr_time	start;
		instr_time	elapsed;
		uint64		rows;
		Interval   *duration = palloc0(sizeof(Interval));
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		INSTR_TIME_SET_CURRENT(start);
		rows = refresh_matview(view);
		after_refresh_run(view, schedule_time_label(dag->nodes[lfirst_int(lc)].interval_us,
													GetCurrentTransactionStartTimestamp()));
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		duration->time = INSTR_TIME_GET_MICROSEC(elapsed);

		values[0] = ObjectIdGetDatum(view);
		values[1] = CStringGetTextDatum("succeeded");
		values[2] = Int64GetDatum((int64) rows);
		values[3] = IntervalPGetDatum(duration);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
