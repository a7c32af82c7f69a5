/*-------------------------------------------------------------------------
 * refresh_worker.h
 *	  The refresh worker: a dynamic background worker that performs one
 *	  run the scheduler found due, then exits.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REFRESH_WORKER_H
#define PIPELINE_REFRESH_WORKER_H

#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"

/* What a refresh worker is asked to do; passed by value in bgw_extra. */
typedef struct RefreshJob
{
	Oid			dboid;
	Oid			relid;
	TimestampTz label;
	int			attempt;
} RefreshJob;

/*
 * Starts a refresh worker for job; false when no background worker slot
 * is free (launcher_start_worker() logs that).  *handle is allocated in
 * the current memory context, which must outlive the worker.
 */
extern bool refresh_worker_start(const RefreshJob *job, BackgroundWorkerHandle **handle);

/*
 * The worker's entry point (bgw_function_name "pipeline_refresh_main"):
 * claims the job's run, performs it and wakes the scheduler.
 */
PGDLLEXPORT void pipeline_refresh_main(Datum main_arg);

#endif
