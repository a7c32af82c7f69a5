/*-------------------------------------------------------------------------
 * lock_tries.c
 *	  An exclusive lock tried before it is queued for (lock_tries.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "util/lock_tries.h"

/*
 * How often the tries read the whole lock table for sessions waiting for
 * this one (someone_waits_for_us()): reading it holds every lock-manager
 * partition a moment, and costs more the more locks are held.
 */
#define LOCK_TRIES_SCAN_MS 200

/*
 * lock_tries_bound_waits() was called, and the bound it set; the last lock
 * was given up
 */
static bool waits_bounded = false;
static int	waits_bound_ms = LOCK_TRIES_MS;
static bool (*others_wait_fn) (void) = NULL;
static bool gave_up = false;

/* Whether other work waits for this process (lock_tries_bound_waits()) */
static bool
others_wait(void)
{
	return others_wait_fn != NULL && others_wait_fn();
}

/* lock_tries_last_given_up() */
static Oid	given_up_relid = InvalidOid;
static LOCKMODE given_up_mode = NoLock;

/* Remembers the lock given up: object objid of catalog classid, in mode */
static void
remember_given_up(Oid classid, Oid objid, LOCKMODE mode)
{
	gave_up = true;
	given_up_relid = classid == RelationRelationId ? objid : InvalidOid;
	given_up_mode = mode;
}

/* How the tries ended */
typedef enum TriesOutcome
{
	TRIES_HAD,					/* the lock is had */
	TRIES_HELD_THROUGHOUT,		/* the first holders hold it still */
	TRIES_QUEUE					/* they are gone, or trying could hide a
								 * deadlock: queue for it */
} TriesOutcome;

static void
set_object_tag(LOCKTAG *tag, Oid classid, Oid objid)
{
	if (classid == RelationRelationId)
		SET_LOCKTAG_RELATION(*tag, MyDatabaseId, objid);
	else
		SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, classid, objid, 0);
}

static bool
try_lock(Oid classid, Oid objid, LOCKMODE mode)
{
	if (classid == RelationRelationId)
		return ConditionalLockRelationOid(objid, mode);
	return ConditionalLockDatabaseObject(classid, objid, 0, mode);
}

/* The queued wait; with waits bounded, its lock timeout gives the lock up */
static void
queued_wait(Oid classid, Oid objid, LOCKMODE mode)
{
	PG_TRY();
	{
		if (classid == RelationRelationId)
			LockRelationOid(objid, mode);
		else
			LockDatabaseObject(classid, objid, 0, mode);
	}
	PG_CATCH();
	{
		/* the (sub)transaction's abort restores lock_timeout */
		if (waits_bounded && geterrcode() == ERRCODE_LOCK_NOT_AVAILABLE)
			remember_given_up(classid, objid, mode);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/*
 * Queues for the lock after waited_ms of tries: the whole wait is one lock
 * wait, so lock_timeout bounds the two together; with waits bounded,
 * LOCK_TRIES_MS bounds the queued wait too, and its lock timeout is a
 * lock given up.
 */
static void
queue_for_lock(Oid classid, Oid objid, LOCKMODE mode, double waited_ms)
{
	int			level = -1;
	int			timeout_ms = LockTimeout > 0 ? Max(1, LockTimeout - (int) waited_ms) : 0;

	if (waits_bounded)
	{
		int			bound_ms = others_wait() ? LOCK_TRIES_MS : waits_bound_ms;

		timeout_ms = timeout_ms > 0 ? Min(timeout_ms, bound_ms) : bound_ms;
	}
	if (timeout_ms > 0)
	{
		level = NewGUCNestLevel();
		(void) set_config_option("lock_timeout", psprintf("%d", timeout_ms),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	queued_wait(classid, objid, mode);
	if (level >= 0)
		AtEOXact_GUC(false, level);
}

/*
 * Gives the lock up: waits are bounded, and the sessions that held it at
 * the first try, waited_ms ago, hold it still.
 */
static void
give_up(Oid classid, Oid objid, LOCKMODE mode, double waited_ms)
{
	ObjectAddress address = {classid, objid, 0};
	char	   *description = getObjectDescription(&address, true);

	remember_given_up(classid, objid, mode);
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("could not obtain lock on %s", description ? description : "a dropped object"),
			 errdetail("The transactions that held it %d ms ago hold it still.", (int) waited_ms)));
}

List *
lock_holders(const LOCKTAG *tag, LOCKMODE mode)
{
	List	   *found = NIL;

	for (VirtualTransactionId *v = GetLockConflicts(tag, mode, NULL); VirtualTransactionIdIsValid(*v); v++)
	{
		VirtualTransactionId *copy = palloc(sizeof(VirtualTransactionId));

		*copy = *v;
		found = lappend(found, copy);
	}
	return found;
}

void
lock_holders_add(LockHolders *holders, VirtualTransactionId vxid)
{
	if (holders->count < LOCK_HOLDERS_KEPT)
		holders->vxids[holders->count++] = vxid;
}

bool
lock_holders_overlap(const LockHolders *before, const LockHolders *now)
{
	for (int b = 0; b < before->count; b++)
		for (int n = 0; n < now->count; n++)
			if (VirtualTransactionIdEquals(before->vxids[b], now->vxids[n]))
				return true;
	return false;
}

bool
lock_holders_in_common(List *some, List *others)
{
	ListCell   *a;
	ListCell   *b;

	foreach(a, some)
		foreach(b, others)
			if (VirtualTransactionIdEquals(*(VirtualTransactionId *) lfirst(a),
										   *(VirtualTransactionId *) lfirst(b)))
				return true;
	return false;
}

/*
 * Whether one of holding is trying for a lock itself (a statement here, in
 * another session): a cycle of sessions that all try (two that upgrade
 * the lock they hold, say) would hide from the deadlock detector until
 * their tries end.  Any wait of an extension's counts; the price of a
 * wrong guess is a plain queued request.
 */
static bool
holder_tries_too(List *holding)
{
	ListCell   *lc;

	foreach(lc, holding)
	{
		VirtualTransactionId *vxid = lfirst(lc);
		PGPROC	   *proc = BackendIdGetProc(vxid->backendId);

		if (proc != NULL && proc->wait_event_info == PG_WAIT_EXTENSION)
			return true;
	}
	return false;
}

/*
 * Whether another session waits for a lock this one holds: a wait that
 * tries stays out of the deadlock detector's sight, so a cycle through it
 * would last until the tries end.
 */
static bool
someone_waits_for_us(void)
{
	LockData   *locks = GetLockStatusData();
	LockInstanceData **ours = palloc(sizeof(LockInstanceData *) * Max(locks->nelements, 1));
	int			nours = 0;

	for (int i = 0; i < locks->nelements; i++)
		if (locks->locks[i].pid == MyProcPid && locks->locks[i].holdMask != 0)
			ours[nours++] = &locks->locks[i];
	for (int w = 0; w < locks->nelements; w++)
	{
		LockInstanceData *waiter = &locks->locks[w];

		if (waiter->waitLockMode == NoLock || waiter->pid == MyProcPid)
			continue;
		for (int h = 0; h < nours; h++)
			if (memcmp(&ours[h]->locktag, &waiter->locktag, sizeof(LOCKTAG)) == 0 &&
				(ours[h]->holdMask &
				 GetLockTagsMethodTable(&waiter->locktag)->conflictTab[waiter->waitLockMode]) != 0)
				return true;
	}
	return false;
}

static double
elapsed_ms(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_MILLISEC(now);
}

/* The tries (lock_tries.h): how they ended. */
static TriesOutcome
tries_outcome(Oid classid, Oid objid, LOCKMODE mode, const LOCKTAG *tag, instr_time start)
{
	MemoryContext tries = AllocSetContextCreate(CurrentMemoryContext, "lock tries",
												ALLOCSET_SMALL_SIZES);

	/* what one try looks at */
	MemoryContext probe = AllocSetContextCreate(tries, "lock try", ALLOCSET_SMALL_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(tries);
	List	   *first = lock_holders(tag, mode);
	int			bound_ms = waits_bounded ? waits_bound_ms : LOCK_TRIES_MS;
	int			tries_ms = LockTimeout > 0 ? Min(bound_ms, LockTimeout / 2) : bound_ms;
	double		next_scan_ms = 0;
	long		pause_ms = 1;
	TriesOutcome outcome = TRIES_QUEUE;

	MemoryContextSwitchTo(probe);
	for (;;)
	{
		double		waited_ms = elapsed_ms(start);
		List	   *holding;

		MemoryContextReset(probe);
		holding = lock_holders(tag, mode);
		if (!lock_holders_in_common(first, holding) || holder_tries_too(holding))
			break;
		if (waited_ms >= tries_ms)
		{
			outcome = TRIES_HELD_THROUGHOUT;
			break;
		}
		/* the whole lock table is read: not at every try */
		if (waited_ms >= next_scan_ms)
		{
			if (someone_waits_for_us())
				break;
			/* a longer wait than LOCK_TRIES_MS costs no one else's turn */
			if (waited_ms >= LOCK_TRIES_MS && others_wait())
			{
				outcome = TRIES_HELD_THROUGHOUT;
				break;
			}
			next_scan_ms = waited_ms + LOCK_TRIES_SCAN_MS;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pause_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		pause_ms = Min(pause_ms * 2, LOCK_TRIES_MAX_PAUSE_MS);
		if (try_lock(classid, objid, mode))
		{
			outcome = TRIES_HAD;
			break;
		}
	}
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(tries);
	return outcome;
}

void
lock_trying_first(Oid classid, Oid objid, LOCKMODE mode)
{
	LOCKTAG		tag;
	instr_time	start;
	TriesOutcome outcome;

	if (try_lock(classid, objid, mode))
		return;
	INSTR_TIME_SET_CURRENT(start);
	set_object_tag(&tag, classid, objid);
	outcome = tries_outcome(classid, objid, mode, &tag, start);
	if (outcome == TRIES_HAD)
		return;
	if (outcome == TRIES_HELD_THROUGHOUT && waits_bounded)
		give_up(classid, objid, mode, elapsed_ms(start));
	queue_for_lock(classid, objid, mode, elapsed_ms(start));
}

void
lock_unless_held_long(Oid relid, LOCKMODE mode)
{
	if (waits_bounded)
		lock_trying_first(RelationRelationId, relid, mode);
	else
		LockRelationOid(relid, mode);
}

void
lock_tries_bound_waits(int given_up_before, int timeout_ms, bool (*others_wait_check) (void))
{
	int			shift = Min(Max(given_up_before, 0), 4);
	int			bound_ms = Min(LOCK_TRIES_MS << shift, LOCK_TRIES_MAX_BOUND_MS);

	/* a statement timeout that ends the wait would fail the work instead */
	if (timeout_ms > 0)
		bound_ms = Min(bound_ms, Max(timeout_ms / 2, LOCK_TRIES_MS));
	waits_bounded = true;
	waits_bound_ms = bound_ms;
	others_wait_fn = others_wait_check;
}

void
lock_tries_last_given_up(Oid *relid, LOCKMODE *mode)
{
	*relid = given_up_relid;
	*mode = given_up_mode;
}

bool
lock_tries_gave_up(void)
{
	bool		was = gave_up;

	gave_up = false;
	return was;
}
