/*-------------------------------------------------------------------------
 * refresh_worker.h
 *	  The refresh worker: a dynamic background worker that performs the
 *	  runs its scheduler queues (launcher.h), one after another, until
 *	  idle for pipeline.worker_idle_timeout.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REFRESH_WORKER_H
#define PIPELINE_REFRESH_WORKER_H

#include "bgw/launcher.h"

/*
 * Starts a refresh worker of database dboid's pool; false when no
 * background worker slot is free (launcher_start_worker() logs that).
 * *handle is allocated in the current memory context, which must outlive
 * the worker.
 */
extern bool refresh_worker_start(Oid dboid, BackgroundWorkerHandle **handle);

/*
 * The worker's entry point (bgw_function_name "pipeline_refresh_main"):
 * claims each job's run, performs it and wakes the scheduler.
 */
PGDLLEXPORT void pipeline_refresh_main(Datum main_arg);

#endif
