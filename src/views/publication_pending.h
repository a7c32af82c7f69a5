/*-------------------------------------------------------------------------
 * publication_pending.h
 *	  The files a lake publication's runs wrote, kept outside the
 *	  transaction, so that a run that did not commit is undone by the next.
 *
 * A run writes its partitions before it commits; a rollback, a failed
 * delete function or a crash takes back the state that lists them, not the
 * files.  So, once written under temporary names and before they are put
 * in place (io/unload.h's UnloadBeforePlace), the run adds each file with
 * its subtransaction to pipeline_publications/<database>.<publication> in
 * the data directory (rewritten whole, renamed into place durably).  The
 * next run takes the files of transactions that did not commit: it removes
 * those its state does not list and rewrites the partitions it does.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_PUBLICATION_PENDING_H
#define PIPELINE_PUBLICATION_PENDING_H

/* A file a run wrote */
typedef struct PendingFile
{
	char	   *partition;		/* the relative directory */
	char	   *path;			/* absolute */
} PendingFile;

/*
 * The files (PendingFile) of publication relid's runs that did not commit,
 * other than the current transaction's.  They stay listed, now under the
 * current subtransaction, until a run that dealt with them commits; files
 * of committed runs are forgotten.
 */
extern List *pending_take_uncommitted(Oid relid);

/*
 * Whether the list holds files of runs that did not commit: the
 * publication's next run must not be skipped, though no source changed.
 * A list of committed runs' files only is forgotten.
 */
extern bool pending_has_uncommitted(Oid relid);

/*
 * Adds the files written (UnloadedFile, io/unload.h) under the current
 * subtransaction.
 */
extern void pending_add(Oid relid, List *written);

/*
 * Forgets the lists of publications that are gone: those of dropped
 * databases, and in this database those whose relation is dropped (or its
 * creation rolled back) and whose runs are over.  Their files stay, as a
 * dropped publication's do, but for those of runs that did not commit
 * inside destination, publication relid's: they are returned (PendingFile),
 * now listed as relid's under the current subtransaction, for its run to
 * undo.  A creation rolled back, then made again, had written them.  Those
 * of runs that did not commit in another destination stay listed, for a
 * publication made there.
 */
extern List *pending_forget_dropped(Oid relid, const char *destination);

#endif
