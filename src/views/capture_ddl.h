/*-------------------------------------------------------------------------
 * capture_ddl.h
 *	  The DDL of change capture (capture_ddl.c): a captured table's
 *	  triggers and its log, made and removed as the catalog owner through
 *	  runas_ddl(); capture.h says what they are.  The trigger names and
 *	  the questions the guard and DROP EXTENSION ask are public (capture.h
 *	  includes this header); the rest is for capture.c.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CAPTURE_DDL_H
#define PIPELINE_CAPTURE_DDL_H

#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"
#include "utils/relcache.h"

#define CAPTURE_INSERT_TRIGGER "pipeline_capture_insert"
#define CAPTURE_UPDATE_TRIGGER "pipeline_capture_update"
#define CAPTURE_DELETE_TRIGGER "pipeline_capture_delete"
#define CAPTURE_TRUNCATE_TRIGGER "pipeline_capture_truncate"
#define CAPTURE_REPLICA_TRIGGER "pipeline_capture_replica"

/* The transition tables' names in the triggers */
#define CAPTURE_OLD_TABLE "pipeline_old"
#define CAPTURE_NEW_TABLE "pipeline_new"

/*
 * The firing mode (TRIGGER_FIRES_*) of a capture trigger name, or 0; and
 * whether CREATE TRIGGER makes one exactly as pipeline does (a restored
 * dump).
 */
extern char capture_trigger_mode(const char *trigger_name);
extern bool capture_trigger_as_made(CreateTrigStmt *stmt);

/*
 * pipeline.capture_change(), or InvalidOid when the installed SQL has none
 * (DROP EXTENSION removes the triggers that call it).
 */
extern Oid	capture_function_oid(void);

/*
 * Creates the capture triggers source lacks or has altered; true if any
 * was.  The caller holds ShareRowExclusiveLock on source.
 */
extern bool capture_ensure_triggers(Oid source);

/*
 * Whether source has every capture trigger as pipeline makes it, as
 * committed (its relcache entry, brought up to date by AccessShareLock).
 */
extern bool capture_has_triggers(Oid source);

/* Drops source's capture triggers, those there are. */
extern void capture_drop_triggers(Oid source);

/*
 * A new log for source with columns attnums, an extension member with no
 * grants; returns its OID.
 */
extern Oid	capture_create_log(Relation source, const Bitmapset *attnums);

/* Adds columns attnums of source to the log. */
extern void capture_add_log_columns(Oid log, Relation source, const Bitmapset *attnums);

/*
 * Drops the log's columns of attnums (of captured) whose type, typmod or
 * collation is no longer the source column's (retyped while no view read
 * it, since the guard refuses retyping a column a view reads), and
 * returns them: the caller adds them again.
 */
extern Bitmapset *capture_drop_stale_log_columns(Oid log, Relation source,
												 const Bitmapset *attnums);

/* Drops a log (it stops being an extension member first). */
extern void capture_drop_log(Oid log);

#endif
