/*-------------------------------------------------------------------------
 * worker.c
 *	  The per-database scheduler and the refresh workers it starts.
 *
 * Every tick (or when woken: a refresh worker ended, pipeline.wake()) the
 * scheduler asks schedule_decide() about each view and starts a refresh
 * worker for each due one, up to pipeline.max_workers at once.  It keeps
 * the DAG and run state between ticks and reloads them only after a commit
 * that changed them (see schedule_inputs_invalidated), so an idle pipeline
 * of thousands of views costs next to nothing.  A refresh worker records its run as
 * 'running' in one transaction and performs it in another, so the run is
 * visible while it executes and its outcome is recorded even on failure.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "dag.h"
#include "launcher.h"
#include "pipeline.h"
#include "run.h"
#include "schedule.h"

#define MAX_IN_FLIGHT 64
#define PRUNE_EVERY_MS 60000

/* What a refresh worker is asked to do, passed in bgw_extra. */
typedef struct RefreshJob
{
	Oid			dboid;
	Oid			relid;
	TimestampTz label;
	int			attempt;
} RefreshJob;

typedef struct InFlight
{
	Oid			relid;
	BackgroundWorkerHandle *handle;
} InFlight;

static InFlight in_flight[MAX_IN_FLIGHT];
static int	in_flight_count = 0;

/*
 * The DAG and every view's run state as the scheduler last loaded them,
 * kept across ticks: loading them costs tens of milliseconds with thousands
 * of views, and an idle pipeline changes neither.  The statement trigger
 * pipeline.schedule_changed() invalidates the relcache entry of
 * matview_definitions, edges or runs when a transaction that wrote them
 * commits; the callback below marks what must be reloaded.  A reset of the
 * whole cache (InvalidOid) marks both.
 */
static MemoryContext dag_context = NULL;
static MemoryContext state_context = NULL;
static Dag *cached_dag = NULL;
static ViewState *cached_states = NULL;
static Oid	cached_extension = InvalidOid;
static Oid	definitions_relid = InvalidOid;
static Oid	edges_relid = InvalidOid;
static Oid	runs_relid = InvalidOid;
static bool dag_stale = true;
static bool states_stale = true;

static void
schedule_inputs_invalidated(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == definitions_relid || relid == edges_relid)
		dag_stale = true;
	if (!OidIsValid(relid) || relid == runs_relid)
		states_stale = true;
}

PGDLLEXPORT void pipeline_scheduler_main(Datum main_arg);
PGDLLEXPORT void pipeline_refresh_main(Datum main_arg);

static void
reap_finished_workers(void)
{
	int			kept = 0;

	for (int i = 0; i < in_flight_count; i++)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(in_flight[i].handle, &pid) == BGWH_STOPPED)
		{
			pfree(in_flight[i].handle);

			/*
			 * Its commits have invalidated the run state already, unless the
			 * trigger did not fire (session_replication_role = replica, a
			 * disabled trigger): reload anyway, or the state from before the
			 * run would start the view again and again.
			 */
			states_stale = true;
		}
		else
			in_flight[kept++] = in_flight[i];
	}
	in_flight_count = kept;
}

static bool
is_in_flight(Oid relid)
{
	for (int i = 0; i < in_flight_count; i++)
		if (in_flight[i].relid == relid)
			return true;
	return false;
}

typedef enum Reloaded
{
	RELOADED_NOTHING,
	RELOADED_STATE,
	RELOADED_ALL
} Reloaded;

static const char *const reloaded_names[] = {"nothing", "run state", "DAG and run state"};

/*
 * Reloads what an invalidation marked.  Needs a transaction with an active
 * snapshot.  The flags are cleared before loading, so an invalidation that
 * arrives during the load is not lost.
 */
static Reloaded
refresh_cached_plan(Oid extension)
{
	Reloaded	reloaded = RELOADED_NOTHING;
	MemoryContext old;

	if (extension != cached_extension)
	{
		Oid			nspid = get_namespace_oid(PIPELINE_SCHEMA, false);

		definitions_relid = get_relname_relid("matview_definitions", nspid);
		edges_relid = get_relname_relid("edges", nspid);
		runs_relid = get_relname_relid("runs", nspid);
		cached_extension = extension;
		dag_stale = true;
	}
	if (dag_stale || cached_dag == NULL)
	{
		dag_stale = false;
		states_stale = true;
		cached_dag = NULL;
		MemoryContextReset(dag_context);
		old = MemoryContextSwitchTo(dag_context);
		cached_dag = dag_load();
		MemoryContextSwitchTo(old);
		reloaded = RELOADED_ALL;
	}
	if (states_stale || cached_states == NULL)
	{
		states_stale = false;
		cached_states = NULL;
		MemoryContextReset(state_context);
		old = MemoryContextSwitchTo(state_context);
		cached_states = schedule_load_state(cached_dag);
		MemoryContextSwitchTo(old);
		if (reloaded == RELOADED_NOTHING)
			reloaded = RELOADED_STATE;
	}
	return reloaded;
}

/* One planning pass; needs no transaction, runs its own. */
static void
scheduler_tick(bool *orphans_checked, TimestampTz *last_prune)
{
	TimestampTz now = GetCurrentTimestamp();
	int			limit = Min(pipeline_max_workers, MAX_IN_FLIGHT);
	Oid			extension;
	Reloaded	reloaded = RELOADED_NOTHING;
	int			views = 0;
	int			started_count = 0;
	instr_time	start;
	instr_time	elapsed;

	INSTR_TIME_SET_CURRENT(start);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "planning");

	extension = get_extension_oid("pipeline", true);
	if (OidIsValid(extension))
	{
		Dag		   *dag;
		ViewState  *states;

		if (!*orphans_checked)
		{
			run_fail_orphans();
			*orphans_checked = true;
		}
		if (TimestampDifferenceExceeds(*last_prune, now, PRUNE_EVERY_MS))
		{
			run_prune_history();
			*last_prune = now;
		}
		reloaded = refresh_cached_plan(extension);
		dag = cached_dag;
		states = cached_states;
		views = dag->count;
		for (int i = 0; i < dag->count && in_flight_count < limit; i++)
		{
			Verdict		verdict;
			RefreshJob	job;
			MemoryContext old;
			bool		started;

			if (is_in_flight(dag->nodes[i].relid))
				continue;
			verdict = schedule_decide(dag, states, i, now, now,
									  pipeline_max_attempts, pipeline_retry_backoff_s);
			if (verdict.decision != DECIDE_DUE)
				continue;

			job.dboid = MyDatabaseId;
			job.relid = dag->nodes[i].relid;
			job.label = verdict.label;
			job.attempt = verdict.attempt;
			old = MemoryContextSwitchTo(TopMemoryContext);
			started = launcher_start_worker("pipeline_refresh_main", "pipeline refresh",
											(Datum) 0, &job, sizeof(job),
											&in_flight[in_flight_count].handle);
			MemoryContextSwitchTo(old);
			if (!started)
				break;			/* no worker slot free: next tick */
			in_flight[in_flight_count++].relid = job.relid;
			started_count++;
		}
	}
	else
	{
		*orphans_checked = false;
		cached_extension = InvalidOid;	/* reload all if it comes back */
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	/* for bench/idle_scheduler: what one planning pass costs */
	elog(DEBUG1, "pipeline scheduler: planned %d views in %.3f ms, reloaded %s, started %d refreshes",
		 views, INSTR_TIME_GET_MILLISEC(elapsed), reloaded_names[reloaded], started_count);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
pipeline_scheduler_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext tick_context;
	bool		orphans_checked = false;
	TimestampTz last_prune = 0;
	char	   *dbname;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	launcher_register_process(dboid, true);
	pgstat_report_appname("pipeline scheduler");

	StartTransactionCommand();
	dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(dboid));
	CommitTransactionCommand();

	tick_context = AllocSetContextCreate(TopMemoryContext, "pipeline scheduler tick",
										 ALLOCSET_DEFAULT_SIZES);
	dag_context = AllocSetContextCreate(TopMemoryContext, "pipeline scheduler DAG",
										ALLOCSET_DEFAULT_SIZES);
	state_context = AllocSetContextCreate(TopMemoryContext, "pipeline scheduler run state",
										  ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(schedule_inputs_invalidated, (Datum) 0);
	/* catalog reads only: compiling them would cost more than it saves */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!launcher_database_allowed(dbname))
			proc_exit(1);

		reap_finished_workers();
		if (pipeline_enabled)
		{
			MemoryContextSwitchTo(tick_context);
			scheduler_tick(&orphans_checked, &last_prune);
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(tick_context);
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pipeline_tick_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
pipeline_refresh_main(Datum main_arg)
{
	RefreshJob	job;
	int64		run_id = 0;
	bool		managed;

	memcpy(&job, MyBgworkerEntry->bgw_extra, sizeof(job));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(job.dboid, InvalidOid, 0);
	launcher_register_process(job.dboid, false);
	pgstat_report_appname("pipeline refresh");

	/* first transaction: the run is visible as 'running' while it executes */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	managed = OidIsValid(get_extension_oid("pipeline", true)) &&
		catalog_is_managed(job.relid);
	if (managed)
		run_id = run_claim(job.relid, job.label, job.attempt);
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (run_id == 0)
		proc_exit(0);			/* dropped, redefined or run by another session */

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("refresh %s", get_rel_name(job.relid)));
	(void) run_perform(run_id, job.relid, job.label);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	/* wake the scheduler so downstream views start now, not next tick */
	launcher_wake(job.dboid);
	proc_exit(0);
}

PG_FUNCTION_INFO_V1(pipeline_wake);

Datum
pipeline_wake(PG_FUNCTION_ARGS)
{
	launcher_wake(MyDatabaseId);
	PG_RETURN_VOID();
}
