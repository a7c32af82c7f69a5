/*-------------------------------------------------------------------------
 * subxact.h
 *	  Running a piece of work in a subtransaction and catching its error.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_SUBXACT_H
#define PIPELINE_SUBXACT_H

#include "utils/elog.h"

typedef void (*SubxactWork) (void *arg);

/*
 * Runs work(arg) in a subtransaction of the current transaction.  Returns
 * NULL when it finished (the subtransaction is committed), or the ERROR it
 * raised, copied into the caller's memory context (the subtransaction is
 * rolled back).  A cancel or shutdown is re-thrown unless catch_cancel,
 * since it must end the whole statement.  On return the caller's memory
 * context and resource owner are current again.
 */
extern ErrorData *subxact_try(SubxactWork work, void *arg, bool catch_cancel);

/*
 * The same, but the subtransaction is always rolled back: what would work
 * raise?  A cancel or shutdown is re-thrown.
 */
extern ErrorData *subxact_probe(SubxactWork work, void *arg);

/*
 * Runs work(arg), a DROP pipeline issues, in the current (sub)transaction;
 * PostgreSQL's own refusal because other objects depend on what it drops
 * (2BP01, from dependency.c; not the guard's) is raised again with hint
 * instead of its "Use DROP ... CASCADE", which names a statement the
 * caller did not write.
 */
extern void call_with_dependents_hint(SubxactWork work, void *arg, const char *hint);

#endif
