/*-------------------------------------------------------------------------
 * lock_tries.h
 *	  An exclusive lock tried for a while without standing in the lock
 *	  queue: a queued request makes every request that comes after it wait
 *	  too, so a statement waiting for one long holder would hold up all
 *	  the short ones behind it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LOCK_TRIES_H
#define PIPELINE_LOCK_TRIES_H

#include "nodes/pg_list.h"
#include "storage/lock.h"

/*
 * How long a lock is tried without queueing at most (as long as VACUUM
 * tries for the lock to truncate a table), and the longest pause between
 * two tries.
 */
#define LOCK_TRIES_MS 5000
#define LOCK_TRIES_MAX_PAUSE_MS 50

/*
 * Locks object objid of catalog classid (RelationRelationId: the relation
 * objid) in mode.  While the sessions that held it at the first try still
 * hold it, it is tried without queueing, so sessions arriving meanwhile
 * pass it; it queues as any request does once those are gone (what holds
 * it then came during the tries, and a stream of short holders does not
 * starve it; a long one that came meanwhile is waited for as it is), after
 * LOCK_TRIES_MS, or half of lock_timeout (which bounds the tries and the
 * queued wait together), and at once where trying could hide a cycle of
 * waits from the deadlock detector: when a holder is trying for a lock
 * itself, or another session waits for a lock this one holds.  Tries wait
 * as wait event Extension.
 */
extern void lock_trying_first(Oid classid, Oid objid, LOCKMODE mode);

/*
 * The longest bound lock_tries_bound_waits() sets: as long as the longest
 * pause between two hand-backs of a view (bgw/scheduler.c).
 */
#define LOCK_TRIES_MAX_BOUND_MS 30000

/*
 * For a process that serves many sessions' work in turn (a refresh worker
 * of the pool): from now on lock_trying_first() queues for no lock without
 * limit.  A lock the tries did not get because the sessions that held it
 * at the first try hold it still is given up at once; a queued wait is
 * bounded too (and by lock_timeout).  The tries and the queued wait are
 * each bounded by LOCK_TRIES_MS, twice that for each time in a row the
 * work was given up before (given_up_before), up to
 * LOCK_TRIES_MAX_BOUND_MS and half of timeout_ms (the work's statement
 * timeout, 0 for none): readers that overlap, each longer than
 * LOCK_TRIES_MS, are then waited out.  Past LOCK_TRIES_MS a wait ends
 * as soon as others_wait (NULL: never) says other work waits for this
 * process, so that a longer wait costs no one else's turn.  Called again
 * for each piece of work.  Giving up raises ERRCODE_LOCK_NOT_AVAILABLE;
 * lock_tries_gave_up() says whether a lock was given up since it was last
 * called (a lock_timeout of other code is not).
 */
extern void lock_tries_bound_waits(int given_up_before, int timeout_ms,
								   bool (*others_wait) (void));
extern bool lock_tries_gave_up(void);

/*
 * The last lock given up (a lock_tries_gave_up() does not forget it):
 * *relid in *mode; InvalidOid when it was none of a relation, or none was.
 */
extern void lock_tries_last_given_up(Oid *relid, LOCKMODE *mode);

/*
 * A lock a refresh may wait for, of a relation a session may hold for as
 * long as it likes (a view's, a stage's): lock_trying_first() once waits
 * are bounded, else a plain lock request, queued at once.
 */
extern void lock_unless_held_long(Oid relid, LOCKMODE mode);

/*
 * The transactions of other sessions holding tag in a mode that conflicts
 * with mode, as palloc'd VirtualTransactionIds (one lock manager lookup);
 * whether two such lists share one.
 */
extern List *lock_holders(const LOCKTAG *tag, LOCKMODE mode);
extern bool lock_holders_in_common(List *some, List *others);

/*
 * Some transactions that held a lock at a look, kept without memory of
 * their own (a scheduler keeps one per held view): the first
 * LOCK_HOLDERS_KEPT added.  Whether one transaction held it at two looks
 * (one kept at the first, among the second's): a transaction that did
 * may hold it for ever, and one that never overlapped two looks ended.
 */
#define LOCK_HOLDERS_KEPT 8
typedef struct LockHolders
{
	int			count;
	VirtualTransactionId vxids[LOCK_HOLDERS_KEPT];
} LockHolders;

extern void lock_holders_add(LockHolders *holders, VirtualTransactionId vxid);
extern bool lock_holders_overlap(const LockHolders *before, const LockHolders *now);

#endif
