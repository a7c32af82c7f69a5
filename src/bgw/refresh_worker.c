/*-------------------------------------------------------------------------
 * refresh_worker.c
 *	  The refresh worker: performs the runs (a refresh of one view for one
 *	  time label) that the scheduler gives it, one after another, and exits
 *	  once idle for pipeline.worker_idle_timeout.
 *
 * It records its run as 'running' in one transaction and performs it in
 * another (run_claim, run_perform), so the run is visible while it
 * executes and its outcome is recorded even on failure.  Both transactions
 * hold a share lock on the extension object (extension_lock.h), so
 * DROP EXTENSION waits for the worker rather than dropping a table in use;
 * the drop cancels the worker first (launcher.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "bgw/extension_lock.h"
#include "bgw/launcher.h"
#include "bgw/refresh_worker.h"
#include "model/catalog.h"
#include "schedule/run.h"
#include "schedule/schedule.h"
#include "util/lock_tries.h"
#include "util/settings.h"
#include "util/runas.h"
#include "util/subxact.h"

bool
refresh_worker_start(Oid dboid, BackgroundWorkerHandle **handle)
{
	return launcher_start_worker("pipeline_refresh_main", "pipeline refresh",
								 ObjectIdGetDatum(dboid), NULL, 0, handle);
}

/*
 * How long a worker waits for its view's lock (or its upstreams') beyond
 * deadlock_timeout before handing the job back: a lock held for long (a
 * refresh() or run_due() in a session's open transaction, DDL) must not
 * keep the worker from other views.  deadlock_timeout first: that is when
 * a wait cancels an autovacuum in its way.  A view whose lock changed hands
 * meanwhile is not held for long but busy: sessions take turns with it,
 * and each new wait queues behind the next one; the worker then waits once
 * more, CLAIM_BUSY_WAIT_MS longer, so that its turn comes (behind two or
 * three sessions holding it a second or two each).
 */
#define CLAIM_LOCK_WAIT_MS 250
#define CLAIM_BUSY_WAIT_MS 5000

typedef struct Claim
{
	const RefreshJob *job;
	int64		run_id;
} Claim;

/* run_claim() for subxact_try() */
static void
claim_work(void *arg)
{
	Claim	   *claim = arg;

	claim->run_id = run_claim(claim->job->relid, claim->job->label, claim->job->attempt);
}

/*
 * The transactions holding the view's lock against a claim (SHARE UPDATE
 * EXCLUSIVE, refresh_lock_with_upstreams()).
 */
static List *
view_holders(Oid relid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	return lock_holders(&tag, ShareUpdateExclusiveLock);
}

/*
 * Whether the view changed hands between the two lookups: held before and
 * after, by none of the same transactions.  A wait behind something else
 * (a lock on an upstream, a request queued before the claim's) is not.
 */
static bool
changed_hands(List *before, List *now)
{
	return before != NIL && now != NIL && !lock_holders_in_common(before, now);
}

/*
 * The job's run claimed; 0 when it needs no run, or when its view stayed
 * locked past deadlock_timeout + CLAIM_LOCK_WAIT_MS by the same holder
 * (when it changed hands, past the longer wait too): the job is then done
 * without a run (*hand_back), and the scheduler queues the view again
 * after a while (scheduler.c, held_until).
 */
static int64
claim_or_hand_back(const RefreshJob *job, HandBack *hand_back)
{
	Claim		claim = {job, 0};
	int			wait_ms = Min(DeadlockTimeout, INT_MAX - CLAIM_BUSY_WAIT_MS) + CLAIM_LOCK_WAIT_MS;

	for (int waits = 1;; waits++)
	{
		List	   *holders = view_holders(job->relid);
		ErrorData  *error;

		(void) set_config_option("lock_timeout", psprintf("%d", wait_ms),
								 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
		error = subxact_try(claim_work, &claim, false);
		if (error == NULL)
			return claim.run_id;
		if (error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
			ReThrowError(error);
		FreeErrorData(error);
		if (waits == 1 && changed_hands(holders, view_holders(job->relid)))
		{
			wait_ms += CLAIM_BUSY_WAIT_MS - CLAIM_LOCK_WAIT_MS;
			continue;
		}
		ereport(LOG,
				(errmsg("pipeline: %s stayed locked; its refresh is tried again later",
						get_rel_name(job->relid))));
		hand_back->kind = HAND_BACK_AT_CLAIM;
		return 0;
	}
}

/*
 * A run's statement_timeout cancels it; code of the view's that catches the
 * cancel (PL/pgSQL's EXCEPTION WHEN query_canceled, in a loop) would keep
 * the worker for ever, so this long after the timeout the worker ends
 * itself, as pg_terminate_backend() would: a FATAL error no code catches.
 * The scheduler then marks the run failed (run_fail_orphans()).
 */
#define OVERDUE_GRACE_MS 5000

static TimeoutId overdue_timeout;
static volatile sig_atomic_t run_overdue = false;
static char overdue_view[NAMEDATALEN];
static int	overdue_timeout_ms;

static void
overdue_handler(void)
{
	run_overdue = true;
	ProcDiePending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* says why the worker ended, once ProcessInterrupts() has ended it */
static void
log_overdue(int code, Datum arg)
{
	if (run_overdue)
		ereport(LOG,
				(errmsg("pipeline: the refresh of \"%s\" went on %d ms past its statement_timeout (%d ms); its refresh worker is ended",
						overdue_view, OVERDUE_GRACE_MS, overdue_timeout_ms),
				 errhint("The view's code caught the cancel; the run is recorded as failed.")));
}

/*
 * Claims the job's run and performs it, in two transactions; does nothing
 * when there is nothing to do (the view was dropped, redefined or run by
 * another session, or the extension is gone) or the view stays locked
 * (at the claim, or for a lock the run gave up: *hand_back).
 */
static void
run_refresh_job(const RefreshJob *job, HandBack *hand_back)
{
	int64		run_id = 0;
	char	   *version;
	Oid			owner;
	int			timeout_ms;

	/* first transaction: the run is visible as 'running' while it executes */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();

	/*
	 * the claim needs no WAL flush of its own: the outcome's commit flushes
	 * it
	 */
	(void) set_config_option("synchronous_commit", "off", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(extension_lock(true, &version)) && catalog_is_managed(job->relid))
		run_id = claim_or_hand_back(job, hand_back);
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (run_id == 0)
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!OidIsValid(extension_lock(true, &version)))
	{
		/* dropped in between: its run went with it */
		PopActiveSnapshot();
		AbortCurrentTransaction();
		return;
	}
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("refresh %s", get_rel_name(job->relid)));
	/* bounded as a session of the view's owner would bound it */
	owner = catalog_relation_owner_if_exists(job->relid);
	timeout_ms = OidIsValid(owner) ? runas_owner_statement_timeout(owner) : 0;
	if (timeout_ms > 0)
	{
		strlcpy(overdue_view, get_rel_name(job->relid), sizeof(overdue_view));
		overdue_timeout_ms = timeout_ms;
		enable_timeout_after(overdue_timeout, Min(timeout_ms, INT_MAX - OVERDUE_GRACE_MS) +
							 OVERDUE_GRACE_MS);
	}

	/*
	 * a view held for a while is waited for the longer, within its statement
	 * timeout and while no other view waits for a worker
	 */
	lock_tries_bound_waits(job->hand_backs, timeout_ms, launcher_jobs_wait);
	/* a lock the run gave up: no failure, the view is tried again later */
	if (run_perform(run_id, job->relid, job->label, true, timeout_ms) == RUN_NONE)
	{
		hand_back->kind = HAND_BACK_IN_RUN;
		lock_tries_last_given_up(&hand_back->relid, &hand_back->mode);
	}
	if (timeout_ms > 0)
		disable_timeout(overdue_timeout, false);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Runs the job.  Not to raise another error: to leave quietly when the
 * error is the cancel of DROP EXTENSION.  A cancel during the refresh
 * itself is a failed run (run_perform records it); one before or after
 * leaves without a word, as there is nothing left to record it in.  Any
 * other error is re-thrown and reported as the worker's exit (the
 * scheduler starts another worker; the run, if claimed, is marked failed).
 */
static void
serve_job(const RefreshJob *job, HandBack *hand_back)
{
	PG_TRY();
	{
		run_refresh_job(job, hand_back);
	}
	PG_CATCH();
	{
		if (!launcher_extension_dropping(job->dboid))
			PG_RE_THROW();
		HOLD_INTERRUPTS();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		proc_exit(0);
	}
	PG_END_TRY();
}

/*
 * Undoes what a run may have left in the session, so that it cannot reach
 * the next run (of another owner, maybe).  Transactions end the rest: an
 * abort restores the identity and settings, runas_end() reverts the
 * settings a view's query changed, and temporary objects cannot be made in
 * a security-restricted operation.  Session advisory locks outlive all of
 * that; the identity is restored here too, in case.
 */
static void
forget_run(Oid userid, int sec_context)
{
	SetUserIdAndSecContext(userid, sec_context);
	LockReleaseSession(USER_LOCKMETHOD);
}

/*
 * Waits, idle, for a job in the scheduler's queue; false when the worker
 * should exit: idle for pipeline.worker_idle_timeout, the oldest job
 * waiting another owner's (launcher.h), pipeline.max_workers others of
 * its database busy (the setting was lowered), the extension being
 * dropped, or the database no longer served.  A job taken just before
 * leaving for the last two is lost: the scheduler collects it as such and
 * plans the view again.
 */
static bool
wait_for_job(Oid dboid, const char *dbname, RefreshJob *job, JobTicket *ticket)
{
	TimestampTz idle_since = GetCurrentTimestamp();

	for (;;)
	{
		long		timeout;
		bool		too_many;

		/* a cancel that reaches an idle worker is DROP EXTENSION's */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (launcher_extension_dropping(dboid) || !pipeline_enabled ||
			!launcher_database_allowed(dbname))
			return false;
		if (launcher_take_job(dboid, pipeline_max_workers, job, ticket, &too_many))
			return true;
		if (too_many)
			return false;		/* pipeline.max_workers was lowered */
		timeout = pipeline_worker_idle_timeout_ms -
			(long) ((GetCurrentTimestamp() - idle_since) / 1000);
		if (launcher_leave_if_idle(dboid, timeout <= 0))
			return false;
		if (timeout > 0)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
pipeline_refresh_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	RefreshJob	job;
	JobTicket	ticket;
	char	   *dbname;
	Oid			userid;
	int			sec_context;
	MemoryContext job_context;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	overdue_timeout = RegisterTimeout(USER_TIMEOUT, overdue_handler);
	before_shmem_exit(log_overdue, 0);
	if (!launcher_register_process(dboid, PROCESS_REFRESH))
		proc_exit(0);			/* the extension or the database is being
								 * dropped */
	pgstat_report_appname("pipeline refresh");

	/* the scheduler learns of this worker's runs through its run queue */
	schedule_runs_writes_reported();
	dbname = launcher_database_name(dboid);
	GetUserIdAndSecContext(&userid, &sec_context);
	job_context = AllocSetContextCreate(TopMemoryContext, "pipeline refresh job",
										ALLOCSET_DEFAULT_SIZES);

	while (wait_for_job(dboid, dbname, &job, &ticket))
	{
		HandBack	hand_back = {HAND_BACK_NONE, InvalidOid, NoLock};

		MemoryContextSwitchTo(job_context);

		/*
		 * a lock one session holds for long must not keep the pool from every
		 * other view: the worker gives it up and hands the view back
		 */
		lock_tries_bound_waits(0, 0, NULL);
		serve_job(&job, &hand_back);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(job_context);
		forget_run(userid, sec_context);
		launcher_job_finished(&ticket, &hand_back);
		/* the scheduler collects the job, and starts downstream views now */
		launcher_wake_scheduler(dboid);
	}
	proc_exit(0);
}
