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

#include "storage/lockdefs.h"

/*
 * How long a lock is tried without queueing (as long as VACUUM tries for
 * the lock to truncate a table), and the longest pause between two tries.
 */
#define LOCK_TRIES_MS 5000
#define LOCK_TRIES_MAX_PAUSE_MS 50

/*
 * Locks object objid of catalog classid (RelationRelationId: the relation
 * objid) in mode.  While another session holds it, it is tried without
 * queueing, for up to LOCK_TRIES_MS; after that, or once only queued
 * requests stand in the way, it queues as any request does, so holders
 * that always overlap cannot starve the caller and a cycle of waits
 * reaches the deadlock detector.  lock_timeout bounds the tries and the
 * queued wait together; when it ends the tries, the error's detail names
 * who held the object as holders_of followed by the object ("Readers of"
 * "materialized view v").  Waits as wait event Extension.
 */
extern void lock_trying_first(Oid classid, Oid objid, LOCKMODE mode, const char *holders_of);

#endif
