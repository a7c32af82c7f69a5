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
		int			taken = 0;

		CHECK_FOR_INTERRUPTS();
		while (taken < n && ConditionalLockRelationOid(relids[taken], modes[taken]))
			taken++;
		if (taken == n)
			break;
		if (round == LOCK_SET_ROUNDS)
		{
			for (; taken < n; taken++)
				LockRelationOid(relids[taken], modes[taken]);
			break;
		}
		for (int j = 0; j < taken; j++)
			UnlockRelationOid(relids[j], modes[j]);
		LockRelationOid(relids[taken], modes[taken]);
		UnlockRelationOid(relids[taken], modes[taken]);
	}
	pfree(relids);
	pfree(modes);
}
