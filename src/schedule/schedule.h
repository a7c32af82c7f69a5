/*-------------------------------------------------------------------------
 * schedule.h
 *	  What is due: time labels and the per-view decision, a pure function
 *	  of the DAG, each view's run state and a clock.  run_due() and the
 *	  background scheduler both act on it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_SCHEDULE_H
#define PIPELINE_SCHEDULE_H

#include "datatype/timestamp.h"

#include "model/dag.h"
#include "util/interval.h"

#define NO_LABEL DT_NOBEGIN

typedef enum RunStatus
{
	RUN_NONE,					/* never ran */
	RUN_RUNNING,
	RUN_SUCCEEDED,
	RUN_FAILED,
	RUN_SKIPPED
} RunStatus;

/*
 * What the catalogs say about one view, aligned with Dag.nodes.  A row of
 * pipeline.runs that collapsed consecutive skipped labels counts as a run of
 * its last label (coalesce(last_time_label, time_label)).
 */
typedef struct ViewState
{
	TimestampTz last_success_label; /* NO_LABEL if none */
	TimestampTz latest_label;	/* label of the latest run, NO_LABEL if none */
	RunStatus	latest_status;
	int			latest_attempt;
	TimestampTz latest_finished_at;
	/* its SLA incident as alerts_check_slas() last saw it */
	bool		sla_known;
	bool		sla_open;
} ViewState;

typedef enum Decision
{
	DECIDE_UP_TO_DATE,			/* succeeded for its latest label */
	DECIDE_RUNNING,
	DECIDE_BLOCKED,				/* an upstream has not succeeded for the label */
	DECIDE_RETRY_LATER,			/* failed, backing off */
	DECIDE_GAVE_UP,				/* failed max_attempts times for this label */
	DECIDE_DUE
} Decision;

typedef struct Verdict
{
	Decision	decision;
	TimestampTz label;			/* the label it would run */
	int			attempt;		/* the attempt it would be */
	int			blocking_upstream;	/* node index when BLOCKED, else -1 */
} Verdict;

/*
 * Whether pipeline.runs collapses consecutive skipped labels into one row
 * (has last_time_label: the SQL of 1.2 on).  Older SQL keeps working with
 * this library, one row per label.  Needs a transaction.
 */
extern bool schedule_history_collapses(void);

/*
 * A row's last label, in SQL, for a pipeline.runs row aliased alias:
 * coalesce(alias.last_time_label, alias.time_label), or alias.time_label
 * when the installed SQL does not collapse.  Constant strings.
 */
#define SCHEDULE_LAST_LABEL(collapses, alias) \
	((collapses) ? "coalesce(" alias ".last_time_label, " alias ".time_label)" : alias ".time_label")

/* Loads every view's state, aligned with dag->nodes (palloc'd). */
extern ViewState *schedule_load_state(Dag *dag);

/* Loads again the state of the count views of dag at indexes. */
extern void schedule_reload_states(Dag *dag, ViewState *states,
								   const int *indexes, int count);

/*
 * For the background scheduler and its refresh workers: this process's
 * writes of pipeline.runs queue no invalidation (pipeline.schedule_changed),
 * as the scheduler learns of them itself and reloads the state of just the
 * views it skipped or a worker ran.  Writes of other sessions (run_due, a
 * manual refresh) still make it reload every view's state.
 */
extern void schedule_runs_writes_reported(void);

/*
 * Pass as schedule_decide()'s now to time retries on as_of: run_due(as_of)
 * steps a simulated clock, in which the wall-clock finish of a failure
 * means nothing.
 */
#define SCHEDULE_RETRY_ON_AS_OF DT_NOBEGIN

/*
 * Decides about node index of dag as of as_of (which picks the label: the
 * one of as_of, or, while an upstream is behind it, the latest earlier one
 * the upstreams have succeeded for) and now (which times retries).  A failed attempt k of label T may be retried
 * after retry_backoff * 2^(k-1): with a wall clock now, counted from the
 * failure's finish; with SCHEDULE_RETRY_ON_AS_OF, as_of must have reached
 * T + retry_backoff * (2^k - 1), when the attempt would be due had every
 * earlier one started on time.
 */
extern Verdict schedule_decide(Dag *dag, ViewState *states, int index,
							   TimestampTz as_of, TimestampTz now,
							   int max_attempts, int retry_backoff_s);

/*
 * The earliest time after now at which the clock alone could change node
 * index's verdict: its next label, or the retry of its failed attempt.
 * (Runs of its upstreams and other writes change it too: they wake the
 * scheduler.)
 */
extern TimestampTz schedule_next_by_clock(Dag *dag, ViewState *states, int index,
										  TimestampTz now, int max_attempts,
										  int retry_backoff_s);

/*
 * wake(MyDatabaseId) is called when a transaction that wrote the
 * definitions, edges or runs commits (through pipeline.schedule_changed):
 * the library sets it to wake the database's scheduler, which may be
 * sleeping past its tick.
 */
extern void schedule_set_changed_wake(void (*wake) (Oid dboid));

extern RunStatus run_status_from_name(const char *name);
extern const char *run_status_name(RunStatus status);

#endif
