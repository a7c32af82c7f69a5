/*-------------------------------------------------------------------------
 * incremental.h
 *	  Incremental (append-only) managed views: a table that each refresh
 *	  appends the query's new rows to, above a stored high-water mark.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_INCREMENTAL_H
#define PIPELINE_INCREMENTAL_H

#include "model/dpl.h"

/*
 * Errors unless key is an output column of the query (parse-analyzed here)
 * with an ordering; the errors name viewname.  Needs a transaction.
 */
extern void incremental_check_key(const char *query, const char *key,
								  const char *viewname);

/*
 * Errors (naming viewname) unless the query only selects rows an
 * append-only view can append: no aggregates, GROUP BY, HAVING, DISTINCT,
 * window functions, LIMIT/OFFSET or set operations other than UNION ALL,
 * neither in the query nor in the UNION ALL branches, subqueries and WITH
 * queries its key column comes from (parse-analyzed here).  Call it after
 * incremental_check_key().  Needs a transaction.
 */
extern void incremental_check_query(const char *query, const char *key,
									const char *viewname);

/*
 * Appends the rows of the view's query whose key is above the stored
 * high-water mark and advances the mark, in the caller's transaction (so
 * both happen or neither).  The query runs as the view's owner in a
 * security-restricted operation.  Concurrent refreshes of one view queue
 * on a lock (that does not block readers); the mark is read after the
 * lock is granted.  Returns the number of rows appended; *detail says
 * how many rows @on-error quarantine set aside, if any (else NULL).  The
 * caller must own the view or be a superuser.  Needs a transaction and an
 * active snapshot.
 */
extern uint64 incremental_refresh(Oid relid, char **detail);

/*
 * Forgets the view's mark and appends every row of its query, as
 * incremental_refresh() does, but without checking that the caller owns
 * the view: for pipeline itself, right after it (re)created the table
 * (the query still runs as the owner).  The catalog row must say the
 * current query and key.
 */
extern uint64 incremental_populate(Oid relid);

/* Deletes the view's stored mark, if it has one.  Needs a transaction. */
extern void incremental_forget_mark(Oid relid);

/*
 * The stored mark of an incremental view or mirror, or NULL (palloc'd).
 * Read it, and write it, with the format pinned: incremental_pin_mark_format()
 * returns the nest level runas_unpin_settings() takes.
 */
extern int	incremental_pin_mark_format(void);
extern char *incremental_read_mark(Oid relid);

/*
 * Stores a new mark, a value of key_type, in the caller's transaction;
 * first_key (a mirror's least consumed key, 1.5 on) is kept once set.  NULL
 * leaves it alone.  The type is recorded (1.28) for compile/marks.c, which
 * rewrites the mark when a statement changes how its values are written.
 */
extern void incremental_save_mark(Oid relid, const char *mark, const char *first_key,
								  Oid key_type);

/* A mirror's first consumed key, or NULL. */
extern char *incremental_first_key(Oid relid);

#endif
