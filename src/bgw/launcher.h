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

#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"

/*
 * What a refresh worker is asked to do: a run of one view for one label.
 * The first job of a worker comes in bgw_extra, the later ones through its
 * registry slot (launcher_give_job); always by value, never a pointer.
 */
typedef struct RefreshJob
{
	Oid			dboid;
	Oid			relid;
	TimestampTz label;
	int			attempt;
} RefreshJob;

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
 * The refresh pool.  A refresh worker registers busy with its first job
 * (ticket 1); when a job is done it says so and waits, idle, for the next
 * one its scheduler puts in its slot.  Tickets count the jobs given to a
 * worker, so the scheduler can tell that the job it gave is done even if
 * the worker has taken another since.
 */

/* The refresh worker's side: its job is done, it is idle. */
extern void launcher_job_finished(void);

/* Takes the job given to this idle worker, if one was; false if none. */
extern bool launcher_take_job(RefreshJob *job);

/*
 * Leaves the pool if no job was given meanwhile: true when this worker may
 * exit (no job will be given to it any more), false when it has a job to
 * take.
 */
extern bool launcher_leave_if_idle(void);

/*
 * The scheduler's side: gives job to the idle refresh worker pid and sets
 * its latch.  False when that worker is not idle in the pool (it is busy,
 * leaving, or gone); else *ticket is the job's ticket.
 */
extern bool launcher_give_job(pid_t pid, const RefreshJob *job, uint64 *ticket);

/*
 * Has the refresh worker pid finished the job with this ticket?  False too
 * while it has not registered yet, or when it is gone (the caller learns
 * that from the worker's handle).
 */
extern bool launcher_job_done(pid_t pid, uint64 ticket);

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
