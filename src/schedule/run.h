/*-------------------------------------------------------------------------
 * run.h
 *	  The life of one run: a refresh of one view for one time label,
 *	  recorded in pipeline.runs.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_RUN_H
#define PIPELINE_RUN_H

#include "datatype/timestamp.h"

#include "schedule/schedule.h"

/*
 * First in a run's transaction, before run_claim() and before anything
 * locks the view (a worker, whose claim was its own transaction, has
 * run_perform() do it, with view_unlocked): adds
 * missing tracking triggers to its sources and takes the lock change
 * capture will take on sources it starts capturing, waiting for their
 * writers (change_tracking_install_triggers(),
 * refresh_lock_sources()).  An error is left for the run
 * to meet and record; a cancel is raised.
 */
extern void run_prepare(Oid relid);

/*
 * Claims the run of a view for a label and attempt: records it as 'running'
 * and returns its run_id, or returns 0 when the view no longer exists or a
 * run with that label and attempt is already recorded (by its own row, or
 * inside a row of collapsed skipped labels), so that no two
 * sessions (run_due() callers, refresh workers) run a view twice for one
 * label.  Takes ShareUpdateExclusiveLock on the view, to the end of the
 * transaction when it claims (it waits for a refresh, redefinition or drop
 * in progress; readers are not blocked); a concurrent claimer of the same
 * run waits for it and then finds its row (unique on matview, time_label,
 * attempt).  Needs a transaction.
 */
extern int64 run_claim(Oid relid, TimestampTz label, int attempt);

/*
 * Performs the run in a subtransaction: skipped when no upstream changed
 * since the view's last success, else refreshed (as the view's owner) and
 * its after-refresh hook called.  Records the outcome in the run row and
 * returns it; a failure is caught, recorded, logged at LOG and returned,
 * never raised.  A skipped run whose previous row is skipped too extends
 * that row and deletes its own (so run_id is gone); a run that keeps its
 * row trims the view's history to pipeline.run_history_per_view rows.
 * With view_unlocked (a worker's run, claimed in a transaction of its
 * own), it first does run_prepare()'s work, inside the run: its failure or
 * cancel is the run's.  A timeout_ms above 0 bounds the refresh as a
 * statement timeout would (a worker's run, by the owner's
 * statement_timeout).  A lock the run gave up (a refresh worker's bounded
 * waits, lock_tries_bound_waits()) is no failure: the run's row is deleted,
 * as if it was never claimed, and RUN_NONE returned.  Needs a transaction;
 * leaves the caller's memory context and resource owner as they were.
 */
extern RunStatus run_perform(int64 run_id, Oid relid, TimestampTz label, bool view_unlocked,
							 int timeout_ms);

/*
 * For the scheduler: when the view's upstreams did not change since its
 * last success, claims the run and records it skipped, in the caller's
 * transaction and without a worker, and returns true.  False, with nothing
 * recorded, when they changed (or the check had to install tracking
 * triggers), when the run was claimed by someone else, or when a refresh,
 * redefinition or drop holds the view: a worker then decides.  One
 * snapshot for the check and the saved state, as a worker's run.  Raises
 * on errors: call it in a subtransaction.  after_failure: the view's
 * latest run failed, so the skip ends its failure incident (alerts.h).
 */
extern bool run_skip_if_unchanged(Oid relid, TimestampTz label, int attempt,
								  bool after_failure);

/*
 * Marks runs left 'running' by processes that no longer exist as failed,
 * and logs each at LOG.
 */
extern void run_fail_orphans(void);

/*
 * Deletes history past pipeline.run_retention or, per view, beyond
 * pipeline.run_history_per_view rows (never a view's latest success), and
 * spent change records.
 */
extern void run_prune_history(void);

#endif
