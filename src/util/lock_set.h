/*-------------------------------------------------------------------------
 * lock_set.h
 *	  Locking several relations all or nothing: never waiting while
 *	  holding one of them, so that no lock order can deadlock.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LOCK_SET_H
#define PIPELINE_LOCK_SET_H

#include "nodes/pg_list.h"
#include "storage/lockdefs.h"

/*
 * Locks every relation of first (OIDs) in first_mode and of second in
 * second_mode, all or nothing: when one is busy, every lock taken so far
 * is let go before waiting for it (an ordinary lock wait, so cancel and
 * lock_timeout work), then the others are tried again while the one waited
 * for is kept: trying takes no wait, and a lock handed on at once would go
 * to whoever queued behind, which for a lock that changes hands all the
 * time is every round.  Locks the transaction held before are kept
 * throughout (a lock is counted, and only this call's count is let go).
 * After LOCK_SET_ROUNDS rounds (a table whose writers keep coming, for a
 * lock that waits for writers) it takes the rest in order, waiting while
 * it holds the first ones, as a series of LOCK TABLE would; a deadlock is
 * then possible and PostgreSQL's detector ends it, but the caller is not
 * starved.
 */
#define LOCK_SET_ROUNDS 10
extern void lock_relations_all_or_nothing(List *first, LOCKMODE first_mode,
										  List *second, LOCKMODE second_mode);

#endif
