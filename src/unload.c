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
 * Each file is written under a temporary name and renamed into place once
 * every partition has been written; on any error the temporary files and
 * the directories this call created are removed again.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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

#include "unload.h"

#define UNLOAD_FILE_NAME "part-00000.csv"
#define UNLOAD_NULL_PARTITION "__HIVE_DEFAULT_PARTITION__"
#define UNLOAD_FETCH_ROWS 1000

typedef struct UnloadFile
{
	char	   *tmp_path;
	char	   *final_path;
	char	   *partition;		/* the relative directory, "" without one */
	int64		rows;
} UnloadFile;

typedef struct UnloadState
{
	List	   *created_dirs;	/* in creation order */
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

/* mkdir -p, remembering the directories it created. */
static void
make_directories(UnloadState *st, const char *path)
{
	char	   *p = pstrdup(path);
	char	   *slash = p;

	for (;;)
	{
		struct stat sb;
		bool		last;

		slash = strchr(slash + 1, '/');
		last = slash == NULL;
		if (!last)
			*slash = '\0';
		if (p[0] != '\0')
		{
			if (mkdir(p, pg_dir_create_mode) == 0)
				st->created_dirs = lappend(st->created_dirs, pstrdup(p));
			else if (errno != EEXIST || stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not create directory \"%s\": %m", p)));
		}
		if (last)
			break;
		*slash = '/';
	}
	pfree(p);
}

/* Closes the open file, if any, checking for write errors. */
static void
close_current(UnloadState *st)
{
	UnloadFile *f;

	if (st->current == NULL)
		return;
	f = (UnloadFile *) llast(st->files);
	if (FreeFile(st->current) != 0)
	{
		st->current = NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", f->tmp_path)));
	}
	st->current = NULL;
}

/* Removes what an unfinished unload wrote.  Never throws. */
static void
cleanup(UnloadState *st)
{
	ListCell   *lc;

	if (st->current != NULL)
		FreeFile(st->current);
	st->current = NULL;
	foreach(lc, st->files)
	{
		UnloadFile *f = (UnloadFile *) lfirst(lc);

		(void) unlink(f->tmp_path);
	}
	for (int i = list_length(st->created_dirs) - 1; i >= 0; i--)
		(void) rmdir((char *) list_nth(st->created_dirs, i));
}

static void
write_buf(UnloadState *st, StringInfo buf)
{
	if (fwrite(buf->data, 1, buf->len, st->current) != (size_t) buf->len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m",
						((UnloadFile *) llast(st->files))->tmp_path)));
}

/* Starts the file of the partition whose relative directory is reldir. */
static void
open_partition(UnloadState *st, const char *destination, const char *reldir,
			   bool overwrite, TupleDesc tupdesc, bool *is_partition_col)
{
	UnloadFile *f = palloc0(sizeof(UnloadFile));
	char	   *dir;
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
	f->tmp_path = psprintf("%s/.%s.%d.tmp", dir, UNLOAD_FILE_NAME, MyProcPid);
	if (strlen(f->final_path) >= MAXPGPATH - 32)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("unload path for partition \"%.64s...\" is too long", reldir)));

	make_directories(st, dir);
	if (!overwrite && lstat(f->final_path, &sb) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_FILE),
				 errmsg("file \"%s\" already exists", f->final_path),
				 errhint("Pass overwrite => true to replace it.")));

	st->files = lappend(st->files, f);
	st->current = AllocateFile(f->tmp_path, PG_BINARY_W);
	if (st->current == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", f->tmp_path)));

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

	make_directories(st, destination);

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
	foreach(lc, st->files)
	{
		UnloadFile *f = (UnloadFile *) lfirst(lc);

		if (rename(f->tmp_path, f->final_path) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rename \"%s\" to \"%s\": %m",
							f->tmp_path, f->final_path)));
	}
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
