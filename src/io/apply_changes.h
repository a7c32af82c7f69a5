/*-------------------------------------------------------------------------
 * apply_changes.h
 *	  Applying a table of CDC changes (I/U/D rows ordered by a sequence)
 *	  to a Type-1 mirror table: pipeline.apply_changes().
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CHANGES_H
#define PIPELINE_CHANGES_H

#include "postgres.h"

/* What one application of a change table did to the target. */
typedef struct ChangeCounts
{
	int64		inserted;
	int64		updated;
	int64		deleted;
} ChangeCounts;

/*
 * Applies the changes in relation "changes" to "target" (see API.md §6 and
 * §9).  The statements that touch the change table and the target run as
 * the calling user; the deleted-key memory (pipeline.deleted_keys: the
 * sequence of every key a delete removed, so that an older change arriving
 * later never brings the row back) is read and written as the catalog
 * owner.  Needs a transaction and an active snapshot; connects to SPI
 * itself.  Any bad input is an ERROR, and the error undoes whatever the
 * call had done.  Not re-entrant: a trigger on the target that calls
 * apply_changes() again gets an error.
 */
extern ChangeCounts changes_apply(Oid changes, Oid target, List *keys,
								  const char *sequence_by, const char *op_column,
								  const char *delete_op, bool truncate_changes);

#endif
