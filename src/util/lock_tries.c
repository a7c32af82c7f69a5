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
#include "utils/guc.h"
#include "utils/memutils.h"

#include "util/lock_tries.h"

static bool
try_lock(Oid classid, Oid objid, LOCKMODE mode)
{
	if (classid == RelationRelationId)
		return ConditionalLockRelationOid(objid, mode);
	return ConditionalLockDatabaseObject(classid, objid, 0, mode);
}

/*
 * Queues for the lock after waited_ms of tries: the whole wait is one lock
 * wait, so lock_timeout bounds the two together.
 */
static void
queue_for_lock(Oid classid, Oid objid, LOCKMODE mode, double waited_ms)
{
	int			level = -1;

	if (LockTimeout > 0)
	{
		level = NewGUCNestLevel();
		(void) set_config_option("lock_timeout", psprintf("%d", Max(1, LockTimeout - (int) waited_ms)),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
	if (classid == RelationRelationId)
		LockRelationOid(objid, mode);
	else
		LockDatabaseObject(classid, objid, 0, mode);
	if (level >= 0)
		AtEOXact_GUC(false, level);
}

/*
 * Whether no other session holds the object in a mode that conflicts:
 * then what stands in the way is a request already queued, which waits
 * for a lock of this session's (or goes ahead in a moment), and a queued
 * request of ours is what lets it go.
 */
static bool
only_queued_requests(Oid classid, Oid objid, LOCKMODE mode)
{
	/* GetLockConflicts() allocates at every try of a long wait */
	MemoryContext probe = AllocSetContextCreate(CurrentMemoryContext, "lock tries probe",
												ALLOCSET_SMALL_SIZES);
	MemoryContext caller = MemoryContextSwitchTo(probe);
	LOCKTAG		tag;
	bool		none;

	if (classid == RelationRelationId)
		SET_LOCKTAG_RELATION(tag, MyDatabaseId, objid);
	else
		SET_LOCKTAG_OBJECT(tag, MyDatabaseId, classid, objid, 0);
	none = !VirtualTransactionIdIsValid(*GetLockConflicts(&tag, mode, NULL));
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(probe);
	return none;
}

void
lock_trying_first(Oid classid, Oid objid, LOCKMODE mode, const char *holders_of)
{
	instr_time	start;
	long		pause_ms = 1;

	INSTR_TIME_SET_CURRENT(start);
	while (!try_lock(classid, objid, mode))
	{
		instr_time	now;
		double		waited_ms;

		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		waited_ms = INSTR_TIME_GET_MILLISEC(now);
		if (LockTimeout > 0 && waited_ms >= LockTimeout)
		{
			ObjectAddress object = {classid, objid, 0};
			char	   *name = getObjectDescription(&object, true);

			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("canceling statement due to lock timeout"),
					 errdetail("%s %s held it longer than lock_timeout while this statement waited.",
							   holders_of, name ? name : "the object")));
		}
		if (waited_ms >= LOCK_TRIES_MS || only_queued_requests(classid, objid, mode))
		{
			queue_for_lock(classid, objid, mode, waited_ms);
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pause_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		pause_ms = Min(pause_ms * 2, LOCK_TRIES_MAX_PAUSE_MS);
	}
}
