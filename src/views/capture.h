/*-------------------------------------------------------------------------
 * capture.h
 *	  Change capture for differential refresh: which columns of which
 *	  tables are captured, for which views, and the per-table change log.
 *
 * A captured table T has a log, pipeline.capture_log_<n> (extension member,
 * owned by the catalog owner, no grants, no index, WAL-logged):
 *	  xid	xid8	top-level transaction of the write (pg_current_xact_id())
 *	  cid	int8	command id of the writing statement
 *	  sign	int2	+1 new row image, -1 old row image, 0 TRUNCATE marker
 *	  a<N>			source column N, same type, typmod and collation
 * and triggers calling pipeline.capture_change() that append to it
 * (capture_write.c):
 *	  pipeline_capture_insert	AFTER INSERT, NEW TABLE, per statement, ALWAYS
 *	  pipeline_capture_update	AFTER UPDATE, OLD and NEW TABLE, per statement,
 *								ALWAYS
 *	  pipeline_capture_delete	AFTER DELETE, OLD TABLE, per statement, ALWAYS
 *	  pipeline_capture_truncate AFTER TRUNCATE, per statement, ALWAYS
 *	  pipeline_capture_replica	AFTER INSERT OR UPDATE OR DELETE, per row,
 *								REPLICA: logical replication apply workers
 *								fire row triggers only; logs only in them
 * Each log row commits or aborts with the write it describes, so a snapshot
 * sees exactly the log rows of the writes it sees.
 *
 * pipeline.capture_sources has one row per captured table (its log, the
 * captured columns, capture_xid: the transaction that last started or
 * widened capture); pipeline.capture_consumers one per (view, table) with
 * the columns the view needs.  Captured columns only grow while a table is
 * captured; capture stops when no view consumes the table any more.
 *
 * Everything here writes the catalog and runs DDL as the catalog owner with
 * search_path pinned; needs a transaction.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CAPTURE_H
#define PIPELINE_CAPTURE_H

#include "access/transam.h"
#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"

/* the trigger names, and what the guard and DROP EXTENSION ask about them */
#include "views/capture_ddl.h"

/*
 * View matview needs the columns attnums of table source: records it and
 * starts or widens capture.  When all of that is in place and committed
 * already, it returns at once, taking only AccessShareLock (a refresh may
 * call it every time).  Otherwise it locks source with
 * ShareRowExclusiveLock first (CREATE TRIGGER's lock: writers in progress
 * finish, new ones wait for our commit), then creates the log, adds
 * missing columns and (re)creates missing or altered triggers;
 * capture_xid becomes this transaction when any of that happened.  The
 * consumer's columns are replaced by attnums.
 */
extern void capture_register(Oid matview, Oid source, Bitmapset *attnums);

/*
 * Whether source is captured with attnums and matview is registered as
 * consuming them: then capture_register() has nothing to do (and need not
 * make writers wait for its lock).
 */
extern bool capture_serves(Oid matview, Oid source, Bitmapset *attnums);

/* Whether matview is registered as consuming any source. */
extern bool capture_consumes_any(Oid matview);

/*
 * The sources whose capture stops once matviews consume nothing (OIDs,
 * sorted): those no other view consumes.  Stopping a capture drops its
 * triggers (DROP TRIGGER: AccessExclusiveLock on the table), so a drop or
 * redefinition locks them with its views, all or nothing.
 */
extern List *capture_sources_stopping(List *matviews);

/*
 * Forgets what matview consumes, and stops capture (triggers, log, row) of
 * every table nobody consumes any more.
 */
extern void capture_unregister(Oid matview);

/*
 * Stops capture of the tables nobody consumes any more (a forgotten view's
 * sources) whose locks are free at once: housekeeping, which never waits
 * for a source's writers.
 */
extern void capture_stop_unconsumed(void);

/*
 * The log of source and its captured attnums (sorted, palloc'd), or
 * InvalidOid when source is not captured.
 */
extern Oid	capture_log(Oid source, int *ncolumns, AttrNumber **attnums);

/*
 * The transaction that started or last widened capture of source, or
 * InvalidFullTransactionId when it is not captured.  A position saved by a
 * snapshot that does not see this transaction predates the capture.
 */
extern FullTransactionId capture_started_xid(Oid source);

/*
 * Deletes log rows every consumer has consumed: xid below the least
 * pg_snapshot_xmin of the consumers' positions (pipeline.differential_positions)
 * and below the oldest snapshot still open (a consumer whose first refresh
 * is running saves its position later).  Consumers without a position do
 * not hold it back.  Waits for no lock (the log's, or a row another prune
 * is deleting): what it leaves goes with a later prune.
 */
extern void capture_prune(Oid source);

/*
 * Holds source's change log against pruning until the end of the
 * transaction: a refresh that saves a view's position takes it, since until
 * the position commits, pruning (which bounds itself by the committed
 * positions and the oldest snapshot in use) may not see that the position's
 * snapshot missed a writer: in READ COMMITTED the refresh's snapshot is
 * gone once its statement ends, and a prepared transaction keeps none.
 * Prepared transactions keep their locks, so the hold lasts to COMMIT
 * PREPARED.
 */
extern void capture_hold_log(Oid source);

/*
 * Forgets the positions of the views that consume source's changes, so
 * that each one's next refresh is full: for a change the log cannot show
 * (crash recovery empties an unlogged table without a write).
 */
extern void capture_forget_positions(Oid source);

/* capture_prune() of every captured table (housekeeping). */
extern void capture_prune_all(void);

/*
 * For the DDL guard: whether the table is captured, and the views that
 * consume the column's changes.
 */
extern bool capture_table_in_use(Oid table);
extern List *capture_column_consumers(Oid table, AttrNumber attnum);

#endif
