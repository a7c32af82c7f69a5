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
 * since it must end the whole statement (PostgreSQL's own: the same
 * SQLSTATE raised by user code is caught as any error).  On return the caller's memory
 * context and resource owner are current again.
 */
extern ErrorData *subxact_try(SubxactWork work, void *arg, bool catch_cancel);

/*
 * subxact_try() where no lock is waited for longer than
 * UNWAITING_LOCK_TIMEOUT (lock_timeout, in a GUC nest level): for the
 * scheduler, which must never queue behind a user's lock, since every
 * view of the database would wait with it.  A lock it could not get is
 * the error returned (55P03).
 */
#define UNWAITING_LOCK_TIMEOUT "10ms"
extern ErrorData *subxact_try_without_waiting(SubxactWork work, void *arg);

/*
 * The same, but the subtransaction is always rolled back: what would work
 * raise?  A cancel or shutdown is re-thrown.
 */
extern ErrorData *subxact_probe(SubxactWork work, void *arg);

/*
 * Whether an error is about the data (SQLSTATE classes 22 and 23: a bad
 * value, a constraint), as opposed to the statement or the system.
 */
extern bool subxact_is_data_error(const ErrorData *edata);

/*
 * Runs work(arg), a DROP pipeline issues, in the current (sub)transaction;
 * PostgreSQL's own refusal because other objects depend on what it drops
 * (2BP01, from dependency.c; not the guard's) is raised again with hint
 * instead of its "Use DROP ... CASCADE", which names a statement the
 * caller did not write.
 */
extern void call_with_dependents_hint(SubxactWork work, void *arg, const char *hint);

#endif
