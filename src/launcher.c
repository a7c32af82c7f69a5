/*-------------------------------------------------------------------------
 * launcher.c
 *	  The launcher: one static background worker that starts a scheduler
 *	  for every database (each scheduler idles where the extension is not
 *	  installed), plus the shared registry of pipeline processes, which
 *	  lets DROP DATABASE send them away first.
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
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "launcher.h"
#include "pipeline.h"
#include "unload.h"

#define MAX_PROCESSES 128
/* how long the launcher leaves a database alone after DROP DATABASE asked */
#define DROP_PAUSE_MS 30000
/* wait before restarting a scheduler that exited */
#define SCHEDULER_RESTART_MS 5000

typedef struct ProcessSlot
{
	Oid			dboid;			/* InvalidOid: free */
	pid_t		pid;
	bool		is_scheduler;
	Latch	   *latch;
} ProcessSlot;

typedef struct SharedState
{
	slock_t		mutex;
	Latch	   *launcher_latch;
	Oid			paused_db;
	TimestampTz paused_until;
	ProcessSlot slots[MAX_PROCESSES];
} SharedState;

static SharedState *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static int	my_slot = -1;

PGDLLEXPORT void pipeline_launcher_main(Datum main_arg);

static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

static void
shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pipeline", sizeof(SharedState), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(SharedState));
		SpinLockInit(&shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
unregister_process(int code, Datum arg)
{
	if (shared == NULL || my_slot < 0)
		return;
	SpinLockAcquire(&shared->mutex);
	shared->slots[my_slot].dboid = InvalidOid;
	shared->slots[my_slot].latch = NULL;
	SpinLockRelease(&shared->mutex);
	my_slot = -1;
}

void
launcher_register_process(Oid dboid, bool is_scheduler)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < MAX_PROCESSES; i++)
	{
		if (!OidIsValid(shared->slots[i].dboid))
		{
			shared->slots[i].dboid = dboid;
			shared->slots[i].pid = MyProcPid;
			shared->slots[i].is_scheduler = is_scheduler;
			shared->slots[i].latch = MyLatch;
			my_slot = i;
			break;
		}
	}
	SpinLockRelease(&shared->mutex);
	on_shmem_exit(unregister_process, (Datum) 0);
}

void
launcher_wake(Oid dboid)
{
	if (shared == NULL)
		return;
	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < MAX_PROCESSES; i++)
		if (shared->slots[i].dboid == dboid && shared->slots[i].is_scheduler &&
			shared->slots[i].latch)
			SetLatch(shared->slots[i].latch);
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
	SpinLockRelease(&shared->mutex);
}

/*
 * DROP DATABASE waits only a few seconds for other sessions to leave, and
 * our workers would never leave by themselves: ask them to, and keep the
 * launcher from coming back for a while.
 */
static void
stop_database_workers(Oid dboid)
{
	if (shared == NULL || !OidIsValid(dboid))
		return;
	SpinLockAcquire(&shared->mutex);
	shared->paused_db = dboid;
	shared->paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), DROP_PAUSE_MS);
	for (int i = 0; i < MAX_PROCESSES; i++)
		if (shared->slots[i].dboid == dboid)
			kill(shared->slots[i].pid, SIGTERM);
	SpinLockRelease(&shared->mutex);
}

static void
process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				ProcessUtilityContext context, ParamListInfo params,
				QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, DropdbStmt))
		stop_database_workers(get_database_oid(((DropdbStmt *) parsetree)->dbname, true));

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

bool
launcher_start_worker(const char *function, const char *type, Datum main_arg,
					  const void *extra, Size extra_size,
					  BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

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
	return RegisterDynamicBackgroundWorker(&worker, handle);
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
	list = pstrdup(pipeline_databases);
	if (!SplitIdentifierString(list, ',', &names))
		return false;
	foreach(lc, names)
		if (strcmp(lfirst(lc), dbname) == 0)
			allowed = true;
	return allowed;
}

typedef struct KnownDatabase
{
	Oid			dboid;
	BackgroundWorkerHandle *scheduler;
	TimestampTz retry_at;
} KnownDatabase;

static KnownDatabase known[MAX_PROCESSES];
static int	known_count = 0;

static KnownDatabase *
known_database(Oid dboid)
{
	for (int i = 0; i < known_count; i++)
		if (known[i].dboid == dboid)
			return &known[i];
	if (known_count == MAX_PROCESSES)
		return NULL;
	known[known_count].dboid = dboid;
	known[known_count].scheduler = NULL;
	known[known_count].retry_at = 0;
	return &known[known_count++];
}

/* Starts schedulers for allowed databases that lack one. */
static void
launch_schedulers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	Oid			paused;
	TimestampTz paused_until;

	SpinLockAcquire(&shared->mutex);
	paused = shared->paused_db;
	paused_until = shared->paused_until;
	SpinLockRelease(&shared->mutex);

	for (int i = 0; i < known_count; i++)
	{
		pid_t		pid;

		if (known[i].scheduler &&
			GetBackgroundWorkerPid(known[i].scheduler, &pid) == BGWH_STOPPED)
		{
			pfree(known[i].scheduler);
			known[i].scheduler = NULL;
			known[i].retry_at = TimestampTzPlusMilliseconds(now, SCHEDULER_RESTART_MS);
		}
	}

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);
		KnownDatabase *entry;

		if (!db->datallowconn || db->datistemplate ||
			!launcher_database_allowed(NameStr(db->datname)))
			continue;
		if (db->oid == paused && now < paused_until)
			continue;
		entry = known_database(db->oid);
		if (entry == NULL || entry->scheduler != NULL || now < entry->retry_at)
			continue;
		{
			/* the handle must outlive the transaction */
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			if (!launcher_start_worker("pipeline_scheduler_main", "pipeline scheduler",
									   ObjectIdGetDatum(db->oid), NULL, 0,
									   &entry->scheduler))
			{
				/* no free worker slot: try again later, don't spin */
				entry->scheduler = NULL;
				entry->retry_at = TimestampTzPlusMilliseconds(now, SCHEDULER_RESTART_MS);
			}
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
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
		launch_schedulers();
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000L, PG_WAIT_EXTENSION);
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
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = process_utility;

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
