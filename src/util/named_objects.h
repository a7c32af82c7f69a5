/*-------------------------------------------------------------------------
 * named_objects.h
 *	  Locking what a bound query names, so that a rename cannot pass
 *	  between binding a query and storing it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_NAMED_OBJECTS_H
#define PIPELINE_NAMED_OBJECTS_H

#include "nodes/parsenodes.h"

/*
 * Takes AccessShareLock, to the end of the transaction, on every object a
 * query's (or an expression's) bound form spells by name besides the
 * relations it reads (which the analysis locked): functions, operators,
 * types (and the types their literals spell values of), collations, the
 * objects reg* literals name, the row types whose fields it selects, and
 * the schemas of all of them, the extensions they belong to (whose
 * SET SCHEMA moves them), the roles regrole and aclitem literals spell,
 * and TABLESAMPLE methods.  A rename locks
 * what it renames in AccessExclusiveLock (PostgreSQL for functions and
 * operators, compile/rebind.c for the rest), so the two wait for each
 * other: a rename in progress ends before the query is deparsed (which
 * then spells the new names), a definition in progress ends before the
 * rename reads which views to rewrite.  Built-in objects are not locked.
 */
extern void lock_named_objects(Node *node);

/*
 * lock_named_objects() takes nothing between these (nested): a rename
 * deparsing the views it rewrites, which are committed, and whose names it
 * does not bind anew.  The caller resumes on error too (PG_FINALLY).
 */
extern void named_objects_suspend(void);
extern void named_objects_resume(void);

#endif							/* PIPELINE_NAMED_OBJECTS_H */
