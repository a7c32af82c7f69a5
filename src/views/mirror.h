/*-------------------------------------------------------------------------
 * mirror.h
 *	  Mirrors (@matview-type mirror): the latest row per key of a change
 *	  stream, kept by the scheduler with apply_changes()' rules.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_MIRROR_H
#define PIPELINE_MIRROR_H

#include "postgres.h"

#include "model/catalog.h"
#include "model/dpl.h"
#include "nodes/parsenodes.h"

/*
 * Checks a mirror's definition against its query, analyzed as the caller
 * (the keys, sequence, operation and incremental key are output columns;
 * without an incremental key the query reads exactly one table).  Errors
 * name the view and the column.  With claim_stage, a definition about to
 * empty its stage takes it first (mirror_claim_stage()), so that no view
 * starts reading it unseen.
 */
extern void mirror_check(const MatviewDefinition *def, bool claim_stage);

/* The table a mirror without an incremental key empties, or InvalidOid */
extern Oid	mirror_stage(const MatviewDefinition *def);

/*
 * Takes stage, with its parents and children (ACCESS EXCLUSIVE, as emptying
 * it does), unless def redefines a mirror of it already, then refuses it if
 * another managed view reads it, as of then.
 */
extern void mirror_claim_stage(const MatviewDefinition *def, Oid stage);

/*
 * Refuses a definition (of any kind) whose query reads a table that another
 * mirror without an incremental key empties.
 */
extern void mirror_refuse_reading_stages(const MatviewDefinition *def);

/*
 * The analyzed query with only the columns the mirror's table keeps: all
 * but the operation column and the incremental key (a shallow copy).
 */
extern Query *mirror_table_query(Query *query, const MatviewDefinition *mirror);

/*
 * Creates the mirror's table, empty, as owner: the query's columns but the
 * operation and incremental key, with a primary key on the mirror keys.
 */
extern void mirror_create_table(Oid owner, const char *qualified, const char *bound_query,
								const char *options_json, const char *incremental_key);

/*
 * Applies the changes above the mirror's mark (all of them when populating
 * a new table) and stores the new mark in the same transaction; without
 * an incremental key, applies and empties the stage table.  Runs the
 * query as the owner, security-restricted.  Returns the rows inserted,
 * updated and deleted; *detail says how many of each (palloc'd).
 */
extern uint64 mirror_refresh(Oid relid, char **detail);
extern uint64 mirror_populate(Oid relid);

/*
 * Before anything locks a stage mirror (refresh_lock_sources()): locks its
 * stage as its refresh will to empty it (ExclusiveLock, which waits for the
 * stage's writers and for a run adding its tracking triggers), when the
 * owner has the rights LOCK TABLE asks for; else the refresh meets the
 * error.  Nothing for a stream mirror, which leaves its stream as it is.
 */
extern void mirror_lock_stage(const ManagedView *view);

/*
 * Why a redefinition that changes a mirror's keys or columns cannot
 * rebuild it from its stream (NULL when it can): a stage is emptied as it
 * is consumed, a stream may have dropped keys the mirror consumed, and a
 * rebuild replays the stream as one batch, which gives another outcome
 * than the runs did when their batching decided one.  new_bound is the new
 * definition's bound query, mirror its options (keys and sequence, its
 * incremental key set); runs the check as owner.
 */
extern char *mirror_rebuild_refusal(Oid relid, Oid owner, const char *old_key,
									const char *new_bound, const MatviewDefinition *mirror);

#endif
