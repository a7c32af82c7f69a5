/*-------------------------------------------------------------------------
 * deleted_keys.h
 *	  apply_changes()'s deleted-key memory (pipeline.deleted_keys): the
 *	  sequence of every key a delete removed from a target, so that an
 *	  older change arriving later never brings the row back.
 *
 * One apply at a time has a memory (apply_changes() is not re-entrant); it
 * lives from deleted_keys_begin() to deleted_keys_end(), or until
 * deleted_keys_forget() after an error, whose abort releases what it held.
 * Reads and writes of pipeline.deleted_keys run as the catalog owner.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DELETED_KEYS_H
#define PIPELINE_DELETED_KEYS_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "fmgr.h"
#include "nodes/pg_list.h"

/*
 * Sets up the memory for an apply into target whose change table has the
 * given sequence and key columns, and about "changes" rows (an estimate; 0
 * when unknown: it decides whether the target's remembered keys are read
 * whole or probed one by one).  Errors if the sequence's type has no
 * default btree ordering.  Needs a transaction; allocates in a child of
 * CurrentMemoryContext.
 */
extern void deleted_keys_begin(Oid target, TupleDesc cdesc, AttrNumber seq_attno,
							   List *key_attnos, double changes);

/* The target of the apply that has a memory, or InvalidOid if none has */
extern Oid	deleted_keys_target(void);

/*
 * Whether the installed SQL has pipeline.deleted_keys (1.2 on); a library
 * newer than its SQL applies as 1.1 did, remembering nothing.
 */
extern bool deleted_keys_installed(void);

/*
 * Forgets the target's keys deleted longer ago than
 * pipeline.deleted_keys_retention (when its last pruning is an eighth of
 * the retention old), and returns whether the target still has keys
 * remembered (then inserts must probe the memory).  Needs SPI connected.
 */
extern bool deleted_keys_prune(void);

/*
 * Bracket the MERGE: its ExecutorStart hands its executor's query memory
 * over, where the calls of its own expressions are set up, and only those
 * calls (deleted_keys_merge_call()), run under the MERGE's snapshot and
 * resource owner, act on the apply's counts and memory: not one from a
 * trigger, or from a function its change table or target calls, which may
 * run under others.  The end also closes the probes' index scan, whose
 * snapshot was the MERGE's.
 */
extern void deleted_keys_merge_started(MemoryContext query_context);
extern bool deleted_keys_merge_call(FunctionCallInfo fcinfo);
extern void deleted_keys_merge_end(void);

/*
 * Told by the row check about good changes in the MERGE's stream (key and
 * descending sequence order): the first change of a key is its winner, and
 * a winning delete is remembered.  fcinfo is apply_changes_row()'s:
 * argument 2 is the sequence, the keys follow, of the change table's types
 * (else an error; *checked, zero at first, notes that they were checked for
 * this apply, so a call site is checked once).  Returns whether it wants to
 * hear of the key's next changes (a null-sequence delete looks for its
 * key's newest sequence); if not, the row check may leave them out, and
 * tells it only of the next key's first change, if that is a delete.
 */
extern bool deleted_keys_note(FunctionCallInfo fcinfo, uint64 *checked, bool same_key,
							  bool is_delete);

/*
 * After the MERGE: writes the winning deletes to pipeline.deleted_keys, one
 * row per key with its newest sequence, never replacing a newer remembered
 * one.  Needs SPI connected.
 */
extern void deleted_keys_record(void);

/*
 * The memory's format, for rewriting what it remembers when a statement
 * changes how values are written (compile/remembered_keys.c): a key's
 * fields (the values of its nkeys key columns as text; NIL when key is not
 * such a text), a key made of its fields, and pinning the settings keys and
 * sequences are written under (undone by runas_unpin_settings()).
 */
extern List *deleted_keys_key_fields(const char *key, int nkeys);
extern char *deleted_keys_key_of_fields(List *fields);
extern int	deleted_keys_pin_output_settings(void);

/* Frees the memory and closes what it opened; on success only */
extern void deleted_keys_end(void);

/* Drops the memory after an error (the abort has released its resources) */
extern void deleted_keys_forget(void);

#endif
