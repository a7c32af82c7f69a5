/*-------------------------------------------------------------------------
 * apply_check.h
 *	  apply_changes()'s check of every change, done in the MERGE's own
 *	  sorted stream by pipeline.apply_changes_row(), and the errors it
 *	  leads to.
 *
 * A change is bad when a key is null, when an insert or update has a null
 * sequence, or when its operation is unknown; two changes repeating a
 * (key, sequence) pair must be identical.  The row check only counts what
 * it sees; apply_check_report() raises the error after the MERGE, which the
 * error undoes.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_APPLY_CHECK_H
#define PIPELINE_APPLY_CHECK_H

#include "io/apply_plan.h"

/*
 * Resets the counts before the MERGE.  apply_changes_row() counts (and
 * tells the deleted-key memory about winning deletes) only when the MERGE
 * calls it from its own expressions (deleted_keys_merge_call()).
 */
extern void apply_check_begin(void);

/*
 * After the MERGE: errors for the first kind of bad change counted (null
 * keys, then null sequences, then unknown operations), with the number of
 * such rows and an example; then, if repeated (key, sequence) pairs were
 * seen, errors if any of them differ.  Returns when all is well.  Reads the
 * change table again (as the current user) only on those paths.  Needs SPI
 * connected.
 */
extern void apply_check_report(const ApplyPlan *p, const char *delete_op);

#endif
