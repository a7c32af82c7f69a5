/*-------------------------------------------------------------------------
 * unload.c
 *	  unload(): Redshift's UNLOAD ... PARTITION BY, to local CSV files.
 *
 * The query runs once, through a cursor, ordered by the partition columns,
 * so each partition's rows arrive together and one file is open at a time:
 * destination/<col>=<value>/.../part-00000.csv, with a header of the other
 * columns (the partition columns live in the path, as in Redshift).
 * Column names and values in the path are percent-encoded (everything but
 * A-Z a-z 0-9 . _ -), so a value can never add a path component or climb out
 * of destination; a NULL value is __HIVE_DEFAULT_PARTITION__.
 *
 * Nothing half-done ever shows under its final name:
 *
 * - A directory this call creates whose parent exists (a "new root") is
 *   made under a temporary name beside it, and everything below it (more
 *   new directories, the files) is written inside; the tree is renamed to
 *   its real name only when it is complete.
 * - A file in a directory that already exists is written under a temporary
 *   name in that directory and renamed over its real name at the end.
 *
 * Once every partition is written, each file is fsynced, each new directory
 * fsynced, then the files are put in place with durable_rename() and the new
 * roots renamed with their parent directories fsynced, so what unload()
 * returns survives a crash of the machine.
 *
 * Temporary names start with ".pipeline-unload-" and carry a token unique
 * to the call.  Before creating one, the call appends its path to a journal
 * in the data directory (pgsql_tmp_pipeline_unload/<token>, fsynced; the
 * pgsql_tmp prefix keeps it out of base backups), on which it holds an
 * flock() for as long as it runs.  On an error the call removes its
 * temporaries itself.  A backend killed with -9, or a server crash, leaves
 * them behind with a journal whose lock the kernel has released:
 * unload_recover() -- run by the launcher when the server (re)starts and by
 * every unload() -- removes what such journals list, then the journals.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_authid.h"
#include "common/file_perm.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"

#include "io/unload.h"

#define UNLOAD_FILE_NAME "part-00000.csv"
#define UNLOAD_NULL_PARTITION "__HIVE_DEFAULT_PARTITION__"
#define UNLOAD_FETCH_ROWS 1000
#define UNLOAD_TEMP_PREFIX ".pipeline-unload-"
#define UNLOAD_JOURNAL_DIR PG_TEMP_FILE_PREFIX "_pipeline_unload"

/* A directory this call created. */
typedef struct UnloadDir
{
	char	   *path;			/* its real name */
	char	   *physical;		/* where it is until its root is renamed */
	bool		is_root;		/* its parent existed: it is renamed itself */
} UnloadDir;

typedef struct UnloadFile
{
	char	   *write_path;		/* where it is written */
	char	   *final_path;
	char	   *partition;		/* the relative directory, "" without one */
	bool		in_new_dir;		/* moves with its new root, not by itself */
	int64		rows;
} UnloadFile;

typedef struct UnloadState
{
	char	   *token;			/* unique to this call, in temporary names */
	int			ntemps;			/* temporary names taken so far */
	int			journal_fd;		/* -1 when there is no journal */
	char	   *journal_path;
	List	   *new_dirs;		/* UnloadDir, in creation order */
	List	   *files;			/* UnloadFile, in writing order */
	FILE	   *current;
} UnloadState;

/* Appends s percent-encoded: only A-Z a-z 0-9 . _ - stay as they are. */
static void
append_encoded(StringInfo buf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[*p >> 4]);
			appendStringInfoChar(buf, hex[*p & 0xf]);
		}
	}
}

/* Appends one CSV field as COPY ... CSV writes it (NULL: nothing). */
static void
append_csv_field(StringInfo buf, const char *s)
{
	bool		quote;

	if (s == NULL)
		return;
	quote = s[0] == '\0' || strcmp(s, "\\.") == 0 || strpbrk(s, ",\"\r\n") != NULL;
	if (!quote)
	{
		appendStringInfoString(buf, s);
		return;
	}
	appendStringInfoChar(buf, '"');
	for (const char *p = s; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/* ---------------------------------------------------------------------
 * The journal of temporary names, and recovery from it
 * ---------------------------------------------------------------------
 */

/* True if path's last component is one of our temporary names. */
static bool
is_temporary_name(const char *path)
{
	const char *base = last_dir_separator(path);

	base = base ? base + 1 : path;
	return strncmp(base, UNLOAD_TEMP_PREFIX, strlen(UNLOAD_TEMP_PREFIX)) == 0;
}

/* The directory path is in ("/" for a path right under the root). */
static char *
parent_directory(const char *path)
{
	const char *slash = last_dir_separator(path);

	if (slash == NULL)
		return pstrdup(".");
	if (slash == path)
		return pstrdup("/");
	return pnstrdup(path, slash - path);
}

/* What remove_temporary() did. */
typedef enum RemoveResult
{
	REMOVE_NOTHING,				/* no such temporary (any more) */
	REMOVE_DONE,
	REMOVE_FAILED				/* reported at the caller's elevel */
} RemoveResult;

/*
 * Removes one temporary file or directory tree (lstat: a symbolic link is
 * removed, not followed) and makes the removal durable.  Never throws.
 */
static RemoveResult
remove_temporary(const char *path, int elevel)
{
	struct stat sb;
	bool		removed;

	if (!is_temporary_name(path) || lstat(path, &sb) != 0)
		return REMOVE_NOTHING;
	if (S_ISDIR(sb.st_mode))
		removed = rmtree(path, true);
	else
		removed = unlink(path) == 0;
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

/*
 * Starts the call's journal and takes its lock.  Needs st->journal_fd = -1;
 * the file is closed (and the lock dropped) by journal_finish() or, on an
 * error that skips it, at the end of the transaction.
 */
static void
journal_start(UnloadState *st)
{
	static int	calls = 0;

	if (MakePGDirectory(UNLOAD_JOURNAL_DIR) == 0)
		(void) fsync_fname_ext(".", true, false, ERROR);
	else if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", UNLOAD_JOURNAL_DIR)));
	st->token = psprintf("%d.%ld.%d", MyProcPid, (long) MyStartTime, ++calls);
	st->journal_path = psprintf("%s/%s", UNLOAD_JOURNAL_DIR, st->token);
	st->journal_fd = OpenTransientFile(st->journal_path,
									   O_RDWR | O_CREAT | O_EXCL | PG_BINARY);
	if (st->journal_fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", st->journal_path)));
	if (flock(st->journal_fd, LOCK_EX | LOCK_NB) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not lock file \"%s\": %m", st->journal_path)));
	(void) fsync_fname_ext(UNLOAD_JOURNAL_DIR, true, false, ERROR);
}

/* Records a temporary name, durably, before it is created. */
static void
journal_add(UnloadState *st, const char *path)
{
	size_t		len = strlen(path) + 1;	/* with its terminating NUL */

	errno = 0;
	if (write(st->journal_fd, path, len) != (ssize_t) len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", st->journal_path)));
	}
	if (pg_fsync(st->journal_fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", st->journal_path)));
}

/* A new temporary name in directory dir, recorded in the journal. */
static char *
temporary_name(UnloadState *st, const char *dir)
{
	char	   *path = psprintf("%s%s%s%s.%d", dir, strcmp(dir, "/") == 0 ? "" : "/",
								UNLOAD_TEMP_PREFIX, st->token, ++st->ntemps);

	journal_add(st, path);
	return path;
}

/*
 * Drops the journal's lock and deletes it, unless keep: some temporary it
 * lists is still there, for unload_recover() to try again.
 */
static void
journal_finish(UnloadState *st, bool keep)
{
	if (st->journal_fd < 0)
		return;
	if (!keep)
		(void) unlink(st->journal_path);
	(void) CloseTransientFile(st->journal_fd);
	st->journal_fd = -1;
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
	int			removed = 0;
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
	/* whole records only: a record cut short was never created */
	for (int start = 0, i = 0; i < buf.len; i++)
	{
		if (buf.data[i] != '\0')
			continue;
		switch (remove_temporary(buf.data + start, LOG))
		{
			case REMOVE_DONE:
				removed++;
				break;
			case REMOVE_FAILED:
				failed = true;
				break;
			case REMOVE_NOTHING:
				break;
		}
		start = i + 1;
	}
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

/* ---------------------------------------------------------------------
 * Directories and files
 * ---------------------------------------------------------------------
 */

static UnloadDir *
find_new_dir(UnloadState *st, const char *path)
{
	ListCell   *lc;

	foreach(lc, st->new_dirs)
		if (strcmp(((UnloadDir *) lfirst(lc))->path, path) == 0)
			return (UnloadDir *) lfirst(lc);
	return NULL;
}

static void
make_directory(const char *physical, const char *path)
{
	if (MakePGDirectory(physical) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", path)));
}

/*
 * mkdir -p of path, the new part of it under a temporary name: returns
 * where path's contents are to be written until unload_place() renames its
 * new root into place.
 */
static char *
prepare_directories(UnloadState *st, const char *path)
{
	char	   *p = pstrdup(path);
	char	   *slash = p;
	char	   *physical = pstrdup("/");
	bool		in_new = false;

	for (;;)
	{
		UnloadDir  *d;
		struct stat sb;
		bool		last;

		slash = strchr(slash + 1, '/');
		last = slash == NULL;
		if (!last)
			*slash = '\0';
		if (p[0] == '\0')
			;
		else if ((d = find_new_dir(st, p)) != NULL)
		{
			physical = d->physical;
			in_new = true;
		}
		else if (!in_new && stat(p, &sb) == 0)
		{
			if (!S_ISDIR(sb.st_mode))
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_FILE),
						 errmsg("could not create directory \"%s\": a file of that name exists", p)));
			physical = pstrdup(p);
		}
		else if (!in_new && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat directory \"%s\": %m", p)));
		else
		{
			d = palloc(sizeof(UnloadDir));
			d->path = pstrdup(p);
			d->is_root = !in_new;
			if (d->is_root)
				d->physical = temporary_name(st, physical);
			else
				d->physical = psprintf("%s/%s", physical, last_dir_separator(p) + 1);
			make_directory(d->physical, d->path);
			st->new_dirs = lappend(st->new_dirs, d);
			physical = d->physical;
			in_new = true;
		}
		if (last)
			break;
		*slash = '/';
	}
	pfree(p);
	return physical;
}

/* Closes the open file, if any, fsynced, checking for write errors. */
static void
close_current(UnloadState *st)
{
	UnloadFile *f;
	FILE	   *file = st->current;

	if (file == NULL)
		return;
	f = (UnloadFile *) llast(st->files);
	st->current = NULL;
	if (fflush(file) != 0 || pg_fsync(fileno(file)) != 0)
	{
		int			save_errno = errno;

		(void) FreeFile(file);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", f->write_path)));
	}
	if (FreeFile(file) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", f->write_path)));
}

/*
 * Puts everything in place once every file is written and closed: new
 * directories fsynced (deepest first), files in existing directories
 * renamed durably, new roots renamed with their parents fsynced.  A failed
 * fsync is an ERROR, never fsync_fname()'s PANIC: these are not the
 * server's files, and failing the unload (which removes its temporaries)
 * is the right answer.
 */
static void
unload_place(UnloadState *st)
{
	ListCell   *lc;

	for (int i = list_length(st->new_dirs) - 1; i >= 0; i--)
		(void) fsync_fname_ext(((UnloadDir *) list_nth(st->new_dirs, i))->physical,
							   true, false, ERROR);
	foreach(lc, st->files)
	{
		UnloadFile *f = (UnloadFile *) lfirst(lc);

		if (!f->in_new_dir)
			(void) durable_rename(f->write_path, f->final_path, ERROR);
	}
	foreach(lc, st->new_dirs)
	{
		UnloadDir  *d = (UnloadDir *) lfirst(lc);
		struct stat sb;

		if (!d->is_root)
			continue;
		/* rename() would replace an empty directory made meanwhile */
		if (lstat(d->path, &sb) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_FILE),
					 errmsg("directory \"%s\" was created by someone else during the unload", d->path)));
		if (rename(d->physical, d->path) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rename \"%s\" to \"%s\": %m", d->physical, d->path)));
		(void) fsync_fname_ext(parent_directory(d->path), true, false, ERROR);
	}
}

/* Removes what an unfinished unload wrote.  Never throws. */
static void
cleanup(UnloadState *st)
{
	ListCell   *lc;
	bool		failed = false;

	if (st->current != NULL)
		(void) FreeFile(st->current);
	st->current = NULL;
	foreach(lc, st->files)
	{
		UnloadFile *f = (UnloadFile *) lfirst(lc);

		if (!f->in_new_dir && remove_temporary(f->write_path, WARNING) == REMOVE_FAILED)
			failed = true;
	}
	foreach(lc, st->new_dirs)
	{
		UnloadDir  *d = (UnloadDir *) lfirst(lc);

		if (d->is_root && remove_temporary(d->physical, WARNING) == REMOVE_FAILED)
			failed = true;
	}
	journal_finish(st, failed);
}

static void
write_buf(UnloadState *st, StringInfo buf)
{
	if (fwrite(buf->data, 1, buf->len, st->current) != (size_t) buf->len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m",
						((UnloadFile *) llast(st->files))->write_path)));
}

/* Starts the file of the partition whose relative directory is reldir. */
static void
open_partition(UnloadState *st, const char *destination, const char *reldir,
			   bool overwrite, TupleDesc tupdesc, bool *is_partition_col)
{
	UnloadFile *f = palloc0(sizeof(UnloadFile));
	char	   *dir;
	char	   *physical;
	ListCell   *lc;
	StringInfoData header;
	bool		first = true;
	struct stat sb;

	foreach(lc, st->files)
		if (strcmp(((UnloadFile *) lfirst(lc))->partition, reldir) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("partition \"%s\" came back after other partitions", reldir),
					 errdetail("Values that sort as equal print differently; partition by a column whose text is unique for equal values.")));

	dir = reldir[0] ? psprintf("%s/%s", destination, reldir) : pstrdup(destination);
	f->partition = pstrdup(reldir);
	f->final_path = psprintf("%s/%s", dir, UNLOAD_FILE_NAME);
	if (strlen(f->final_path) >= MAXPGPATH - 64)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("unload path for partition \"%.64s...\" is too long", reldir)));

	physical = prepare_directories(st, dir);
	f->in_new_dir = strcmp(physical, dir) != 0;
	if (f->in_new_dir)
		f->write_path = psprintf("%s/%s", physical, UNLOAD_FILE_NAME);
	else
	{
		if (!overwrite && lstat(f->final_path, &sb) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_FILE),
					 errmsg("file \"%s\" already exists", f->final_path),
					 errhint("Pass overwrite => true to replace it.")));
		f->write_path = temporary_name(st, dir);
	}

	st->files = lappend(st->files, f);
	st->current = AllocateFile(f->write_path, PG_BINARY_W);
	if (st->current == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", f->write_path)));

	initStringInfo(&header);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		if (is_partition_col[i] || TupleDescAttr(tupdesc, i)->attisdropped)
			continue;
		if (!first)
			appendStringInfoChar(&header, ',');
		append_csv_field(&header, NameStr(TupleDescAttr(tupdesc, i)->attname));
		first = false;
	}
	appendStringInfoChar(&header, '\n');
	write_buf(st, &header);
	pfree(header.data);
}

/* The relative directory of a row's partition ("" without partitions). */
static char *
partition_dir(HeapTuple tuple, TupleDesc tupdesc, int npart, int *partcols,
			  FmgrInfo *out)
{
	StringInfoData dir;

	initStringInfo(&dir);
	for (int i = 0; i < npart; i++)
	{
		int			col = partcols[i];
		bool		isnull;
		Datum		d = heap_getattr(tuple, col + 1, tupdesc, &isnull);
		int			start = dir.len;

		if (i > 0)
			appendStringInfoChar(&dir, '/');
		start = dir.len;
		append_encoded(&dir, NameStr(TupleDescAttr(tupdesc, col)->attname));
		appendStringInfoChar(&dir, '=');
		if (isnull)
			appendStringInfoString(&dir, UNLOAD_NULL_PARTITION);
		else
			append_encoded(&dir, OutputFunctionCall(&out[col], d));
		if (dir.len - start > 255)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("partition directory \"%.64s...\" is longer than 255 bytes",
							dir.data + start),
					 errdetail("Column \"%s\" has a value too long to be a directory name.",
							   NameStr(TupleDescAttr(tupdesc, col)->attname))));
	}
	return dir.data;
}

/* Errors unless each partition column names exactly one result column. */
static void
check_partition_columns(TupleDesc tupdesc, List *partition_by)
{
	ListCell   *lc;

	foreach(lc, partition_by)
	{
		int			found = 0;

		for (int i = 0; i < tupdesc->natts; i++)
			if (strcmp(NameStr(TupleDescAttr(tupdesc, i)->attname), (char *) lfirst(lc)) == 0)
				found++;
		if (found == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("partition column \"%s\" is not in the query's result",
							(char *) lfirst(lc))));
		if (found > 1)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("partition column \"%s\" is ambiguous", (char *) lfirst(lc))));
	}
}

static void
do_unload(UnloadState *st, const char *query, const char *destination,
		  List *partition_by, bool overwrite)
{
	StringInfoData sql;
	ListCell   *lc;
	SPIPlanPtr	plan;
	Portal		portal;
	TupleDesc	tupdesc;
	int			npart = list_length(partition_by);
	int		   *partcols = palloc(sizeof(int) * Max(npart, 1));
	bool	   *is_partition_col;
	FmgrInfo   *out;
	char	   *current_dir = NULL;
	StringInfoData line;
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	int			ndata = 0;

	/* the result's columns first, so a bad partition column gets a clear error */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT * FROM (%s\n) AS q LIMIT 0", query);
	if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unload query must be a query returning rows")));
	check_partition_columns(SPI_tuptable->tupdesc, partition_by);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "SELECT * FROM (%s\n) AS q", query);
	foreach(lc, partition_by)
		appendStringInfo(&sql, "%s q.%s", foreach_current_index(lc) == 0 ? " ORDER BY" : ",",
						 quote_identifier((char *) lfirst(lc)));

	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "could not prepare the unload query: %s",
			 SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	tupdesc = portal->tupDesc;

	is_partition_col = palloc0(sizeof(bool) * Max(tupdesc->natts, 1));
	out = palloc0(sizeof(FmgrInfo) * Max(tupdesc->natts, 1));
	foreach(lc, partition_by)
	{
		int			found = -1;

		for (int i = 0; i < tupdesc->natts; i++)
			if (strcmp(NameStr(TupleDescAttr(tupdesc, i)->attname), (char *) lfirst(lc)) == 0)
			{
				if (found >= 0)
					ereport(ERROR,
							(errcode(ERRCODE_AMBIGUOUS_COLUMN),
							 errmsg("partition column \"%s\" is ambiguous", (char *) lfirst(lc))));
				found = i;
			}
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("partition column \"%s\" is not in the query's result",
							(char *) lfirst(lc))));
		partcols[foreach_current_index(lc)] = found;
		is_partition_col[found] = true;
	}
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Oid			func;
		bool		isvarlena;

		getTypeOutputInfo(TupleDescAttr(tupdesc, i)->atttypid, &func, &isvarlena);
		fmgr_info(func, &out[i]);
		if (!is_partition_col[i])
			ndata++;
	}
	if (ndata == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unload needs at least one column that is not a partition column")));

	journal_start(st);
	(void) prepare_directories(st, destination);

	rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pipeline unload row",
								   ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&line);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, UNLOAD_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[r];
			char	   *dir;
			bool		first = true;

			CHECK_FOR_INTERRUPTS();
			oldcxt = MemoryContextSwitchTo(rowcxt);
			dir = partition_dir(tuple, tupdesc, npart, partcols, out);
			MemoryContextSwitchTo(oldcxt);
			if (current_dir == NULL || strcmp(dir, current_dir) != 0)
			{
				close_current(st);
				if (current_dir != NULL)
					pfree(current_dir);
				current_dir = pstrdup(dir);
				open_partition(st, destination, current_dir, overwrite, tupdesc,
							   is_partition_col);
			}

			resetStringInfo(&line);
			oldcxt = MemoryContextSwitchTo(rowcxt);
			for (int i = 0; i < tupdesc->natts; i++)
			{
				bool		isnull;
				Datum		d;

				if (is_partition_col[i])
					continue;
				if (!first)
					appendStringInfoChar(&line, ',');
				first = false;
				d = heap_getattr(tuple, i + 1, tupdesc, &isnull);
				append_csv_field(&line, isnull ? NULL : OutputFunctionCall(&out[i], d));
			}
			appendStringInfoChar(&line, '\n');
			MemoryContextSwitchTo(oldcxt);
			write_buf(st, &line);
			((UnloadFile *) llast(st->files))->rows++;
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	close_current(st);
	SPI_cursor_close(portal);

	/* every partition is written: put the files in place */
	unload_place(st);
	journal_finish(st, false);
}

/* The column names of partition_by: no nulls, no duplicates. */
pg_noinline static List *
parse_partition_by(ArrayType *arr)
{
	List	   *partition_by = NIL;
	ListCell   *lc;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("partition_by must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *col;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("partition_by must not contain nulls")));
		col = TextDatumGetCString(elems[i]);
		foreach(lc, partition_by)
			if (strcmp((char *) lfirst(lc), col) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("partition column \"%s\" is listed twice", col)));
		partition_by = lappend(partition_by, col);
	}
	return partition_by;
}

PG_FUNCTION_INFO_V1(pipeline_unload);

/*
 * unload(query text, destination text, partition_by text[], format text,
 *		  overwrite boolean) RETURNS TABLE(path text, rows bigint)
 */
Datum
pipeline_unload(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *query;
	char	   *destination;
	char	   *format;
	bool		overwrite;
	List	   *partition_by;
	UnloadState st;
	ListCell   *lc;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to unload to files"),
				 errdetail("Only superusers and roles with privileges of pg_write_server_files may unload.")));
	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of unload must not be null")));
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	destination = text_to_cstring(PG_GETARG_TEXT_PP(1));
	format = text_to_cstring(PG_GETARG_TEXT_PP(3));
	overwrite = PG_GETARG_BOOL(4);

	if (pg_strcasecmp(format, "csv") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unload format \"%s\" is not supported", format),
				 errhint("Use csv.")));
	if (!is_absolute_path(destination))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unload destination must be an absolute path")));
	if (strcmp(destination, "..") == 0 || strstr(destination, "/../") != NULL ||
		strncmp(destination, "../", 3) == 0 ||
		(strlen(destination) >= 3 &&
		 strcmp(destination + strlen(destination) - 3, "/..") == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unload destination must not contain \"..\"")));
	canonicalize_path(destination);

	partition_by = parse_partition_by(PG_GETARG_ARRAYTYPE_P(2));

	InitMaterializedSRF(fcinfo, 0);
	memset(&st, 0, sizeof(st));
	st.journal_fd = -1;

	/* what unloads killed before they finished left behind */
	unload_recover();

	SPI_connect();
	PG_TRY();
	{
		do_unload(&st, query, destination, partition_by, overwrite);
	}
	PG_CATCH();
	{
		cleanup(&st);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* the list lives in SPI's memory: report before SPI_finish */
	foreach(lc, st.files)
	{
		UnloadFile *f = (UnloadFile *) lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(f->final_path);
		values[1] = Int64GetDatum(f->rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
