/*-------------------------------------------------------------------------
 * lock_set.c
 *	  Locking several relations all or nothing (lock_set.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lmgr.h"

#include "util/lock_set.h"

void
lock_relations_all_or_nothing(List *first, LOCKMODE first_mode, List *second, LOCKMODE second_mode)
{
	int			n = list_length(first) + list_length(second);
	Oid		   *relids = palloc(sizeof(Oid) * Max(n, 1));
	LOCKMODE   *modes = palloc(sizeof(LOCKMODE) * Max(n, 1));
	int			i = 0;
	int			waited = -1;	/* the lock the last round waited for: held */
	ListCell   *lc;

	foreach(lc, first)
	{
		relids[i] = lfirst_oid(lc);
		modes[i++] = first_mode;
	}
	foreach(lc, second)
	{
		relids[i] = lfirst_oid(lc);
		modes[i++] = second_mode;
	}
	for (int round = 1;; round++)
	{
		int			busy = 0;

		CHECK_FOR_INTERRUPTS();
		while (busy < n && (busy == waited || ConditionalLockRelationOid(relids[busy], modes[busy])))
			busy++;
		if (busy == n)
			break;
		if (round == LOCK_SET_ROUNDS)
		{
			/*
			 * in order from here, holding only what comes before: a lock held
			 * from further on would deadlock with a caller of the same order
			 */
			if (waited > busy)
				UnlockRelationOid(relids[waited], modes[waited]);
			for (; busy < n; busy++)
				LockRelationOid(relids[busy], modes[busy]);
			break;
		}
		for (int j = 0; j < busy; j++)
			UnlockRelationOid(relids[j], modes[j]);
		if (waited > busy)
			UnlockRelationOid(relids[waited], modes[waited]);
		LockRelationOid(relids[busy], modes[busy]);
		waited = busy;
	}
	pfree(relids);
	pfree(modes);
}
