/*-------------------------------------------------------------------------
 * refresh_worker.c
 *	  The refresh worker: performs one run (a refresh of one view for one
 *	  time label) that the scheduler found due, then exits.
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
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "bgw/extension_lock.h"
#include "bgw/launcher.h"
#include "bgw/refresh_worker.h"
#include "model/catalog.h"
#include "schedule/run.h"

bool
refresh_worker_start(const RefreshJob *job, BackgroundWorkerHandle **handle)
{
	return launcher_start_worker("pipeline_refresh_main", "pipeline refresh",
								 (Datum) 0, job, sizeof(*job), handle);
}

/*
 * Claims the job's run and performs it, in two transactions; false when
 * there was nothing to do (the view was dropped, redefined or run by
 * another session, or the extension is gone).
 */
static bool
run_refresh_job(const RefreshJob *job)
{
	int64		run_id = 0;
	char	   *version;

	/* first transaction: the run is visible as 'running' while it executes */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(extension_lock(true, &version)) && catalog_is_managed(job->relid))
		run_id = run_claim(job->relid, job->label, job->attempt);
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (run_id == 0)
		return false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!OidIsValid(extension_lock(true, &version)))
	{
		/* dropped in between: its run went with it */
		PopActiveSnapshot();
		AbortCurrentTransaction();
		return false;
	}
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("refresh %s", get_rel_name(job->relid)));
	(void) run_perform(run_id, job->relid, job->label);
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return true;
}

void
pipeline_refresh_main(Datum main_arg)
{
	RefreshJob	job;
	volatile bool done;

	memcpy(&job, MyBgworkerEntry->bgw_extra, sizeof(job));
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(job.dboid, InvalidOid, 0);
	if (!launcher_register_process(job.dboid, PROCESS_REFRESH))
		proc_exit(0);			/* the extension or the database is being
								 * dropped */
	pgstat_report_appname("pipeline refresh");

	/*
	 * Not to raise another error: to leave quietly when the error is the
	 * cancel of DROP EXTENSION.  A cancel during the refresh itself is a
	 * failed run (run_perform records it); one before or after leaves without
	 * a word, as there is nothing left to record it in.  Any other error is
	 * re-thrown and reported as the worker's exit.
	 */
	PG_TRY();
	{
		done = run_refresh_job(&job);
	}
	PG_CATCH();
	{
		if (!launcher_extension_dropping(job.dboid))
			PG_RE_THROW();
		HOLD_INTERRUPTS();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		proc_exit(0);
	}
	PG_END_TRY();

	/* wake the scheduler so downstream views start now, not next tick */
	if (done)
		launcher_wake(job.dboid);
	proc_exit(0);
}
