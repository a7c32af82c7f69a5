/*-------------------------------------------------------------------------
 * launcher.h
 *	  The postmaster-started launcher, which keeps a scheduler running in
 *	  every database, and the shared registry of pipeline's processes.
 *
 * The registry has a slot for every backend (MaxBackends), so it cannot
 * run out: each process holds at most one.  Besides the schedulers and
 * refresh workers, a session running DROP EXTENSION pipeline holds one for
 * the rest of its transaction, which tells that database's pipeline
 * processes to stand aside (see launcher_extension_drop_begin).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LAUNCHER_H
#define PIPELINE_LAUNCHER_H

#include "postmaster/bgworker.h"

/* What a registered process is. */
typedef enum PipelineProcessKind
{
	PROCESS_SCHEDULER,
	PROCESS_REFRESH,
	PROCESS_EXTENSION_DROP		/* a session dropping the extension */
} PipelineProcessKind;

/* Registers the launcher and shared memory; only while preloading. */
extern void launcher_register(void);

/*
 * Adds this scheduler or refresh worker to the registry until it exits.
 * Returns false, registering nothing, when DROP DATABASE of dboid is under
 * way, or (for a refresh worker) DROP EXTENSION pipeline in dboid: the
 * caller should leave quietly.  The check and the registration are one
 * step, so a drop that begins later finds this process and signals it.
 */
extern bool launcher_register_process(Oid dboid, PipelineProcessKind kind);

/*
 * Is a DROP EXTENSION pipeline under way (not yet committed or rolled back)
 * in dboid?  False without shared memory (library not preloaded).
 */
extern bool launcher_extension_dropping(Oid dboid);

/*
 * Before DROP DATABASE: asks the pipeline processes of database dboid to
 * leave (they would never leave by themselves, and DROP DATABASE waits only
 * a few seconds) and keeps the launcher from starting new ones while the
 * drop is under way.  Does nothing unless the library was preloaded.
 */
extern void launcher_stop_database_workers(Oid dboid);

/*
 * Called when DROP EXTENSION pipeline starts, in its transaction: marks the
 * current database as dropping until the transaction ends, cancels the
 * database's refresh workers (SIGINT, as pg_cancel_backend) and wakes its
 * scheduler, so that the drop does not wait for a refresh and nothing reads
 * the catalog tables as they go.  Signals are sent after the registry's
 * lock is released.
 */
extern void launcher_extension_drop_begin(void);

/* Sets the latch of the scheduler of dboid (if any) and the launcher's. */
extern void launcher_wake(Oid dboid);

/*
 * Starts a dynamic worker of this library; false if no slot was free.  The
 * first failure is logged (WARNING, with a hint to raise
 * max_worker_processes); later ones are not, until a start succeeds again.
 * The memory is cluster-wide, so one shortage is one log line.
 */
extern bool launcher_start_worker(const char *function, const char *type,
								  Datum main_arg, const void *extra,
								  Size extra_size, BackgroundWorkerHandle **handle);

/* Is dbname among pipeline.databases (or is that setting empty)? */
extern bool launcher_database_allowed(const char *dbname);

#endif
