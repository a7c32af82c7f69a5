/*-------------------------------------------------------------------------
 * diff_sql_private.h
 *	  What diff_sql.c (the view's rows and their delta) and
 *	  diff_sql_group.c (grouped views' state) share.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DIFF_SQL_PRIVATE_H
#define PIPELINE_DIFF_SQL_PRIVATE_H

#include "views/diff_shape.h"

#define AGG_PARAM_BASE 9000		/* $9001..: an aggregate in the finalize */
#define KEY_PARAM_BASE 9500		/* $9501..: a group key in the finalize */

/* One SELECT of the view, flattened (diff_sql.c). */
typedef struct DiffBranch
{
	List	   *occurrences;	/* DiffOccurrence, in range-table order */
	char	   *inner;			/* the flattened query, placeholder inside */
	char	   *placeholder;	/* the multiplicity's stand-in, as deparsed */
} DiffBranch;

typedef struct DiffOccurrence
{
	Oid			relid;
	char	   *alias;
	char	   *from_item;		/* as the deparsed text has it */
} DiffOccurrence;

struct DiffSql
{
	DiffShape  *shape;
	const char *view;
	const char *state;
	List	   *branches;		/* DiffBranch: the query, or each UNION ALL
								 * branch */
	int			nkeys;			/* grouped: c1..c<nkeys> are the keys */
	int		   *arg_column;		/* grouped: per aggregate, its c<n> or 0 */
	int		   *nn_column;		/* grouped: per aggregate, the n of the nn_<n>
								 * it reads (diff_sql_share_columns) */
	int		   *sum_column;		/* grouped: per sum or avg, the n of its
								 * sum_<n>, scale_<n> and scale_n_<n> */
	List	   *view_columns;	/* quoted column names of the view */
	Oid		   *key_types;		/* per key (grouped) or column (bag), 0-based:
								 * its type (compared by equality_expr_sql()) */
	Oid		   *read_types;		/* bag: per column, 0-based, its type where
								 * equal values may read differently (2.5,
								 * 2.50), else InvalidOid */
	Oid		   *bag_collations; /* bag: per column, 0-based, the collation of
								 * a collatable one, else InvalidOid */
	char	  **bag_types;		/* bag: per column, 0-based, its type (and
								 * typmod) in SQL, for a cast */
	char	   *finalize_list;	/* grouped: the select list from s */
	char	   *finalize_having;	/* grouped: NULL or a condition on s */
	bool		keep_extremes;	/* min/max state: top_<n>[], not ext_<n> */
	bool		functions_1_9;	/* 1.9's extremes_merged(), kept_extremes(...,
								 * copies) and max_scale() are installed */
	bool		sum_by_adding;	/* a delta's sums by pipeline.numeric_sum() */
};

/* "prefix<from>, ..., prefix<to>" */
extern char *column_list(const char *prefix, int from, int to);

/* ROW(a..)::record = ROW(b..)::record: equal, NULLs included, hashable */
extern char *rows_equal(const char *left_prefix, const char *right_prefix, int n);

/*
 * "l1 = r1 AND ...": the first n keys (columns of a bag view) equal, by
 * their types' equality operators; "true" for none.  Indexable, but false
 * for NULLs: rows with a NULL key go through rows_equal().
 */
extern char *keys_equal(struct DiffSql *sql, const char *left_prefix,
						const char *right_prefix, int n);

/* "<expr> IS NULL" for a value of type, asking about the value itself */
extern char *null_value_sql(const char *expr, Oid type);

/*
 * "(p1 IS NULL OR ...)": some of the first n keys is NULL (a row of null
 * fields is not); "false" for none.
 */
extern char *some_key_null(struct DiffSql *sql, const char *prefix, int n);

/* The quoted names, each after prefix, comma-separated. */
extern char *name_list(List *names, const char *prefix);

/* The view's inner rows as they are now, each once. */
extern char *inner_now(struct DiffSql *sql);

/* Window columns: the largest scale among rows (that came, that went). */
extern char *scale_windows(struct DiffSql *sql, bool delta);

#endif
