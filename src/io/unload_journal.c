/*-------------------------------------------------------------------------
 * unload_journal.c
 *	  The journal of unload()'s temporary names, and recovery from it.
 *
 * A journal is a file of NUL-terminated paths, each written and fsynced
 * before the path is created, so every temporary that exists is listed.
 * Recovery reads whole records only (a record cut short by a crash was
 * never created), removes each listed path that is still a temporary, and
 * deletes the journal once nothing it lists is left.  A journal whose lock
 * is held belongs to a call still running and is left alone.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_perm.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/fd.h"

#include "io/unload_journal.h"

#define UNLOAD_TEMP_PREFIX ".pipeline-unload-"
#define UNLOAD_JOURNAL_DIR PG_TEMP_FILE_PREFIX "_pipeline_unload"

/* True if path's last component is one of our temporary names. */
static bool
is_temporary_name(const char *path)
{
	const char *base = last_dir_separator(path);

	base = base ? base + 1 : path;
	return strncmp(base, UNLOAD_TEMP_PREFIX, strlen(UNLOAD_TEMP_PREFIX)) == 0;
}

char *
parent_directory(const char *path)
{
	const char *slash = last_dir_separator(path);

	if (slash == NULL)
		return pstrdup(".");
	if (slash == path)
		return pstrdup("/");
	return pnstrdup(path, slash - path);
}

/* The deepest remove_at() enters: a tree of ours fits in a path */
#define REMOVE_MAX_DEPTH (MAXPGPATH / 4)

/*
 * The names in the directory open as fd, but "." and "..", read before any
 * goes (a directory read while its entries are removed may skip some).
 * False, errno set, when it cannot be read.
 */
static bool
directory_names(int fd, List **names)
{
	int			listed = dup(fd);
	DIR		   *dir = listed >= 0 ? fdopendir(listed) : NULL;
	struct dirent *de;
	int			save_errno;

	*names = NIL;
	if (dir == NULL)
	{
		save_errno = errno;
		if (listed >= 0)
			close(listed);
		errno = save_errno;
		return false;
	}

	/*
	 * readdir(), as PostgreSQL's ReadDir() calls it (a backend has one
	 * thread); ReadDir() reads only what AllocateDir() opened, by path
	 */
	/* cppcheck-suppress readdirCalled */
	while (errno = 0, (de = readdir(dir)) != NULL)
	{
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			*names = lappend(*names, pstrdup(de->d_name));
	}
	save_errno = errno;
	closedir(dir);
	errno = save_errno;
	return errno == 0;
}

/*
 * Removes name, relative to the directory open as dirfd (AT_FDCWD: a path),
 * and, when it is a directory, everything in it, without following a
 * symbolic link: each directory is opened with O_NOFOLLOW from the one
 * above it, and its entries are removed relative to it.  rmtree() looks
 * with lstat() and then opens by path: a link put in place of a directory
 * between the two (by whoever may write where it is) led it into another
 * tree, the server's own say, to remove all of it.  Here such a link is
 * removed as the link it is, or the removal fails.  Gone already counts as
 * removed; false, errno set, on a failure.
 */
static bool
remove_at(int dirfd, const char *name, int depth)
{
	struct stat st;
	List	   *names;
	ListCell   *lc;
	int			fd;
	bool		ok;
	int			save_errno;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT;
	if (depth >= REMOVE_MAX_DEPTH || stack_is_too_deep())
	{
		errno = ELOOP;
		return false;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	ok = directory_names(fd, &names);
	foreach(lc, names)
	{
		if (!ok)
			break;
		ok = remove_at(fd, (char *) lfirst(lc), depth + 1);
	}
	save_errno = errno;
	close(fd);
	list_free_deep(names);
	errno = save_errno;
	return ok && (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT);
}

RemoveResult
remove_temporary(const char *path, int elevel)
{
	struct stat sb;
	bool		removed;

	if (!is_temporary_name(path) || lstat(path, &sb) != 0)
		return REMOVE_NOTHING;
	removed = remove_at(AT_FDCWD, path, 0);
	if (!removed)
	{
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not remove unload temporary \"%s\": %m", path)));
		return REMOVE_FAILED;
	}
	(void) fsync_fname_ext(parent_directory(path), true, true, elevel);
	return REMOVE_DONE;
}

void
journal_start(UnloadJournal *journal)
{
	static int	calls = 0;

	if (MakePGDirectory(UNLOAD_JOURNAL_DIR) == 0)
		(void) fsync_fname_ext(".", true, false, ERROR);
	else if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", UNLOAD_JOURNAL_DIR)));
	for (;;)
	{
		struct stat locked;
		struct stat named;

		journal->token = psprintf("%d.%ld.%d", MyProcPid, (long) MyStartTime, ++calls);
		journal->path = psprintf("%s/%s", UNLOAD_JOURNAL_DIR, journal->token);
		journal->fd = OpenTransientFile(journal->path,
										O_RDWR | O_CREAT | O_EXCL | PG_BINARY);
		if (journal->fd < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create file \"%s\": %m", journal->path)));
		CHECK_FOR_INTERRUPTS();
		if (flock(journal->fd, LOCK_EX | LOCK_NB) != 0)
		{
			/* another backend's recovery holds it, and removes it: anew */
			if (errno != EWOULDBLOCK)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not lock file \"%s\": %m", journal->path)));
			(void) CloseTransientFile(journal->fd);
			continue;
		}
		if (fstat(journal->fd, &locked) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", journal->path)));

		/*
		 * Until locked, the journal looked like a dead call's: a recovery may
		 * have removed it.  The one locked must be the one named.
		 */
		if (stat(journal->path, &named) == 0)
		{
			if (named.st_dev == locked.st_dev && named.st_ino == locked.st_ino)
				break;
		}
		else if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat file \"%s\": %m", journal->path)));
		(void) CloseTransientFile(journal->fd);
	}
	(void) fsync_fname_ext(UNLOAD_JOURNAL_DIR, true, false, ERROR);
}

/* Records a temporary name, durably, before it is created. */
static void
journal_add(UnloadJournal *journal, const char *path)
{
	size_t		len = strlen(path) + 1; /* with its terminating NUL */

	errno = 0;
	if (write(journal->fd, path, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", journal->path)));
	}
	if (pg_fsync(journal->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", journal->path)));
}

char *
journal_temporary_name(UnloadJournal *journal, const char *dir)
{
	char	   *path = psprintf("%s%s%s%s.%d", dir, strcmp(dir, "/") == 0 ? "" : "/",
								UNLOAD_TEMP_PREFIX, journal->token, ++journal->ntemps);

	journal_add(journal, path);
	return path;
}

void
journal_finish(UnloadJournal *journal, bool keep)
{
	if (journal->fd < 0)
		return;
	if (!keep)
		(void) unlink(journal->path);
	(void) CloseTransientFile(journal->fd);
	journal->fd = -1;
}

/*
 * Removes every whole record's temporary listed in buf; returns how many
 * were removed, and sets *failed when one could not be.
 */
static int
remove_listed(const StringInfo buf, bool *failed)
{
	int			removed = 0;

	/* whole records only: a record cut short was never created */
	for (int start = 0, i = 0; i < buf->len; i++)
	{
		if (buf->data[i] != '\0')
			continue;
		switch (remove_temporary(buf->data + start, LOG))
		{
			case REMOVE_DONE:
				removed++;
				break;
			case REMOVE_FAILED:
				*failed = true;
				break;
			case REMOVE_NOTHING:
				break;
		}
		start = i + 1;
	}
	return removed;
}

/*
 * Removes what the journal at path lists, then the journal, unless the call
 * that wrote it still holds its lock (it runs).  Never throws.
 */
static void
recover_journal(const char *path)
{
	int			fd = OpenTransientFile(path, O_RDWR | PG_BINARY);
	StringInfoData buf;
	char		chunk[8192];
	ssize_t		got;
	int			removed;
	bool		failed = false;

	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		(void) CloseTransientFile(fd);
		return;
	}
	initStringInfo(&buf);
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		appendBinaryStringInfo(&buf, chunk, got);
	removed = remove_listed(&buf, &failed);
	if (removed > 0)
		ereport(LOG,
				(errmsg_plural("removed %d temporary file or directory left by an interrupted unload",
							   "removed %d temporary files or directories left by an interrupted unload",
							   removed, removed),
				 errdetail("Journal \"%s\".", path)));
	if (got < 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	else if (!failed)
		(void) unlink(path);
	(void) CloseTransientFile(fd);
	pfree(buf.data);
}

void
unload_recover(void)
{
	DIR		   *dir = AllocateDir(UNLOAD_JOURNAL_DIR);
	struct dirent *de;

	if (dir == NULL && errno == ENOENT)
		return;
	while ((de = ReadDirExtended(dir, UNLOAD_JOURNAL_DIR, LOG)) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		recover_journal(psprintf("%s/%s", UNLOAD_JOURNAL_DIR, de->d_name));
	}
	if (dir != NULL)
		FreeDir(dir);
}
