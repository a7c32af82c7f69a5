/*-------------------------------------------------------------------------
 * scheduler.c
 *	  The per-database scheduler: decides what is due and starts refresh
 *	  workers for it (refresh_worker.c).
 *
 * Every tick (or when woken: a refresh worker ended, pipeline.wake()) the
 * scheduler asks schedule_decide() about each view and starts a refresh
 * worker for each due one, up to pipeline.max_workers at once.  It keeps
 * the DAG and run state between ticks and reloads them only after a commit
 * that changed them (see schedule_inputs_invalidated), so an idle pipeline
 * of thousands of views costs next to nothing.
 *
 * It holds a share lock on the extension object while it reads the
 * extension's tables (extension_lock.h), but does not wait for it: it
 * idles while a drop is under way, and while the installed SQL is not the
 * version this library serves (the library serves the calls of an older
 * installed SQL, but plans only for its own), until
 * ALTER EXTENSION pipeline UPDATE wakes it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
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
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgw/alert_sender.h"
#include "bgw/extension_lock.h"
#include "bgw/launcher.h"
#include "bgw/refresh_worker.h"
#include "bgw/scheduler.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "schedule/alerts.h"
#include "schedule/change_tracking.h"
#include "schedule/run.h"
#include "schedule/schedule.h"
#include "util/settings.h"
#include "util/subxact.h"
#include "views/refresh.h"

#define MAX_WORKERS 64
/* jobs in flight per worker: enough for a pass every few runs (pass_needed) */
#define QUEUE_DEPTH 4
#define PRUNE_EVERY_MS 60000

/*
 * A pass that found nothing to do may let the scheduler sleep past its
 * tick: until the clock alone could make a view due (its next label, a
 * retry), breach an SLA or call for pruning, and at most this many ticks.
 * Whatever else changes what it plans from wakes it: a finished run, and a
 * commit that wrote the definitions, edges or runs (schedule_changed).
 */
#define QUIET_TICKS 10
static TimestampTz quiet_until = 0;

/* the version of the extension's SQL this library is built for (Makefile) */
#ifndef PIPELINE_VERSION
#error "PIPELINE_VERSION must be defined by the build"
#endif

/* The refresh workers this scheduler started, until they have ended. */
static BackgroundWorkerHandle *workers[MAX_WORKERS];	/* in TopMemoryContext */
static int	worker_count = 0;

/*
 * The views of the jobs in this scheduler's run queue (launcher.h), by
 * entry, until collected: relid InvalidOid for a free entry; the view's
 * node in the DAG of that generation; the label its job runs.
 */
typedef struct QueuedView
{
	Oid			relid;
	int			index;
	uint64		generation;
	TimestampTz label;
} QueuedView;

static QueuedView queued[LAUNCHER_QUEUE_SIZE];
static int	queued_count = 0;
static TimestampTz jobs_collected_at = 0;	/* when jobs last finished */

/*
 * Housekeeping: whether runs left 'running' by ended processes have been
 * marked failed since a refresh worker last ended (or the extension came
 * back), whether the lake publications were told to compare their files
 * with their manifests (once per life of this process: the first tick after
 * a promotion, a crash or a restart), and when history was last pruned.
 */
static bool orphans_checked = false;
static bool publications_rechecked = false;
static TimestampTz last_prune = 0;

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

/*
 * Views whose state alone must be loaded again, by node index in the cached
 * DAG: those the scheduler skipped and those a worker finished a run of
 * (their writes of pipeline.runs invalidate nothing, schedule.h), so that
 * a finished run costs a lookup of its view, not of all.  In dag_context,
 * with the DAG; dag_generation tells a worker's index of an older DAG (all
 * states are loaded again with the DAG anyway).
 */
static int *pending_indexes = NULL;
static bool *pending = NULL;
static bool *node_queued = NULL;	/* whether a node's view is in the queue */
static int	pending_count = 0;
static uint64 dag_generation = 0;

/*
 * A view whose job a worker handed back (it stayed locked) is queued again
 * only from held_until on, the wait doubling from HELD_RETRY_MS with each
 * hand-back in a row up to HELD_RETRY_MAX_MS: other views take the queue
 * meanwhile, however many views a session holds.  By node index, in
 * dag_context.
 */
#define HELD_RETRY_MS 1000
#define HELD_RETRY_MAX_MS 30000
static TimestampTz *held_until = NULL;
static int *hand_backs = NULL;

/*
 * A handed-back view's last hand-back: from its claim, or from its run,
 * with the lock the run gave up (one the refresh needs beyond its claim's,
 * which readers may hold: a full refresh's swap; or writers: a stage
 * mirror's stage).  Only a lock given up makes readers or writers count as
 * holding it: a differential or stream view, or a view whose claim met a
 * redefinition queued behind a reader, waits for no reader.
 */
static HandBack *last_hand_back = NULL;

/*
 * Who held a handed-back view when the scheduler last looked in the lock
 * table (refresh_lock_would_wait(); NULL or none: not looked since the
 * hand-back; allocated at a node's first look and kept).  One of them
 * holds it still: it waits on, costing no worker (a transaction may hold
 * it for ever).  All new: the lock changes hands, and a worker's wait,
 * which queues for it, gets its turn (claim_or_hand_back(), and for a
 * lock of the run a wait that grows with the hand-backs:
 * lock_tries_bound_waits()); a look never would.
 */
static LockHolders **held_by = NULL;

/* A view found held waits, twice as long as the last time if it was then */
static void
hold_view(int index)
{
	/* Min() evaluates its arguments twice */
	int			shift = Min(hand_backs[index], 6);

	hand_backs[index]++;
	held_until[index] = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													Min((int64) HELD_RETRY_MS << shift, HELD_RETRY_MAX_MS));
}

/* Who held node index at the last look: holders (in dag_context) */
static void
remember_holders(int index, const LockHolders *holders)
{
	if (held_by[index] == NULL)
		held_by[index] = MemoryContextAlloc(dag_context, sizeof(LockHolders));
	*held_by[index] = *holders;
}

/* Node index was not looked at since its last hand-back, or is not held */
static void
forget_holders(int index)
{
	if (held_by[index] != NULL)
		held_by[index]->count = 0;
}

/*
 * Whether handed-back node index of dag is locked still by a transaction
 * that held it at the last look (at the first look since its hand-back: by
 * any); remembers who holds it now.
 */
static bool
still_held(Dag *dag, int index)
{
	LockHolders holders;
	bool		first_look = held_by[index] == NULL || held_by[index]->count == 0;
	HandBack   *given_back = &last_hand_back[index];

	if (!refresh_lock_would_wait(dag->nodes[index].relid,
								 given_back->kind == HAND_BACK_IN_RUN ? given_back->relid : InvalidOid,
								 given_back->mode, &holders))
		return false;
	if (!first_look && !lock_holders_overlap(held_by[index], &holders))
		return false;
	remember_holders(index, &holders);
	return true;
}

/* A held view's state, carried over a reload of the graph */
typedef struct HeldView
{
	Oid			relid;
	TimestampTz until;
	int			hand_backs;
	HandBack	last_hand_back;
	LockHolders held_by;
} HeldView;

/* the scheduler's database, and the version skew it last logged there */
static char *scheduler_dbname = NULL;
static Oid	skew_logged_extension = InvalidOid;
static char *skew_logged_version = NULL;

/* The state of node index of DAG generation changed: load it again. */
static void
state_changed(int index, uint64 generation)
{
	if (generation != dag_generation || pending == NULL)
	{
		states_stale = true;
		return;
	}
	if (!pending[index])
	{
		pending[index] = true;
		pending_indexes[pending_count++] = index;
	}
}

static void
schedule_inputs_invalidated(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == definitions_relid || relid == edges_relid)
		dag_stale = true;
	if (!OidIsValid(relid) || relid == runs_relid)
		states_stale = true;
}

/* Forgets the refresh workers that ended. */
static void
reap_workers(void)
{
	int			kept = 0;

	for (int i = 0; i < worker_count; i++)
	{
		pid_t		pid;

		if (GetBackgroundWorkerPid(workers[i], &pid) == BGWH_STOPPED)
			pfree(workers[i]);
		else
			workers[kept++] = workers[i];
	}
	worker_count = kept;
}

/*
 * Collects the queued jobs that are done, whose views' state is loaded
 * again at the next pass, and those lost with a worker that ended before
 * it finished (terminated, or cancelled by DROP EXTENSION between its two
 * transactions): that may have left its run 'running', so orphans_checked
 * is cleared for the next tick to mark such runs failed.
 */
static void
collect_jobs(void)
{
	int			entries[LAUNCHER_QUEUE_SIZE];
	bool		lost[LAUNCHER_QUEUE_SIZE];
	HandBack	hand_back[LAUNCHER_QUEUE_SIZE];
	int			count = launcher_queue_collect(entries, lost, hand_back);

	for (int k = 0; k < count; k++)
	{
		QueuedView *view = &queued[entries[k]];

		if (lost[k])
		{
			states_stale = true;
			orphans_checked = false;
		}
		else
			state_changed(view->index, view->generation);
		if (view->generation == dag_generation && node_queued != NULL)
		{
			node_queued[view->index] = false;
			forget_holders(view->index);
			if (hand_back[k].kind != HAND_BACK_NONE)
			{
				last_hand_back[view->index] = hand_back[k];
				hold_view(view->index);
			}
			else
				hand_backs[view->index] = 0;
		}
		view->relid = InvalidOid;
		queued_count--;
	}
	if (count > 0)
		jobs_collected_at = GetCurrentTimestamp();
}

/*
 * After the DAG was loaded again: the node of each queued view in it, so
 * that it is not queued twice.
 */
static void
requeue_views_in_new_dag(Dag *dag)
{
	for (int e = 0; e < LAUNCHER_QUEUE_SIZE; e++)
	{
		if (!OidIsValid(queued[e].relid))
			continue;
		for (int i = 0; i < dag->count; i++)
		{
			if (dag->nodes[i].relid == queued[e].relid)
			{
				queued[e].index = i;
				queued[e].generation = dag_generation;
				node_queued[i] = true;
				break;
			}
		}
	}
}

/*
 * Starts refresh workers while jobs wait and fewer workers are idle, up to
 * limit workers, and wakes the idle ones.  A start that fails (no
 * background worker slot) is tried again at the next pass.
 */
static void
staff_queue(int limit)
{
	int			idle;
	int			waiting;

	launcher_pool_counts(MyDatabaseId, &idle, &waiting);
	if (waiting == 0)
		return;
	launcher_wake_idle_workers(MyDatabaseId, waiting);
	while (waiting > idle && worker_count < limit)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		bool		started = refresh_worker_start(MyDatabaseId, &workers[worker_count]);

		MemoryContextSwitchTo(old);
		if (!started)
			break;
		worker_count++;
		idle++;
	}
}

typedef enum Reloaded
{
	RELOADED_NOTHING,
	RELOADED_SOME_STATES,
	RELOADED_STATE,
	RELOADED_ALL
} Reloaded;

static const char *const reloaded_names[] = {
	"nothing", "some views' run state", "run state", "DAG and run state"
};

/*
 * Reloads what an invalidation marked, or else the state of the views
 * pending (state_changed).  Needs a transaction; loads with a
 * snapshot of its own, taken after the flags are cleared: a commit whose
 * invalidation set a flag before that is visible in it, and one whose
 * invalidation is accepted later (the loads take locks, which accept them)
 * sets its flag again for the next tick.  The tick's snapshot would not do:
 * the locks the tick took since (the extension's, pipeline.runs') may have
 * accepted the invalidation of a commit it does not see, and a DAG loaded
 * without that definition would then stay cached until the next change.
 */
static Reloaded
reload_stale_inputs(Oid extension)
{
	bool		load_dag;
	bool		load_states;
	MemoryContext old;

	if (extension != cached_extension)
	{
		definitions_relid = catalog_table("matview_definitions");
		edges_relid = catalog_table("edges");
		runs_relid = catalog_table("runs");
		cached_extension = extension;
		dag_stale = true;
	}
	load_dag = dag_stale || cached_dag == NULL;
	load_states = load_dag || states_stale || cached_states == NULL;
	if (!load_states && pending_count == 0)
		return RELOADED_NOTHING;

	if (load_dag)
		dag_stale = false;
	states_stale = false;
	PushActiveSnapshot(GetLatestSnapshot());
	if (load_dag)
	{
		HeldView   *held = NULL;
		int			held_count = 0;

		/*
		 * views handed back stay held in the new graph (it is reloaded at any
		 * definition: a role defining views in a loop reset them)
		 */
		for (int i = 0; cached_dag != NULL && held_until != NULL && i < cached_dag->count; i++)
		{
			if (hand_backs[i] == 0 && held_until[i] == 0)
				continue;
			if (held == NULL)
				held = palloc(sizeof(HeldView) * cached_dag->count);
			held[held_count].relid = cached_dag->nodes[i].relid;
			held[held_count].until = held_until[i];
			held[held_count].hand_backs = hand_backs[i];
			held[held_count].last_hand_back = last_hand_back[i];
			held[held_count].held_by.count = 0;
			if (held_by[i] != NULL)
				held[held_count].held_by = *held_by[i];
			held_count++;
		}
		cached_dag = NULL;
		pending = NULL;
		node_queued = NULL;
		held_until = NULL;
		hand_backs = NULL;
		last_hand_back = NULL;
		held_by = NULL;
		MemoryContextReset(dag_context);
		old = MemoryContextSwitchTo(dag_context);
		cached_dag = dag_load();
		pending = palloc0(sizeof(bool) * Max(cached_dag->count, 1));
		pending_indexes = palloc(sizeof(int) * Max(cached_dag->count, 1));
		pending_count = 0;
		node_queued = palloc0(sizeof(bool) * Max(cached_dag->count, 1));
		held_until = palloc0(sizeof(TimestampTz) * Max(cached_dag->count, 1));
		hand_backs = palloc0(sizeof(int) * Max(cached_dag->count, 1));
		last_hand_back = palloc0(sizeof(HandBack) * Max(cached_dag->count, 1));
		held_by = palloc0(sizeof(LockHolders *) * Max(cached_dag->count, 1));
		MemoryContextSwitchTo(old);
		for (int h = 0; h < held_count; h++)
		{
			int			i = dag_find(cached_dag, held[h].relid);

			if (i >= 0)
			{
				held_until[i] = held[h].until;
				hand_backs[i] = held[h].hand_backs;
				last_hand_back[i] = held[h].last_hand_back;
				if (held[h].held_by.count > 0)
					remember_holders(i, &held[h].held_by);
			}
		}
		if (held != NULL)
			pfree(held);
		dag_generation++;
		requeue_views_in_new_dag(cached_dag);
	}
	else if (!load_states)
		schedule_reload_states(cached_dag, cached_states, pending_indexes, pending_count);
	if (load_states)
	{
		cached_states = NULL;
		MemoryContextReset(state_context);
		old = MemoryContextSwitchTo(state_context);
		cached_states = schedule_load_state(cached_dag);
		MemoryContextSwitchTo(old);
	}
	for (int i = 0; i < pending_count; i++)
		pending[pending_indexes[i]] = false;
	pending_count = 0;
	PopActiveSnapshot();
	return load_dag ? RELOADED_ALL : load_states ? RELOADED_STATE : RELOADED_SOME_STATES;
}

/*
 * Whether the installed SQL is the version this library serves.  Logs a
 * mismatch once per extension and version: the scheduler then stays idle
 * in this database until ALTER EXTENSION pipeline UPDATE.
 */
static bool
version_matches(Oid extension, const char *version)
{
	if (version != NULL && strcmp(version, PIPELINE_VERSION) == 0)
	{
		skew_logged_extension = InvalidOid;
		return true;
	}
	if (extension == skew_logged_extension && version != NULL &&
		skew_logged_version != NULL && strcmp(version, skew_logged_version) == 0)
		return false;
	ereport(LOG,
			(errmsg("pipeline scheduler of database \"%s\" is idle: the extension's SQL is version %s, the library is version %s",
					scheduler_dbname, version ? version : "(none)", PIPELINE_VERSION),
			 errdetail("No view of this database is refreshed in the background until the versions match; calls of the installed functions keep working."),
			 errhint("Run ALTER EXTENSION pipeline UPDATE in database \"%s\".",
					 scheduler_dbname)));
	skew_logged_extension = extension;
	if (skew_logged_version)
		pfree(skew_logged_version);
	skew_logged_version = MemoryContextStrdup(TopMemoryContext, version ? version : "");
	return false;
}

/*
 * The extension this tick may plan for, locked (see extension_lock.h), or
 * InvalidOid: not installed, being dropped (stand aside quietly: the drop
 * cancels the refreshes and must not wait for the scheduler), or installed
 * in another version than the library's.
 */
static Oid
usable_extension(void)
{
	Oid			extension;
	char	   *version;

	if (launcher_extension_dropping(MyDatabaseId))
		return InvalidOid;
	extension = extension_lock(false, &version);
	if (!OidIsValid(extension) || !version_matches(extension, version))
		return InvalidOid;
	return extension;
}

/*
 * Marks orphaned runs failed, has the publications re-check their files and
 * prunes history, each when it is time.  True when the tick must dispatch
 * nothing and commit first: a publication's run that began before the
 * commit could still be skipped.
 */
static bool
housekeeping(TimestampTz now)
{
	/* this process's writes of pipeline.runs invalidate nothing: reload */
	if (!orphans_checked)
	{
		run_fail_orphans();
		orphans_checked = true;
		states_stale = true;
	}
	if (!publications_rechecked)
	{
		uint64		publications = change_tracking_recheck_publications();

		publications_rechecked = true;
		if (publications > 0)
		{
			elog(DEBUG1, "pipeline scheduler: " UINT64_FORMAT " lake publications compare their files with their manifests at their next runs",
				 publications);
			return true;
		}
	}
	/* pruning never deletes what the cached state holds that matters */
	if (TimestampDifferenceExceeds(last_prune, now, PRUNE_EVERY_MS))
	{
		run_prune_history();
		last_prune = now;

		/*
		 * Planning after this commit: pruning a change log locks it, and a
		 * skip check then locking its table would take the two the other way
		 * round from capture_register() (table, then log): a deadlock.
		 */
		return true;
	}
	return false;
}

/*
 * When the pool finished nothing for a minute while more jobs were queued
 * than it has workers: every worker is in a long run (a view stuck in a
 * loop, whose owner sets no statement_timeout), and the views queued
 * behind them wait.  Logged once until a job finishes.
 */
#define STUCK_POOL_MS 60000

static void
note_stuck_pool(int limit, TimestampTz now)
{
	static TimestampTz over_limit_since = 0;
	static bool stuck_logged = false;

	if (queued_count <= limit)
	{
		over_limit_since = 0;
		stuck_logged = false;
		return;
	}
	if (over_limit_since == 0)
		over_limit_since = now;
	if (TimestampDifferenceExceeds(Max(over_limit_since, jobs_collected_at), now, STUCK_POOL_MS))
	{
		if (!stuck_logged)
			ereport(LOG,
					(errmsg("pipeline: %d queued refreshes wait for a worker: the %d refresh workers have finished nothing for a minute",
							queued_count - limit, limit),
					 errhint("Their long runs show in pg_stat_activity (backend_type 'pipeline refresh'). Bound them with their owners' statement_timeout, cancel them, or raise pipeline.max_workers.")));
		stuck_logged = true;
	}
	else
		stuck_logged = false;
}

/*
 * When more was due than pipeline.max_workers could run: logged once, and
 * again only after a minute of keeping up.
 */
#define KEPT_UP_MS 60000
static bool behind_logged = false;
static TimestampTz last_behind = 0;

static void
note_behind(bool behind, int waiting, TimestampTz now)
{
	if (behind)
	{
		if (!behind_logged)
			ereport(LOG,
					(errmsg("pipeline: %d due refreshes wait for a worker: more is due than pipeline.max_workers (%d) can run",
							waiting, pipeline_max_workers),
					 errhint("Raise pipeline.max_workers (and max_worker_processes with it), or lengthen the intervals.")));
		behind_logged = true;
		last_behind = now;
	}
	else if (behind_logged && TimestampDifferenceExceeds(last_behind, now, KEPT_UP_MS))
		behind_logged = false;
}

typedef struct SkipCheck
{
	Oid			relid;
	Verdict    *verdict;
	bool		after_failure;	/* its latest run failed */
	bool		skipped;
} SkipCheck;

static void
skip_check(void *arg)
{
	SkipCheck  *check = (SkipCheck *) arg;

	check->skipped = run_skip_if_unchanged(check->relid, check->verdict->label,
										   check->verdict->attempt, check->after_failure);
}

/*
 * Records the view's due run skipped, in the tick's transaction, when its
 * upstreams did not change; false when a worker must run it.  An error
 * (the view dropped meanwhile, a lock someone holds on what it reads,
 * which the tick does not wait for: every view would wait with it) leaves
 * the decision to the worker, which records it.
 */
static bool
skip_without_worker(Oid relid, Verdict *verdict, bool after_failure)
{
	SkipCheck	check = {relid, verdict, after_failure, false};
	ErrorData  *error = subxact_try_without_waiting(skip_check, &check);

	if (error != NULL)
	{
		elog(DEBUG1, "pipeline scheduler: the skip check of relation %u failed: %s",
			 relid, error->message);
		return false;
	}
	return check.skipped;
}

/* A view the scheduler may start a refresh of. */
typedef struct DueView
{
	int			index;			/* in the DAG */
	Verdict		verdict;
	TimestampTz waiting_since;	/* the label of its latest run */
} DueView;

/* The view waiting longest first; then DAG order. */
static int
due_view_cmp(const void *a, const void *b)
{
	const DueView *x = (const DueView *) a;
	const DueView *y = (const DueView *) b;

	if (x->waiting_since != y->waiting_since)
		return x->waiting_since < y->waiting_since ? -1 : 1;
	return x->index - y->index;
}

/*
 * A job still waiting for a worker when a later label of its view falls
 * due runs that label instead: a view several labels behind runs only its
 * latest due one (API.md section 2), also when the workers were all busy
 * while it waited (it ran the label it was queued for, then the next).
 * Returns how many of them have missed a whole label since their latest
 * run (see start_due_refreshes()).
 */
static int
relabel_waiting_jobs(Dag *dag, ViewState *states, TimestampTz now)
{
	int			missed = 0;

	for (int e = 0; e < LAUNCHER_QUEUE_SIZE && queued_count > 0; e++)
	{
		QueuedView *view = &queued[e];
		Verdict		verdict;

		if (!OidIsValid(view->relid) || view->generation != dag_generation)
			continue;
		verdict = schedule_decide(dag, states, view->index, now, now,
								  pipeline_max_attempts, pipeline_retry_backoff_s);
		if (verdict.decision != DECIDE_DUE || verdict.label <= view->label ||
			!launcher_queue_relabel(e, verdict.label, verdict.attempt))
			continue;
		view->label = verdict.label;
		if (states[view->index].latest_label != NO_LABEL &&
			verdict.label - states[view->index].latest_label > dag->nodes[view->index].interval_us)
			missed++;
	}
	return missed;
}

/*
 * Queues each due view that is not queued yet for the refresh workers, up
 * to QUEUE_DEPTH jobs in flight per worker (so that a worker that finishes
 * a run finds the next one waiting), then sees that enough
 * workers serve the queue (staff_queue).  The views
 * whose latest run is oldest first, so that when more is due than fits no
 * view starves behind those earlier in the DAG (a downstream view is due
 * for a label only once its upstreams succeeded for it, so DAG order per
 * label holds whatever the order here).  Returns how many it dispatched.
 */
static int
start_due_refreshes(Dag *dag, ViewState *states, TimestampTz now)
{
	int			limit = Min(pipeline_max_workers, MAX_WORKERS);
	int			capacity = Min(QUEUE_DEPTH * limit, LAUNCHER_QUEUE_SIZE);
	DueView    *due = palloc(sizeof(DueView) * Max(dag->count, 1));
	int			due_count = 0;
	int			dispatched_count = 0;
	int			skipped_count = 0;
	int			missed_in_queue;
	int			d;

	missed_in_queue = relabel_waiting_jobs(dag, states, now);
	for (int i = 0; i < dag->count; i++)
	{
		Verdict		verdict;

		if (node_queued[i] || held_until[i] > now)
			continue;
		verdict = schedule_decide(dag, states, i, now, now,
								  pipeline_max_attempts, pipeline_retry_backoff_s);
		if (verdict.decision != DECIDE_DUE)
			continue;
		due[due_count].index = i;
		due[due_count].verdict = verdict;

		/*
		 * a view handed back waits its turn as if it had run when it was free
		 * again: its latest run's label stays old while it is held, and many
		 * held views would otherwise go before every view that just ran
		 */
		due[due_count].waiting_since = hand_backs[i] > 0 ?
			Max(states[i].latest_label, held_until[i]) : states[i].latest_label;
		due_count++;
	}
	qsort(due, due_count, sizeof(DueView), due_view_cmp);

	for (d = 0; d < due_count && queued_count < capacity; d++)
	{
		RefreshJob	job;
		int			entry;

		/*
		 * A relation dropped unseen (a session's end took it: a worker's
		 * claim would find nothing, and the view be due again at once) waits
		 * until a definition or drop forgets it (matview_forget_gone())
		 */
		job.owner = catalog_relation_owner_if_exists(dag->nodes[due[d].index].relid);
		if (!OidIsValid(job.owner))
		{
			held_until[due[d].index] = TimestampTzPlusMilliseconds(now, HELD_RETRY_MAX_MS);
			continue;
		}

		/*
		 * a view handed back and still locked by a transaction that held it
		 * at the last look costs no worker's wait again (deadlock_timeout and
		 * more): the lock table says so (held_by)
		 */
		if (hand_backs[due[d].index] > 0 && still_held(dag, due[d].index))
		{
			hold_view(due[d].index);
			continue;
		}
		/* a view whose upstreams did not change costs no worker */
		if (skip_without_worker(dag->nodes[due[d].index].relid, &due[d].verdict,
								states[due[d].index].latest_status == RUN_FAILED))
		{
			/* claimed without a wait: it is held no longer */
			hand_backs[due[d].index] = 0;
			forget_holders(due[d].index);
			state_changed(due[d].index, dag_generation);
			skipped_count++;
			continue;
		}
		job.dboid = MyDatabaseId;
		job.relid = dag->nodes[due[d].index].relid;
		job.label = due[d].verdict.label;
		job.attempt = due[d].verdict.attempt;

		/*
		 * a lock of no relation given up is one the look cannot see: no
		 * longer wait for it
		 */
		job.hand_backs = last_hand_back[due[d].index].kind == HAND_BACK_IN_RUN &&
			!OidIsValid(last_hand_back[due[d].index].relid) ? 0 : hand_backs[due[d].index];
		entry = launcher_queue_job(&job);
		if (entry < 0)
			break;
		queued[entry].relid = job.relid;
		queued[entry].index = due[d].index;
		queued[entry].generation = dag_generation;
		queued[entry].label = job.label;
		node_queued[due[d].index] = true;
		queued_count++;
		dispatched_count++;
	}
	staff_queue(limit);

	/*
	 * Behind: a view left waiting, or a job moved on to a later label while
	 * it waited, has missed a whole label since its latest run.  (A lack of
	 * worker slots is reported where a start fails.)
	 */
	if (queued_count >= capacity)
	{
		int			missed = missed_in_queue;

		for (int w = d; w < due_count; w++)
			if (due[w].waiting_since != NO_LABEL &&
				due[w].verdict.label - due[w].waiting_since > dag->nodes[due[w].index].interval_us)
				missed++;
		note_behind(missed > 0, due_count - d + missed_in_queue, now);
	}
	else
		note_behind(false, 0, now);
	note_stuck_pool(limit, now);
	pfree(due);
	/* what waited for the skipped views may be due now: plan again at once */
	if (skipped_count > 0)
		SetLatch(MyLatch);
	return dispatched_count;
}

/* The alert sender this scheduler started, or NULL (TopMemoryContext). */
static BackgroundWorkerHandle *alert_sender = NULL;

/*
 * Starts the alert sender when alerts wait to be POSTed and it is not
 * running: it, not this process, waits for the endpoint.
 */
static void
start_alert_sender(void)
{
	pid_t		pid;
	MemoryContext old;

	if (alert_sender != NULL && GetBackgroundWorkerPid(alert_sender, &pid) != BGWH_STOPPED)
		return;
	if (alert_sender != NULL)
	{
		pfree(alert_sender);
		alert_sender = NULL;
	}
	if (!alerts_undelivered())
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!alert_sender_start(MyDatabaseId, &alert_sender))
		alert_sender = NULL;
	MemoryContextSwitchTo(old);
}

/*
 * Leaves when the database has no extension (not installed, or dropped),
 * so that it holds no worker slot; the launcher starts a scheduler again
 * once a CREATE EXTENSION pipeline has committed after creations was read.
 */
static void
leave_unless_installed(bool installed, uint64 creations)
{
	if (installed)
		return;
	launcher_report_no_extension(creations);
	proc_exit(0);
}

/* Until when a pass that found nothing to do lets the scheduler sleep. */
static TimestampTz
next_by_clock(Dag *dag, ViewState *states, TimestampTz now)
{
	TimestampTz next = TimestampTzPlusMilliseconds(now, (int64) pipeline_tick_ms * QUIET_TICKS);

	next = Min(next, TimestampTzPlusMilliseconds(last_prune, PRUNE_EVERY_MS));
	next = Min(next, alerts_next_sla_breach(dag, states, now));
	for (int i = 0; i < dag->count && next > now; i++)
	{
		next = Min(next, schedule_next_by_clock(dag, states, i, now, pipeline_max_attempts,
												pipeline_retry_backoff_s));
		if (held_until[i] > now)
			next = Min(next, held_until[i]);
	}
	return next;
}

/* One planning pass; needs no transaction, runs its own. */
static void
scheduler_tick(void)
{
	TimestampTz now = GetCurrentTimestamp();
	Oid			extension;
	Reloaded	reloaded = RELOADED_NOTHING;
	int			views = 0;
	int			dispatched_count = 0;
	instr_time	start;
	instr_time	elapsed;
	uint64		creations = launcher_extension_creations();
	bool		installed = true;

	INSTR_TIME_SET_CURRENT(start);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "planning");

	quiet_until = 0;
	extension = usable_extension();
	if (!OidIsValid(extension))
	{
		orphans_checked = false;
		cached_extension = InvalidOid;	/* reload all if it comes back */
		installed = launcher_extension_dropping(MyDatabaseId) ||
			OidIsValid(get_extension_oid("pipeline", true));
	}
	else if (housekeeping(now))
		SetLatch(MyLatch);		/* plan right after this commit */
	else
	{
		reloaded = reload_stale_inputs(extension);
		views = cached_dag->count;
		dispatched_count = start_due_refreshes(cached_dag, cached_states, now);
		/* in memory but for a view whose SLA state changed */
		alerts_check_slas(cached_dag, cached_states, now);
		if (pipeline_alert_endpoint[0] != '\0')
			start_alert_sender();
		if (reloaded == RELOADED_NOTHING && dispatched_count == 0 && queued_count == 0)
			quiet_until = next_by_clock(cached_dag, cached_states, now);
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	/* for bench/idle_scheduler: what one planning pass costs */
	elog(DEBUG1, "pipeline scheduler: planned %d views in %.3f ms, reloaded %s, dispatched %d refreshes",
		 views, INSTR_TIME_GET_MILLISEC(elapsed), reloaded_names[reloaded], dispatched_count);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	leave_unless_installed(installed, creations);
}

/*
 * Whether to plan now.  A finished run wakes the scheduler, but while as
 * many jobs wait in the queue as there are workers, the workers have their
 * next runs and a pass could only add to the queue: it waits for the
 * queue to run low, or for the tick.  So a busy pool costs a pass per few
 * runs, not one per run.
 */
static bool
pass_needed(TimestampTz last_pass, bool woken)
{
	int			idle;
	int			waiting;
	TimestampTz now = GetCurrentTimestamp();

	if (!woken && now < quiet_until)
		return false;
	if (TimestampDifferenceExceeds(last_pass, now, pipeline_tick_ms))
		return true;
	launcher_pool_counts(MyDatabaseId, &idle, &waiting);
	return waiting < Min(pipeline_max_workers, MAX_WORKERS);
}

/* How long to sleep for the next tick, or to the end of a quiet time, in ms */
static long
until_next_tick(TimestampTz last_pass)
{
	TimestampTz now = GetCurrentTimestamp();
	long		elapsed = (long) ((now - last_pass) / 1000);

	if (quiet_until > now)
		return Max(1, (long) ((quiet_until - now + 999) / 1000));
	return Max(1, pipeline_tick_ms - elapsed);
}

void
pipeline_scheduler_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext tick_context;
	TimestampTz last_pass = 0;
	bool		woken = false;
	uint64		creations;
	bool		installed;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (!launcher_register_process(dboid, PROCESS_SCHEDULER))
		proc_exit(0);			/* the database is being dropped, or has one */
	pgstat_report_appname("pipeline scheduler");

	creations = launcher_extension_creations();
	StartTransactionCommand();
	scheduler_dbname = MemoryContextStrdup(TopMemoryContext, get_database_name(dboid));
	installed = OidIsValid(get_extension_oid("pipeline", true));
	CommitTransactionCommand();
	leave_unless_installed(installed, creations);

	tick_context = AllocSetContextCreate(TopMemoryContext, "pipeline scheduler tick",
										 ALLOCSET_DEFAULT_SIZES);
	dag_context = AllocSetContextCreate(TopMemoryContext, "pipeline scheduler DAG",
										ALLOCSET_DEFAULT_SIZES);
	state_context = AllocSetContextCreate(TopMemoryContext, "pipeline scheduler run state",
										  ALLOCSET_DEFAULT_SIZES);
	CacheRegisterRelcacheCallback(schedule_inputs_invalidated, (Datum) 0);
	schedule_runs_writes_reported();
	/* catalog reads only: compiling them would cost more than it saves */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * A skip lost in a crash is only judged again: its commit need not wait
	 * for the WAL flush
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (!launcher_database_allowed(scheduler_dbname))
			proc_exit(1);

		reap_workers();
		collect_jobs();
		if (pipeline_enabled && pass_needed(last_pass, woken))
		{
			last_pass = GetCurrentTimestamp();
			MemoryContextSwitchTo(tick_context);
			scheduler_tick();
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(tick_context);
		}
		/* turned off, it waits for a reload (which sets the latch) */
		woken = (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   pipeline_enabled ? until_next_tick(last_pass) : pipeline_tick_ms,
						   PG_WAIT_EXTENSION) & WL_LATCH_SET) != 0;
		ResetLatch(MyLatch);
	}
}

static bool wake_at_commit = false;
static bool wake_callback_registered = false;

static void
wake_xact_callback(XactEvent event, void *arg)
{
	if (!wake_at_commit)
		return;
	if (event == XACT_EVENT_COMMIT)
		launcher_wake(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_at_commit = false;
}

PG_FUNCTION_INFO_V1(pipeline_wake);

/*
 * wake() RETURNS void: wakes the scheduler now, and again when the calling
 * transaction commits, so that what it changed (a definition, or
 * ALTER EXTENSION pipeline UPDATE, whose script calls it) is planned at
 * once rather than at the next tick.
 */
Datum
pipeline_wake(PG_FUNCTION_ARGS)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
	launcher_wake(MyDatabaseId);
	PG_RETURN_VOID();
}
