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
 * fsynced, then the new roots and the files are put in place, each rename
 * followed by an fsync of the name and its directory, so what unload()
 * returns survives a crash of the machine.  A failure there takes back what
 * was placed without replacing anything (unless another call replaced it
 * since).
 *
 * Temporary names start with ".pipeline-unload-" and carry a token unique
 * to the call; each is recorded in the call's journal before it is created
 * (unload_journal.c), so what a call killed with -9 or a server crash left
 * behind is found and removed by unload_recover().  On an error the call
 * removes its temporaries itself, and so does a process that exits (a
 * FATAL error) in the middle of one.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"

#include "io/unload.h"
#include "util/arguments.h"
#include "io/unload_journal.h"
#include "model/dpl.h"
#include "util/runas.h"

#define UNLOAD_NULL_PARTITION "__HIVE_DEFAULT_PARTITION__"
#define UNLOAD_FETCH_ROWS 1000

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
	int128		digest;			/* sum of its rows' 64-bit hashes (c.h's
								 * int128: no platform PostgreSQL 15 builds on
								 * for pipeline lacks it) */
} UnloadFile;

typedef struct UnloadState
{
	UnloadJournal journal;		/* of the temporary names it takes */
	List	   *new_dirs;		/* UnloadDir, in creation order */
	List	   *files;			/* UnloadFile, in writing order */
	FILE	   *current;
	struct UnloadState *outer;	/* the unload under way that this one runs in */
} UnloadState;

/*
 * The unloads under way in this process, innermost first: removed at exit
 * too, since a FATAL error (a terminated backend, DROP DATABASE ... WITH
 * (FORCE), a fast shutdown) exits without reaching PG_CATCH.
 */
static UnloadState *unloads_under_way = NULL;

/* Appends s percent-encoded: only A-Z a-z 0-9 . _ - stay as they are. */
static void
append_encoded(StringInfo buf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	/* a value spelled as NULL's directory is not NULL: its first _ encoded */
	if (strcmp(s, UNLOAD_NULL_PARTITION) == 0)
	{
		appendStringInfoString(buf, "%5F");
		s++;
	}
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
				d->physical = journal_temporary_name(&st->journal, physical);
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

/* What unload_place() put in place without replacing anything, to take back */
typedef struct Placed
{
	const char *final;
	const char *temporary;
	dev_t		dev;			/* its identity, to take back only this */
	ino_t		ino;
} Placed;

typedef enum PlaceOutcome
{
	PLACE_DONE,
	PLACE_EXISTS,				/* someone made the final name meanwhile */
	PLACE_FAILED,				/* the rename failed (errno) */
	PLACE_NOT_SYNCED,			/* a sync failed (the server log says why) */
	PLACE_OUTSIDE				/* its directory is not inside confine */
} PlaceOutcome;

/*
 * The directory path is in, opened (O_PATH: for the *at() calls only), or
 * -1 with errno set; with confine, -1 and PLACE_OUTSIDE in *outcome when
 * the directory opened is not inside it.
 */
static int
open_parent_inside(const char *path, const char *confine, PlaceOutcome *outcome)
{
	int			fd = open(parent_directory(path), O_PATH | O_DIRECTORY | O_CLOEXEC);

	*outcome = PLACE_FAILED;
	if (fd >= 0 && confine != NULL && !unload_fd_inside(fd, confine))
	{
		close(fd);
		*outcome = PLACE_OUTSIDE;
		return -1;
	}
	return fd;
}

/*
 * Renames temporary to final, durably as durable_rename() does (temporary
 * synced before, final and its directory after), replacing an existing
 * final only when replace; what replaced nothing is added to *placed.  A
 * failed sync is logged, never fsync_fname()'s PANIC: these are not the
 * server's files.  The two are in one directory; the rename is made in
 * that directory as opened and, with confine, checked to lie inside it, so
 * a symbolic link put in place of a directory after the caller's checks
 * cannot lead the file into another tree.
 */
static PlaceOutcome
place(const char *temporary, const char *final, bool replace, const char *confine,
	  List **placed)
{
	struct stat st;
	Placed	   *p;
	PlaceOutcome outcome;
	int			dirfd;
	int			renamed;
	int			save_errno;

	Assert(strcmp(parent_directory(temporary), parent_directory(final)) == 0);
	if (lstat(temporary, &st) != 0)
		return PLACE_FAILED;
	if (fsync_fname_ext(temporary, S_ISDIR(st.st_mode), false, LOG) != 0)
		return PLACE_NOT_SYNCED;
	if ((dirfd = open_parent_inside(final, confine, &outcome)) < 0)
		return outcome;
	renamed = renameat2(dirfd, last_dir_separator(temporary) + 1,
						dirfd, last_dir_separator(final) + 1, replace ? 0 : RENAME_NOREPLACE);
	save_errno = errno;
	close(dirfd);
	errno = save_errno;
	if (renamed != 0)
		return errno == EEXIST || errno == ENOTEMPTY ? PLACE_EXISTS : PLACE_FAILED;
	if (!replace)
	{
		p = palloc(sizeof(Placed));
		p->final = final;
		p->temporary = temporary;
		p->dev = st.st_dev;
		p->ino = st.st_ino;
		*placed = lappend(*placed, p);
	}
	if (fsync_fname_ext(final, S_ISDIR(st.st_mode), false, LOG) != 0 ||
		fsync_fname_ext(parent_directory(final), true, false, LOG) != 0)
		return PLACE_NOT_SYNCED;
	return PLACE_DONE;
}

/*
 * Takes back what unload_place() placed before it failed, under the
 * temporary names again for cleanup() to remove; only what is still the
 * one it placed (another unload with overwrite may have replaced it since:
 * that one stays), looked at and renamed in its directory as place() does.
 * Never throws an error.
 */
static void
take_back(List *placed, const char *confine)
{
	ListCell   *lc;

	foreach(lc, placed)
	{
		Placed	   *p = lfirst(lc);
		struct stat st;
		PlaceOutcome outcome;
		int			dirfd = open_parent_inside(p->final, confine, &outcome);
		const char *name = last_dir_separator(p->final) + 1;

		if (dirfd < 0 || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
			st.st_dev != p->dev || st.st_ino != p->ino)
			ereport(WARNING,
					(errmsg("unload left \"%s\" in place: it was replaced meanwhile", p->final)));
		else if (renameat(dirfd, name, dirfd, last_dir_separator(p->temporary) + 1) != 0)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not take back \"%s\" after the failed unload: %m", p->final)));
		else
			(void) fsync_fname_ext(parent_directory(p->final), true, false, LOG);
		if (dirfd >= 0)
			close(dirfd);
	}
}

/*
 * Puts every file and new directory in place: the new partition roots
 * first, each refused if someone made it meanwhile (a rename never replaces
 * a directory made since); then the files in directories that existed,
 * replacing their old files only when overwrite (one made meanwhile, by
 * another unload say, is an error otherwise).  A failure takes back what
 * was placed without replacing anything, so a failed unload leaves no file
 * of its own and, unless overwrite, replaced none.  With confine, each is
 * put only into a directory inside it (UnloadBeforePlace).
 */
static void
unload_place(UnloadState *st, bool overwrite, const char *confine)
{
	List	   *placed = NIL;
	ListCell   *lc;
	PlaceOutcome outcome = PLACE_DONE;
	const char *failed = NULL;
	bool		failed_dir = false;

	for (int i = list_length(st->new_dirs) - 1; i >= 0; i--)
		(void) fsync_fname_ext(((UnloadDir *) list_nth(st->new_dirs, i))->physical,
							   true, false, ERROR);
	foreach(lc, st->new_dirs)
	{
		UnloadDir  *d = (UnloadDir *) lfirst(lc);

		if (d->is_root &&
			(outcome = place(d->physical, d->path, false, confine, &placed)) != PLACE_DONE)
		{
			failed = d->path;
			failed_dir = true;
			break;
		}
	}
	if (failed == NULL)
		foreach(lc, st->files)
		{
			UnloadFile *f = (UnloadFile *) lfirst(lc);

			if (!f->in_new_dir &&
				(outcome = place(f->write_path, f->final_path, overwrite, confine,
								 &placed)) != PLACE_DONE)
			{
				failed = f->final_path;
				break;
			}
		}
	if (failed == NULL)
		return;
	{
		int			save_errno = errno;

		take_back(placed, confine);
		errno = save_errno;
	}
	if (outcome == PLACE_EXISTS && failed_dir)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FILE),
				 errmsg("directory \"%s\" was created by someone else during the unload", failed)));
	if (outcome == PLACE_EXISTS)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FILE),
				 errmsg("file \"%s\" was created by someone else during the unload", failed),
				 errhint("Pass overwrite => true to replace it.")));
	if (outcome == PLACE_NOT_SYNCED)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not make \"%s\" durable", failed),
				 errdetail("The server log says why.")));
	if (outcome == PLACE_OUTSIDE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"%s\" would be put outside \"%s\"", failed, confine),
				 errdetail("A symbolic link leads its directory out of \"%s\".", confine),
				 errhint("Remove the link.")));
	ereport(ERROR,
			(errcode_for_file_access(),
			 errmsg("could not put \"%s\" in place: %m", failed)));
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
	journal_finish(&st->journal, failed);
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
			   bool overwrite, TupleDesc tupdesc, const bool *is_partition_col)
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
		f->write_path = journal_temporary_name(&st->journal, dir);
	}

	/*
	 * Created, never opened: the temporary name is foreseeable (pid, start
	 * time, a count), and whoever may write in the directory could have put a
	 * link to a file of the server there, which "w" would truncate and fill,
	 * then rename into the tree.  Only what this call created is its to
	 * remove.
	 */
	st->files = lappend(st->files, f);
	st->current = AllocateFile(f->write_path, PG_BINARY_W "x");
	if (st->current == NULL)
	{
		int			save_errno = errno;

		st->files = list_delete_last(st->files);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", f->write_path)));
	}

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
partition_dir(HeapTuple tuple, TupleDesc tupdesc, int npart, const int *partcols,
			  FmgrInfo *out)
{
	StringInfoData dir;

	initStringInfo(&dir);
	for (int i = 0; i < npart; i++)
	{
		int			col = partcols[i];
		bool		isnull;
		Datum		d = heap_getattr(tuple, col + 1, tupdesc, &isnull);
		int			start;

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

/*
 * The index of the one result column named name; errors when none or more
 * than one is.
 */
static int
partition_column_index(TupleDesc tupdesc, const char *name)
{
	int			found = -1;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		if (strcmp(NameStr(TupleDescAttr(tupdesc, i)->attname), name) != 0)
			continue;
		if (found >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("partition column \"%s\" is ambiguous", name)));
		found = i;
	}
	if (found < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("partition column \"%s\" is not in the query's result", name)));
	return found;
}

/*
 * Runs the query for its result columns only, so a bad partition column
 * gets a clear error before anything is written.
 */
static void
check_result_columns(const char *query, List *partition_by, const UnloadParams *params)
{
	ListCell   *lc;

	if (SPI_execute_with_args(psprintf("SELECT * FROM (%s\n) AS q LIMIT 0", query),
							  params->nargs, params->argtypes, params->values, NULL,
							  true, 0) != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unload query must be a query returning rows")));
	foreach(lc, partition_by)
		(void) partition_column_index(SPI_tuptable->tupdesc, (char *) lfirst(lc));
}

/* A cursor over the query's rows ordered by the partition columns. */
static Portal
open_ordered_cursor(const char *query, List *partition_by, const UnloadParams *params)
{
	StringInfoData sql;
	ListCell   *lc;
	SPIPlanPtr	plan;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT * FROM (%s\n) AS q", query);
	foreach(lc, partition_by)
		appendStringInfo(&sql, "%s q.%s", foreach_current_index(lc) == 0 ? " ORDER BY" : ",",
						 quote_identifier((char *) lfirst(lc)));
	plan = SPI_prepare(sql.data, params->nargs, params->argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare the unload query: %s",
			 SPI_result_code_string(SPI_result));
	return SPI_cursor_open(NULL, plan, params->values, NULL, false);
}

/* The columns of the cursor's rows, as writing them needs. */
typedef struct UnloadColumns
{
	TupleDesc	tupdesc;
	int			npart;
	int		   *partcols;		/* the partition columns, in partition_by
								 * order */
	bool	   *is_partition_col;	/* per column */
	FmgrInfo   *out;			/* per column: its output function */
	TupleDesc	record_desc;	/* with digests: the rows as records */
	FmgrInfo	record_out;
} UnloadColumns;

/*
 * Fills cols for tupdesc; errors unless some column is not a partition
 * column (a file needs at least one).
 */
static void
resolve_columns(UnloadColumns *cols, TupleDesc tupdesc, List *partition_by, bool digests)
{
	ListCell   *lc;
	int			ndata = 0;

	cols->record_desc = NULL;
	if (digests)
	{
		cols->record_desc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		fmgr_info(F_RECORD_OUT, &cols->record_out);
	}

	cols->tupdesc = tupdesc;
	cols->npart = list_length(partition_by);
	cols->partcols = palloc(sizeof(int) * Max(cols->npart, 1));
	cols->is_partition_col = palloc0(sizeof(bool) * Max(tupdesc->natts, 1));
	cols->out = palloc0(sizeof(FmgrInfo) * Max(tupdesc->natts, 1));
	foreach(lc, partition_by)
	{
		int			col = partition_column_index(tupdesc, (char *) lfirst(lc));

		cols->partcols[foreach_current_index(lc)] = col;
		cols->is_partition_col[col] = true;
	}
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Oid			func;
		bool		isvarlena;

		getTypeOutputInfo(TupleDescAttr(tupdesc, i)->atttypid, &func, &isvarlena);
		fmgr_info(func, &cols->out[i]);
		if (!cols->is_partition_col[i])
			ndata++;
	}
	if (ndata == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unload needs at least one column that is not a partition column")));
}

/* Sets line to tuple's CSV line: the columns that are not partition columns. */
static void
format_row(StringInfo line, const UnloadColumns *cols, HeapTuple tuple)
{
	bool		first = true;

	resetStringInfo(line);
	for (int i = 0; i < cols->tupdesc->natts; i++)
	{
		bool		isnull;
		Datum		d;

		if (cols->is_partition_col[i])
			continue;
		if (!first)
			appendStringInfoChar(line, ',');
		first = false;
		d = heap_getattr(tuple, i + 1, cols->tupdesc, &isnull);
		append_csv_field(line, isnull ? NULL : OutputFunctionCall(&cols->out[i], d));
	}
	appendStringInfoChar(line, '\n');
}

/* The 64-bit hash of a row's text, as hashtextextended(q::text, 0). */
static int64
row_hash(const UnloadColumns *cols, HeapTuple tuple)
{
	Datum		record = heap_copy_tuple_as_datum(tuple, cols->record_desc);
	char	   *text = OutputFunctionCall((FmgrInfo *) &cols->record_out, record);

	return DatumGetInt64(DirectFunctionCall2Coll(hashtextextended, DEFAULT_COLLATION_OID,
												 CStringGetTextDatum(text), Int64GetDatum(0)));
}

/* An int128 in decimal, as numeric prints an integer. */
static char *
int128_text(int128 value)
{
	char		digits[48];
	int			at = sizeof(digits) - 1;
	bool		negative = value < 0;

	digits[at] = '\0';
	do
	{
		int			digit = (int) (value % 10);

		digits[--at] = '0' + (negative ? -digit : digit);
		value /= 10;
	} while (value != 0);
	if (negative)
		digits[--at] = '-';
	return pstrdup(&digits[at]);
}

/*
 * Writes every row of the cursor to its partition's file, opening the next
 * file when the partition changes (the rows come ordered by partition).
 */
static void
write_rows(UnloadState *st, Portal portal, const UnloadColumns *cols,
		   const char *destination, bool overwrite)
{
	MemoryContext rowcxt;
	MemoryContext oldcxt;
	StringInfoData line;
	char	   *current_dir = NULL;

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

			CHECK_FOR_INTERRUPTS();
			oldcxt = MemoryContextSwitchTo(rowcxt);
			dir = partition_dir(tuple, cols->tupdesc, cols->npart, cols->partcols, cols->out);
			MemoryContextSwitchTo(oldcxt);
			if (current_dir == NULL || strcmp(dir, current_dir) != 0)
			{
				close_current(st);
				if (current_dir != NULL)
					pfree(current_dir);
				current_dir = pstrdup(dir);
				open_partition(st, destination, current_dir, overwrite, cols->tupdesc,
							   cols->is_partition_col);
			}
			oldcxt = MemoryContextSwitchTo(rowcxt);
			format_row(&line, cols, tuple);
			if (cols->record_desc)
				((UnloadFile *) llast(st->files))->digest += row_hash(cols, tuple);
			MemoryContextSwitchTo(oldcxt);
			write_buf(st, &line);
			((UnloadFile *) llast(st->files))->rows++;
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	close_current(st);
}

/* What st wrote, as UnloadedFile, in context */
static List *
written_files(UnloadState *st, bool digests, MemoryContext context)
{
	MemoryContext old = MemoryContextSwitchTo(context);
	List	   *written = NIL;
	ListCell   *lc;

	foreach(lc, st->files)
	{
		UnloadFile *f = (UnloadFile *) lfirst(lc);
		UnloadedFile *out = palloc(sizeof(UnloadedFile));

		out->path = pstrdup(f->final_path);
		out->partition = pstrdup(f->partition);
		out->rows = f->rows;
		out->digest = digests ? int128_text(f->digest) : NULL;
		written = lappend(written, out);
	}
	MemoryContextSwitchTo(old);
	return written;
}

/*
 * The whole unload in the caller's SPI connection: check the columns, open
 * the journal, write every partition under temporary names, then put the
 * files in place.  On an error the caller removes what st lists.
 */
static void
do_unload(UnloadState *st, const char *query, const char *destination,
		  List *partition_by, bool overwrite, const UnloadParams *params, bool digests,
		  const UnloadBeforePlace *before_place)
{
	Portal		portal;
	UnloadColumns cols;

	check_result_columns(query, partition_by, params);
	portal = open_ordered_cursor(query, partition_by, params);
	resolve_columns(&cols, portal->tupDesc, partition_by, digests);

	journal_start(&st->journal);
	(void) prepare_directories(st, destination);
	write_rows(st, portal, &cols, destination, overwrite);
	SPI_cursor_close(portal);

	/* every partition is written: put the files in place */
	if (before_place)
		before_place->callback(written_files(st, digests, CurrentMemoryContext),
							   before_place->arg);
	unload_place(st, overwrite, before_place ? before_place->confine : NULL);
	journal_finish(&st->journal, false);
}

/* before_shmem_exit: the stack of the unloads under way is still there */
static void
cleanup_at_exit(int code, Datum arg)
{
	for (UnloadState *st = unloads_under_way; st != NULL; st = st->outer)
		cleanup(st);
	unloads_under_way = NULL;
}

List *
unload_query(const char *query, const UnloadParams *params, const char *destination,
			 List *partition_by, bool overwrite, bool digests,
			 const UnloadBeforePlace *before_place)
{
	MemoryContext caller = CurrentMemoryContext;
	UnloadParams none = {0};
	UnloadState st;
	List	   *written;
	static bool exit_callback_registered = false;

	memset(&st, 0, sizeof(st));
	st.journal.fd = -1;
	if (!exit_callback_registered)
	{
		before_shmem_exit(cleanup_at_exit, (Datum) 0);
		exit_callback_registered = true;
	}

	/* what unloads killed before they finished left behind */
	unload_recover();

	/*
	 * The files are not PostgreSQL's to clean up at abort: remove them here,
	 * then re-throw the error unchanged.
	 */
	SPI_connect();
	st.outer = unloads_under_way;
	unloads_under_way = &st;
	PG_TRY();
	{
		do_unload(&st, query, destination, partition_by, overwrite, params ? params : &none,
				  digests, before_place);
	}
	PG_CATCH();
	{
		unloads_under_way = st.outer;
		cleanup(&st);
		PG_RE_THROW();
	}
	PG_END_TRY();
	unloads_under_way = st.outer;
	written = written_files(&st, digests, caller);
	SPI_finish();
	return written;
}

char *
unload_partition_dir(List *columns, List *values)
{
	StringInfoData dir;
	ListCell   *c;
	ListCell   *v;

	initStringInfo(&dir);
	forboth(c, columns, v, values)
	{
		if (dir.len > 0)
			appendStringInfoChar(&dir, '/');
		append_encoded(&dir, (char *) lfirst(c));
		appendStringInfoChar(&dir, '=');
		if (lfirst(v) == NULL)
			appendStringInfoString(&dir, UNLOAD_NULL_PARTITION);
		else
			append_encoded(&dir, (char *) lfirst(v));
	}
	return dir.data;
}

void
unload_check_destination(const char *destination)
{
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

/*
 * What unload() and lake publications write with, whatever the session's
 * settings: a timestamptz in UTC, so that a path or a file does not change
 * with the TimeZone of whoever runs it
 */
static const RunAsSetting file_settings[] = {
	{"datestyle", "ISO, YMD"},
	{"intervalstyle", "postgres"},
	{"extra_float_digits", "3"},
	{"timezone", "UTC"},
};

int
unload_pin_file_formats(void)
{
	return runas_pin_settings(file_settings, lengthof(file_settings));
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
	List	   *files;
	ListCell   *lc;
	int			nestlevel;

	if (!superuser() && !has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to unload to files"),
				 errdetail("Only superusers and roles with privileges of pg_write_server_files may unload.")));
	arguments_require_not_null(fcinfo, 5);
	/* one SELECT, as a view's query: it is run as a subquery */
	query = dpl_normalize_select(text_to_cstring(PG_GETARG_TEXT_PP(0)), "query");
	destination = text_to_cstring(PG_GETARG_TEXT_PP(1));
	format = text_to_cstring(PG_GETARG_TEXT_PP(3));
	overwrite = PG_GETARG_BOOL(4);

	if (pg_strcasecmp(format, "csv") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unload format \"%s\" is not supported", format),
				 errhint("Use csv.")));
	unload_check_destination(destination);
	canonicalize_path(destination);

	partition_by = parse_partition_by(PG_GETARG_ARRAYTYPE_P(2));

	InitMaterializedSRF(fcinfo, 0);

	/* paths and CSV the same whatever the session's settings */
	nestlevel = unload_pin_file_formats();
	files = unload_query(query, NULL, destination, partition_by, overwrite, false, NULL);
	runas_unpin_settings(nestlevel);
	foreach(lc, files)
	{
		UnloadedFile *f = (UnloadedFile *) lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(f->path);
		values[1] = Int64GetDatum(f->rows);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

bool
unload_path_inside(const char *path, const char *dir)
{
	size_t		n = strlen(dir);

	return strcmp(path, dir) == 0 || strcmp(dir, "/") == 0 ||
		(strncmp(path, dir, n) == 0 && path[n] == '/');
}

bool
unload_fd_inside(int fd, const char *dir)
{
	struct stat target;
	struct stat at;
	int			walk = fd;
	bool		inside = false;

	if (stat(dir, &target) != 0 || fstat(fd, &at) != 0)
		return false;

	/*
	 * Up through "..", which no symbolic link redirects, to the root; one
	 * walk per path component at most
	 */
	for (int depth = 0; depth < MAXPGPATH / 2; depth++)
	{
		struct stat up;
		int			parent;

		if (at.st_dev == target.st_dev && at.st_ino == target.st_ino)
		{
			inside = true;
			break;
		}
		parent = openat(walk, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (parent < 0 || fstat(parent, &up) != 0 ||
			(up.st_dev == at.st_dev && up.st_ino == at.st_ino))
		{
			/* the root, or no way up */
			if (parent >= 0)
				close(parent);
			break;
		}
		if (walk != fd)
			close(walk);
		walk = parent;
		at = up;
	}
	if (walk != fd)
		close(walk);
	return inside;
}

/*
 * Whether the n bytes at s are a segment "name=value" as partition_dir()
 * spells one (encoded), or else a segment of a canonical path.
 */
static bool
is_segment(const char *s, size_t n, bool encoded)
{
	bool		equals = false;

	if (!encoded)
		return n > 0 && !(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.');
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = s[i];

		if (c == '=' && i > 0 && !equals)
			equals = true;
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				   c == '.' || c == '_' || c == '-' || c == '%'))
			return false;
	}
	return equals;
}

/* Whether each segment of the n bytes at s (no leading '/') is one */
static bool
all_segments(const char *s, size_t n, bool encoded)
{
	size_t		start = 0;

	for (size_t i = 0; i <= n; i++)
		if (i == n || s[i] == '/')
		{
			if (!is_segment(s + start, i - start, encoded))
				return false;
			start = i + 1;
		}
	return true;
}

bool
unload_is_partition_file(const char *path, const char *partition)
{
	size_t		n = strlen(path);
	size_t		m = strlen(partition);
	size_t		tail = strlen("/" UNLOAD_FILE_NAME);

	if (!is_absolute_path(path) || n <= tail || strcmp(path + n - tail, "/" UNLOAD_FILE_NAME) != 0)
		return false;
	n -= tail;
	if (m > 0)
	{
		/* the directory ends in "/<partition>" */
		if (n <= m + 1 || path[n - m - 1] != '/' || strncmp(path + n - m, partition, m) != 0 ||
			!all_segments(partition, m, true))
			return false;
		n -= m + 1;
	}
	/* what is left is the destination, canonical ("/": nothing is left) */
	return n == 0 || all_segments(path + 1, n - 1, false);
}
