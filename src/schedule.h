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

#include "dag.h"

#define NO_LABEL DT_NOBEGIN

/*
 * An interval as microseconds, the one conversion every schedule uses: a
 * month is 30 days (as interval comparison counts it), so a year is 360.
 */
extern int64 schedule_interval_usecs(const Interval *interval);

/* Floor of at to a multiple of interval_us counted from the Unix epoch. */
extern TimestampTz schedule_time_label(int64 interval_us, TimestampTz at);

typedef enum RunStatus
{
	RUN_NONE,					/* never ran */
	RUN_RUNNING,
	RUN_SUCCEEDED,
	RUN_FAILED,
	RUN_SKIPPED
} RunStatus;

/* What the catalogs say about one view, aligned with Dag.nodes. */
typedef struct ViewState
{
	TimestampTz last_success_label; /* NO_LABEL if none */
	TimestampTz latest_label;	/* label of the latest run, NO_LABEL if none */
	RunStatus	latest_status;
	int			latest_attempt;
	TimestampTz latest_finished_at;
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

/* Loads every view's state, aligned with dag->nodes (palloc'd). */
extern ViewState *schedule_load_state(Dag *dag);

/*
 * Decides about node index of dag as of as_of (which picks the label) and
 * now (which times retries).
 */
extern Verdict schedule_decide(Dag *dag, ViewState *states, int index,
							   TimestampTz as_of, TimestampTz now,
							   int max_attempts, int retry_backoff_s);

extern RunStatus run_status_from_name(const char *name);
extern const char *run_status_name(RunStatus status);

#endif
