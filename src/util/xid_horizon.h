/*-------------------------------------------------------------------------
 * xid_horizon.h
 *	  The oldest transaction an open snapshot may not see yet, as a full
 *	  transaction id: below it, a row recording a transaction is seen by
 *	  every snapshot open now and every one taken later.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_XID_HORIZON_H
#define PIPELINE_XID_HORIZON_H

#include "access/transam.h"
#include "utils/relcache.h"

/*
 * Vacuum's horizon for rel (NULL: for a shared relation, every database's
 * snapshots), as a full transaction id; InvalidFullTransactionId when no
 * normal transaction id bounds it.
 */
extern FullTransactionId oldest_open_xid(Relation rel);

#endif
