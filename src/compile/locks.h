/*-------------------------------------------------------------------------
 * locks.h
 *	  What the compile step locks, and how: all or nothing, never waiting
 *	  while holding a lock, so it cannot deadlock with a run (README.md).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LOCKS_H
#define PIPELINE_LOCKS_H

#include "nodes/pg_list.h"

#include "compile/changeset.h"

/*
 * Locks views and the tables whose capture stops with them (no other view
 * consumes their changes: dropping the triggers takes AccessExclusiveLock),
 * all exclusively and all or nothing: while one is busy none is held, so
 * the caller never deadlocks with a run, or a reader or writer of a
 * source, that locks them in another order.  Waits as an ordinary lock
 * wait (cancel and lock_timeout work).
 */
extern void compile_lock_views_to_drop(List *views);

/*
 * Locks, all or nothing, everything judging cs needs: its existing views
 * exclusively and so the tables whose capture stops with them, every
 * other relation its queries read shared.
 */
extern void changeset_lock(ChangeSet *cs);

/*
 * Builds the change set of defs (changeset_build()) and locks everything it
 * needs, building it again until the set the locks cover is the set as
 * committed (README.md: a redefinition that waited applies on top of the
 * one it waited for; with a transaction snapshot a change is SQLSTATE
 * 40001).  Returns with the snapshot of the last build pushed as the
 * active snapshot; the caller pops it once done.
 */
extern ChangeSet *changeset_build_and_lock(List *defs);

#endif
