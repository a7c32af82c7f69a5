/*-------------------------------------------------------------------------
 * schedule.c
 *	  Time labels and the decision of what is due.
 *
 * A view with interval i has labels at multiples of i since the Unix epoch.
 * Its label T is due once as_of >= T and every managed upstream U has
 * succeeded (or was skipped as unchanged) for time_label(U.interval, T).
 * Only the latest label matters: a view that fell behind catches up in one
 * run.  Nothing here touches the database except schedule_load_state()
 * and the trigger that tells the scheduler its inputs changed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/interval.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#include "model/catalog.h"
#include "util/settings.h"
#include "schedule/schedule.h"
#include "util/at_commit.h"
#include "util/spi_rows.h"

static const char *const run_status_names[] = {
	"none", "running", "succeeded", "failed", "skipped"
};

const char *
run_status_name(RunStatus status)
{
	return run_status_names[status];
}

RunStatus
run_status_from_name(const char *name)
{
	for (size_t i = 0; i < lengthof(run_status_names); i++)
		if (strcmp(run_status_names[i], name) == 0)
			return (RunStatus) i;
	elog(ERROR, "unknown run status \"%s\"", name);
	pg_unreachable();
}

bool
schedule_history_collapses(void)
{
	return catalog_has_column("runs", "last_time_label");
}

/* A view's state before its runs are read: it never ran. */
static void
state_init(ViewState *state)
{
	state->last_success_label = NO_LABEL;
	state->latest_label = NO_LABEL;
	state->latest_status = RUN_NONE;
	state->latest_attempt = 0;
	state->latest_finished_at = NO_LABEL;
	state->sla_known = false;
	state->sla_open = false;
}

/*
 * The latest run and latest success of each view in the array $1, one row
 * per view that has run: (its 1-based place in $1, last success's label,
 * latest run's label, status, attempt, finished_at).
 *
 * One index probe per view for its latest run; a second one, for its latest
 * success, only when the latest run is not a success (a success of the
 * latest label is the latest success).  A row's labels run from time_label
 * to last_time_label, and the rows of a view never overlap (a skipped label
 * extends the view's latest row only), so ordering by time_label orders by
 * the last label too, and uses the index.
 */
static char *
latest_runs_query(void)
{
	const char *last_label = SCHEDULE_LAST_LABEL(schedule_history_collapses(), "r");

	return psprintf("SELECT m.ord::pg_catalog.int4, "
					"       CASE WHEN l.status OPERATOR(pg_catalog.=) ANY ('{succeeded,skipped}'::pg_catalog.text[]) "
					"            THEN l.time_label "
					"       ELSE (SELECT %s FROM pipeline.runs r "
					"              WHERE r.matview OPERATOR(pg_catalog.=) m.oid::pg_catalog.regclass "
					"                AND r.status OPERATOR(pg_catalog.=) ANY ('{succeeded,skipped}'::pg_catalog.text[]) "
					"              ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1) END, "
					"       l.time_label, l.status, l.attempt, l.finished_at "
					"  FROM pg_catalog.unnest($1) WITH ORDINALITY m(oid, ord) "
					"  JOIN LATERAL (SELECT %s AS time_label, r.status, r.attempt, r.finished_at "
					"                  FROM pipeline.runs r "
					"                 WHERE r.matview OPERATOR(pg_catalog.=) m.oid::pg_catalog.regclass "
					"                 ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1) l ON true",
					last_label, last_label);
}

/*
 * Loads the state of the count views of dag at indexes (every view when
 * indexes is NULL) into states.
 */
static void
load_states(Dag *dag, ViewState *states, const int *indexes, int count)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "pipeline schedule_load_state",
											   ALLOCSET_DEFAULT_SIZES);
	Datum		values[1];
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum	   *oids;
	SpiRows    *rows;

	/* only the states stay: the scheduler keeps them across ticks */
	MemoryContextSwitchTo(work);
	oids = palloc(sizeof(Datum) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		int			index = indexes ? indexes[i] : i;

		state_init(&states[index]);
		oids[i] = ObjectIdGetDatum(dag->nodes[index].relid);
	}
	values[0] = PointerGetDatum(construct_array(oids, count, OIDOID,
												sizeof(Oid), true, TYPALIGN_INT));

	/*
	 * As the catalog owner: row-level security shows a caller of run_due only
	 * the runs of views it may see, but its views wait for everyone's
	 * upstream views.
	 */
	rows = spi_rows(catalog_owner(), latest_runs_query(), 1, argtypes, values, NULL,
					false, -1);
	for (uint64 row = 0; row < rows->count; row++)
	{
		bool		isnull;
		int			place = DatumGetInt32(spi_rows_value(rows, row, 0, &isnull)) - 1;
		ViewState  *state = &states[indexes ? indexes[place] : place];
		Datum		d;

		d = spi_rows_value(rows, row, 1, &isnull);
		if (!isnull)
			state->last_success_label = DatumGetTimestampTz(d);
		state->latest_label = DatumGetTimestampTz(spi_rows_value(rows, row, 2, &isnull));
		state->latest_status = run_status_from_name(spi_rows_text(rows, row, 3));
		state->latest_attempt = DatumGetInt32(spi_rows_value(rows, row, 4, &isnull));
		d = spi_rows_value(rows, row, 5, &isnull);
		if (!isnull)
			state->latest_finished_at = DatumGetTimestampTz(d);
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
}

ViewState *
schedule_load_state(Dag *dag)
{
	ViewState  *states = palloc(sizeof(ViewState) * Max(dag->count, 1));

	load_states(dag, states, NULL, dag->count);
	return states;
}

void
schedule_reload_states(Dag *dag, ViewState *states, const int *indexes, int count)
{
	if (count > 0)
		load_states(dag, states, indexes, count);
}

/* When the failed latest attempt may be retried by the wall clock */
static TimestampTz
retry_time(const ViewState *state, int retry_backoff_s)
{
	int			shift = Min(state->latest_attempt - 1, 20);

	return state->latest_finished_at + (((int64) retry_backoff_s * USECS_PER_SEC) << shift);
}

/*
 * Whether the failed latest attempt of label may be retried now (see
 * schedule_decide() in schedule.h).  The backoff doubles per attempt; the
 * shift is capped to stay in range.
 */
static bool
schedule_retry_ready(const ViewState *state, TimestampTz label,
					 TimestampTz as_of, TimestampTz now, int retry_backoff_s)
{
	int			shift = Min(state->latest_attempt - 1, 20);
	int64		backoff_us = (int64) retry_backoff_s * USECS_PER_SEC;

	if (now == SCHEDULE_RETRY_ON_AS_OF)
		return as_of >= label + ((backoff_us << (shift + 1)) - backoff_us);
	return now >= retry_time(state, retry_backoff_s);
}

Verdict
schedule_decide(Dag *dag, ViewState *states, int index, TimestampTz as_of,
				TimestampTz now, int max_attempts, int retry_backoff_s)
{
	DagNode    *node = &dag->nodes[index];
	ViewState  *state = &states[index];
	Verdict		verdict;
	ListCell   *lc;

	verdict.label = time_label_of(node->interval_us, as_of);
	verdict.attempt = 1;
	verdict.blocking_upstream = -1;

	if (state->last_success_label != NO_LABEL &&
		state->last_success_label >= verdict.label)
	{
		verdict.decision = DECIDE_UP_TO_DATE;
		return verdict;
	}
	if (state->latest_status == RUN_RUNNING)
	{
		verdict.decision = DECIDE_RUNNING;
		return verdict;
	}

	/*
	 * The latest label every upstream has succeeded for (API.md section 2: a
	 * view several labels behind runs its latest due label): the label of
	 * as_of, or an earlier one of this view's labels while an upstream is
	 * behind, so that a view whose upstream finishes each label after the
	 * next began (a refresh longer than the interval, a busy pool) runs at
	 * its upstream's pace instead of never.  Each upstream's last success
	 * serves the labels before the next label of the upstream's interval (the
	 * success taken to its own label first: it may be a label of the interval
	 * before a redefinition); the earliest of those wins, always before the
	 * label of as_of.
	 */
	foreach(lc, node->upstream)
	{
		int			up = lfirst_int(lc);
		int64		up_interval = dag->nodes[up].interval_us;
		TimestampTz succeeded = states[up].last_success_label;
		TimestampTz served;

		if (succeeded == NO_LABEL)
		{
			verdict.decision = DECIDE_BLOCKED;
			verdict.blocking_upstream = up;
			return verdict;
		}
		if (succeeded >= time_label_of(up_interval, verdict.label))
			continue;
		served = time_label_of(node->interval_us,
							   time_label_of(up_interval, succeeded) + up_interval - 1);
		if (served < verdict.label)
		{
			verdict.label = served;
			verdict.blocking_upstream = up;
		}
	}
	if (verdict.blocking_upstream >= 0)
	{
		if (state->last_success_label != NO_LABEL &&
			state->last_success_label >= verdict.label)
		{
			verdict.decision = DECIDE_BLOCKED;
			return verdict;
		}
		verdict.blocking_upstream = -1;
	}

	/*
	 * A run for a later label of this interval (run_due() as of a later time,
	 * or the clock stepped back) failed: this older label is behind it and is
	 * not run; claiming it again would find its row and draw nothing but a
	 * run id.  (A label of another interval, before the view was redefined
	 * with this one, holds nothing back.)
	 */
	if (state->latest_status == RUN_FAILED && state->latest_label > verdict.label &&
		time_label_of(node->interval_us, state->latest_label) == state->latest_label)
	{
		verdict.decision = DECIDE_GAVE_UP;
		return verdict;
	}
	if (state->latest_status == RUN_FAILED && state->latest_label == verdict.label)
	{
		if (state->latest_attempt >= max_attempts)
		{
			verdict.decision = DECIDE_GAVE_UP;
			return verdict;
		}
		if (!schedule_retry_ready(state, verdict.label, as_of, now, retry_backoff_s))
		{
			verdict.decision = DECIDE_RETRY_LATER;
			return verdict;
		}
		verdict.attempt = state->latest_attempt + 1;
	}
	verdict.decision = DECIDE_DUE;
	return verdict;
}

TimestampTz
schedule_next_by_clock(Dag *dag, ViewState *states, int index, TimestampTz now,
					   int max_attempts, int retry_backoff_s)
{
	DagNode    *node = &dag->nodes[index];
	ViewState  *state = &states[index];
	TimestampTz next = time_label_of(node->interval_us, now) + node->interval_us;

	if (state->latest_status == RUN_FAILED && state->latest_attempt < max_attempts)
	{
		TimestampTz retry = retry_time(state, retry_backoff_s);

		if (retry > now)
			next = Min(next, retry);
	}
	return next;
}

PG_FUNCTION_INFO_V1(pipeline_time_label);

/* time_label(refresh_interval interval, at timestamptz) RETURNS timestamptz */
Datum
pipeline_time_label(PG_FUNCTION_ARGS)
{
	Interval   *interval = PG_GETARG_INTERVAL_P(0);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
	int64		interval_us = interval_usecs(interval);

	if (interval_us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh interval must be positive")));
	if (TIMESTAMP_NOT_FINITE(at))
		PG_RETURN_TIMESTAMPTZ(at);
	PG_RETURN_TIMESTAMPTZ(time_label_of(interval_us, at));
}

/* see schedule_runs_writes_reported() */
static bool runs_writes_reported = false;

/* see schedule_set_changed_wake() */
static void (*changed_wake) (Oid dboid) = NULL;

void
schedule_set_changed_wake(void (*wake) (Oid dboid))
{
	changed_wake = wake;
}

void
schedule_runs_writes_reported(void)
{
	runs_writes_reported = true;
}

PG_FUNCTION_INFO_V1(pipeline_schedule_changed);

/*
 * Statement trigger on pipeline.matview_definitions, edges and runs: queues
 * a relcache invalidation of the table, which other backends receive only
 * once this transaction commits.  The background scheduler keeps the DAG
 * and the run state across ticks and reloads them on it; it learns of the
 * runs written by itself and its refresh workers otherwise
 * (schedule_runs_writes_reported).  Once per table and (sub)transaction is
 * enough: a subtransaction's invalidations are
 * dropped only if it aborts, and then the next write queues one again.
 */
Datum
pipeline_schedule_changed(PG_FUNCTION_ARGS)
{
	static struct
	{
		Oid			relid;
		LocalTransactionId lxid;
		SubTransactionId subxid;
	}			queued[3];
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid;
	int			slot;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pipeline.schedule_changed() must be called as a trigger");
	relid = RelationGetRelid(trigdata->tg_relation);
	if (runs_writes_reported &&
		strcmp(RelationGetRelationName(trigdata->tg_relation), "runs") == 0)
		return PointerGetDatum(NULL);
	for (slot = 0; slot < (int) lengthof(queued); slot++)
		if (queued[slot].relid == relid || !OidIsValid(queued[slot].relid))
			break;
	if (slot == lengthof(queued))
		slot = 0;				/* tables of a dropped extension: reuse */
	if (queued[slot].relid == relid && queued[slot].lxid == MyProc->lxid &&
		queued[slot].subxid == GetCurrentSubTransactionId())
		return PointerGetDatum(NULL);
	CacheInvalidateRelcache(trigdata->tg_relation);
	if (changed_wake != NULL)
		at_commit_call(changed_wake, MyDatabaseId);
	queued[slot].relid = relid;
	queued[slot].lxid = MyProc->lxid;
	queued[slot].subxid = GetCurrentSubTransactionId();
	return PointerGetDatum(NULL);
}
