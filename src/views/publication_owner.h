/*-------------------------------------------------------------------------
 * publication_owner.h
 *	  Which database's lake publication a destination belongs to, told to
 *	  the other databases of the host by a file in it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_PUBLICATION_OWNER_H
#define PIPELINE_PUBLICATION_OWNER_H

/* The file in a destination's root that names its publication */
#define PUBLICATION_OWNER_FILE ".pipeline-publication"

/*
 * Refuses a destination that another database's publication holds: its
 * own owner file, or one in a directory above it or below it, naming
 * another database (checked at definition, before any file is written).
 * destination and real_destination as written and where its links lead.
 */
extern void publication_owner_check(const char *destination, const char *real_destination);

/*
 * Whether path, or a directory above it, holds another database's owner
 * file: a tree that publication's runs alone may change.
 */
extern bool publication_owner_held_elsewhere(const char *path);

/*
 * Makes the destination (mkdir -p) and its owner file naming this
 * database and view, or finds it there; every run calls it before writing.
 * What it wrote is undone if the (sub)transaction aborts.
 * Refused, too, when another database's file is above the destination or
 * where its links lead (a link swapped in since the definition), and, for a
 * tree newly held, below it (a definition made at the same time).
 * A file naming another view of this database is replaced (this database's
 * destinations do not overlap, so that view publishes elsewhere now); one
 * naming another database fails the run: a copy of the database, or a
 * database renamed since, would otherwise write and remove the files that
 * database's publication lists.
 */
extern void publication_owner_claim(const char *destination, const char *real_destination,
									const char *view);

/*
 * Removes the destination's owner file, once the transaction commits, when
 * it still names this database and view and the transaction claimed it no
 * more since (a publication being dropped): its tree is nobody's then.
 * Never fails: a file it cannot read is left for whoever made it.  A
 * transaction that releases or writes an owner file cannot be prepared.
 */
extern void publication_owner_release(const char *destination, const char *view);

/*
 * Takes back a release of the destination's owner file earlier in this
 * transaction (a publication redefined elsewhere and back).
 */
extern void publication_owner_keep(const char *destination, const char *view);

#endif
