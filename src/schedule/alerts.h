/*-------------------------------------------------------------------------
 * alerts.h
 *	  Incidents and their alerts (API.md section 10): a view's failure, or
 *	  its breach of its freshness SLA, opens an incident; its next success,
 *	  or its return within the SLA, closes it.  Each alert is sent once, as
 *	  NOTIFY pipeline_alerts, and queued for pipeline.alert_endpoint.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ALERTS_H
#define PIPELINE_ALERTS_H

#include "model/dag.h"
#include "schedule/schedule.h"

/* pipeline.alert_endpoint: where the scheduler POSTs alerts; "" for none */
extern char *pipeline_alert_endpoint;

extern void alerts_define_settings(void);

/*
 * After a run's outcome is recorded: a failure opens the view's failure
 * incident, unless one is open (alert failed, or audit_failed when an
 * expectation failed); a success or skip closes it (recovered).  Needs a
 * transaction; does nothing under SQL older than 1.6.
 */
extern void alerts_after_run(Oid relid, TimestampTz label, int64 run_id,
							 RunStatus status, bool audit_failed);

/*
 * Opens or closes the SLA incidents of dag's views with an SLA as of now,
 * from their states: a breach when now - last success's label (or the
 * definition's, before any) exceeds it.  SQL only where a view's state
 * changed (ViewState.sla_known, sla_open).  Needs a transaction.
 */
extern void alerts_check_slas(Dag *dag, ViewState *states, TimestampTz now);

/*
 * The earliest time, not before after, at which a view of dag within its
 * SLA would breach it if nothing ran (DT_NOEND: none would).
 */
extern TimestampTz alerts_next_sla_breach(Dag *dag, ViewState *states, TimestampTz after);

/*
 * The condition on pipeline.alerts a of an alert to POST now: after its
 * incident's earlier alerts (1.15), so that a receiver sees them in order.
 */
#define ALERT_DUE_NOW \
	"a.deliver AND a.delivered_at IS NULL " \
	"AND coalesce(a.next_attempt_at, '-infinity') OPERATOR(pg_catalog.<=) pg_catalog.now() " \
	"AND NOT EXISTS (SELECT FROM pipeline.alerts e " \
	"                 WHERE e.incident_id OPERATOR(pg_catalog.=) a.incident_id " \
	"                   AND e.alert_id OPERATOR(pg_catalog.<) a.alert_id " \
	"                   AND e.deliver AND e.delivered_at IS NULL)"

/* Whether alerts wait to be POSTed now.  Needs a transaction. */
extern bool alerts_undelivered(void);

/* Whether the installed SQL has pipeline.alerts (1.6 on). */
extern bool alerts_installed(void);

/* Whether pipeline.alert_endpoint is set. */
extern bool alerts_endpoint_set(void);

#endif							/* PIPELINE_ALERTS_H */
