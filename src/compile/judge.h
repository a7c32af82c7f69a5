/*-------------------------------------------------------------------------
 * judge.h
 *	  Judging a change set: which views would break, and why.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_JUDGE_H
#define PIPELINE_JUDGE_H

#include "compile/changeset.h"

/*
 * Judges every view of the set, filling in the verdicts (broken, detail,
 * dependents, keep).  Changes nothing: the work happens in a subtransaction
 * that is always rolled back.  Locks what judging needs unless cs->locked.
 * Needs to be called in a memory context that outlives it.
 */
extern void changeset_judge(ChangeSet *cs);

/*
 * Raises the error that lists every break, if there is one; changed names
 * the view being redefined, or NULL for a staged update set.
 */
extern void changeset_refuse_breaks(ChangeSet *cs, const char *changed);

/* Whether the view breaks, by its own verdict or unmanaged dependents. */
extern bool pending_is_broken(PendingView *v);

/* The verdict's words for the view, or NULL when there is nothing to say. */
extern char *pending_verdict_detail(PendingView *v);

#endif
