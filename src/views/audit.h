/*-------------------------------------------------------------------------
 * audit.h
 *	  Audits before publishing (API.md section 10): a view's expectations
 *	  are checked over its new contents inside the transaction that made
 *	  them, so contents that fail are never seen.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_AUDIT_H
#define PIPELINE_AUDIT_H

#include "model/dpl.h"
#include "storage/itemptr.h"
#include "tcop/dest.h"
#include "utils/relcache.h"

/*
 * Binds def's @expect expressions to the columns of relation shape (the
 * view's relation; for a publication, whose relation is its manifest, or
 * with InvalidOid, a temporary one made from def->bound_query): each becomes
 * "name: <deparsed expression over v>", qualified as bound queries are,
 * in def->expectations and def->options_json.  Checks @expect-unique's
 * columns.  Errors name the expectation: not boolean, not an expression of
 * one row, a column the view does not have.
 */
extern void audit_bind(MatviewDefinition *def, Oid shape);

/*
 * Checks view relid's stored expectations (its options_json, of a view of
 * type) over its contents, or over source_query's rows when not NULL (a
 * publication, before it writes).  As the view's owner, in a
 * security-restricted operation.  Every check's outcome is kept for
 * audit_record(); when one fails, errors naming it, the number of rows
 * that violate it and one of them.  Does nothing for a view without
 * expectations.
 */
extern void audit_check(Oid relid, MatviewType type, const char *options_json,
						const char *source_query);

/*
 * The same for a stream view's batch: its row expectations are checked on
 * the rows whose batch_key is above batch_mark (the mark before the run,
 * as text in incremental_pin_mark_format()'s format; every row when NULL),
 * uniqueness for the batch's keys against every row, the row count of the
 * whole relation.
 */
extern void audit_check_batch(Oid relid, MatviewType type, const char *options_json,
							  const char *source_query, const char *batch_key,
							  const char *batch_mark);

/*
 * The same for a differential refresh that applied changes to a regular
 * view: its row expectations are checked on the rows it inserted or
 * rewrote (places, their ctids), its row count taken as rows, uniqueness
 * for those rows' keys against every row.
 */
extern void audit_check_written(Oid relid, const char *options_json,
								const ItemPointerData *places, int64 nplaces, int64 rows);

/*
 * For a full refresh that writes a regular view's new rows through a
 * receiver (views/swap_refresh.c): inner wrapped in one that counts the
 * view's row expectations and rows as they pass (inner itself when there is
 * nothing to count, or when the fill's plan is parallel and an expectation
 * may not run beside it).  Made, and the rows written, as the view's owner
 * in a security-restricted operation.  audit_check_tallied() then checks the
 * view's expectations as audit_check() does over source_query's rows,
 * taking the counts from the receiver instead of a scan of them.
 */
extern DestReceiver *audit_tally_receiver(Oid relid, const char *options_json,
										  DestReceiver *inner, bool parallel_fill);
extern void audit_check_tallied(Oid relid, const char *options_json,
								const char *source_query, DestReceiver *receiver);

/*
 * In a PG_CATCH block around the rows' writing through receiver: an error an
 * expectation raised fails the audit by its name; any other is re-thrown.
 * caller: the memory context before PG_TRY; reader: the role the error's
 * text is for, if it may read the view.
 */
extern void audit_tally_rethrow(DestReceiver *receiver, MemoryContext caller,
								Oid reader) pg_attribute_noreturn();

/* Whether options_json holds any expectation (cheap: for every refresh). */
extern bool audit_has_expectations(const char *options_json);

/*
 * For keeping expectations bound across renames (compile/rebind.c): the
 * stored expectations of view relid analyzed (before a rename), and the
 * view's options with them deparsed again (after it), naming what they
 * are bound to by its new names.  NIL for none, or a publication's.
 */
extern List *audit_analyze_stored(Oid relid, MatviewType type, const char *options_json);
extern char *audit_rebound_options(Oid relid, MatviewType type, const char *options_json,
								   List *analyzed);

/* Forgets the outcomes kept; a run starts so. */
extern void audit_forget(void);

/* Whether the last check failed an expectation (not another error). */
extern bool audit_failed(void);

/*
 * Records the outcomes kept for view relid in pipeline.audits under
 * run_id, when the installed SQL has it (1.6 on).  Needs a transaction.
 */
extern void audit_record(int64 run_id, Oid relid);

#endif							/* PIPELINE_AUDIT_H */
