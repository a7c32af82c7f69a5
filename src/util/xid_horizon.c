/*-------------------------------------------------------------------------
 * xid_horizon.c
 *	  The oldest transaction an open snapshot may not see yet.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/procarray.h"

#include "util/xid_horizon.h"

FullTransactionId
oldest_open_xid(Relation rel)
{
	TransactionId horizon = GetOldestNonRemovableTransactionId(rel);
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (!TransactionIdIsNormal(horizon))
		return InvalidFullTransactionId;
	/* the horizon is at most next, at most one wraparound behind it */
	if (horizon > XidFromFullTransactionId(next))
		epoch--;
	return FullTransactionIdFromEpochAndXid(epoch, horizon);
}
