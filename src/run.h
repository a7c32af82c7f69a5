/*-------------------------------------------------------------------------
 * run.h
 *	  The life of one run: a refresh of one view for one time label,
 *	  recorded in pipeline.runs.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_RUN_H
#define PIPELINE_RUN_H

#include "datatype/timestamp.h"

#include "schedule.h"

/* Records a 'running' run and returns its run_id.  Needs a transaction. */
extern int64 run_start(Oid relid, TimestampTz label, int attempt);

/*
 * Performs the run in a subtransaction: skipped when no upstream changed
 * since the view's last success, else refreshed (as the view's owner) and
 * its after-refresh hook called.  Records the outcome in the run row and
 * returns it; a failure is caught, recorded and returned, never raised.
 * Needs a transaction; leaves the caller's memory context and resource
 * owner as they were.
 */
extern RunStatus run_perform(int64 run_id, Oid relid, TimestampTz label);

/* Marks runs left 'running' by processes that no longer exist as failed. */
extern void run_fail_orphans(void);

/* Deletes history past pipeline.run_retention and spent change records. */
extern void run_prune_history(void);

#endif
