/*-------------------------------------------------------------------------
 * publication.h
 *	  Lake publications (@matview-type unload): a partitioned file tree
 *	  kept equal to a query, with a manifest table.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_PUBLICATION_H
#define PIPELINE_PUBLICATION_H

#include "postgres.h"

#include "model/dpl.h"

/*
 * Checks a publication's definition: the caller may write server files,
 * the destination is absolute, without "..", and overlaps no other
 * publication's, the partition columns are query columns and some column
 * is not one, the delete function takes one text (and is recorded by its
 * qualified signature, as it was resolved now).  relid is the view being
 * redefined (InvalidOid when new), whose own destination may be reused.
 */
extern void publication_check(MatviewDefinition *def, Oid relid);

/*
 * Creates the manifest table, empty, as owner: (partition text primary
 * key, rows bigint, files text[], published_at timestamptz).
 */
extern void publication_create_table(Oid owner, const char *qualified);

/*
 * Brings the file tree up to date with the query: rewrites the partitions
 * whose rows changed (or whose files differ from what was published),
 * removes those that have no rows any more, calls the delete function for
 * each removed or replaced one, and records it all in the manifest.  As
 * the owner, who must still be allowed to write server files.  Returns
 * the partitions written and removed; *detail lists them (palloc'd).
 */
extern uint64 publication_refresh(Oid relid, char **detail);
extern uint64 publication_populate(Oid relid);

/* A redefinition: the next run republishes every partition. */
extern void publication_mark_stale(Oid relid);

/*
 * A publication about to be dropped (new_destination NULL) or redefined to
 * another destination gives its tree up: the owner file at its destination
 * goes (its files stay, as they always did).  Nothing for another kind of
 * view, or a redefinition that keeps the destination.
 */
extern void publication_forget_owner(Oid relid, const char *new_destination);

#endif
