/*-------------------------------------------------------------------------
 * publication_owner.c
 *	  Which database's lake publication a destination belongs to.
 *
 * A publication's destination is a directory of the host, not of the
 * database: a copy of the database (CREATE DATABASE ... TEMPLATE, a restore
 * into another database or cluster) keeps it, and two databases cannot see
 * each other's catalogs to compare destinations.  So each destination's root
 * holds a small file naming the database and the view that publish there
 * (by name, which a dump, a restore and pg_upgrade keep, where OIDs change)
 * and the cluster, by its system identifier (a standby promoted keeps it; a
 * copy restored into another cluster, under the same name, does not).
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

#include "access/xact.h"
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "common/file_perm.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "views/publication_owner.h"

#define OWNER_HEADER "pipeline lake publication\n"

/* name on one line: backslashes and line ends escaped */
static char *
one_line(const char *name)
{
	StringInfoData line;

	initStringInfo(&line);
	for (const char *c = name; *c; c++)
	{
		if (*c == '\\')
			appendStringInfoString(&line, "\\\\");
		else if (*c == '\n')
			appendStringInfoString(&line, "\\n");
		else if (*c == '\r')
			appendStringInfoString(&line, "\\r");
		else
			appendStringInfoChar(&line, *c);
	}
	return line.data;
}

static char *
this_database(void)
{
	return one_line(get_database_name(MyDatabaseId));
}

/* this cluster's system identifier, as an owner file says it */
static char *
this_system(void)
{
	return psprintf(UINT64_FORMAT, GetSystemIdentifier());
}

/*
 * "database: d\nview: v\nsystem: s\n" after the header: who owns a tree
 * (before 1.19's library the file ended before "system: ")
 */
static char *
owner_text(const char *view)
{
	return psprintf(OWNER_HEADER "database: %s\nview: %s\nsystem: %s\n",
					this_database(), one_line(view), this_system());
}

/* dir's owner file */
static char *
owner_path(const char *dir)
{
	return psprintf("%s/%s", dir, PUBLICATION_OWNER_FILE);
}

/*
 * The owner file of dir, or NULL when there is none (or, when
 * denied_is_none, none the server may read).  Anything there but a regular
 * file (a link, a pipe that would block the read) is an error: whoever made
 * it must remove it.
 */
static char *
read_owner(const char *dir, bool denied_is_none)
{
	char	   *path = owner_path(dir);
	int			fd = OpenTransientFile(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | PG_BINARY);
	struct stat st;
	char		buf[4096];
	ssize_t		n;

	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return NULL;
	/* a directory the server may not enter (lost+found) holds none it sees */
	if (fd < 0 && denied_is_none && (errno == EACCES || errno == EPERM))
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

/* The value of an owner file's line "key: value" ("" when it has none) */
static char *
owner_line(const char *text, const char *key)
{
	char	   *prefix = psprintf("\n%s: ", key);
	const char *line = strstr(text, prefix);
	const char *end;

	if (line == NULL)
		return "";
	line += strlen(prefix);
	end = strchr(line, '\n');
	return end ? pnstrdup(line, end - line) : pstrdup(line);
}

/*
 * Whether an owner file was written by another cluster; one without a
 * system line (an older library's) is not known to be.
 */
static bool
another_cluster(const char *text)
{
	char	   *system = owner_line(text, "system");

	return system[0] != '\0' && strcmp(system, this_system()) != 0;
}

/*
 * Whether text is an owner file that names another database (of this
 * cluster or another), or none of pipeline's.  One without a system line
 * goes by the database's name alone.
 */
static bool
another_database(const char *text)
{
	return strncmp(text, OWNER_HEADER, strlen(OWNER_HEADER)) != 0 ||
		strcmp(owner_line(text, "database"), this_database()) != 0 ||
		another_cluster(text);
}

/* A line of the file as a message may show it: valid text, not too long */
static char *
shown(char *value)
{
	if (strlen(value) > NAMEDATALEN * 2 + 8 || !pg_verifymbstr(value, strlen(value), true))
		return "(unreadable)";
	return value;
}

/* Another database's owner file found: where, and what it says */
typedef struct Held
{
	char	   *dir;
	char	   *text;
} Held;

static void
refuse_held(const char *destination, const Held *held)
{
	if (strncmp(held->text, OWNER_HEADER, strlen(OWNER_HEADER)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("destination \"%s\" overlaps a tree marked by \"%s/%s\", which is not pipeline's",
						destination, held->dir, PUBLICATION_OWNER_FILE),
				 errhint("Remove that file if no lake publication writes there.")));
	if (another_cluster(held->text))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("destination \"%s\" overlaps a lake publication of database \"%s\" of another cluster",
						destination, shown(owner_line(held->text, "database"))),
				 errdetail("\"%s/%s\" names view %s of that database, in the cluster of system identifier %s (this one's is %s).",
						   held->dir, PUBLICATION_OWNER_FILE, shown(owner_line(held->text, "view")),
						   shown(owner_line(held->text, "system")), this_system()),
				 errhint("Choose another destination; if this database was moved here from that cluster and it no longer writes there, remove that file.")));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("destination \"%s\" overlaps a lake publication of database \"%s\"",
					destination, shown(owner_line(held->text, "database"))),
			 errdetail("\"%s/%s\" names view %s of that database.", held->dir, PUBLICATION_OWNER_FILE,
					   shown(owner_line(held->text, "view"))),
			 errhint("Choose another destination; if that publication no longer writes there (a copy of its database, a database renamed since, a publication dropped), remove that file.")));
}

/* Another database's owner file in a directory below dir, if any */
static bool
held_below(const char *dir, Held *held)
{
	DIR		   *d;
	struct dirent *entry;
	bool		found = false;

	d = AllocateDir(dir);
	if (d == NULL)
		return false;			/* not there (yet), or not a directory */
	while (!found && (entry = ReadDirExtended(d, dir, LOG)) != NULL)
	{
		char	   *path;
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		path = psprintf("%s/%s", dir, entry->d_name);
		/* links are not followed: a link's target is checked as written */
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
		{
			char	   *text = read_owner(path, true);

			if (text !=NULL && another_database(text))
			{
				held->dir = path;
				held->text = text;

				found = true;
			}
			else
				found = held_below(path, held);
		}
	}
	FreeDir(d);
	return found;
}

/* Another database's owner file in path or a directory above it, if any */
static bool
held_above(const char *path, Held *held)
{
	char	   *dir = pstrdup(path);

	for (;;)
	{
		char	   *text = read_owner(dir, true);
		char	   *slash;

		if (text !=NULL && another_database(text))
		{
			held->dir = dir;
			held->text = text;

			return true;
		}
		slash = last_dir_separator(dir);
		if (slash == NULL || slash == dir)
			return false;
		*slash = '\0';
	}
}

bool
publication_owner_held_elsewhere(const char *path)
{
	Held		held;

	return held_above(path, &held);
}

/* held_above() of the destination as written and, when links lead elsewhere, of where they lead */
static bool
held_above_either(const char *destination, const char *real_destination, Held *held)
{
	return held_above(destination, held) ||
		(strcmp(real_destination, destination) != 0 && held_above(real_destination, held));
}

/*
 * Owner files are files, not rows: what a transaction wrote is undone when
 * it, or the subtransaction that wrote it, aborts, and a release is done
 * only once the transaction commits.  A failed definition left a file
 * naming a view that never was, and a drop rolled back lost its file.
 */
typedef enum OwnerFileChangeKind
{
	OWNER_FILE_WRITTEN,			/* a claim wrote text over previous (NULL:
								 * none) */
	OWNER_FILE_KEPT,			/* a claim found text there */
	OWNER_FILE_RELEASED,		/* removed at commit if it still says text */
	OWNER_DIRECTORY_MADE		/* a claim made the directories from text down
								 * to path: removed at abort if empty */
} OwnerFileChangeKind;

typedef struct OwnerFileChange
{
	OwnerFileChangeKind kind;
	char	   *path;
	char	   *text;
	char	   *previous;
	SubTransactionId subid;
} OwnerFileChange;

/* this transaction's changes, in order, in TopTransactionContext */
static List *owner_file_changes = NIL;

/*
 * Does the file at path say exactly the first len bytes of text?  Never
 * fails: it runs after a commit and during an abort.
 */
static bool
file_says_prefix(const char *path, const char *text, size_t len)
{
	int			fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | PG_BINARY);
	struct stat st;
	char		buf[4096];
	ssize_t		n = -1;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return false;
	return (size_t) n == len && memcmp(buf, text, len) == 0;
}

static bool
file_says(const char *path, const char *text)
{
	return file_says_prefix(path, text, strlen(text));
}

/*
 * Does the file at path say owner text, or what an older library wrote for
 * the same view: the text up to its system line?
 */
static bool
file_says_owner(const char *path, const char *text)
{
	const char *system = strstr(text, "\nsystem: ");

	return file_says(path, text) ||
		(system != NULL && file_says_prefix(path, text, system + 1 - text));
}

/* Puts back what a claim found, unless the file changed since.  Never fails. */
static void
undo_write(const OwnerFileChange *change)
{
	char	   *temporary;
	int			fd;
	size_t		len;
	bool		written;

	if (!file_says(change->path, change->text))
		return;
	if (change->previous == NULL)
	{
		(void) unlink(change->path);
		return;
	}
	temporary = psprintf("%s.%d", change->path, MyProcPid);
	len = strlen(change->previous);
	/* a file of its own: not one linked there, hard or symbolic */
	(void) unlink(temporary);
	fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, pg_file_create_mode);
	if (fd < 0)
		return;
	written = write(fd, change->previous, len) == (ssize_t) len && fsync(fd) == 0;
	if (close(fd) == 0 && written && rename(temporary, change->path) == 0)
		return;
	(void) unlink(temporary);
}

/*
 * Removes the directories a claim made (change->path up to change->text),
 * the deepest first, as long as they are empty.  Never fails.
 */
static void
remove_made_directories(const OwnerFileChange *change)
{
	char	   *path = pstrdup(change->path);

	while (strlen(path) >= strlen(change->text) && rmdir(path) == 0)
	{
		char	   *slash = strrchr(path, '/');

		if (strcmp(path, change->text) == 0 || slash == NULL || slash == path)
			break;
		*slash = '\0';
	}
	pfree(path);
}

/* Undoes a change at (sub)transaction abort. */
static void
undo_change(const OwnerFileChange *change)
{
	if (change->kind == OWNER_FILE_WRITTEN)
		undo_write(change);
	else if (change->kind == OWNER_DIRECTORY_MADE)
		remove_made_directories(change);
}

/* Is change the last of the transaction's changes to its file? */
static bool
last_change_of_file(const OwnerFileChange *change)
{
	bool		after = false;
	ListCell   *lc;

	foreach(lc, owner_file_changes)
	{
		OwnerFileChange *other = lfirst(lc);

		if (after && strcmp(other->path, change->path) == 0)
			return false;
		if (other == change)
			after = true;
	}
	return true;
}

static void
owner_files_at_end(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (owner_file_changes == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that made, ran or dropped a lake publication"),
					 errdetail("Its owner file is written or removed as the transaction ends.")));
			break;
		case XACT_EVENT_COMMIT:
			foreach(lc, owner_file_changes)
			{
				OwnerFileChange *change = lfirst(lc);

				if (change->kind == OWNER_FILE_RELEASED && last_change_of_file(change) &&
					file_says_owner(change->path, change->text))
					(void) unlink(change->path);
			}
			break;
		case XACT_EVENT_ABORT:
			for (int i = list_length(owner_file_changes) - 1; i >= 0; i--)
			{
				undo_change(list_nth(owner_file_changes, i));
			}
			break;
		default:
			return;
	}
	owner_file_changes = NIL;	/* freed with TopTransactionContext */
}

static void
owner_files_at_subxact_end(SubXactEvent event, SubTransactionId subid,
						   SubTransactionId parent, void *arg)
{
	List	   *kept = NIL;
	MemoryContext old;
	ListCell   *lc;

	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		foreach(lc, owner_file_changes)
			if (((OwnerFileChange *) lfirst(lc))->subid == subid)
				((OwnerFileChange *) lfirst(lc))->subid = parent;
		return;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB || owner_file_changes == NIL)
		return;
	for (int i = list_length(owner_file_changes) - 1; i >= 0; i--)
	{
		OwnerFileChange *change = list_nth(owner_file_changes, i);

		if (change->subid == subid)
			undo_change(change);
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	foreach(lc, owner_file_changes)
		if (((OwnerFileChange *) lfirst(lc))->subid != subid)
			kept = lappend(kept, lfirst(lc));
	MemoryContextSwitchTo(old);
	owner_file_changes = kept;
}

static void
note_change(OwnerFileChangeKind kind, const char *path, const char *text, const char *previous)
{
	static bool callbacks_registered = false;
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	OwnerFileChange *change = palloc(sizeof(OwnerFileChange));

	if (!callbacks_registered)
	{
		RegisterXactCallback(owner_files_at_end, NULL);
		RegisterSubXactCallback(owner_files_at_subxact_end, NULL);
		callbacks_registered = true;
	}
	change->kind = kind;
	change->path = pstrdup(path);
	change->text = pstrdup(text);
	change->previous = previous ? pstrdup(previous) : NULL;
	change->subid = GetCurrentSubTransactionId();
	owner_file_changes = lappend(owner_file_changes, change);
	MemoryContextSwitchTo(old);
}

/*
 * The file at path, which says text, is held after all: a release of it
 * earlier in this transaction (a drop, a move elsewhere) no longer removes it.
 */
static void
keep_if_released(const char *path, const char *text)
{
	ListCell   *lc;

	foreach(lc, owner_file_changes)
		if (((OwnerFileChange *) lfirst(lc))->kind == OWNER_FILE_RELEASED &&
			strcmp(((OwnerFileChange *) lfirst(lc))->path, path) == 0)
		{
			note_change(OWNER_FILE_KEPT, path, text, NULL);
			return;
		}
}

void
publication_owner_check(const char *destination, const char *real_destination)
{
	Held		held;

	if (held_above_either(destination, real_destination, &held) ||
		held_below(real_destination, &held))
		refuse_held(destination, &held);
}

/* The topmost directory of path that does not exist, or NULL */
static char *
first_missing_directory(const char *path)
{
	char	   *walk = pstrdup(path);
	char	   *missing = NULL;
	struct stat st;

	while (stat(walk, &st) != 0 && errno == ENOENT)
	{
		char	   *slash = strrchr(walk, '/');

		missing = pstrdup(walk);
		if (slash == NULL || slash == walk)
			break;
		*slash = '\0';
	}
	return missing;
}

void
publication_owner_claim(const char *destination, const char *real_destination, const char *view)
{
	char	   *wanted = owner_text(view);
	char	   *path = owner_path(destination);
	char	   *temporary = psprintf("%s.%d", path, MyProcPid);
	char	   *made;
	Held		held;

	/* where the files really go too: a link swapped in since the definition */
	if (held_above_either(destination, real_destination, &held))
		refuse_held(destination, &held);
	made = first_missing_directory(destination);
	if (pg_mkdir_p(pstrdup(destination), pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", destination)));
	/* a definition that fails or rolls back leaves no empty tree */
	if (made != NULL)
		note_change(OWNER_DIRECTORY_MADE, destination, made, NULL);
	/* a second round only when another process made the file meanwhile */
	for (int round = 0;; round++)
	{
		char	   *text = read_owner(destination, false);
		int			fd;

		if (text !=NULL && strcmp(text, wanted) == 0)
		{
			keep_if_released(path, wanted);
			return;
		}
		if (text !=NULL && another_database(text))
		{
			held.dir = (char *) destination;
			held.text = text;

			refuse_held(destination, &held);
		}
		if (round > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" changes while lake publication %s claims it", path, view)));
		/* a file of its own: not one linked there, hard or symbolic */
		(void) unlink(temporary);
		fd = OpenTransientFile(temporary, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY);
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

			/*
			 * Newly held: another database may have defined a tree above or
			 * below at the same time, each definition checking before either
			 * held its tree.  The one that finds the other gives its tree up.
			 */
			if (text == NULL)
			{
				volatile bool found = false;

				PG_TRY();
				{
					found = held_above(real_destination, &held) || held_below(real_destination, &held);
				}
				PG_CATCH();
				{
					unlink(path);	/* not held until looked below */
					PG_RE_THROW();
				}
				PG_END_TRY();
				if (found)
				{
					unlink(path);
					refuse_held(destination, &held);
				}
			}
			note_change(OWNER_FILE_WRITTEN, path, wanted, text);
			return;
		}
		if (errno != EEXIST)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not rename \"%s\" to \"%s\": %m", temporary, path)));
		unlink(temporary);
	}
}

void
publication_owner_keep(const char *destination, const char *view)
{
	keep_if_released(owner_path(destination), owner_text(view));
}

void
publication_owner_release(const char *destination, const char *view)
{
	note_change(OWNER_FILE_RELEASED, owner_path(destination), owner_text(view), NULL);
}
