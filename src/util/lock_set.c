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
lock_relations_all_or_nothing(int n, const Oid *relids, const LOCKMODE *modes)
{
	for (int round = 1;; round++)
	{
		int			taken = 0;

		CHECK_FOR_INTERRUPTS();
		while (taken < n && ConditionalLockRelationOid(relids[taken], modes[taken]))
			taken++;
		if (taken == n)
			return;
		if (round == LOCK_SET_ROUNDS)
		{
			for (; taken < n; taken++)
				LockRelationOid(relids[taken], modes[taken]);
			return;
		}
		for (int i = 0; i < taken; i++)
			UnlockRelationOid(relids[i], modes[i]);
		LockRelationOid(relids[taken], modes[taken]);
		UnlockRelationOid(relids[taken], modes[taken]);
	}
}
