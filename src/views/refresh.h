/*-------------------------------------------------------------------------
 * refresh.h
 *	  Running the refresh of one managed view.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REFRESH_H
#define PIPELINE_REFRESH_H

#include "util/lock_tries.h"

/*
 * Refreshes one materialized view: CONCURRENTLY when it is populated and has
 * a usable unique index, a plain REFRESH otherwise.  The query runs as the
 * view's owner (REFRESH switches to it); the caller must own the view or be
 * a superuser.  Returns the number of rows the query produced.  Takes
 * refresh_lock() first.  Needs a transaction and an active snapshot.
 */
extern uint64 refresh_matview(Oid relid);

/*
 * Fills a materialized view just created WITH NO DATA: a plain REFRESH as
 * its owner, with no ownership check or lock of its own (for pipeline
 * itself, which just made the view).  Returns the rows written.
 */
extern uint64 refresh_populate(Oid relid);

/*
 * Waits for any other refresh, redefinition or drop of the view to finish:
 * ShareUpdateExclusiveLock, held to the end of the transaction, which
 * conflicts with itself, with the locks REFRESH takes and with DROP, but not
 * with readers.  Refreshers of one view queue here rather than all taking a
 * weaker lock and deadlocking when they upgrade it.  Taken all or nothing
 * with AccessShareLock on every relation the view reads (pipeline.edges,
 * an index scan; refresh_lock_with_upstreams()).  Checks ownership before locking, as REFRESH does; fails with
 * SQLSTATE 40001 when the view is gone (dropped, or replaced by a
 * redefinition) by the time the lock is granted.  Costs nothing more when
 * the transaction holds the view already.
 */
extern void refresh_lock(Oid relid);

/*
 * refresh_lock()'s locks alone, with no check of the owner or of the view
 * being gone: ShareUpdateExclusiveLock on the view with AccessShareLock on
 * each relation it reads, all or nothing, so that the caller waits for
 * none of them while it holds another (a transaction that swapped an
 * upstream in may come to the view next; a cascade holding the view may
 * come to swap an upstream).  Returns the upstreams, which
 * refresh_unlock_with_upstreams() lets go with the view.  For a run's
 * claim (schedule/run.h).
 */
extern List *refresh_lock_with_upstreams(Oid relid);
extern void refresh_unlock_with_upstreams(Oid relid, List *upstreams);

/*
 * Whether a run of the view would wait now: another process holds a lock
 * on the view that conflicts with the claim's, refresh_lock_with_upstreams(),
 * or one on a relation it reads that conflicts with it, or (when a run gave
 * that lock up, given_up_relid is valid) a lock on given_up_relid that
 * conflicts with given_up_mode: a full refresh's swap waits for the view's
 * readers too, a stage mirror for its stage's writers (an autovacuum left
 * out, which such a wait cancels); *holders are some of their
 * transactions, to tell whether one held it at an earlier look.  Looked up
 * in the lock table; takes no lock.
 */
extern bool refresh_lock_would_wait(Oid relid, Oid given_up_relid, LOCKMODE given_up_mode,
									LockHolders *holders);

/*
 * The locks a refresh of the view takes on its sources before anything
 * locks the view, in the order every refresh takes them (runs first add
 * tracking triggers, change_tracking.h): the capture a differential view
 * or publication starts on a source (differential_lock_sources_to_capture()),
 * the stage a stage mirror empties (mirror_lock_stage()).  Taken the other
 * way round, a refresh holding the view while it waits for a source would
 * deadlock with a run holding the source while it waits for the view.  The
 * caller has checked that the user may refresh the view.  Costs one index
 * probe for a view that captures its sources already, nothing for a
 * materialized view.
 */
extern void refresh_lock_sources(Oid relid);

/*
 * What the refresh in progress says about how it ran ("differential: ...",
 * "full: <why>"), for pipeline.runs.detail: a backend-local copy, reset to
 * NULL when refresh_matview() starts.  refresh_last_detail() returns what
 * the last refresh set, or NULL.
 */
extern void refresh_set_detail(const char *detail);
extern const char *refresh_last_detail(void);

/*
 * Whether the last refresh_matview() left the view's rows as they were: an
 * incremental view that appended nothing, a mirror that applied nothing.
 * Its downstream views need not run for it (schedule/change_tracking.h).
 * False for any other refresh.
 */
extern bool refresh_last_unchanged(void);

/*
 * Whether the last refresh_matview() emptied the table it read (a stage
 * mirror): its own writes of that table are not changes to refresh for.
 */
extern bool refresh_last_consumed(void);

#endif
