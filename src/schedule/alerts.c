/*-------------------------------------------------------------------------
 * alerts.c
 *	  Incidents and their alerts: opened and closed in the transaction that
 *	  records a run's outcome (or, for an SLA, by the scheduler's pass), so
 *	  an incident survives restarts and reaches a standby with the run.
 *
 * "Once per incident" is the database's: at most one open incident of a
 * kind per view (a partial unique index) and one alert of a kind per
 * incident (a unique constraint), each inserted with ON CONFLICT DO
 * NOTHING, and the NOTIFY sent by the statement that inserted the alert.
 * So a retried run, a second scheduler pass or a restart cannot send one
 * twice, and the in-memory flags of the scheduler only save statements.
 *
 * Delivery to pipeline.alert_endpoint is bgw/alert_sender.c's.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "io/allowed_endpoints.h"
#include "io/http.h"
#include "model/catalog.h"
#include "schedule/alerts.h"
#include "util/spi_rows.h"

char	   *pipeline_alert_endpoint = NULL;


static bool
check_alert_endpoint(char **newval, void **extra, GucSource source)
{
	HttpUrl		url;
	const char *error;

	if (*newval == NULL || **newval == '\0')
		return true;
	if (!http_url_parse(*newval, &url, &error))
	{
		GUC_check_errdetail("%s.", error);
		return false;
	}
	return true;
}

void
alerts_define_settings(void)
{
	/* a webhook URL carries its secret (a token, user:password@): not shown */
	DefineCustomStringVariable("pipeline.alert_endpoint",
							   "An http(s) URL the scheduler POSTs each alert to (empty: NOTIFY only).",
							   "At least once per alert, with incident_id; pipeline.allowed_endpoints applies.",
							   &pipeline_alert_endpoint, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY, check_alert_endpoint, NULL, NULL);
}

bool
alerts_installed(void)
{
	return OidIsValid(catalog_table("alerts"));
}

bool
alerts_endpoint_set(void)
{
	return pipeline_alert_endpoint != NULL && pipeline_alert_endpoint[0] != '\0';
}

/*
 * The alert of an incident just opened or closed, and its NOTIFY: what the
 * statements below end with.  $1 view, $2 label, $3 run, $4 alert kind,
 * $5 deliver.
 */
#define QUEUE_AND_NOTIFY \
	", alerted AS ( " \
	"    INSERT INTO pipeline.alerts (incident_id, matview, kind, time_label, run_id, deliver) " \
	"    SELECT c.incident_id, $1::pg_catalog.regclass, $4, $2, $3, $5 FROM changed c " \
	"    ON CONFLICT (incident_id, kind) DO NOTHING RETURNING incident_id " \
	") " \
	"SELECT pg_catalog.pg_notify('pipeline_alerts', pg_catalog.json_build_object( " \
	"           'matview', $1::pg_catalog.regclass::pg_catalog.text, 'kind', $4, " \
	"           'time_label', $2, 'run_id', $3, 'incident_id', a.incident_id)::pg_catalog.text) " \
	"  FROM alerted a"

/*
 * Opens (open) or closes the view's open incident of incident_kind, and
 * when it did, sends alert_kind.  Returns whether it did.
 */
static bool
change_incident(bool open, Oid relid, const char *incident_kind, const char *alert_kind,
				TimestampTz label, int64 run_id)
{
	Oid			argtypes[6] = {OIDOID, TIMESTAMPTZOID, INT8OID, TEXTOID, BOOLOID, TEXTOID};
	Datum		values[6] = {ObjectIdGetDatum(relid), TimestampTzGetDatum(label),
		Int64GetDatum(run_id), CStringGetTextDatum(alert_kind),
	BoolGetDatum(alerts_endpoint_set()), CStringGetTextDatum(incident_kind)};
	char		nulls[6] = {' ', label == NO_LABEL ? 'n' : ' ', run_id == 0 ? 'n' : ' ', ' ', ' ', ' '};

	return spi_rows(catalog_owner(),
					open ?
					"WITH changed AS ( "
					"    INSERT INTO pipeline.incidents (matview, kind, time_label, run_id) "
					"    SELECT $1::pg_catalog.regclass, $6, $2, $3 "
	/* a failure of an open incident takes no id (the ids run on) */
					"     WHERE NOT EXISTS (SELECT FROM pipeline.incidents i "
					"                        WHERE i.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"                          AND i.kind OPERATOR(pg_catalog.=) $6 AND i.closed_at IS NULL) "
					"    ON CONFLICT (matview, kind) WHERE closed_at IS NULL DO NOTHING "
					"    RETURNING incident_id "
					")" QUEUE_AND_NOTIFY :
					"WITH changed AS ( "
					"    UPDATE pipeline.incidents SET closed_at = pg_catalog.clock_timestamp(), closed_run_id = $3 "
					"     WHERE matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"       AND kind OPERATOR(pg_catalog.=) $6 AND closed_at IS NULL "
					"    RETURNING incident_id "
					")" QUEUE_AND_NOTIFY,
					6, argtypes, values, nulls, false, -1)->count > 0;
}

void
alerts_after_run(Oid relid, TimestampTz label, int64 run_id, RunStatus status, bool audit_failed)
{
	if (!alerts_installed())
		return;
	if (status == RUN_FAILED)
		(void) change_incident(true, relid, "failure", audit_failed ? "audit_failed" : "failed",
							   label, run_id);
	else if (status == RUN_SUCCEEDED || status == RUN_SKIPPED)
		(void) change_incident(false, relid, "failure", "recovered", label, run_id);
}

/*
 * Marks the SLA state of every view whose state is unknown (after a load of
 * its run state): whether it has an open SLA incident, in one statement for
 * them all.  A view without an SLA may have one, opened before its SLA went.
 */
static void
learn_open_slas(Dag *dag, ViewState *states)
{
	SpiRows    *rows = spi_rows(catalog_owner(),
								"SELECT matview::pg_catalog.oid FROM pipeline.incidents "
								" WHERE kind OPERATOR(pg_catalog.=) 'sla' AND closed_at IS NULL",
								0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	List	   *open = spi_rows_oids(rows, 0);

	for (int i = 0; i < dag->count; i++)
	{
		if (states[i].sla_known)
			continue;
		states[i].sla_known = true;
		states[i].sla_open = list_member_oid(open, dag->nodes[i].relid);
	}
}

/* the label a view's freshness counts from: its last success, or its definition */
static TimestampTz
sla_fresh_as_of(const DagNode *node, const ViewState *state)
{
	return state->last_success_label != NO_LABEL ?
		state->last_success_label : node->defined_label;
}

/*
 * When a view is late: once its data is older than its SLA (since the label
 * it counts from), unless the one label it misses is its newest, whose run
 * has until the next label (1.15).  Without that, a view whose SLA is its
 * interval was late while every label's run ran.  From an SLA of two
 * intervals on, the exception never applies.
 */
static TimestampTz
sla_breach_time(const DagNode *node, const ViewState *state)
{
	TimestampTz fresh_as_of = sla_fresh_as_of(node, state);
	TimestampTz deadline = fresh_as_of + node->sla_us + 1;
	TimestampTz label = time_label_of(node->interval_us, deadline);

	/* the first label more than the SLA after it, or two intervals after it */
	if (label < deadline)
		label += node->interval_us;
	return Min(label, fresh_as_of + Max(node->sla_us, 2 * node->interval_us) + 1);
}

TimestampTz
alerts_next_sla_breach(Dag *dag, ViewState *states, TimestampTz after)
{
	TimestampTz next = DT_NOEND;

	for (int i = 0; i < dag->count; i++)
	{
		if (dag->nodes[i].sla_us == 0 || states[i].sla_open)
			continue;
		if (!states[i].sla_known)
			return after;		/* alerts_check_slas() learns it first */
		next = Min(next, Max(after, sla_breach_time(&dag->nodes[i], &states[i])));
	}
	return next;
}

void
alerts_check_slas(Dag *dag, ViewState *states, TimestampTz now)
{
	bool		installed = false;
	bool		checked = false;

	for (int i = 0; i < dag->count; i++)
	{
		DagNode    *node = &dag->nodes[i];
		ViewState  *state = &states[i];
		TimestampTz fresh_as_of;
		bool		breached;

		if (node->sla_us == 0 && state->sla_known && !state->sla_open)
			continue;
		if (!checked)
		{
			installed = alerts_installed();
			checked = true;
			if (!installed)
				return;
		}
		if (!state->sla_known)
			learn_open_slas(dag, states);
		fresh_as_of = sla_fresh_as_of(node, state);
		/* a view whose SLA went is late no more */
		breached = node->sla_us > 0 && now >= sla_breach_time(node, state);
		if (state->sla_open == breached)
			continue;

		/*
		 * the label it is late for, or the one it is back within its SLA with
		 * (when its SLA went, the label current then)
		 */
		(void) change_incident(breached, node->relid, "sla",
							   breached ? "sla_breached" : "sla_recovered",
							   breached || node->sla_us == 0 ?
							   time_label_of(node->interval_us, now) : fresh_as_of, 0);
		state->sla_open = breached;
	}
}

bool
alerts_undelivered(void)
{
	if (!alerts_endpoint_set() || !alerts_installed())
		return false;
	return spi_rows(catalog_owner(),
					"SELECT FROM pipeline.alerts a WHERE " ALERT_DUE_NOW " LIMIT 1",
					0, NULL, NULL, NULL, true, SPI_OK_SELECT)->count > 0;
}
