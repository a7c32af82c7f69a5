/*-------------------------------------------------------------------------
 * launcher.c
 *	  The launcher: one static background worker that starts a scheduler
 *	  for every database (each scheduler idles where the extension is not
 *	  installed), plus the shared registry of pipeline processes, which
 *	  lets DROP DATABASE send them away first and DROP EXTENSION cancel
 *	  the refreshes.
 *
 * Nothing here can fill up: the launcher's databases are a hash table
 * pruned to its last scan of pg_database, and the registry has a slot per
 * backend.  Its spinlock is held only to read or write slots; processes are
 * signalled after it is released.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "bgw/launcher.h"
#include "util/at_commit.h"
#include "util/settings.h"
#include "io/unload.h"

/* wait before restarting a scheduler that exited */
#define SCHEDULER_RESTART_MS 5000

/* the longest the launcher waits between two passes over pg_database */
#define LAUNCHER_SCAN_MS 10000

/*
 * A database without the extension has no scheduler: it costs a worker
 * slot (max_worker_processes is shared with everything else) for nothing.
 * Its scheduler leaves at once and says so; it is started again when a
 * CREATE EXTENSION pipeline commits there, or after this long (plus up to
 * a minute, so that databases that reported together do not all start
 * again together) in case that was missed.
 */
#define NO_EXTENSION_RECHECK_MS (10 * 60 * 1000)
#define DATABASE_EVENTS 64

/*
 * A registered process.  Besides schedulers, refresh workers and alert
 * senders (which drops stop as they stop refresh workers, but which take
 * no jobs and are not counted in the pool), a session
 * that runs DROP DATABASE or DROP EXTENSION pipeline holds a slot until its
 * transaction ends (drop_in_progress), so the launcher and the schedulers
 * know to stand aside for exactly as long as the drop is under way.
 */
typedef enum SlotKind
{
	SLOT_FREE = 0,
	SLOT_SCHEDULER,
	SLOT_REFRESH,
	SLOT_ALERT_SENDER,
	SLOT_EXTENSION_DROP,
	SLOT_DATABASE_DROP
} SlotKind;

/* Where a refresh worker is in the pool (launcher.h). */
typedef enum WorkerState
{
	WORKER_BUSY,				/* performing a job */
	WORKER_IDLE,				/* waiting for one */
	WORKER_LEAVING				/* exiting: takes none any more */
} WorkerState;

typedef struct ProcessSlot
{
	SlotKind	kind;
	Oid			dboid;
	pid_t		pid;
	Latch	   *latch;
	WorkerState worker_state;	/* of a refresh worker */
	Oid			owner;			/* the owner whose jobs a refresh worker
								 * takes; InvalidOid before its first */
	int			queue;			/* a scheduler's run queue, or -1 */
} ProcessSlot;

/*
 * A scheduler's run queue: the jobs it has dispatched and not yet
 * collected.  Workers take the oldest waiting one; a taken job is done
 * once its worker says so, or lost once that worker is gone.
 */
typedef enum QueuedState
{
	QUEUED_FREE = 0,
	QUEUED_WAITING,
	QUEUED_TAKEN,
	QUEUED_DONE
} QueuedState;

typedef struct QueuedJob
{
	QueuedState state;
	uint64		seq;			/* order of queueing */
	pid_t		worker;			/* who took it */
	HandBack	hand_back;		/* done: given back unrun */
	RefreshJob	job;
} QueuedJob;

typedef struct RunQueue
{
	pid_t		scheduler;		/* 0: free */
	Oid			dboid;
	uint64		next_seq;
	QueuedJob	jobs[LAUNCHER_QUEUE_SIZE];
} RunQueue;

/*
 * What the launcher learns of a database between two of its passes: its
 * scheduler left since the database has no extension (count: the
 * creations it had read before it looked), or a CREATE EXTENSION pipeline
 * committed there (count: the creations with it).
 */
typedef enum DatabaseEventKind
{
	EVENT_NONE = 0,
	EVENT_NO_EXTENSION,
	EVENT_EXTENSION_CREATED
} DatabaseEventKind;

typedef struct DatabaseEvent
{
	DatabaseEventKind kind;
	Oid			dboid;
	uint64		count;
} DatabaseEvent;

typedef struct SharedState
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	bool		out_of_slots_logged;	/* a failed worker start was logged */
	uint64		extension_creations;	/* CREATE EXTENSION pipeline commits */
	/* a ring the launcher empties at each pass; the oldest is overwritten */
	DatabaseEvent events[DATABASE_EVENTS];
	int			next_event;
	bool		events_lost;	/* one was overwritten before it was read */
	int			nslots;
	ProcessSlot slots[FLEXIBLE_ARRAY_MEMBER];	/* MaxBackends of them */
} SharedState;

static SharedState *shared = NULL;

/* one per possible scheduler: each is a background worker */
static RunQueue *queues = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static int	my_slot = -1;
static bool exit_callback_registered = false;
static bool xact_callback_registered = false;

PGDLLEXPORT void pipeline_launcher_main(Datum main_arg);

static Size
shared_size(void)
{
	return add_size(offsetof(SharedState, slots),
					mul_size(MaxBackends, sizeof(ProcessSlot)));
}

static Size
queues_size(void)
{
	return mul_size(max_worker_processes, sizeof(RunQueue));
}

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	/* MaxBackends is known by now (PostgreSQL 15 computes it first) */
	RequestAddinShmemSpace(add_size(MAXALIGN(shared_size()), MAXALIGN(queues_size())));
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pipeline", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		SpinLockInit(&shared->mutex);
		shared->nslots = MaxBackends;
	}
	queues = ShmemInitStruct("pipeline run queues", queues_size(), &found);
	if (!found)
		memset(queues, 0, queues_size());
	LWLockRelease(AddinShmemInitLock);
}

static void
release_my_slot(void)
{
	if (shared == NULL || my_slot < 0)
		return;
	SpinLockAcquire(&shared->mutex);
	if (shared->slots[my_slot].queue >= 0)
		queues[shared->slots[my_slot].queue].scheduler = 0;
	shared->slots[my_slot].kind = SLOT_FREE;
	shared->slots[my_slot].dboid = InvalidOid;
	shared->slots[my_slot].latch = NULL;
	SpinLockRelease(&shared->mutex);
	my_slot = -1;
}

static void
unregister_process(int code, Datum arg)
{
	release_my_slot();
}

/* A drop's slot lasts as long as its transaction. */
static void
drop_xact_callback(XactEvent event, void *arg)
{
	SlotKind	kind;

	if (shared == NULL || my_slot < 0)
		return;
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE && event != XACT_EVENT_PARALLEL_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT)
		return;
	SpinLockAcquire(&shared->mutex);
	kind = shared->slots[my_slot].kind;
	SpinLockRelease(&shared->mutex);
	if (kind == SLOT_EXTENSION_DROP || kind == SLOT_DATABASE_DROP)
		release_my_slot();
}

/*
 * Gives the scheduler registering in slot an empty run queue; the caller
 * holds the mutex.  There is one per background worker, so one is free.
 */
static void
take_queue(ProcessSlot *slot, Oid dboid)
{
	for (int q = 0; q < max_worker_processes; q++)
	{
		if (queues[q].scheduler == 0)
		{
			memset(&queues[q], 0, sizeof(RunQueue));
			queues[q].scheduler = MyProcPid;
			queues[q].dboid = dboid;
			slot->queue = q;
			return;
		}
	}
}

/*
 * Takes a free slot for this process; the caller holds the mutex.  There is
 * one per backend, so one is always free for a process that holds none.
 */
static bool
take_slot(SlotKind kind, Oid dboid)
{
	for (int i = 0; i < shared->nslots; i++)
	{
		if (shared->slots[i].kind == SLOT_FREE)
		{
			shared->slots[i].kind = kind;
			shared->slots[i].dboid = dboid;
			shared->slots[i].pid = MyProcPid;
			shared->slots[i].latch = MyLatch;
			shared->slots[i].worker_state = WORKER_IDLE;
			shared->slots[i].owner = InvalidOid;
			shared->slots[i].queue = -1;
			my_slot = i;
			if (kind == SLOT_SCHEDULER)
				take_queue(&shared->slots[i], dboid);
			return true;
		}
	}
	return false;
}

/* Is a slot of this kind held for dboid?  The caller holds the mutex. */
static bool
slot_held(SlotKind kind, Oid dboid)
{
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].kind == kind && shared->slots[i].dboid == dboid)
			return true;
	return false;
}

bool
launcher_register_process(Oid dboid, PipelineProcessKind kind)
{
	bool		refused;

	if (shared == NULL)
		return true;
	if (!exit_callback_registered)
	{
		on_shmem_exit(unregister_process, (Datum) 0);
		exit_callback_registered = true;
	}
	SpinLockAcquire(&shared->mutex);

	/*
	 * one scheduler and one alert sender a database: a launcher restarted
	 * since the first started knows nothing of it
	 */
	refused = slot_held(SLOT_DATABASE_DROP, dboid) ||
		(kind != PROCESS_SCHEDULER && slot_held(SLOT_EXTENSION_DROP, dboid)) ||
		(kind == PROCESS_SCHEDULER && slot_held(SLOT_SCHEDULER, dboid)) ||
		(kind == PROCESS_ALERT_SENDER && slot_held(SLOT_ALERT_SENDER, dboid));
	if (!refused && my_slot < 0)
		(void) take_slot(kind == PROCESS_SCHEDULER ? SLOT_SCHEDULER :
						 kind == PROCESS_ALERT_SENDER ? SLOT_ALERT_SENDER : SLOT_REFRESH, dboid);
	SpinLockRelease(&shared->mutex);
	return !refused;
}

/* The run queue of dboid's scheduler, or NULL; the caller holds the mutex. */
static RunQueue *
queue_of(Oid dboid)
{
	for (int q = 0; q < max_worker_processes; q++)
		if (queues[q].scheduler != 0 && queues[q].dboid == dboid)
			return &queues[q];
	return NULL;
}

/* The oldest waiting job of queue, or NULL; the caller holds the mutex. */
static QueuedJob *
oldest_waiting(RunQueue *queue)
{
	QueuedJob  *oldest = NULL;

	if (queue == NULL)
		return NULL;
	for (int e = 0; e < LAUNCHER_QUEUE_SIZE; e++)
		if (queue->jobs[e].state == QUEUED_WAITING &&
			(oldest == NULL || queue->jobs[e].seq < oldest->seq))
			oldest = &queue->jobs[e];
	return oldest;
}

/*
 * May a worker bound to owner (InvalidOid: none yet) take job?  Only the
 * oldest waiting job is ever taken, so that no view waits behind younger
 * runs of another owner; a worker bound to another owner leaves instead.
 */
static bool
owner_may_take(Oid owner, const QueuedJob *job)
{
	return job != NULL && (!OidIsValid(owner) || job->job.owner == owner);
}

/* Is slot an idle refresh worker of dboid?  The caller holds the mutex. */
static bool
idle_refresh_worker(const ProcessSlot *slot, Oid dboid)
{
	return slot->kind == SLOT_REFRESH && slot->dboid == dboid &&
		slot->worker_state == WORKER_IDLE;
}

/*
 * Is slot an idle refresh worker of dboid that may take job (the oldest
 * waiting)?  The caller holds the mutex.
 */
static bool
idle_worker_may_take(const ProcessSlot *slot, Oid dboid, const QueuedJob *job)
{
	return idle_refresh_worker(slot, dboid) && owner_may_take(slot->owner, job);
}

/* The slot of refresh worker pid; the caller holds the mutex. */
static ProcessSlot *
refresh_slot_of(pid_t pid)
{
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].kind == SLOT_REFRESH && shared->slots[i].pid == pid)
			return &shared->slots[i];
	return NULL;
}

int
launcher_queue_job(const RefreshJob *job)
{
	RunQueue   *queue;
	int			entry = -1;

	if (shared == NULL || my_slot < 0 || shared->slots[my_slot].queue < 0)
		return -1;
	SpinLockAcquire(&shared->mutex);
	queue = &queues[shared->slots[my_slot].queue];
	for (int e = 0; e < LAUNCHER_QUEUE_SIZE; e++)
	{
		if (queue->jobs[e].state == QUEUED_FREE)
		{
			queue->jobs[e].state = QUEUED_WAITING;
			queue->jobs[e].hand_back.kind = HAND_BACK_NONE;
			queue->jobs[e].seq = queue->next_seq++;
			queue->jobs[e].worker = 0;
			queue->jobs[e].job = *job;
			entry = e;
			break;
		}
	}
	SpinLockRelease(&shared->mutex);
	return entry;
}

bool
launcher_queue_relabel(int entry, TimestampTz label, int attempt)
{
	QueuedJob  *queued;
	bool		waiting;

	if (shared == NULL || my_slot < 0 || shared->slots[my_slot].queue < 0)
		return false;
	SpinLockAcquire(&shared->mutex);
	queued = &queues[shared->slots[my_slot].queue].jobs[entry];
	waiting = queued->state == QUEUED_WAITING;
	if (waiting)
	{
		queued->job.label = label;
		queued->job.attempt = attempt;
	}
	SpinLockRelease(&shared->mutex);
	return waiting;
}

int
launcher_queue_collect(int *done, bool *lost, HandBack *hand_back)
{
	RunQueue   *queue;
	int			count = 0;

	if (shared == NULL || my_slot < 0 || shared->slots[my_slot].queue < 0)
		return 0;
	SpinLockAcquire(&shared->mutex);
	queue = &queues[shared->slots[my_slot].queue];
	for (int e = 0; e < LAUNCHER_QUEUE_SIZE; e++)
	{
		QueuedJob  *queued = &queue->jobs[e];

		if (queued->state == QUEUED_DONE ||
			(queued->state == QUEUED_TAKEN && refresh_slot_of(queued->worker) == NULL))
		{
			done[count] = e;
			lost[count] = queued->state == QUEUED_TAKEN;
			hand_back[count] = queued->hand_back;
			if (queued->state != QUEUED_DONE)
				hand_back[count].kind = HAND_BACK_NONE;
			count++;
			queued->state = QUEUED_FREE;
		}
	}
	SpinLockRelease(&shared->mutex);
	return count;
}

bool
launcher_jobs_wait(void)
{
	RunQueue   *queue;
	QueuedJob  *oldest;
	bool		waiting;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	queue = queue_of(MyDatabaseId);
	oldest = oldest_waiting(queue);
	waiting = oldest != NULL;
	for (int i = 0; waiting && i < shared->nslots; i++)
		if (idle_worker_may_take(&shared->slots[i], MyDatabaseId, oldest))
			waiting = false;
	SpinLockRelease(&shared->mutex);
	return waiting;
}

void
launcher_pool_counts(Oid dboid, int *idle, int *waiting)
{
	*idle = *waiting = 0;
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (my_slot >= 0 && shared->slots[my_slot].queue >= 0)
	{
		RunQueue   *queue = &queues[shared->slots[my_slot].queue];
		QueuedJob  *oldest = oldest_waiting(queue);

		for (int e = 0; e < LAUNCHER_QUEUE_SIZE; e++)
			if (queue->jobs[e].state == QUEUED_WAITING)
				(*waiting)++;
		/* idle workers that may take the oldest job: the others will leave */
		for (int i = 0; i < shared->nslots; i++)
			if (idle_worker_may_take(&shared->slots[i], dboid, oldest))
				(*idle)++;
	}
	SpinLockRelease(&shared->mutex);
}

void
launcher_wake_idle_workers(Oid dboid, int count)
{
	Latch	   *latches[LAUNCHER_QUEUE_SIZE];
	int			found = 0;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots && found < Min(count, LAUNCHER_QUEUE_SIZE); i++)
		if (idle_refresh_worker(&shared->slots[i], dboid) && shared->slots[i].latch)
			latches[found++] = shared->slots[i].latch;
	SpinLockRelease(&shared->mutex);
	for (int i = 0; i < found; i++)
		SetLatch(latches[i]);
}

bool
launcher_take_job(Oid dboid, int max_busy, RefreshJob *job, JobTicket *ticket, bool *too_many)
{
	RunQueue   *queue;
	QueuedJob  *oldest;
	int			busy = 0;

	*too_many = false;
	if (shared == NULL || my_slot < 0)
		return false;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
		if (i != my_slot && shared->slots[i].kind == SLOT_REFRESH &&
			shared->slots[i].dboid == dboid && shared->slots[i].worker_state == WORKER_BUSY)
			busy++;
	queue = queue_of(dboid);
	oldest = oldest_waiting(queue);
	if (busy >= max_busy)
	{
		*too_many = true;
		oldest = NULL;
	}
	else if (!owner_may_take(shared->slots[my_slot].owner, oldest))
		oldest = NULL;
	if (oldest != NULL)
	{
		shared->slots[my_slot].owner = oldest->job.owner;
		oldest->state = QUEUED_TAKEN;
		oldest->worker = MyProcPid;
		*job = oldest->job;
		ticket->queue = queue - queues;
		ticket->scheduler = queue->scheduler;
		ticket->entry = oldest - queue->jobs;
		ticket->seq = oldest->seq;
		shared->slots[my_slot].worker_state = WORKER_BUSY;
	}
	SpinLockRelease(&shared->mutex);
	return oldest != NULL;
}

void
launcher_job_finished(const JobTicket *ticket, const HandBack *hand_back)
{
	RunQueue   *queue;
	QueuedJob  *queued;

	if (shared == NULL || my_slot < 0)
		return;
	queue = &queues[ticket->queue];
	queued = &queue->jobs[ticket->entry];
	SpinLockAcquire(&shared->mutex);
	/* not if the scheduler went meanwhile: its queue may be another's now */
	if (queue->scheduler == ticket->scheduler && queued->state == QUEUED_TAKEN &&
		queued->seq == ticket->seq && queued->worker == MyProcPid)
	{
		queued->state = QUEUED_DONE;
		queued->hand_back = *hand_back;
	}
	shared->slots[my_slot].worker_state = WORKER_IDLE;
	SpinLockRelease(&shared->mutex);
}

bool
launcher_leave_if_idle(Oid dboid, bool timed_out)
{
	QueuedJob  *oldest;
	bool		leaving;

	if (shared == NULL || my_slot < 0)
		return true;
	SpinLockAcquire(&shared->mutex);
	oldest = oldest_waiting(queue_of(dboid));
	if (oldest == NULL)
		leaving = timed_out;
	else if (owner_may_take(shared->slots[my_slot].owner, oldest))
		leaving = false;
	else
	{
		/* another owner's: leave, unless an idle worker of its own is here */
		leaving = true;
		for (int i = 0; i < shared->nslots && leaving; i++)
			if (i != my_slot && idle_worker_may_take(&shared->slots[i], dboid, oldest))
				leaving = false;
	}
	if (leaving)
		shared->slots[my_slot].worker_state = WORKER_LEAVING;
	SpinLockRelease(&shared->mutex);
	return leaving;
}

bool
launcher_extension_dropping(Oid dboid)
{
	bool		dropping;

	if (shared == NULL)
		return false;
	SpinLockAcquire(&shared->mutex);
	dropping = slot_held(SLOT_EXTENSION_DROP, dboid);
	SpinLockRelease(&shared->mutex);
	return dropping;
}

/*
 * Registers this session's drop of dboid (kind SLOT_EXTENSION_DROP or
 * SLOT_DATABASE_DROP) until its transaction ends, and collects into pids
 * the database's pipeline processes, to be signalled once the lock is
 * released: refresh workers only, or schedulers too.  Returns how many were
 * collected; pids has room for nslots.
 */
static int
begin_drop(SlotKind kind, Oid dboid, bool schedulers_too, pid_t *pids)
{
	int			count = 0;

	if (!exit_callback_registered)
	{
		on_shmem_exit(unregister_process, (Datum) 0);
		exit_callback_registered = true;
	}
	if (!xact_callback_registered)
	{
		RegisterXactCallback(drop_xact_callback, NULL);
		xact_callback_registered = true;
	}
	SpinLockAcquire(&shared->mutex);
	/* a second drop in the same transaction keeps the slot it has */
	if (my_slot < 0)
		(void) take_slot(kind, dboid);
	for (int i = 0; i < shared->nslots; i++)
	{
		ProcessSlot *slot = &shared->slots[i];

		if (slot->dboid != dboid || i == my_slot)
			continue;
		if (slot->kind == SLOT_REFRESH || slot->kind == SLOT_ALERT_SENDER ||
			(slot->kind == SLOT_SCHEDULER && schedulers_too))
			pids[count++] = slot->pid;
	}
	SpinLockRelease(&shared->mutex);
	return count;
}

void
launcher_extension_drop_begin(void)
{
	pid_t	   *pids;
	int			count;

	if (shared == NULL)
		return;
	pids = palloc(sizeof(pid_t) * shared->nslots);
	count = begin_drop(SLOT_EXTENSION_DROP, MyDatabaseId, false, pids);
	/* a cancelled refresh records a failed run and ends its transaction */
	for (int i = 0; i < count; i++)
		kill(pids[i], SIGINT);
	/* the scheduler sees the drop at its next look and stays idle */
	launcher_wake(MyDatabaseId);
	pfree(pids);
}

static void
wake(Oid dboid, bool launcher_too)
{
	Latch	   *latches[8];
	int			count = 0;
	Latch	   *launcher_latch;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots && count < (int) lengthof(latches); i++)
		if (shared->slots[i].kind == SLOT_SCHEDULER && shared->slots[i].dboid == dboid &&
			shared->slots[i].latch)
			latches[count++] = shared->slots[i].latch;
	launcher_latch = launcher_too ? shared->launcher_latch : NULL;
	SpinLockRelease(&shared->mutex);

	/*
	 * Latches live in shared memory for good; one whose process has gone
	 * meanwhile only wakes its successor for nothing.
	 */
	for (int i = 0; i < count; i++)
		SetLatch(latches[i]);
	if (launcher_latch)
		SetLatch(launcher_latch);
}

void
launcher_wake(Oid dboid)
{
	wake(dboid, true);
}

void
launcher_wake_scheduler(Oid dboid)
{
	wake(dboid, false);
}

uint64
launcher_extension_creations(void)
{
	uint64		creations;

	if (shared == NULL)
		return 0;
	SpinLockAcquire(&shared->mutex);
	creations = shared->extension_creations;
	SpinLockRelease(&shared->mutex);
	return creations;
}

/* Adds an event of the current database; the caller holds the mutex. */
static void
add_database_event(DatabaseEventKind kind, uint64 count)
{
	DatabaseEvent *event = &shared->events[shared->next_event];

	if (event->kind != EVENT_NONE)
		shared->events_lost = true;
	event->kind = kind;
	event->dboid = MyDatabaseId;
	event->count = count;
	shared->next_event = (shared->next_event + 1) % DATABASE_EVENTS;
}

void
launcher_report_no_extension(uint64 creations_seen)
{
	SpinLockAcquire(&shared->mutex);
	add_database_event(EVENT_NO_EXTENSION, creations_seen);
	SpinLockRelease(&shared->mutex);
}

/* whether this transaction created the extension, or may have (unchecked) */
static bool creation_at_commit = false;
static bool creation_checked = false;

static void
creation_xact_callback(XactEvent event, void *arg)
{
	if (!creation_at_commit)
		return;
	/* a CREATE EXTENSION undone by a rolled-back savepoint created nothing */
	if (event == XACT_EVENT_PRE_COMMIT && creation_checked &&
		!OidIsValid(get_extension_oid("pipeline", true)))
		creation_at_commit = false;
	if (event == XACT_EVENT_COMMIT && shared != NULL)
	{
		Latch	   *launcher_latch;

		SpinLockAcquire(&shared->mutex);
		shared->extension_creations++;
		add_database_event(EVENT_EXTENSION_CREATED, shared->extension_creations);
		launcher_latch = shared->launcher_latch;
		SpinLockRelease(&shared->mutex);
		if (launcher_latch)
			SetLatch(launcher_latch);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		creation_at_commit = false;
}

void
launcher_extension_created(bool checked)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		RegisterXactCallback(creation_xact_callback, NULL);
		callback_registered = true;
	}
	creation_at_commit = true;
	creation_checked = checked;
}

void
launcher_database_created(void)
{
	at_commit_call(launcher_wake, InvalidOid);
}

void
launcher_stop_database_workers(Oid dboid)
{
	pid_t	   *pids;
	int			count;

	if (shared == NULL || !OidIsValid(dboid))
		return;
	pids = palloc(sizeof(pid_t) * shared->nslots);
	count = begin_drop(SLOT_DATABASE_DROP, dboid, true, pids);
	for (int i = 0; i < count; i++)
		kill(pids[i], SIGTERM);

	/*
	 * Gone before the statement looks (for at most 5 s, as PostgreSQL waits
	 * for other sessions): DROP DATABASE ... WITH (FORCE) would otherwise
	 * find them and refuse a role that may not signal them.
	 */
	for (int waited_ms = 0; waited_ms < 5000; waited_ms += 10)
	{
		bool		alive = false;

		for (int i = 0; i < count && !alive; i++)
			alive = BackendPidGetProc(pids[i]) != NULL;
		if (!alive)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pfree(pids);
}

/* Logs the first failed start of a shortage, once cluster-wide. */
static void
note_worker_start(bool started, const char *type)
{
	bool		log = false;

	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	if (started)
		shared->out_of_slots_logged = false;
	else if (!shared->out_of_slots_logged)
		shared->out_of_slots_logged = log = true;
	SpinLockRelease(&shared->mutex);
	if (log)
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("could not start background worker \"%s\": no background worker slot is free", type),
				 errdetail("The pipeline extension tries again later, and logs this again only after a worker could be started in between."),
				 errhint("Raise max_worker_processes (currently %d): pipeline needs one slot for its launcher, one per database for a scheduler and up to pipeline.max_workers per database for refreshes.",
						 max_worker_processes)));
}

bool
launcher_start_worker(const char *function, const char *type, Datum main_arg,
					  const void *extra, Size extra_size,
					  BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;
	bool		started;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pipeline");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", type);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	worker.bgw_main_arg = main_arg;
	worker.bgw_notify_pid = MyProcPid;
	Assert(extra_size <= BGW_EXTRALEN);
	if (extra)
		memcpy(worker.bgw_extra, extra, extra_size);
	started = RegisterDynamicBackgroundWorker(&worker, handle);
	note_worker_start(started, type);
	return started;
}

bool
launcher_database_allowed(const char *dbname)
{
	char	   *list;
	List	   *names;
	ListCell   *lc;
	bool		allowed = false;

	if (pipeline_databases == NULL || pipeline_databases[0] == '\0')
		return true;
	/* called on every pass of long-lived loops: leaves nothing behind */
	list = pstrdup(pipeline_databases);
	if (SplitIdentifierString(list, ',', &names))
		foreach(lc, names)
			if (strcmp(lfirst(lc), dbname) == 0)
				allowed = true;
	list_free(names);
	pfree(list);
	return allowed;
}

char *
launcher_database_name(Oid dboid)
{
	char	   *name;

	StartTransactionCommand();
	name = MemoryContextStrdup(TopMemoryContext, get_database_name(dboid));
	CommitTransactionCommand();
	return name;
}

/*
 * The launcher's view of the databases, keyed by OID: exactly those of its
 * last scan of pg_database that may have a scheduler, plus any whose
 * scheduler has not stopped yet.  Entries of dropped or excluded databases
 * go as soon as their scheduler has stopped, so it never fills up
 * (TimescaleDB's populate_database_htab does the same).
 */
typedef struct KnownDatabase
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *scheduler;
	TimestampTz retry_at;
	uint64		seen_in_scan;
	bool		without_extension;	/* its scheduler found none */
	uint64		creations_seen; /* extension_creations before it looked */
	uint64		created;		/* extension_creations at the last one here */
} KnownDatabase;

static HTAB *known = NULL;
static uint64 scan_number = 0;

static void
create_known_databases(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(KnownDatabase);
	ctl.hcxt = TopMemoryContext;
	known = hash_create("pipeline launcher databases", 64, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* Forgets schedulers that stopped; they may be restarted after a pause. */
static void
reap_schedulers(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	KnownDatabase *entry;

	hash_seq_init(&status, known);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		pid_t		pid;

		if (entry->scheduler &&
			GetBackgroundWorkerPid(entry->scheduler, &pid) == BGWH_STOPPED)
		{
			pfree(entry->scheduler);
			entry->scheduler = NULL;
			/* a scheduler that found no extension may have said so first */
			entry->retry_at = Max(entry->retry_at,
								  TimestampTzPlusMilliseconds(now, SCHEDULER_RESTART_MS));
		}
	}
}

/* Drops the entries the last scan did not see and that have no scheduler. */
static void
prune_known_databases(void)
{
	HASH_SEQ_STATUS status;
	KnownDatabase *entry;

	hash_seq_init(&status, known);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->seen_in_scan != scan_number && entry->scheduler == NULL)
			(void) hash_search(known, &entry->dboid, HASH_REMOVE, NULL);
}

/* The databases a DROP DATABASE is under way in. */
static List *
databases_being_dropped(void)
{
	List	   *dropping = NIL;
	Oid		   *oids = palloc(sizeof(Oid) * shared->nslots);
	int			count = 0;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < shared->nslots; i++)
		if (shared->slots[i].kind == SLOT_DATABASE_DROP)
			oids[count++] = shared->slots[i].dboid;
	SpinLockRelease(&shared->mutex);
	for (int i = 0; i < count; i++)
		dropping = lappend_oid(dropping, oids[i]);
	pfree(oids);
	return dropping;
}

/*
 * Takes the events since the last pass: a database whose scheduler found
 * no extension waits for a CREATE EXTENSION pipeline there.  When events
 * were lost, every such database looks again.
 */
static void
take_database_events(TimestampTz now)
{
	DatabaseEvent events[DATABASE_EVENTS];
	bool		lost;
	uint64		creations;

	SpinLockAcquire(&shared->mutex);
	memcpy(events, shared->events, sizeof(events));
	memset(shared->events, 0, sizeof(shared->events));
	lost = shared->events_lost;
	shared->events_lost = false;
	creations = shared->extension_creations;
	SpinLockRelease(&shared->mutex);
	for (int i = 0; i < DATABASE_EVENTS; i++)
	{
		KnownDatabase *entry;

		if (events[i].kind == EVENT_NONE)
			continue;
		entry = hash_search(known, &events[i].dboid, HASH_FIND, NULL);
		if (entry == NULL)
			continue;			/* new: it gets a scheduler anyway */
		if (events[i].kind == EVENT_EXTENSION_CREATED)
			entry->created = Max(entry->created, events[i].count);
		else
		{
			entry->without_extension = true;
			entry->creations_seen = events[i].count;
			entry->retry_at = TimestampTzPlusMilliseconds(now, NO_EXTENSION_RECHECK_MS +
														  (entry->dboid % 60) * 1000);
		}
	}
	if (lost)
	{
		HASH_SEQ_STATUS status;
		KnownDatabase *entry;

		hash_seq_init(&status, known);
		while ((entry = hash_seq_search(&status)) != NULL)
			entry->created = creations;
	}
}

/* Is a scheduler of dboid running (registered)? */
static bool
scheduler_registered(Oid dboid)
{
	bool		held;

	SpinLockAcquire(&shared->mutex);
	held = slot_held(SLOT_SCHEDULER, dboid);
	SpinLockRelease(&shared->mutex);
	return held;
}

/* Starts a scheduler for the database unless it has one or waits to retry. */
static void
ensure_scheduler(KnownDatabase *entry, TimestampTz now)
{
	/* the handle must outlive the transaction */
	MemoryContext old;

	if (entry->scheduler != NULL)
		return;
	/* created there since its scheduler looked: look again, once */
	if (entry->without_extension && entry->created > entry->creations_seen)
	{
		entry->creations_seen = entry->created;
		entry->retry_at = 0;
	}
	if (now < entry->retry_at)
		return;
	/* one a launcher that restarted since cannot see (no handle): look later */
	if (scheduler_registered(entry->dboid))
	{
		entry->retry_at = TimestampTzPlusMilliseconds(now, SCHEDULER_RESTART_MS);
		return;
	}
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (launcher_start_worker("pipeline_scheduler_main", "pipeline scheduler",
							  ObjectIdGetDatum(entry->dboid), NULL, 0,
							  &entry->scheduler))
		entry->without_extension = false;
	else
	{
		/* no free worker slot: try again later, don't spin */
		entry->scheduler = NULL;
		entry->retry_at = TimestampTzPlusMilliseconds(now, SCHEDULER_RESTART_MS);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Starts schedulers for allowed databases that lack one.  Returns how long
 * the launcher may wait before the next pass, in ms: until a start to
 * retry, at most LAUNCHER_SCAN_MS (what else calls for a pass sets its
 * latch: a scheduler that stopped, a database or an extension created, a
 * drop, pipeline.wake()).
 */
static long
launch_schedulers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	List	   *dropping;
	TimestampTz next_pass = TimestampTzPlusMilliseconds(now, LAUNCHER_SCAN_MS);

	if (known == NULL)
		create_known_databases();
	reap_schedulers(now);
	take_database_events(now);
	scan_number++;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();

	/*
	 * Before the catalog snapshot is taken: a drop that ends after this look
	 * has committed before the scan, which then does not see the database.
	 * One that begins later finds the scheduler, or the scheduler finds it.
	 */
	dropping = databases_being_dropped();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		KnownDatabase *entry;
		bool		found;

		if (!db->datallowconn || db->datistemplate ||
			!launcher_database_allowed(NameStr(db->datname)) ||
			list_member_oid(dropping, db->oid))
			continue;
		entry = hash_search(known, &db->oid, HASH_ENTER, &found);
		if (!found)
		{
			entry->scheduler = NULL;
			entry->retry_at = 0;
			entry->without_extension = false;
			entry->creations_seen = 0;
			entry->created = 0;
		}
		entry->seen_in_scan = scan_number;
		ensure_scheduler(entry, now);
		if (entry->scheduler == NULL && entry->retry_at < next_pass)
			next_pass = entry->retry_at;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	prune_known_databases();
	return Max(10, (long) ((next_pass - now) / 1000));
}

void
pipeline_launcher_main(Datum main_arg)
{
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pipeline launcher");
	/* the server (re)starts: remove what unloads killed mid-way left */
	unload_recover();

	SpinLockAcquire(&shared->mutex);
	shared->launcher_latch = MyLatch;
	SpinLockRelease(&shared->mutex);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* a scheduler that starts or stops sets the latch (bgw_notify_pid) */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 launch_schedulers(), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
launcher_register(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	/* exits only by error or signal; the postmaster restarts it */
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pipeline");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pipeline_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pipeline launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pipeline launcher");
	RegisterBackgroundWorker(&worker);
}
