/*-------------------------------------------------------------------------
 * compile.h
 *	  The compile step: judging a change to managed views against every
 *	  downstream view, redefining views with their downstream rebuilt, and
 *	  update sets (several changes judged and applied as one).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_COMPAT_H
#define PIPELINE_COMPAT_H

#include "model/dpl.h"
#include "nodes/pg_list.h"

/*
 * Redefines the existing managed view that def names: checks every
 * downstream view, refuses with an error listing each break, otherwise
 * replaces the view and rebuilds its downstream views in this transaction.
 * Returns the view's new OID.  The caller has validated def.
 */
extern Oid	compat_redefine(MatviewDefinition *def);

/*
 * Points every regclass column of every pipeline table that holds oldrelid
 * at newrelid, in one statement (so foreign keys among them hold).  The
 * tables are found in the system catalogs, so tables added by other modules
 * (run history) follow automatically.  Needs a transaction.
 */
extern void compat_remap_relation(Oid oldrelid, Oid newrelid);

/*
 * Locks every relation of exclusive (AccessExclusiveLock) and of shared
 * (AccessShareLock), all or nothing: while one is busy none is held, so the
 * caller never deadlocks with a run that locks them in another order.
 */
extern void compat_lock_all_or_nothing(List *exclusive, List *shared);

#endif
