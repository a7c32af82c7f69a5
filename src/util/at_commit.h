/*-------------------------------------------------------------------------
 * at_commit.h
 *	  Calling a function once the current transaction commits.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_AT_COMMIT_H
#define PIPELINE_AT_COMMIT_H

/*
 * Calls fn(arg) when the current transaction commits; nothing when it
 * aborts or is prepared.  Asked for again in the same transaction with the
 * same fn and arg, it is called once.  For waking processes (setting a
 * latch): fn runs after the commit, where it must not fail.
 */
extern void at_commit_call(void (*fn) (Oid arg), Oid arg);

#endif
