/*-------------------------------------------------------------------------
 * diff_shape.h
 *	  Which queries a differential refresh can maintain, and their shape:
 *	  the classifier (diff_classify.c) and what the SQL generator
 *	  (diff_sql.c) needs from it.
 *
 *	  A maintained query is one SELECT over tables joined by inner or cross
 *	  joins, filtered by a WHERE clause, with at the top a plain projection
 *	  (a bag of rows), GROUP BY keys (or none) with supported aggregates and
 *	  HAVING, or DISTINCT; or a UNION ALL of such queries without grouping.
 *	  Plain views it reads are expanded first (diff_expand.h).  Everything
 *	  else is refreshed fully, with the reason the classifier returns.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DIFF_SHAPE_H
#define PIPELINE_DIFF_SHAPE_H

#include "nodes/bitmapset.h"
#include "nodes/parsenodes.h"

typedef enum DiffAggKind
{
	DIFF_COUNT_STAR,
	DIFF_COUNT,
	DIFF_SUM,
	DIFF_AVG,
	DIFF_MIN,
	DIFF_MAX,
	DIFF_BOOL_AND,
	DIFF_BOOL_OR
} DiffAggKind;

/* One distinct aggregate call of a grouped view. */
typedef struct DiffAgg
{
	DiffAggKind kind;
	Aggref	   *aggref;			/* as the query has it */
	Expr	   *arg;			/* NULL for count(*) */
	Oid			argtype;
	bool		numeric_arg;	/* sum/avg over numeric: scale is tracked */
} DiffAgg;

/* A table the query reads, once however many times it occurs. */
typedef struct DiffSource
{
	Oid			relid;
	Bitmapset  *attnums;		/* columns the query reads, every occurrence */
} DiffSource;

typedef struct DiffShape
{
	Query	   *query;			/* the analyzed bound query, plain views
								 * expanded */
	Oid			owner;			/* the view's owner, who reads */
	List	   *blocks;			/* Query: the query itself, or the branches of
								 * a UNION ALL (bag views only) */
	bool		grouped;		/* GROUP BY, an aggregate or DISTINCT */
	bool		reads_settings; /* calls a stable built-in (timestamptz::date,
								 * to_char, ...): its answer depends on
								 * settings such as TimeZone */
	char	   *views;			/* each plain view expanded, "oid:hash" of its
								 * definition; "" when none */
	char	   *functions;		/* each user function called (immutable),
								 * "oid:hash" of its definition; "" when none */
	List	   *sources;		/* DiffSource */
	List	   *keys;			/* grouped: TargetEntry of each group key */
	List	   *aggs;			/* grouped: DiffAgg */
} DiffShape;

/*
 * NULL when the bound query of a view owned by owner can be refreshed
 * differentially (and *shape, when not NULL, is set), else why not: a
 * stable sentence such as "window functions are not supported".  Analyzes
 * the query as owner with a pinned search_path.
 */
extern const char *diff_classify(const char *bound_query, Oid owner, DiffShape **shape);

/* The source of relid in shape, or NULL. */
extern DiffSource *diff_shape_source(DiffShape *shape, Oid relid);

#endif
