/*-------------------------------------------------------------------------
 * alert_sender.c
 *	  The alert sender: POSTs the alerts due to pipeline.alert_endpoint
 *	  (schedule/alerts.h), then exits.  The scheduler starts it when alerts
 *	  wait and none runs, so a slow or dead endpoint holds up only this
 *	  process, never a refresh or the scheduler's planning.
 *
 * Delivery is at least once: an alert is POSTed outside any transaction,
 * then its outcome recorded; a crash in between sends it again, with the
 * same incident_id for the receiver to drop.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgw/alert_sender.h"
#include "bgw/extension_lock.h"
#include "bgw/launcher.h"
#include "io/allowed_endpoints.h"
#include "io/http.h"
#include "model/catalog.h"
#include "schedule/alerts.h"
#include "util/settings.h"
#include "util/spi_rows.h"

/* As an external function's defaults: its timeout and retries */
#define ALERT_TIMEOUT_MS 30000
#define ALERT_RETRIES 2
/* between delivery attempts of an alert: doubling, at most 5 minutes */
#define ALERT_RETRY_MAX_S 300

/* One alert due for delivery. */
typedef struct DueAlert
{
	int64		alert_id;
	int			attempts;
	char	   *body;
	Oid			owner;			/* of its view */
} DueAlert;

/*
 * The owners of views whose alerts this sender tried, the one served
 * longest ago first (in TopMemoryContext): owners take turns, so that one
 * whose views fail by the thousand delays no other's alerts.
 */
static List *served_owners = NIL;

/*
 * The alert due next, in a transaction of its own: the oldest of the
 * owner served longest ago (one not served yet first); false when none is
 * due (or the extension is gone).
 */
static bool
next_due_alert(DueAlert *alert)
{
	SpiRows    *rows = NULL;
	char	   *version;
	bool		isnull;
	bool		found;
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1] = {spi_oid_array(served_owners)};

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(extension_lock(true, &version)) && alerts_installed())
		rows = spi_rows(catalog_owner(),
						"SELECT a.alert_id, a.attempts, pg_catalog.json_build_object( "
						"           'database', pg_catalog.current_database(), "
						"           'matview', a.matview::pg_catalog.text, 'kind', a.kind, "
						"           'time_label', a.time_label, 'run_id', a.run_id, "
						"           'incident_id', a.incident_id, 'alert_id', a.alert_id, "
						"           'created_at', a.created_at)::pg_catalog.text, c.relowner "
						"  FROM pipeline.alerts a "
						"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.matview::pg_catalog.oid "
						" WHERE " ALERT_DUE_NOW
						" ORDER BY pg_catalog.array_position($1, c.relowner) NULLS FIRST, a.alert_id LIMIT 1",
						1, argtypes, values, NULL, true, SPI_OK_SELECT);
	found = rows != NULL && rows->count == 1;
	if (found)
	{
		alert->alert_id = DatumGetInt64(spi_rows_value(rows, 0, 0, &isnull));
		alert->attempts = DatumGetInt32(spi_rows_value(rows, 0, 1, &isnull));
		alert->body = MemoryContextStrdup(caller, spi_rows_text(rows, 0, 2));
		alert->owner = DatumGetObjectId(spi_rows_value(rows, 0, 3, &isnull));
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* (the commit freed rows, and leaves TopMemoryContext current) */
	MemoryContextSwitchTo(caller);
	return found;
}

/* Records a delivery attempt: delivered, or when to try again and why not. */
static void
record_attempt(const DueAlert *alert, const char *error)
{
	Oid			argtypes[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		values[3] = {Int64GetDatum(alert->alert_id),
		error ? CStringGetTextDatum(error) : (Datum) 0,
	Int32GetDatum(Min(ALERT_RETRY_MAX_S, 1 << Min(alert->attempts, 16)))};
	char		nulls[3] = {' ', error ? ' ' : 'n', ' '};
	char	   *version;
	MemoryContext caller = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (OidIsValid(extension_lock(true, &version)) && alerts_installed())
		(void) spi_rows(catalog_owner(),
						"UPDATE pipeline.alerts SET attempts = attempts + 1, last_error = $2, "
						"       delivered_at = CASE WHEN $2 IS NULL THEN pg_catalog.clock_timestamp() END, "
						"       next_attempt_at = CASE WHEN $2 IS NOT NULL "
						"           THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) "
						"                pg_catalog.make_interval(secs => $3) END "
						" WHERE alert_id OPERATOR(pg_catalog.=) $1",
						3, argtypes, values, nulls, false, -1);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);
}

/* Settings changed since the last call (a reload) take effect now. */
static void
reload_settings(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * POSTs one alert with retries, each to the endpoint set then; NULL when
 * the endpoint took it, else why not.  *reset: the endpoint was set to ''
 * before anything was sent, so nothing was attempted.
 */
static char *
post_alert(const char *body, bool *reset)
{
	HttpResult	res;

	*reset = false;
	for (int attempt = 0;; attempt++)
	{
		HttpUrl		url;
		const char *error;

		reload_settings();
		if (!alerts_endpoint_set())
		{
			*reset = attempt == 0;
			return pstrdup("pipeline.alert_endpoint was reset");
		}
		if (!http_url_parse(pipeline_alert_endpoint, &url, &error))
			return psprintf("pipeline.alert_endpoint is not a URL: %s", error);

		/*
		 * not the URL: pipeline.alerts is readable by the view's owner, and
		 * the URL may hold a token the superuser's setting keeps from him
		 */
		if (!endpoint_allowed(&url))
			return pstrdup("pipeline.alert_endpoint matches no prefix of pipeline.allowed_endpoints");
		http_post(url.url, body, strlen(body), ALERT_TIMEOUT_MS, &res);
		if (res.outcome == HTTP_OK && res.status >= 200 && res.status < 300)
			return NULL;
		if (!http_retryable(&res) || attempt >= ALERT_RETRIES)
			break;
		http_backoff(attempt);
	}
	if (res.outcome == HTTP_OK)
		return psprintf("HTTP status %ld", res.status);
	return pstrdup(res.error);
}

/*
 * POSTs the alerts due for delivery, their views' owners taking turns
 * (each one's oldest first), until none is due or the endpoint is reset;
 * each attempt recorded.  Runs its own transactions; no HTTP request
 * inside one.
 */
static void
deliver_alerts(const char *dbname)
{
	MemoryContext work = AllocSetContextCreate(CurrentMemoryContext, "pipeline alert delivery",
											   ALLOCSET_DEFAULT_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(work);
	DueAlert	alert = {0};

	for (;;)
	{
		char	   *error;
		bool		reset;

		reload_settings();
		/* it leaves as an idle refresh worker does */
		if (!pipeline_enabled || !launcher_database_allowed(dbname) ||
			!alerts_endpoint_set() || !next_due_alert(&alert))
			break;
		CHECK_FOR_INTERRUPTS();
		error = post_alert(alert.body, &reset);
		if (reset)
			break;
		record_attempt(&alert, error);
		/* its owner goes to the back of the turns */
		MemoryContextSwitchTo(TopMemoryContext);
		served_owners = lappend_oid(list_delete_oid(served_owners, alert.owner), alert.owner);
		MemoryContextSwitchTo(work);
		MemoryContextReset(work);
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
}

bool
alert_sender_start(Oid dboid, BackgroundWorkerHandle **handle)
{
	return launcher_start_worker("pipeline_alert_sender_main", "pipeline alerts",
								 ObjectIdGetDatum(dboid), NULL, 0, handle);
}

void
pipeline_alert_sender_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	/*
	 * DROP EXTENSION and DROP DATABASE stop it as they stop a refresh worker;
	 * it leaves when one is sending already (started by a scheduler before
	 * the one that started this)
	 */
	if (!launcher_register_process(dboid, PROCESS_ALERT_SENDER))
		proc_exit(0);
	pgstat_report_appname("pipeline alerts");
	deliver_alerts(launcher_database_name(dboid));
	proc_exit(0);
}
