/*-------------------------------------------------------------------------
 * run.c
 *	  One run: the refresh of one view for one time label, its record in
 *	  pipeline.runs, and run_due(), the synchronous pass the background
 *	  scheduler also makes.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "views/audit.h"
#include "views/capture.h"
#include "views/hooks.h"
#include "views/matview.h"
#include "model/catalog.h"
#include "schedule/alerts.h"
#include "schedule/change_tracking.h"
#include "util/settings.h"
#include "views/refresh.h"
#include "schedule/run.h"
#include "views/differential.h"
#include "util/spi_rows.h"
#include "util/lock_tries.h"
#include "util/subxact.h"

/* The micro-batch window of the run in progress, for window_start/end(). */
static bool window_active = false;
static TimestampTz window_start_label = NO_LABEL;
static TimestampTz window_end_label = NO_LABEL;

static void
lock_upstream_first(void *relid)
{
	change_tracking_install_triggers(*(Oid *) relid);
	refresh_lock_sources(*(Oid *) relid);
}

void
run_prepare(Oid relid)
{
	ErrorData  *error = subxact_try(lock_upstream_first, &relid, false);

	if (error != NULL)
		FreeErrorData(error);
}

int64
run_claim(Oid relid, TimestampTz label, int attempt)
{
	Oid			argtypes[5] = {OIDOID, TIMESTAMPTZOID, INT4OID, INT4OID, TIMESTAMPTZOID};
	Datum		values[5];
	int64		run_id = 0;
	SpiRows    *rows;
	bool		isnull;
	bool		with_start = catalog_has_column("runs", "worker_started_at");
	List	   *upstreams;

	/*
	 * Wait for whoever is running, redefining or dropping the view, holding
	 * nothing while we wait (refresh.h); then it may be gone (a redefinition
	 * replaces the relation).
	 */
	upstreams = refresh_lock_with_upstreams(relid);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		refresh_unlock_with_upstreams(relid, upstreams);
		return 0;
	}

	values[0] = ObjectIdGetDatum(relid);
	values[1] = TimestampTzGetDatum(label);
	values[2] = Int32GetDatum(attempt);
	values[3] = Int32GetDatum(MyProcPid);
	values[4] = TimestampTzGetDatum(MyStartTimestamp);

	/*
	 * A session that ran this label and attempt first has its row here, or,
	 * if the label was skipped and collapsed into the view's skipped row
	 * before it (run_finish), that row's labels reach it.  Rows of a view
	 * never overlap, so the row just before the label is the only one that
	 * can.  The lock above orders claimers of a view, and each statement sees
	 * what the one before committed.  The process's start (1.6 on) tells its
	 * run from an orphan whose process id it reuses (run_fail_orphans()).
	 */
	rows = spi_rows(catalog_owner(),
					psprintf("INSERT INTO pipeline.runs (matview, time_label, attempt, status, worker_pid%s) "
							 "SELECT $1::regclass, $2, $3, 'running', $4%s "
							 " WHERE coalesce((SELECT %s < $2 FROM pipeline.runs p "
							 "                  WHERE p.matview = $1::regclass AND p.time_label < $2 "
							 "                  ORDER BY p.time_label DESC, p.run_id DESC LIMIT 1), true) "
							 "ON CONFLICT (matview, time_label, attempt) DO NOTHING RETURNING run_id",
							 with_start ? ", worker_started_at" : "",
							 with_start ? ", $5" : "",
							 SCHEDULE_LAST_LABEL(schedule_history_collapses(), "p")),
					with_start ? 5 : 4,
					argtypes, values, NULL, false, -1);
	if (rows->count == 1)
		run_id = DatumGetInt64(spi_rows_value(rows, 0, 0, &isnull));
	if (run_id == 0)
		refresh_unlock_with_upstreams(relid, upstreams);
	return run_id;
}

/*
 * Keeps the newest pipeline.run_history_per_view rows of a view (of every
 * view when relid is invalid), and each view's latest success, which the
 * schedule needs, and runs in progress.  Costs one index scan of at most
 * that many rows per view.  A run bounds its own view's history: the views
 * come from a one-row list then, not from a filter on every view, which a
 * generic plan would scan at every run.
 */
static void
run_bound_history(Oid relid)
{
	Oid			argtypes[2] = {INT4OID, OIDOID};
	Datum		values[2] = {Int32GetDatum(pipeline_run_history_per_view),
	ObjectIdGetDatum(relid)};

	(void) spi_rows(catalog_owner(),
					psprintf("DELETE FROM pipeline.runs r "
							 " USING (SELECT d.matview, c.time_label, c.run_id, s.run_id AS success_id "
							 "          FROM %s d "
							 "          CROSS JOIN LATERAL (SELECT x.time_label, x.run_id FROM pipeline.runs x "
							 "                               WHERE x.matview = d.matview "
							 "                               ORDER BY x.time_label DESC, x.run_id DESC "
							 "                              OFFSET $1 LIMIT 1) c "
							 "          LEFT JOIN LATERAL (SELECT x.run_id FROM pipeline.runs x "
							 "                              WHERE x.matview = d.matview "
							 "                                AND x.status IN ('succeeded', 'skipped') "
							 "                              ORDER BY x.time_label DESC, x.run_id DESC "
							 "                              LIMIT 1) s ON true) cut "
							 " WHERE r.matview = cut.matview AND r.time_label <= cut.time_label "
							 "   AND (r.time_label < cut.time_label OR r.run_id <= cut.run_id) "
							 "   AND r.status <> 'running' "
							 "   AND r.run_id IS DISTINCT FROM cut.success_id",
							 OidIsValid(relid) ? "(SELECT $2::pg_catalog.regclass AS matview)"
							 : "pipeline.matview_definitions"),
					OidIsValid(relid) ? 2 : 1, argtypes, values, NULL, false, -1);
}

/*
 * A skipped label extends the view's row before it when that row is
 * skipped too, and the run's own row goes: consecutive skipped labels are
 * one row, so an idle view's history does not grow with the clock.
 * Returns whether it did.
 */
static bool
run_collapse_skipped(int64 run_id, Oid relid, TimestampTz label)
{
	Oid			argtypes[4] = {INT8OID, OIDOID, TIMESTAMPTZOID, INT4OID};
	Datum		values[4] = {Int64GetDatum(run_id), ObjectIdGetDatum(relid),
	TimestampTzGetDatum(label), Int32GetDatum(MyProcPid)};

	return spi_rows(catalog_owner(),
					"WITH previous AS ( "
					"    SELECT p.run_id, p.status FROM pipeline.runs p "
					"     WHERE p.matview = $2::regclass AND p.time_label <= $3 AND p.run_id <> $1 "
					"     ORDER BY p.time_label DESC, p.run_id DESC LIMIT 1 "
					"), extended AS ( "
					"    UPDATE pipeline.runs r "
					"       SET last_time_label = $3, label_count = r.label_count + 1, "
					"           finished_at = pg_catalog.clock_timestamp(), worker_pid = $4 "
					"      FROM previous WHERE r.run_id = previous.run_id AND previous.status = 'skipped' "
					"    RETURNING r.run_id "
					") "
					"DELETE FROM pipeline.runs r WHERE r.run_id = $1 "
					"   AND EXISTS (SELECT FROM extended)",
					4, argtypes, values, NULL, false, -1)->count == 1;
}

/*
 * Records the outcome of a run, and what its refresh said about how it ran
 * (detail, or NULL) when the installed SQL has runs.detail (1.3 on).  Needs
 * a transaction.
 */
static void
run_finish(int64 run_id, Oid relid, TimestampTz label, RunStatus status,
		   int64 rows, const char *error, const char *detail)
{
	Oid			argtypes[5] = {INT8OID, TEXTOID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = "     ";

	if (status == RUN_SKIPPED && schedule_history_collapses() &&
		run_collapse_skipped(run_id, relid, label))
		return;
	values[0] = Int64GetDatum(run_id);
	values[1] = CStringGetTextDatum(run_status_name(status));
	values[2] = Int64GetDatum(rows);
	/* rows only of a success: a failed run wrote none, nor did it write 0 */
	if (status != RUN_SUCCEEDED)
		nulls[2] = 'n';
	if (error)
		values[3] = CStringGetTextDatum(error);
	else
		nulls[3] = 'n';
	if (detail)
		values[4] = CStringGetTextDatum(detail);
	else
		nulls[4] = 'n';
	(void) spi_rows(catalog_owner(),
					catalog_has_column("runs", "detail") ?
					"UPDATE pipeline.runs SET status = $2, rows = $3, error = $4, detail = $5, "
					"       finished_at = pg_catalog.clock_timestamp() WHERE run_id = $1" :
					"UPDATE pipeline.runs SET status = $2, rows = $3, error = $4, "
					"       finished_at = pg_catalog.clock_timestamp() WHERE run_id = $1",
					5, argtypes, values, nulls, false, -1);
	/* the run added a row to the view's history */
	run_bound_history(relid);
}

static TimestampTz
previous_success_label(Oid relid, TimestampTz label)
{
	Oid			argtypes[2] = {OIDOID, TIMESTAMPTZOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), TimestampTzGetDatum(label)};
	SpiRows    *rows;
	bool		isnull;
	Datum		d;

	/* the last label of a collapsed row (see schedule_load_state) */
	rows = spi_rows(catalog_owner(),
					psprintf("SELECT %s FROM pipeline.runs r "
							 " WHERE r.matview = $1::regclass AND r.status IN ('succeeded', 'skipped') "
							 "   AND r.time_label < $2 ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1",
							 SCHEDULE_LAST_LABEL(schedule_history_collapses(), "r")),
					2, argtypes, values, NULL, false, -1);
	if (rows->count != 1)
		return NO_LABEL;
	d = spi_rows_value(rows, 0, 0, &isnull);
	return isnull ? NO_LABEL : DatumGetTimestampTz(d);
}

/* One refresh of a run: what refresh_run() needs and what it did. */
typedef struct RefreshRun
{
	Oid			relid;
	bool		view_unlocked;	/* nothing holds the view yet: run_prepare()'s
								 * work comes first */
	TimestampTz label;
	TimestampTz previous;		/* label of the view's previous success */
	int			timeout_ms;		/* the refresh's statement timeout (0: none) */
	RunStatus	status;
	int64		rows;
	char	   *detail;			/* what the refresh said about how it ran */
} RefreshRun;

static void refresh_run_unbounded(RefreshRun *run);

/*
 * The refresh of a run; run_perform() runs it in a subtransaction, which
 * is where a cancel of its timeout's timer must land: the run's failure,
 * never the outcome's recording.
 */
static void
refresh_run(void *arg)
{
	int			timeout_ms = ((RefreshRun *) arg)->timeout_ms;

	if (timeout_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, timeout_ms);
	PG_TRY();
	{
		refresh_run_unbounded((RefreshRun *) arg);
	}
	PG_FINALLY();
	{
		if (timeout_ms > 0)
			disable_timeout(STATEMENT_TIMEOUT, false);
	}
	PG_END_TRY();
	/* a cancel the timer sent as it was disabled: still this run's */
	CHECK_FOR_INTERRUPTS();
}

/*
 * A skipped run: what it saw is as current as a refresh would leave it, a
 * differential view's position too (pipeline.change_log_retention counts
 * from here).
 */
static void
record_skipped(Oid relid)
{
	change_tracking_refreshed(relid, false, false);
	differential_position_current(relid);
}

static void
refresh_run_unbounded(RefreshRun *run)
{

	/* as run_prepare(), but its failure (or cancel) is the run's */
	if (run->view_unlocked)
		lock_upstream_first(&run->relid);

	/* one snapshot for the skip check, the refresh and the saved state */
	PushActiveSnapshot(GetTransactionSnapshot());
	window_start_label = run->previous;
	window_end_label = run->label;
	window_active = true;
	/* waits for a refresh, redefinition or drop of the view in progress */
	refresh_lock(run->relid);
	if (change_tracking_unchanged(run->relid))
	{
		run->status = RUN_SKIPPED;
		record_skipped(run->relid);
	}
	else
	{
		run->rows = (int64) refresh_matview(run->relid);
		if (refresh_last_detail())
			run->detail = pstrdup(refresh_last_detail());
		/* inside the run's transaction: its failure fails the run */
		after_refresh_run(run->relid, run->label);
		run->status = RUN_SUCCEEDED;
		/* a stream or mirror that wrote nothing is no change downstream */
		change_tracking_refreshed(run->relid, !refresh_last_unchanged(),
								  refresh_last_consumed());
	}
	window_active = false;
	PopActiveSnapshot();
}

/*
 * Says in the server log that a run failed: the view, the label and the
 * error, as pipeline.runs records them, with the error's SQLSTATE (none
 * when sqlerrcode is 0).  Needs a transaction (catalog lookups); the view
 * may be gone.
 */
static void
run_log_failure(Oid relid, TimestampTz label, int sqlerrcode, const char *message,
				const char *detail)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));

	/* the detail too: a deadlock's says which processes held what */
	if (relname != NULL && nspname != NULL)
		ereport(LOG,
				(sqlerrcode != 0 ? errcode(sqlerrcode) : 0,
				 errmsg("pipeline: refresh of \"%s.%s\" for time label %s failed: %s",
						nspname, relname, timestamptz_to_str(label), message),
				 detail ? errdetail_internal("%s", detail) : 0));
	else
		ereport(LOG,
				(sqlerrcode != 0 ? errcode(sqlerrcode) : 0,
				 errmsg("pipeline: refresh of the view with OID %u for time label %s failed: %s",
						relid, timestamptz_to_str(label), message),
				 detail ? errdetail_internal("%s", detail) : 0));
}

/* Deletes a claimed run that never ran. */
static void
forget_claimed_run(int64 run_id)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};

	(void) spi_rows(catalog_owner(), "DELETE FROM pipeline.runs WHERE run_id = $1",
					1, argtypes, values, NULL, false, -1);
}

RunStatus
run_perform(int64 run_id, Oid relid, TimestampTz label, bool view_unlocked, int timeout_ms)
{
	RefreshRun	run = {relid, view_unlocked, label, previous_success_label(relid, label),
	timeout_ms, RUN_FAILED, 0, NULL};
	ErrorData  *error;

	/*
	 * In the scheduler a cancelled refresh is a failed run and the worker
	 * goes on; a user's run_due() ends on a cancel.
	 */
	audit_forget();
	/* a lock given up before this run is none of its business */
	(void) lock_tries_gave_up();
	error = subxact_try(refresh_run, &run, IsBackgroundWorker);
	window_active = false;
	if (error != NULL && error->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && lock_tries_gave_up())
	{
		/*
		 * A refresh worker's run that would have queued for a lock without
		 * limit (lock_tries_bound_waits()): it never ran, and its view is
		 * handed back to the scheduler
		 */
		forget_claimed_run(run_id);
		ereport(LOG,
				(errmsg("pipeline: %s stayed locked; its refresh is tried again later",
						get_rel_name(relid)),
				 errdetail_internal("%s", error->message)));
		return RUN_NONE;
	}
	if (error != NULL && !catalog_is_managed_now(relid))
	{
		/*
		 * Dropped, or redefined as a new relation, after a refresh worker's
		 * claim committed: the run never ran, and is no run of the view that
		 * may now have the name (a redefinition moved the row to it)
		 */
		forget_claimed_run(run_id);
		ereport(LOG,
				(errmsg("pipeline: the run of managed view %u is dropped: the view was dropped or redefined after it was claimed",
						relid)));
		return RUN_FAILED;
	}
	if (error != NULL)
	{
		run.status = RUN_FAILED;
		run_log_failure(relid, label, error->sqlerrcode, error->message, error->detail);
	}

	CommandCounterIncrement();
	/* a failed refresh's detail is not kept: the error says what happened */
	run_finish(run_id, relid, label, run.status, run.rows, error ? error->message : NULL,
			   error ? NULL : run.detail);
	/* every check of the run, passed or failed, its contents kept or not */
	audit_record(run_id, relid);
	alerts_after_run(relid, label, run_id, run.status, error != NULL && audit_failed());
	return run.status;
}

/*
 * Records label (attempt) of the view skipped, as a claim and its outcome
 * would (run_claim(), run_finish()), in one statement: the view's latest
 * row is extended when it is a row of skipped labels before this one, else
 * a skipped row is added, unless a row of the same label and attempt or
 * one reaching the label exists.  False when it did not record it.  The
 * caller holds the view's lock, which orders claimers.  For the SQL that
 * collapses skipped labels (1.2 on).
 */
static bool
record_skip(Oid relid, TimestampTz label, int attempt)
{
	Oid			argtypes[4] = {OIDOID, TIMESTAMPTZOID, INT4OID, INT4OID};
	Datum		values[4] = {ObjectIdGetDatum(relid), TimestampTzGetDatum(label),
	Int32GetDatum(attempt), Int32GetDatum(MyProcPid)};
	SpiRows    *rows;
	bool		isnull;

	rows = spi_rows(catalog_owner(),
					"WITH latest AS ( "
					"    SELECT p.run_id, p.status, coalesce(p.last_time_label, p.time_label) AS last_label "
					"      FROM pipeline.runs p "
					"     WHERE p.matview = $1::regclass AND p.time_label <= $2 "
					"     ORDER BY p.time_label DESC, p.run_id DESC LIMIT 1 "
					"), earlier AS ( "
					"    SELECT coalesce(p.last_time_label, p.time_label) AS last_label "
					"      FROM pipeline.runs p "
					"     WHERE p.matview = $1::regclass AND p.time_label < $2 "
					"     ORDER BY p.time_label DESC, p.run_id DESC LIMIT 1 "
					"), extended AS ( "
					"    UPDATE pipeline.runs r "
					"       SET last_time_label = $2, label_count = r.label_count + 1, "
					"           finished_at = pg_catalog.clock_timestamp(), worker_pid = $4 "
					"      FROM latest "
					"     WHERE r.run_id = latest.run_id AND latest.status = 'skipped' "
					"       AND latest.last_label < $2 "
					"    RETURNING r.run_id "
					"), added AS ( "
					"    INSERT INTO pipeline.runs (matview, time_label, attempt, status, worker_pid, finished_at) "
					"    SELECT $1::regclass, $2, $3, 'skipped', $4, pg_catalog.clock_timestamp() "
					"     WHERE NOT EXISTS (SELECT FROM extended) "
					"       AND coalesce((SELECT e.last_label < $2 FROM earlier e), true) "
					"    ON CONFLICT (matview, time_label, attempt) DO NOTHING RETURNING run_id "
					") "
					"SELECT (SELECT count(*) FROM extended), (SELECT count(*) FROM added)",
					4, argtypes, values, NULL, false, -1);
	if (DatumGetInt64(spi_rows_value(rows, 0, 1, &isnull)) > 0)
	{
		/* a new row in the view's history */
		run_bound_history(relid);
		return true;
	}
	return DatumGetInt64(spi_rows_value(rows, 0, 0, &isnull)) > 0;
}

bool
run_skip_if_unchanged(Oid relid, TimestampTz label, int attempt, bool after_failure)
{
	bool		skipped = false;

	/* never wait: a worker can */
	if (!ConditionalLockRelationOid(relid, ShareUpdateExclusiveLock))
		return false;

	/*
	 * A relation pipeline no longer manages fails below (no definition, or
	 * the run's reference to it), and the caller leaves it to a worker.
	 */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
	{
		UnlockRelationOid(relid, ShareUpdateExclusiveLock);
		return false;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	if (change_tracking_unchanged(relid))
	{
		if (schedule_history_collapses())
			skipped = record_skip(relid, label, attempt);
		else
		{
			int64		run_id = run_claim(relid, label, attempt);

			if (run_id != 0)
			{
				CommandCounterIncrement();
				run_finish(run_id, relid, label, RUN_SKIPPED, 0, NULL, NULL);
				skipped = true;
			}
		}
		if (skipped)
		{
			record_skipped(relid);
			/* a skip is a success: its contents are current */
			if (after_failure)
				alerts_after_run(relid, label, 0, RUN_SKIPPED, false);
		}
	}
	PopActiveSnapshot();
	/* a claim holds the view to the end of the transaction; else let go */
	if (!skipped)
		UnlockRelationOid(relid, ShareUpdateExclusiveLock);
	return skipped;
}

#define ORPHAN_ERROR "the process running the refresh ended before it finished"

void
run_fail_orphans(void)
{
	SpiRows    *rows;
	bool		with_start;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(MyStartTimestamp)};

	/*
	 * pg_stat_activity as it is now, not as this transaction first read it: a
	 * worker that started since is alive
	 */
	pgstat_clear_snapshot();

	/*
	 * A run is live while its process is: the same process id and, from 1.6,
	 * the same process start (a process id of a crashed server's, or of a
	 * former primary's, may be a live process's here, this one's too).  A run
	 * recorded without its process's start is live only if it began after
	 * this server started.
	 */
	with_start = catalog_has_column("runs", "worker_started_at");
	rows = spi_rows(catalog_owner(),
					psprintf("UPDATE pipeline.runs r SET status = 'failed', finished_at = pg_catalog.clock_timestamp(), "
							 "       error = '" ORPHAN_ERROR "' "
							 " WHERE r.status = 'running' AND NOT (r.worker_pid IS NOT DISTINCT FROM pg_catalog.pg_backend_pid() %s) "
							 "   AND NOT EXISTS (SELECT FROM pg_catalog.pg_stat_activity a "
							 "                    WHERE a.pid = r.worker_pid AND %s) "
							 "RETURNING r.matview::oid, r.time_label, r.run_id",
							 with_start ?
							 "AND r.worker_started_at IS NOT DISTINCT FROM $1" : "",
							 with_start ?
							 "CASE WHEN r.worker_started_at IS NULL "
							 "     THEN r.started_at >= pg_catalog.pg_postmaster_start_time() "
							 "     ELSE a.backend_start = r.worker_started_at END" :
							 "r.started_at >= pg_catalog.pg_postmaster_start_time()"),
					with_start ? 1 : 0, argtypes, values, NULL, false, -1);
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		TimestampTz label = DatumGetTimestampTz(spi_rows_value(rows, i, 1, &isnull));

		run_log_failure(relid, label, 0, ORPHAN_ERROR, NULL);
		alerts_after_run(relid, label, DatumGetInt64(spi_rows_value(rows, i, 2, &isnull)),
						 RUN_FAILED, false);
	}
}

/*
 * A step of run_prune_history() that locks what a user's transaction can
 * hold (a row of a refreshing view, a table): run without waiting, as the
 * scheduler's tick would make every view wait with it; a step that meets
 * such a lock is left to the next pass.
 */
static void
without_waiting(SubxactWork step, const char *what)
{
	ErrorData  *error = subxact_try_without_waiting(step, NULL);

	if (error != NULL)
		elog(error->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ? DEBUG1 : WARNING,
			 "pipeline housekeeping: %s left to the next pass: %s", what, error->message);
}

/*
 * A differential view not refreshed for pipeline.change_log_retention
 * lets go of its sources' change logs: its next refresh is full
 */
static void
forget_stale_positions(void *arg)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		retention[1] = {Int32GetDatum(pipeline_change_log_retention_min)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.differential_positions p "
					" WHERE p.saved_at < pg_catalog.now() - pg_catalog.make_interval(mins => $1)",
					1, argtypes, retention, NULL, false, -1);
}

static void
forget_gone_views(void *arg)
{
	(void) matview_forget_gone();
}

static void
stop_unconsumed_captures(void *arg)
{
	capture_stop_unconsumed();
}

static void
release_unread_tables(void *arg)
{
	change_tracking_release_every_unread_table();
}

/* the pipeline.run_history_per_view the last pass over every view bounded to */
static int	history_bounded_to = -1;

/* when run_prune_history() last pruned every change log */
#define LOG_PRUNE_EVERY_MS (10 * 60 * 1000)
static TimestampTz logs_pruned_at = 0;

void
run_prune_history(void)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_run_retention_days)};

	/*
	 * Old runs go, except each view's latest success, which the schedule
	 * needs (a view that never succeeded has none: IS DISTINCT FROM NULL). A
	 * collapsed row is as old as its last label's run (finished_at).
	 */
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.runs r "
					" WHERE coalesce(r.finished_at, r.started_at) "
					"       < pg_catalog.now() - pg_catalog.make_interval(days => $1) "
					"   AND r.status <> 'running' "
					"   AND r.run_id IS DISTINCT FROM (SELECT l.run_id FROM pipeline.runs l "
					"                     WHERE l.matview = r.matview AND l.status IN ('succeeded', 'skipped') "
					"                     ORDER BY l.time_label DESC, l.run_id DESC LIMIT 1)",
					1, argtypes, values, NULL, false, -1);

	/*
	 * and at most pipeline.run_history_per_view rows per view: each run
	 * bounds its own view's history, so a pass over every view is needed only
	 * when the setting is new to this process (a lowered setting, or views
	 * that ran under another process's)
	 */
	if (pipeline_run_history_per_view != history_bounded_to)
	{
		run_bound_history(InvalidOid);
		history_bounded_to = pipeline_run_history_per_view;
	}

	/*
	 * closed incidents (with their alerts), and old alerts nobody is to take
	 * or took: not one an endpoint is still owed (at least once), nor one of
	 * an open incident (its "recovered" must not come alone)
	 */
	if (OidIsValid(catalog_table("incidents")))
	{
		(void) spi_rows(catalog_owner(),
						"DELETE FROM pipeline.incidents i "
						" WHERE i.closed_at < pg_catalog.now() - pg_catalog.make_interval(days => $1) "
		/* its alerts go with it: not while one is owed */
						"   AND NOT EXISTS (SELECT 1 FROM pipeline.alerts a "
						"                    WHERE a.incident_id OPERATOR(pg_catalog.=) i.incident_id "
						"                      AND a.deliver AND a.delivered_at IS NULL)",
						1, argtypes, values, NULL, false, -1);
		(void) spi_rows(catalog_owner(),
						"DELETE FROM pipeline.alerts a "
						" WHERE a.created_at < pg_catalog.now() - pg_catalog.make_interval(days => $1) "
						"   AND NOT (a.deliver AND a.delivered_at IS NULL) "
						"   AND NOT EXISTS (SELECT 1 FROM pipeline.incidents i "
						"                    WHERE i.incident_id OPERATOR(pg_catalog.=) a.incident_id "
						"                      AND i.closed_at IS NULL)",
						1, argtypes, values, NULL, false, -1);
	}

	change_tracking_prune();

	if (catalog_has_column("differential_positions", "saved_at"))
		without_waiting(forget_stale_positions, "forgetting positions");

	/*
	 * and change-log rows every consumer has consumed: a backstop, as each
	 * differential refresh prunes its sources' logs, so every ten minutes
	 * (with thousands of captured tables a pass costs tens of milliseconds)
	 */
	if (TimestampDifferenceExceeds(logs_pruned_at, GetCurrentTimestamp(), LOG_PRUNE_EVERY_MS))
	{
		capture_prune_all();
		logs_pruned_at = GetCurrentTimestamp();
	}

	/*
	 * Last, as they lock tables: views whose relation a session's end took
	 * unseen go, then the capture and tracking triggers of tables nobody
	 * reads any more (theirs, and those a drop or redefinition left busy)
	 */
	without_waiting(forget_gone_views, "forgetting views whose relation is gone");
	without_waiting(stop_unconsumed_captures, "stopping unconsumed captures");
	without_waiting(release_unread_tables, "releasing tables no view reads");
}

PG_FUNCTION_INFO_V1(pipeline_run_due);

/*
 * run_due(as_of timestamptz)
 *	 RETURNS TABLE(matview regclass, time_label timestamptz, status text)
 *
 * One pass in DAG order; a view's run counts for its downstream views later
 * in the same pass.  Runs only views the caller owns, unless superuser.
 * Retries are timed on as_of (see schedule_decide()); a view that waits for
 * its retry is returned with status 'waiting' and not run.
 */
Datum
pipeline_run_due(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz as_of;
	TimestampTz now = GetCurrentTimestamp();
	Dag		   *dag;
	ViewState  *states;
	int			i;

	/* as refresh() takes a null argument: not as "now", which is the default */
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("as_of must not be null"),
				 errhint("Leave it out to run what is due now.")));
	as_of = PG_GETARG_TIMESTAMPTZ(0);
	PreventCommandDuringRecovery("pipeline.run_due()");
	PreventCommandIfReadOnly("pipeline.run_due()");

	/*
	 * Labels are multiples of intervals: an infinite time has none, and a
	 * label near the end of PostgreSQL's range would have no next one.
	 */
	if (TIMESTAMP_NOT_FINITE(as_of) ||
		as_of >= (TimestampTz) (date2j(100000, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY ||
		as_of < (TimestampTz) (date2j(-2999, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("as_of must be a finite time from 3000 BC to before the year 100000")));
	/* 1.0 could record a run twice; claims rely on 1.1's unique key */
	catalog_require_sql_1_1("pipeline.run_due()");
	InitMaterializedSRF(fcinfo, 0);
	run_fail_orphans();
	dag = dag_load();
	states = schedule_load_state(dag);

	for (i = 0; i < dag->count; i++)
	{
		Verdict		verdict;
		RunStatus	status;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		int64		run_id;
		Oid			owner;

		CHECK_FOR_INTERRUPTS();
		/* retries are timed on as_of, the clock the caller steps */
		verdict = schedule_decide(dag, states, i, as_of, SCHEDULE_RETRY_ON_AS_OF,
								  pipeline_max_attempts, pipeline_retry_backoff_s);
		if (verdict.decision != DECIDE_DUE && verdict.decision != DECIDE_RETRY_LATER)
			continue;
		/* (a view whose relation went unseen is nobody's) */
		owner = catalog_relation_owner_if_exists(dag->nodes[i].relid);
		if (!OidIsValid(owner) || !has_privs_of_role(GetUserId(), owner))
			continue;
		if (verdict.decision == DECIDE_RETRY_LATER)
		{
			/* failed, and waits for its retry: say so, run nothing */
			values[0] = ObjectIdGetDatum(dag->nodes[i].relid);
			values[1] = TimestampTzGetDatum(verdict.label);
			values[2] = CStringGetTextDatum("waiting");
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			continue;
		}

		run_prepare(dag->nodes[i].relid);
		run_id = run_claim(dag->nodes[i].relid, verdict.label, verdict.attempt);
		if (run_id == 0)
			continue;			/* gone, or another session ran it */
		status = run_perform(run_id, dag->nodes[i].relid, verdict.label, false, 0);

		states[i].latest_label = verdict.label;
		states[i].latest_status = status;
		states[i].latest_attempt = verdict.attempt;
		states[i].latest_finished_at = now;
		if (status == RUN_SUCCEEDED || status == RUN_SKIPPED)
			states[i].last_success_label = verdict.label;

		values[0] = ObjectIdGetDatum(dag->nodes[i].relid);
		values[1] = TimestampTzGetDatum(verdict.label);
		values[2] = CStringGetTextDatum(run_status_name(status));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	/*
	 * freshness on the clock the caller steps (the scheduler's: now); a
	 * superuser's only, as it opens and closes incidents of every view.  Not
	 * on a stepped clock while the scheduler keeps them on the real one: an
	 * incident would close "as of" a time before it opened, and open again at
	 * the next tick, each with its alert.
	 */
	if (superuser() && (!pipeline_enabled || as_of == GetCurrentTransactionStartTimestamp()))
		alerts_check_slas(dag, states, as_of);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_window_start);

Datum
pipeline_window_start(PG_FUNCTION_ARGS)
{
	if (!window_active || window_start_label == NO_LABEL)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(window_start_label);
}

PG_FUNCTION_INFO_V1(pipeline_window_end);

Datum
pipeline_window_end(PG_FUNCTION_ARGS)
{
	if (!window_active)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(window_end_label);
}
