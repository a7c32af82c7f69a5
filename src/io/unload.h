/*-------------------------------------------------------------------------
 * unload.h
 *	  unload(): writing a query's rows as partitioned CSV files.
 *
 * pipeline_unload() (unload.c) is reached through the install script; the
 * launcher calls unload_recover() (unload_journal.h) when the server
 * starts.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_UNLOAD_H
#define PIPELINE_UNLOAD_H

#include "io/unload_journal.h"

#define UNLOAD_FORMAT_CSV "csv"
#define UNLOAD_FILE_NAME "part-00000.csv"

/* The parameters of an unload's query. */
typedef struct UnloadParams
{
	int			nargs;
	Oid		   *argtypes;
	Datum	   *values;
} UnloadParams;

/* A file an unload wrote. */
typedef struct UnloadedFile
{
	char	   *path;			/* absolute */
	char	   *partition;		/* the relative directory */
	int64		rows;
	char	   *digest;			/* with digests: the sum of its rows' hashes */
} UnloadedFile;

/*
 * Called with the files (UnloadedFile) when all are written and fsynced
 * under temporary names, before any is renamed into place: to list them
 * somewhere that outlives the transaction (views/publication_pending.h).
 */
typedef struct UnloadBeforePlace
{
	void		(*callback) (List *files, void *arg);
	void	   *arg;

	/*
	 * A directory (resolved, canonical) every file and new directory must
	 * really be put in, or NULL: each rename is then made in a directory
	 * opened and found below it (unload_fd_inside()), so a symbolic link
	 * swapped in after callback's checks cannot lead one elsewhere.
	 */
	const char *confine;
} UnloadBeforePlace;

/*
 * unload(): writes the query's rows (with its parameters; NULL for none)
 * under destination, partitioned, nothing half-done ever under a final
 * name, an existing file replaced atomically with overwrite (else an
 * error), as the current user.  Returns the files written (UnloadedFile),
 * in the caller's memory.  The caller checks the right to write files and
 * the destination (unload_check_destination()).  With digests, each file's
 * digest is what SQL would compute over its rows (alias q) as
 * sum(hashtextextended(q::text, 0)::numeric)::text: a lake publication's
 * digest of a partition.  before_place (or NULL) is told the files before
 * they are placed.
 */
extern List *unload_query(const char *query, const UnloadParams *params,
						  const char *destination, List *partition_by, bool overwrite,
						  bool digests, const UnloadBeforePlace *before_place);

/*
 * The relative directory unload() writes a partition to, from its column
 * names and values as text (NULL for a null).
 */
extern char *unload_partition_dir(List *columns, List *values);

/* Errors unless destination is absolute and without "..". */
extern void unload_check_destination(const char *destination);

/* Whether path is dir or inside it (both canonical, absolute) */
extern bool unload_path_inside(const char *path, const char *dir);

/*
 * Whether the directory open as fd is dir (followed where its links lead)
 * or below it: looked at by identity, up through "..", so it answers for
 * the directory as opened, whatever links are swapped in along its path
 * since.  A directory the server cannot climb out of counts as outside.
 */
extern bool unload_fd_inside(int fd, const char *dir);

/*
 * Pins the settings paths and files are written with (DateStyle ISO,
 * TimeZone UTC, ...) at a new GUC nest level, which it returns for
 * runas_unpin_settings().
 */
extern int	unload_pin_file_formats(void);

/*
 * Whether path is a file unload() could have written for the partition
 * whose relative directory is partition: an absolute, canonical path ending
 * in that directory and the file name, each of its segments spelled as
 * partition_dir() spells one.
 */
extern bool unload_is_partition_file(const char *path, const char *partition);

#endif
