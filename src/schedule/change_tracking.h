/*-------------------------------------------------------------------------
 * change_tracking.h
 *	  Whether a view's upstreams changed since its last successful run.
 *
 * Every writing transaction leaves rows in pipeline.changes for the source
 * tables it wrote (triggers, see below); every refresh that rewrote a view
 * leaves one for the view.  A view is unchanged when its last success has
 * seen every one of those rows.  Visibility, not counters or clocks, so a
 * concurrent commit can never be missed.
 *
 * What a success has seen.  Each success saves, in
 * pipeline.refresh_snapshots, the snapshot its refresh read the upstreams
 * in, its own top-level transaction id, and the command id of that
 * snapshot.  A change row (relation, xid, command_id) is seen by it when
 *	  - xid is another transaction: pg_visible_in_snapshot(xid, snapshot);
 *	  - xid is the saving transaction itself: command_id < the saved command
 *		id (it was written by an earlier command of that transaction, which
 *		the refresh saw).
 * The second rule is what lets several runs share one transaction (one
 * run_due() call): a downstream view that refreshed after its upstream in
 * the same call has seen the upstream's change row, so it is skipped at the
 * next label when nothing else changed.  The snapshot alone cannot say it:
 * PostgreSQL leaves a transaction's own xid out of its snapshots' in-progress
 * list, so pg_visible_in_snapshot() of one's own xid is true or false
 * depending on whether some later xid ended first, and either answer would
 * be wrong for some of the transaction's writes.
 *
 * Change rows carry the command id of the write (an AFTER trigger fires
 * under the command id of its statement).  The triggers add a row per table,
 * transaction and "refresh position": once a run in this transaction has
 * taken its snapshot at command id K, a later write adds a new row (with a
 * command id >= K) even if the table already has one from this transaction,
 * so a run later in the same transaction, or the next label, sees it as
 * unseen.  A backend-local cache keeps repeated writes from costing a
 * catalog lookup each.
 *
 * Which views can never be judged unchanged (they always run): a view whose
 * query, or a plain view it reads, calls a volatile function, or a
 * non-immutable function that is not one of PostgreSQL's built-ins (its
 * reads are invisible here: a STABLE SQL function counting rows of a table),
 * directly, through an operator, a cast, a function's default argument, an
 * aggregate's support functions or a sort/group operator; reads a table
 * under row-level security policies or an unlogged table (crash recovery
 * empties it unseen); samples a table without REPEATABLE;
 * or reads a foreign or partitioned table, a partition, a table with
 * inheritance parents or children, a system catalog or an unmanaged
 * materialized view.  Stream and mirror views are judged by their bound
 * query like the others.
 *
 * The triggers on each source table, added on a downstream view's first
 * run (through runas_ddl(), as the extension's owner):
 *	  pipeline_record_change			AFTER statement, ENABLE ALWAYS: also under
 *										session_replication_role = replica
 *	  pipeline_record_change_replica	AFTER row, ENABLE REPLICA: logical
 *										replication apply workers fire row
 *										triggers only, never statement ones
 * A table whose triggers are missing, disabled or altered gets them back and
 * a change row: writes before went unrecorded, for every view reading it.
 * The DDL guard (guard.c) refuses dropping, disabling, renaming or
 * replacing them outside the API.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CHANGE_TRACKING_H
#define PIPELINE_CHANGE_TRACKING_H

#include "nodes/parsenodes.h"

#define CHANGE_TRACKING_TRIGGER "pipeline_record_change"
#define CHANGE_TRACKING_REPLICA_TRIGGER "pipeline_record_change_replica"

/*
 * Installs the triggers on relid's upstream tables that lack them, waiting
 * for the tables' writers.  For a run, in its transaction, before it locks
 * the view: locks are then taken upstream first, as a refresh cascade or a
 * transaction that writes a source and then refreshes takes them, and the
 * run waits for such a transaction instead of deadlocking with it.
 */
extern void change_tracking_install_triggers(Oid relid);

/*
 * True when relid may be skipped.  Installs the triggers on upstream tables
 * that lack them, but only where the table's lock is free at once (the
 * scheduler never waits, and a wait here is the deadlock above), and then
 * answers false; a busy table is left to the next run.  Needs a transaction
 * and an active snapshot pushed for this run, which must be the one the
 * refresh and change_tracking_refreshed() will use; the caller holds the
 * view's lock.
 */
extern bool change_tracking_unchanged(Oid relid);

/*
 * After a successful refresh (rewritten) or a skip: notes the view changed,
 * saves the active snapshot, transaction and command id (see above).  With
 * consumed, the refresh emptied what it read (a stage mirror): its own
 * writes of its sources count as seen, so it may skip the next label.
 */
extern void change_tracking_refreshed(Oid relid, bool rewritten, bool consumed);

/*
 * Forgets what relid's last success has seen, so that its next run is not
 * skipped: a redefined publication wrote nothing, its next run writes.
 */
extern void change_tracking_forget_seen(Oid relid);

/*
 * Deletes the rows of pipeline.changes that can never matter again: those
 * every view reading their relation has seen in its last success, and that
 * every snapshot open now sees too (a view with no success yet, or running
 * now, may take a snapshot that misses them).  One view that stops
 * succeeding keeps only its own sources' rows.
 */
extern void change_tracking_prune(void);

/*
 * Forgets what the last success of every lake publication has seen, so that
 * its next run is not skipped: a publication's output is a file tree, which
 * no change row covers, and a run that is not skipped compares the files
 * with the manifest and rewrites the partitions missing or damaged
 * (views/publication.h).  For the scheduler, once per process: after a
 * promotion (or a crash, or a restore) the files need not be what this
 * database's catalog says they are.  Returns how many publications.  Needs
 * a transaction; a run that commits before the caller's transaction may
 * still have been skipped, so the caller dispatches no run in it.
 */
extern uint64 change_tracking_recheck_publications(void);

/* The firing mode (TRIGGER_FIRES_*) of one of the triggers above, or 0. */
extern char change_tracking_trigger_mode(const char *trigger_name);

/*
 * Whether CREATE TRIGGER makes one of the triggers above exactly as
 * pipeline does (as a restored dump does; the firing mode is set after).
 */
extern bool change_tracking_trigger_as_made(CreateTrigStmt *stmt);

/* Whether a managed view reads the table (its triggers are in use). */
extern bool change_tracking_table_in_use(Oid table);

/* The relations the managed views read (their upstreams), as OIDs. */
extern List *change_tracking_tables_read(List *views);

/*
 * Drops the triggers of those of the tables no managed view reads any more
 * (the last one dropped or redefined), so that their writes stop recording
 * changes.  A table someone holds now is left for a later call, and so are
 * pipeline's own tables (a view may read its catalog, which the caller's
 * transaction would hold to its end).  A view defined over
 * such a table later gives it the triggers again, as for any table.  Their
 * change rows go with the usual pruning.  Needs a transaction; holds the
 * tables it released to its end.
 */
extern void change_tracking_release_unread_tables(List *tables);

/*
 * The same for every table, pipeline's own too (the scheduler's
 * housekeeping, which commits at once).
 */
extern void change_tracking_release_every_unread_table(void);

/*
 * A change row for table, if a view reads it, for DDL that changes what a
 * view reads without a write (row-level security turned off, a new owner).
 */
extern void change_tracking_record_ddl(Oid table);

#endif
