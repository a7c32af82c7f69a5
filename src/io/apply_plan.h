/*-------------------------------------------------------------------------
 * apply_plan.h
 *	  What apply_changes() learns about its change table and target before
 *	  it writes anything, and the one MERGE statement that applies the
 *	  changes.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_APPLY_PLAN_H
#define PIPELINE_APPLY_PLAN_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"

/* The change table and the target as the apply sees them */
typedef struct ApplyPlan
{
	const char *changes_sql;	/* "schema"."name", or "(query)", for SQL text */
	int			source_nargs;	/* parameters the query takes, as $2... */
	Oid		   *source_argtypes;
	Datum	   *source_values;
	const char *target_sql;
	const char *changes_name;	/* as the user names them, for messages */
	const char *target_name;
	List	   *keys;			/* key column names */
	const char *sequence_by;
	const char *op_column;
	List	   *ignored;		/* change columns left out */
	List	   *columns;		/* change columns copied into the target */
	List	   *set_columns;	/* non-key columns of those */
	List	   *key_attnos;		/* the keys' columns in the change table */
	AttrNumber	seq_attno;		/* the sequence's */
	List	   *key_eq;			/* per key: SQL of t.k = s.k */
	char	   *seq_gt;			/* SQL of t.seq > s.seq, or NULL: no target
								 * column */
	char	   *seq_cast;		/* makes t.seq the changes' sequence type;
								 * NULL when it cannot */
	double		changes_estimate;	/* rows in the change table, as the
									 * planner guesses them; 0 for a query */
} ApplyPlan;

/*
 * Checks the key, sequence and operation columns of the change table and
 * that every other change column has a writable target column of the same
 * name; fills in the rest of the plan (names, keys, sequence_by and
 * op_column must be set).  Any mismatch is an ERROR naming the column.
 */
extern void apply_plan_columns(ApplyPlan *p, Relation changes, Relation target);

/* The same for change columns described by cdesc (a query's). */
extern void apply_plan_columns_desc(ApplyPlan *p, TupleDesc cdesc, TupleDesc tdesc);

/*
 * The MERGE that applies the change table to the target, with the delete
 * op as parameter $1.  Every change passes through
 * pipeline.apply_changes_row() in key and descending sequence order, which
 * lets through each key's newest change if it is good: a key whose newest
 * change is bad is left alone.
 * With remember_deletes, a null-sequence delete
 * passes the row's sequence to the deleted-key memory; with probe, an
 * insert of an absent key first asks the memory whether it was deleted by
 * a newer change.  Every name is qualified, since the statement runs as the
 * caller under the caller's search_path.
 */
extern char *apply_plan_merge(const ApplyPlan *p, bool remember_deletes, bool probe);

/* Whether the change column name is copied into the target. */
extern bool apply_plan_copies(const ApplyPlan *p, const char *name);

/*
 * The parameters of every statement reading the changes: $1 the delete
 * op, then the change query's own.  Returns how many.
 */
extern int	apply_plan_args(const ApplyPlan *p, const char *delete_op, Oid **argtypes,
							Datum **values);

/*
 * Appends the quoted names in list, each prefixed "prefix." unless prefix
 * is NULL, separated by sep.
 */
extern void append_name_list(StringInfo buf, List *names, const char *prefix,
							 const char *sep);

#endif
