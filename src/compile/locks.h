/*-------------------------------------------------------------------------
 * locks.h
 *	  What the compile step locks, and how: all or nothing, never waiting
 *	  while holding a lock, so it cannot deadlock with a run (README.md).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LOCKS_H
#define PIPELINE_LOCKS_H

#include "nodes/pg_list.h"
#include "postgres_ext.h"

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

/*
 * Locks the name relname in schema nspid for a new view: sessions creating
 * a view of the same name queue here, and the one behind finds the view
 * the other committed (a lock on the name, never on the schema's number 0
 * that CREATE takes); they met at PostgreSQL's unique index on type names
 * (23505).  Held to the end of the transaction.
 */
extern void compile_lock_view_name(Oid nspid, const char *relname);

/*
 * compile_lock_view_name() for the view of each of defs, in one order
 * whatever the order of defs, so two update sets naming the same views
 * never wait for each other's names crosswise.  Takes them before any
 * relation lock, as a definition of one view does.
 */
extern void compile_lock_view_names(List *defs);

#endif
