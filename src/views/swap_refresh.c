/*-------------------------------------------------------------------------
 * swap_refresh.c
 *	  A full refresh of a materialized view that readers do not wait for.
 *
 * REFRESH MATERIALIZED VIEW without CONCURRENTLY takes ACCESS EXCLUSIVE
 * before its query runs, so every reader of the view waits for the whole
 * query.  This does what it does in another order: the query fills a new
 * heap while the view is held only by refresh_lock() (which readers do not
 * conflict with), the new rows are audited (their row expectations counted
 * as they are written), and only then is ACCESS
 * EXCLUSIVE taken, for the swap of the new heap in and the rebuild of the
 * view's indexes (PostgreSQL's finish_heap_swap(), as REFRESH's own swap).
 * That lock is first tried without queueing, so readers arriving while an
 * earlier reader finishes are not held behind it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/multixact.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "commands/cluster.h"
#include "commands/matview.h"
#include "commands/tablecmds.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "util/lock_tries.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "views/audit.h"
#include "views/swap_refresh.h"

/* The view's query, as REFRESH reads it from the view's rule. */
static Query *
rule_query(Relation rel)
{
	RuleLock   *rules = rel->rd_rules;

	if (rel->rd_rel->relkind != RELKIND_MATVIEW || rules == NULL || rules->numLocks != 1 ||
		rules->rules[0]->event != CMD_SELECT || !rules->rules[0]->isInstead ||
		list_length(rules->rules[0]->actions) != 1)
		elog(ERROR, "materialized view \"%s\" has no single SELECT rule",
			 RelationGetRelationName(rel));
	return copyObject(linitial_node(Query, rules->rules[0]->actions));
}

#define FILL_QUERY_STRING "pipeline refresh"

/* The view's query planned, as REFRESH plans it to fill its new heap. */
static PlannedStmt *
plan_fill(Query *query)
{
	List	   *rewritten;

	AcquireRewriteLocks(query, true, false);
	rewritten = QueryRewrite(query);
	if (list_length(rewritten) != 1)
		elog(ERROR, "unexpected rewrite result for a materialized view's query");
	CHECK_FOR_INTERRUPTS();
	return pg_plan_query(linitial_node(Query, rewritten), FILL_QUERY_STRING,
						 CURSOR_OPT_PARALLEL_OK, NULL);
}

/* Runs plan into dest, as REFRESH fills its new heap; the rows written. */
static uint64
fill(PlannedStmt *plan, DestReceiver *dest)
{
	QueryDesc  *desc;
	uint64		processed;

	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	desc = CreateQueryDesc(plan, FILL_QUERY_STRING, GetActiveSnapshot(), InvalidSnapshot,
						   dest, NULL, NULL, 0);
	ExecutorStart(desc, 0);
	ExecutorRun(desc, ForwardScanDirection, 0, true);
	processed = desc->estate->es_processed;
	ExecutorFinish(desc);
	ExecutorEnd(desc);
	FreeQueryDesc(desc);
	PopActiveSnapshot();
	return processed;
}

uint64
swap_refresh(Oid relid, const char *options_json)
{
	Relation	rel = table_open(relid, NoLock);
	char		persistence = rel->rd_rel->relpersistence;
	Query	   *query = rule_query(rel);
	Oid			new_heap;
	PlannedStmt *plan;
	DestReceiver *dest;
	uint64		processed;
	RunAs		ra;
	MemoryContext caller = CurrentMemoryContext;
	Oid			reader = GetUserId();

	/* REFRESH's own guard: nothing of ours scans the view's old heap */
	CheckTableNotInUse(rel, "REFRESH MATERIALIZED VIEW");
	runas_begin_owner_session(&ra, rel->rd_rel->relowner);
	if (!RelationIsPopulated(rel))
		SetMatViewPopulatedState(rel, true);

	/* the new heap is locked away from everyone until it is gone at commit */
	new_heap = make_new_heap(relid, rel->rd_rel->reltablespace, rel->rd_rel->relam,
							 persistence, ExclusiveLock);
	LockRelationOid(new_heap, AccessExclusiveLock);
	plan = plan_fill(query);
	dest = audit_tally_receiver(relid, options_json, CreateTransientRelDestReceiver(new_heap),
								plan->parallelModeNeeded);
	PG_TRY();
	{
		processed = fill(plan, dest);
	}
	PG_CATCH();
	{
		audit_tally_rethrow(dest, caller, reader);
	}
	PG_END_TRY();
	runas_end(&ra);

	/* a failed expectation leaves the old rows, unlocked all along */
	if (audit_has_expectations(options_json))
		audit_check_tallied(relid, options_json,
							psprintf("SELECT * FROM %s", relation_qualified_name(new_heap)), dest);
	dest->rDestroy(dest);

	/* readers arriving while an earlier one finishes are not held behind it */
	lock_trying_first(RelationRelationId, relid, AccessExclusiveLock);
	runas_begin_owner_session(&ra, rel->rd_rel->relowner);
	finish_heap_swap(relid, new_heap, false, false, true, true,
					 RecentXmin, ReadNextMultiXactId(), persistence);
	runas_end(&ra);

	pgstat_count_truncate(rel);
	pgstat_count_heap_insert(rel, processed);
	table_close(rel, NoLock);
	return processed;
}
