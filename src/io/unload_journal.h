/*-------------------------------------------------------------------------
 * unload_journal.h
 *	  The journal of an unload() call's temporary names, and recovery of
 *	  what calls that died left behind.
 *
 * Before creating a temporary file or directory, a call appends its path
 * to a journal in the data directory (pgsql_tmp_pipeline_unload/<token>,
 * fsynced; the pgsql_tmp prefix keeps it out of base backups) and holds an
 * flock() on the journal for as long as it runs.  A backend killed with -9,
 * or a server crash, leaves its temporaries behind with a journal whose
 * lock the kernel has released; unload_recover() (unload.h) removes what
 * such journals list, then the journals.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_UNLOAD_JOURNAL_H
#define PIPELINE_UNLOAD_JOURNAL_H

/* One call's journal. */
typedef struct UnloadJournal
{
	char	   *token;			/* unique to this call, in temporary names */
	int			ntemps;			/* temporary names taken so far */
	int			fd;				/* -1 when there is no journal */
	char	   *path;
} UnloadJournal;

/*
 * Starts the call's journal and takes its lock.  Needs journal->fd = -1;
 * the file is closed (and the lock dropped) by journal_finish() or, on an
 * error that skips it, at the end of the transaction.
 */
extern void journal_start(UnloadJournal *journal);

/*
 * A new temporary name in directory dir, recorded in the journal (durably)
 * before the caller creates it.
 */
extern char *journal_temporary_name(UnloadJournal *journal, const char *dir);

/*
 * Drops the journal's lock and deletes it, unless keep: some temporary it
 * lists is still there, for unload_recover() to try again.  Never throws.
 */
extern void journal_finish(UnloadJournal *journal, bool keep);

/* What remove_temporary() did. */
typedef enum RemoveResult
{
	REMOVE_NOTHING,				/* no such temporary (any more) */
	REMOVE_DONE,
	REMOVE_FAILED				/* reported at the caller's elevel */
} RemoveResult;

/*
 * Removes one temporary file or directory tree (a path whose last
 * component is not one of our temporary names is left alone; a symbolic
 * link, there or anywhere in the tree, is removed, never followed, even one
 * swapped in while the tree is removed) and makes the removal durable.
 * Problems are reported at elevel; never throws when elevel is below ERROR.
 */
extern RemoveResult remove_temporary(const char *path, int elevel);

/* The directory path is in ("/" for a path right under the root). */
extern char *parent_directory(const char *path);

/*
 * Removes the temporary files and directories that unload() calls which
 * died without cleaning up (kill -9, a crash) left in their destinations,
 * as their journals in the data directory list them; calls still running
 * are left alone.  Needs no transaction; never throws (problems are
 * logged).  Run when the server starts and by every unload().
 */
extern void unload_recover(void);

#endif
