/*-------------------------------------------------------------------------
 * publication_owner.c
 *	  Which database's lake publication a destination belongs to.
 *
 * A publication's destination is a directory of the host, not of the
 * database: a copy of the database (CREATE DATABASE ... TEMPLATE, a restore
 * into another database or cluster) keeps it, and two databases cannot see
 * each other's catalogs to compare destinations.  So each destination's root
 * holds a small file naming the database and the view that publish there
 * (by name, which a dump, a restore and pg_upgrade keep, where OIDs change).
 * A hidden file: readers of a lake (Spark, Hive, Trino) skip names starting
 * with a dot.  It is created without replacing (a hard rename that refuses
 * an existing name), so of two databases claiming one tree at once only one
 * wins; the other fails and says which database holds the tree.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands/dbcommands.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "views/publication_owner.h"

#define OWNER_HEADER "pipeline lake publication\n"

/* "database: d\nview: v\n" after the header: who owns a tree */
static char *
owner_text(const char *view)
{
	return psprintf(OWNER_HEADER "database: %s\nview: %s\n",
					get_database_name(MyDatabaseId), view);
}

/*
 * The owner file of dir, or NULL when there is none.  Anything there but a
 * regular file (a link, a pipe that would block the read) is an error:
 * whoever made it must remove it.
 */
static char *
read_owner(const char *dir)
{
	char	   *path = psprintf("%s/%s", dir, PUBLICATION_OWNER_FILE);
	int			fd = OpenTransientFile(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | PG_BINARY);
	struct stat st;
	char		buf[4096];
	ssize_t		n;

	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return NULL;
	if (fd < 0 && errno != ELOOP)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read \"%s\": %m", path)));
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("\"%s\" is not a regular file", path),
				 errhint("It names the lake publication a tree belongs to; remove it.")));
	/* the few lines pipeline writes; more is not an owner file of pipeline's */
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read \"%s\": %m", path)));
	CloseTransientFile(fd);
	buf[n] = '\0';
	return pstrdup(buf);
}

/* The database line of an owner file's text ("" when it has none) */
static char *
owner_database(const char *text)
{
	const char *line = strstr(text, "\ndatabase: ");
	const char *end;

	if (line == NULL)
		return "";
	line += strlen("\ndatabase: ");
	end = strchr(line, '\n');
	return end ? pnstrdup(line, end - line) : pstrdup(line);
}

static bool
another_database(const char *text)
{
	return strcmp(owner_database(text), get_database_name(MyDatabaseId)) != 0;
}

static void
refuse_held(const char *destination, const char *dir, const char *text)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("destination \"%s\" overlaps a lake publication of database \"%s\"",
					destination, owner_database(text)),
			 errdetail("\"%s/%s\" says:\n%s", dir, PUBLICATION_OWNER_FILE, text),
			 errhint("Choose another destination; if that publication no longer writes there (a copy of its database, a database renamed since), remove that file.")));
}

/* Refuses an owner file of another database in dir or any directory below it */
static void
check_below(const char *destination, const char *dir, int depth)
{
	DIR		   *d;
	struct dirent *entry;
	char	   *text;

	CHECK_FOR_INTERRUPTS();
	if (depth > 0 && (text = read_owner(dir)) !=NULL && another_database(text))
		refuse_held(destination, dir, text);
	d = AllocateDir(dir);
	if (d == NULL)
		return;					/* not there (yet), or not a directory */
	while ((entry = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		char	   *path;
		struct stat st;

		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		path = psprintf("%s/%s", dir, entry->d_name);
		/* links are not followed: a link's target is checked as written */
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			check_below(destination, path, depth + 1);
		pfree(path);
	}
	FreeDir(d);
}

/* Refuses an owner file of another database in path or a directory above it */
static void
check_above(const char *destination, const char *path)
{
	char	   *dir = pstrdup(path);

	for (;;)
	{
		char	   *text = read_owner(dir);
		char	   *slash;

		if (text !=NULL && another_database(text))
			refuse_held(destination, dir, text);
		slash = last_dir_separator(dir);
		if (slash == NULL || slash == dir)
			break;
		*slash = '\0';
	}
}

void
publication_owner_check(const char *destination, const char *real_destination, const char *view)
{
	check_above(destination, destination);
	check_above(destination, real_destination);
	check_below(destination, real_destination, 0);
}

void
publication_owner_claim(const char *destination, const char *view)
{
	char	   *wanted = owner_text(view);
	char	   *path = psprintf("%s/%s", destination, PUBLICATION_OWNER_FILE);
	char	   *temporary = psprintf("%s.%d", path, MyProcPid);

	if (pg_mkdir_p(pstrdup(destination), pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", destination)));
	/* a second round only when another process made the file meanwhile */
	for (int round = 0;; round++)
	{
		char	   *text = read_owner(destination);
		int			fd;

		if (text !=NULL && strcmp(text, wanted) == 0)
			return;
		if (text !=NULL && another_database(text))
			refuse_held(destination, destination, text);
		if (round > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" changes while lake publication %s claims it", path, view)));
		fd = OpenTransientFile(temporary, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
		if (fd < 0 || write(fd, wanted, strlen(wanted)) != (ssize_t) strlen(wanted) ||
			pg_fsync(fd) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write \"%s\": %m", temporary)));
		CloseTransientFile(fd);
		/* none there: made only if still none; another view's: replaced */
		if (renameat2(AT_FDCWD, temporary, AT_FDCWD, path, text == NULL ? RENAME_NOREPLACE : 0) == 0)
		{
			(void) fsync_fname_ext(destination, true, false, LOG);
			return;
		}
		if (errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rename \"%s\" to \"%s\": %m", temporary, path)));
		unlink(temporary);
	}
}
