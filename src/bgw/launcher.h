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
#include "storage/lockdefs.h"

/*
 * What a refresh worker is asked to do: a run of one view for one label,
 * through its scheduler's run queue, by value.
 */
typedef struct RefreshJob
{
	Oid			dboid;
	Oid			relid;
	TimestampTz label;
	int			attempt;
	Oid			owner;			/* whose code the run runs: the view's owner */
	int			hand_backs;		/* times in a row its view was handed back or
								 * held: the worker waits the longer for a
								 * lock (lock_tries_bound_waits()) */
} RefreshJob;

/*
 * Whether a refresh worker gave its job back unrun (its view stayed
 * locked), and where: at the claim (the view's refresh lock, its
 * upstreams'), or in the run, with the lock it gave up (one the refresh
 * needs beyond those: a full refresh's swap, which readers hold back too,
 * the stage a mirror empties, which its writers hold back): relid in mode,
 * relid InvalidOid when it was none of a relation.
 */
typedef enum HandBackKind
{
	HAND_BACK_NONE,
	HAND_BACK_AT_CLAIM,
	HAND_BACK_IN_RUN
} HandBackKind;

typedef struct HandBack
{
	HandBackKind kind;
	Oid			relid;
	LOCKMODE	mode;
} HandBack;

/* What a registered process is. */
typedef enum PipelineProcessKind
{
	PROCESS_SCHEDULER,
	PROCESS_REFRESH,
	PROCESS_ALERT_SENDER,		/* stopped by drops as a refresh worker is,
								 * but takes no jobs; one per database */
	PROCESS_EXTENSION_DROP		/* a session dropping the extension */
} PipelineProcessKind;

/* Registers the launcher and shared memory; only while preloading. */
extern void launcher_register(void);

/*
 * Adds this scheduler, refresh worker or alert sender to the registry until
 * it exits.  Returns false, registering nothing, when DROP DATABASE of dboid
 * is under way, or (but for a scheduler) DROP EXTENSION pipeline in dboid,
 * or (for a scheduler or an alert sender) when dboid has one already (a
 * launcher restarted since it started cannot tell): the caller should
 * leave quietly.  The check and the registration are one
 * step, so a drop that begins later finds this process and signals it.
 */
extern bool launcher_register_process(Oid dboid, PipelineProcessKind kind);

/*
 * The refresh pool.  Each scheduler has a run queue in shared memory: the
 * jobs it dispatched and has not collected yet, at most
 * LAUNCHER_QUEUE_SIZE (four per worker of the largest pipeline.max_workers).  The
 * refresh workers of its database take the oldest waiting job whenever
 * they are free, so a worker goes from one run to the next without waiting
 * for the scheduler, and a job never waits behind one long run while
 * another worker is free.  A job is done once its worker says so, and lost
 * once that worker is gone before.
 */
#define LAUNCHER_QUEUE_SIZE 256

/* Which queued job a worker took (launcher_take_job). */
typedef struct JobTicket
{
	int			queue;
	pid_t		scheduler;
	int			entry;
	uint64		seq;
} JobTicket;

/*
 * The scheduler's side.  launcher_queue_job() adds a waiting job to this
 * scheduler's queue: returns its entry (0 .. LAUNCHER_QUEUE_SIZE - 1), or
 * -1 when the queue is full.  launcher_queue_relabel() gives a job no worker
 * has taken yet a later label and its attempt (false once taken).
 * launcher_queue_collect() frees the entries
 * whose job is done or lost and returns how many, with their entries in
 * done[], in lost[] whether each was lost and in hand_back[] whether and
 * where its worker gave it back unrun (arrays of LAUNCHER_QUEUE_SIZE).  launcher_pool_counts() says how many refresh
 * workers of dboid are idle and how many of this scheduler's jobs wait;
 * launcher_wake_idle_workers() sets the latches of up to count idle ones.
 */
extern int	launcher_queue_job(const RefreshJob *job);
extern bool launcher_queue_relabel(int entry, TimestampTz label, int attempt);
extern int	launcher_queue_collect(int *done, bool *lost, HandBack *hand_back);
extern void launcher_pool_counts(Oid dboid, int *idle, int *waiting);

/*
 * Whether a job of this database waits that no idle refresh worker may
 * take: other views wait for this worker (a refresh worker's long lock
 * waits end then: lock_tries_bound_waits()).
 */
extern bool launcher_jobs_wait(void);
extern void launcher_wake_idle_workers(Oid dboid, int count);

/*
 * The refresh worker's side.  A worker runs one owner's code only: the
 * owner of its first job (PL/pgSQL keeps what a function's first call in a
 * session resolved, util/plpgsql_paths.h).  launcher_take_job() takes the
 * oldest job waiting in the queue of dboid's scheduler if this worker may
 * take it (false otherwise, or if none), and marks this worker busy; it
 * takes none while max_busy other workers of dboid are busy, and then sets
 * *too_many (pipeline.max_workers was lowered: this worker should go);
 * launcher_job_finished() marks it done (hand_back: given back unrun)
 * and this worker idle.
 * launcher_leave_if_idle() marks this worker leaving unless a job it may
 * take waits: true when it may exit (it takes no job any more), false
 * when it should take one.  It leaves when timed_out and no job waits, and
 * at once when the oldest job waiting is another owner's and no idle worker
 * may take it, so that a worker for that one starts in its place and no
 * view waits behind younger runs.
 */
extern bool launcher_take_job(Oid dboid, int max_busy, RefreshJob *job, JobTicket *ticket,
							  bool *too_many);
extern void launcher_job_finished(const JobTicket *ticket, const HandBack *hand_back);
extern bool launcher_leave_if_idle(Oid dboid, bool timed_out);

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

/* Sets the latch of the scheduler of dboid (if any) only. */
extern void launcher_wake_scheduler(Oid dboid);

/*
 * A database without the extension gets no resident scheduler.  Its
 * scheduler reads launcher_extension_creations() before it looks for the
 * extension and, finding none, reports that count with
 * launcher_report_no_extension() and exits; the launcher starts it again
 * once a CREATE EXTENSION pipeline has committed in that database after
 * the count was read: the utility hook calls launcher_extension_created()
 * for it (checked: the commit counts only if the extension is there then;
 * not for COMMIT PREPARED, which cannot tell).
 */
extern uint64 launcher_extension_creations(void);
extern void launcher_report_no_extension(uint64 creations_seen);
extern void launcher_extension_created(bool checked);

/* Sets the launcher's latch when this transaction commits: a new database */
extern void launcher_database_created(void);

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

/*
 * The name of this process's database dboid, for launcher_database_allowed()
 * in its loop: read in a transaction of its own, kept for the process's life.
 */
extern char *launcher_database_name(Oid dboid);

#endif
