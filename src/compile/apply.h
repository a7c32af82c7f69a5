/*-------------------------------------------------------------------------
 * apply.h
 *	  Applying a judged, locked change set.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_APPLY_H
#define PIPELINE_APPLY_H

#include "compile/changeset.h"

/*
 * Replaces every view of a judged set that nothing breaks, locked by
 * changeset_build_and_lock(): drops the old relations (deepest first), then
 * in order creates each new one (matview_create()) or rebuilds it as its
 * original owner, restoring indexes, grants and comments and remapping the
 * catalog rows to the new OID, and fills it.  Sets each view's newrelid.
 */
extern void changeset_apply(ChangeSet *cs);

/*
 * For the check: the indexes of relid, the relation under v's name, read
 * before judging moves it aside (apply_saved_indexes()), made again on
 * shape, the relation made for the new query under that name, from_name
 * (apply_try_indexes()): an index that cannot be built on the new columns
 * breaks the redefinition, as it would fail it.
 */
extern List *apply_saved_indexes(PendingView *v, Oid relid);
extern void apply_try_indexes(PendingView *v, List *indexes, const char *from_name, Oid shape);

#endif
