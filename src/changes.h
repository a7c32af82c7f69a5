/*-------------------------------------------------------------------------
 * changes.h
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
 * Applies the changes in relation "changes" to "target" (see API.md §6).
 * Runs as the calling user; needs a transaction and an active snapshot;
 * connects to SPI itself.  Any bad input is an ERROR raised before the
 * target is modified.
 */
extern ChangeCounts changes_apply(Oid changes, Oid target, List *keys,
								  const char *sequence_by, const char *op_column,
								  const char *delete_op, bool truncate_changes);

#endif
