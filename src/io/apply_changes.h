/*-------------------------------------------------------------------------
 * apply_changes.h
 *	  Applying a table of CDC changes (I/U/D rows ordered by a sequence)
 *	  to a Type-1 mirror table: pipeline.apply_changes().  The steps live
 *	  in apply_plan (the columns and the MERGE), apply_check (the row
 *	  check and its errors) and deleted_keys (the deleted-key memory).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CHANGES_H
#define PIPELINE_CHANGES_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "nodes/pg_list.h"

/* What one application of a change table did to the target. */
typedef struct ChangeCounts
{
	int64		inserted;
	int64		updated;
	int64		deleted;
} ChangeCounts;

/*
 * Applies the changes in relation "changes" to "target".  Columns are
 * matched by name; keys name the key columns, sequence_by the column that
 * orders the changes of a key, op_column the operation ('I', 'U' or
 * delete_op).  Per key the change with the greatest sequence wins (a
 * delete with a null sequence counts as the newest): delete_op deletes the
 * row, any other operation inserts or updates it, and a change older than
 * the target row's own sequence (when the target has that column) does
 * nothing.  Change columns named in ignore_columns are left out; any
 * other must match a target column.  With truncate_changes the change
 * table is emptied of what was applied.  Returns how many rows were inserted, updated and deleted.
 *
 * The statements that touch the change table and the target run as the
 * calling user; the deleted-key memory (pipeline.deleted_keys: the sequence
 * of every key a delete removed, so that an older change arriving later
 * never brings the row back) is read and written as the catalog owner.
 * Needs a transaction and an active snapshot; connects to SPI itself.  Any
 * bad input is an ERROR, and the error undoes whatever the call had done.
 * Not re-entrant: a trigger on the target that calls apply_changes() again
 * gets an error.
 */
extern ChangeCounts changes_apply(Oid changes, Oid target, List *keys,
								  const char *sequence_by, const char *op_column,
								  const char *delete_op, List *ignore_columns,
								  bool truncate_changes);

/*
 * Changes read by a query instead of a table (a mirror's): sql is a SELECT
 * whose parameters are $2 on ($1 is taken), desc its output columns, name
 * how messages call it.  With empty_table (the one table the query reads;
 * InvalidOid for none), that table is locked against writers before the
 * changes are read and emptied after they are applied.
 */
typedef struct ChangeQuery
{
	const char *sql;
	const char *name;
	TupleDesc	desc;
	int			nargs;
	Oid		   *argtypes;
	Datum	   *values;
	Oid			empty_table;
} ChangeQuery;

/*
 * changes_apply() with changes read by a query, all as the current user
 * (the deleted-key memory aside).  Same rules, same errors.
 */
extern ChangeCounts changes_apply_query(const ChangeQuery *source, Oid target,
										List *keys, const char *sequence_by,
										const char *op_column, const char *delete_op,
										List *ignore_columns);

#endif
