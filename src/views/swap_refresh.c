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
#include "commands/cluster.h"
#include "commands/matview.h"
#include "commands/tablecmds.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "util/relation_name.h"
#include "util/runas.h"
#include "views/audit.h"
#include "views/swap_refresh.h"

/*
 * How long the swap's lock is tried without queueing (as long as VACUUM
 * tries for the lock to truncate a table), and the longest pause between
 * two tries.
 */
#define SWAP_LOCK_TRY_MS 5000
#define SWAP_LOCK_MAX_PAUSE_MS 50

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

/*
 * Whether no other session holds relid: then what stands in the way of the
 * swap's lock is a request already queued, which waits for this session
 * (our refresh lock), and a queued request of ours goes ahead of it.
 */
static bool
only_queued_requests(Oid relid)
{
	/* GetLockConflicts() allocates at every try of a long wait */
	MemoryContext probe = AllocSetContextCreate(CurrentMemoryContext, "swap lock probe",
												ALLOCSET_SMALL_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(probe);
	LOCKTAG		tag;
	bool		none;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	none = !VirtualTransactionIdIsValid(*GetLockConflicts(&tag, AccessExclusiveLock, NULL));
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(probe);
	return none;
}

/*
 * Queues for ACCESS EXCLUSIVE on relid after waited_ms of tries: the whole
 * wait is one lock wait, so lock_timeout bounds the two together.
 */
static void
queue_for_lock(Oid relid, double waited_ms)
{
	int			level;

	if (LockTimeout <= 0)
	{
		LockRelationOid(relid, AccessExclusiveLock);
		return;
	}
	level = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", psprintf("%d", Max(1, LockTimeout - (int) waited_ms)),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	LockRelationOid(relid, AccessExclusiveLock);
	AtEOXact_GUC(false, level);
}

/*
 * ACCESS EXCLUSIVE on relid, tried without standing in the lock queue for
 * up to SWAP_LOCK_TRY_MS while readers hold the view: a queued request
 * makes every reader that comes after it wait too.  After that it queues
 * as any request does, so that readers that always overlap cannot starve
 * the refresh and a cycle of waits reaches the deadlock detector.
 * lock_timeout bounds the tries and the queued wait together.
 */
static void
lock_for_swap(Oid relid)
{
	instr_time	start;
	long		pause_ms = 1;

	INSTR_TIME_SET_CURRENT(start);
	while (!ConditionalLockRelationOid(relid, AccessExclusiveLock))
	{
		instr_time	now;
		double		waited_ms;

		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		waited_ms = INSTR_TIME_GET_MILLISEC(now);
		if (LockTimeout > 0 && waited_ms >= LockTimeout)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("canceling statement due to lock timeout"),
					 errdetail("Readers of %s held it longer than lock_timeout while its refresh waited to replace its rows.",
							   relation_qualified_name(relid))));
		if (waited_ms >= SWAP_LOCK_TRY_MS || only_queued_requests(relid))
		{
			queue_for_lock(relid, waited_ms);
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pause_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		pause_ms = Min(pause_ms * 2, SWAP_LOCK_MAX_PAUSE_MS);
	}
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

	lock_for_swap(relid);
	runas_begin_owner_session(&ra, rel->rd_rel->relowner);
	finish_heap_swap(relid, new_heap, false, false, true, true,
					 RecentXmin, ReadNextMultiXactId(), persistence);
	runas_end(&ra);

	pgstat_count_truncate(rel);
	pgstat_count_heap_insert(rel, processed);
	table_close(rel, NoLock);
	return processed;
}
