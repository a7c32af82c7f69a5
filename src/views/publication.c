/*-------------------------------------------------------------------------
 * publication.c
 *	  Lake publications (@matview-type unload, seed 004): a partitioned
 *	  CSV file tree kept equal to a query.
 *
 * <schema>.mv_<name> is the manifest, a row per published partition
 * (partition, rows, files, published_at).  pipeline.publication_state
 * keeps, per partition, the digest of its rows (the sum of their text's
 * 64-bit hashes) and the files with their sizes.  Each run:
 *	1. computes every partition's digest from the query (one pass);
 *	2. rewrites the partitions that are new, whose digest changed (or was
 *	   cleared by a redefinition), or whose files are missing or of another
 *	   size than published, with unload()'s machinery: each file written
 *	   aside, fsynced, renamed over the old one, the directory fsynced, so a
 *	   reader (or a crash) sees the old file or the new one, never none;
 *	3. removes the files the state lists for partitions without rows any
 *	   more (never any other file), and their emptied directories;
 *	4. calls the delete function, if any, by the OID it was resolved to
 *	   when the publication was defined (1.11; older SQL keeps only its
 *	   qualified name), with the relative path of each partition removed
 *	   or replaced, as seed 004's Lambda; a failed call
 *	   fails the run, whose state is then not saved, so the next run does
 *	   the partition, and calls, again;
 *	5. records the manifest and the state in the run's transaction.
 * A run killed between 2 and 5 leaves new files and old state: the next run
 * finds the digests differ and writes them again.  The owner must be a
 * superuser or have pg_write_server_files, checked at every run.  Paths
 * and files are made with DateStyle ISO and TimeZone UTC
 * (unload_pin_file_formats()), so they do not depend on the session that
 * runs.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "io/unload.h"
#include "io/unload_journal.h"
#include "model/catalog.h"
#include "util/analyze.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/audit.h"
#include "views/differential.h"
#include "views/publication.h"
#include "views/publication_owner.h"
#include "views/publication_pending.h"

/*
 * Publication definitions take turns on this sub-id of the extension's
 * object lock (DROP EXTENSION locks sub-id 0, which it does not conflict with)
 */
#define PUBLICATION_DEFINITION_LOCK 1

static void
require_file_writer(Oid role, const char *name)
{
	if (!superuser_arg(role) && !has_privs_of_role(role, ROLE_PG_WRITE_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to publish \"%s\" to files", name),
				 errdetail("Only superusers and roles with privileges of pg_write_server_files may own a lake publication.")));
}

/*
 * Errors unless fn is a plain function taking (path text), or (path
 * varchar), as seed 004 declares deletePartition: the same bytes are passed.
 */
static void
check_delete_signature(Oid fn)
{
	static const Oid text_arg[1] = {TEXTOID};
	static const Oid varchar_arg[1] = {VARCHAROID};

	if (!function_takes(fn, 1, text_arg) && !function_takes(fn, 1, varchar_arg))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s cannot be a delete function", format_procedure(fn)),
				 errdetail("A delete function takes (path text) or (path varchar), the partition's path relative to the destination.")));
}

/* The delete function spec names (a name or a signature). */
static Oid
delete_function(const char *spec)
{
	Oid			fn = lookup_function(spec, "(path text)");

	check_delete_signature(fn);
	return fn;
}

/* What look_up_delete_function() works on */
typedef struct DeleteFunctionLookup
{
	const char *spec;
	Oid			fn;
} DeleteFunctionLookup;

static void
look_up_delete_function(void *arg)
{
	DeleteFunctionLookup *lookup = arg;

	lookup->fn = delete_function(lookup->spec);
}

/*
 * Keeps the delete function a restored publication found by its text by
 * OID, as a definition does: the guard then refuses dropping it, and the
 * publication keeps it whatever it is called later.
 */
static void
keep_delete_function(Oid relid, Oid fn)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(fn)};

	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.matview_definitions SET delete_function = $2::pg_catalog.regprocedure "
					" WHERE matview = $1::pg_catalog.regclass AND delete_function IS NULL",
					2, argtypes, values, NULL, false, -1);
}

/*
 * The delete function of a publication's run, by OID (1.11), or InvalidOid
 * when it has none: the one resolved when it was defined, whatever it is
 * called now.  One dropped since (the guard refuses DROP FUNCTION of it, but
 * not every drop goes through the guard) is an error that says what to do.
 * Under SQL older than 1.11, or for a publication restored from a dump of
 * one (no OID kept, and then kept from that run on), the qualified text the
 * options keep is looked up, as those versions did (under
 * runas_begin_user_code(): the path pinned).
 */
static Oid
run_delete_function(const ManagedView *view, const MatviewDefinition *def)
{
	Oid			fn = view->delete_function;

	if (!catalog_has_delete_functions())
		/* qualified as its definer meant it, looked up with the path pinned */
		return def->unload_delete_function ? delete_function(def->unload_delete_function) :
			InvalidOid;
	if (!OidIsValid(fn) && def->unload_delete_function == NULL)
		return InvalidOid;

	/*
	 * No OID but the text: restored from a dump of 1.5-1.10, looked up as
	 * then (one dropped since is the error below)
	 */
	if (!OidIsValid(fn))
	{
		DeleteFunctionLookup lookup = {.spec = def->unload_delete_function};

		if (subxact_try(look_up_delete_function, &lookup, false) == NULL)
		{
			keep_delete_function(view->relid, lookup.fn);
			return lookup.fn;
		}
	}
	if (!OidIsValid(fn) || !SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("delete function of lake publication %s no longer exists",
						quote_qualified_identifier(view->schema_name, get_rel_name(view->relid))),
				 def->unload_delete_function ?
				 errdetail("The function that @unload-delete-function %s named when the publication was defined was dropped.",
						   def->unload_delete_function) : 0,
				 errhint("Redefine the publication with another @unload-delete-function, or without one.")));
	check_delete_signature(fn);
	return fn;
}

/* The destination as compared and used: canonical, no trailing slash. */
static char *
canonical_destination(const char *destination)
{
	char	   *path = pstrdup(destination);

	canonicalize_path(path);
	return path;
}

/*
 * A canonical absolute path with the symbolic links of its longest existing
 * prefix resolved, canonical too: where its files would really go.
 */
static char *
resolved_destination(const char *path)
{
	char	   *real = realpath(path, NULL);	/* malloc'd */
	char	   *resolved;

	if (real != NULL)
	{
		resolved = pstrdup(real);
		free(real);
	}
	else if (errno != ENOENT || strcmp(path, "/") == 0)
		resolved = pstrdup(path);
	else
		resolved = psprintf("%s/%s", resolved_destination(parent_directory(path)),
							last_dir_separator(path) + 1);
	canonicalize_path(resolved);
	return resolved;
}

/* Whether one of two paths is inside the other */
static bool
overlap(const char *a, const char *b)
{
	return unload_path_inside(a, b) || unload_path_inside(b, a);
}

/*
 * Whether two destinations' trees overlap, as written or where their files
 * go (a_real, b_real: resolved_destination()): the test of a definition,
 * and of every run.
 */
static bool
trees_overlap(const char *a, const char *a_real, const char *b, const char *b_real)
{
	return overlap(a, b) || overlap(a_real, b_real);
}

/* The publications but relid, as role: their names and destinations */
static SpiRows *
other_publications(Oid relid, Oid role)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	return spi_rows(role,
					"SELECT matview::pg_catalog.text, options OPERATOR(pg_catalog.->>) 'unload-destination' "
					"  FROM pipeline.matview_definitions "
					" WHERE matview_type OPERATOR(pg_catalog.=) 'unload' "
					"   AND matview OPERATOR(pg_catalog.<>) $1::pg_catalog.regclass",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
}

/*
 * Refuses a destination that overlaps another publication's, as written or
 * where its files would go (a link to another publication's tree).
 */
static void
check_overlap(const MatviewDefinition *def, const char *destination, Oid relid)
{
	SpiRows    *rows;
	char	   *real_destination = resolved_destination(destination);

	/*
	 * Publications of this database are defined in turn, each checked against
	 * those committed before it: two defined at once would each miss the
	 * other.
	 */
	LockDatabaseObject(ExtensionRelationId, get_extension_oid("pipeline", false),
					   PUBLICATION_DEFINITION_LOCK, ExclusiveLock);
	PushActiveSnapshot(GetLatestSnapshot());
	rows = other_publications(relid, InvalidOid);
	PopActiveSnapshot();
	for (uint64 r = 0; r < rows->count; r++)
	{
		char	   *other = canonical_destination(spi_rows_text(rows, r, 1));

		if (trees_overlap(destination, real_destination, other, resolved_destination(other)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("destination \"%s\" of lake publication \"%s\" overlaps \"%s\" of %s",
							destination, def->name, other, spi_rows_text(rows, r, 0)),
					 errdetail("Each publication removes the files it published; two in one tree would remove each other's.")));
	}
}

void
publication_check(MatviewDefinition *def, Oid relid)
{
	Query	   *query;
	ListCell   *lc;
	int			columns = 0;
	char	   *destination;

	if (!catalog_has_options())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("lake publications need version 1.5 of the extension's SQL"),
				 errhint("Run ALTER EXTENSION pipeline UPDATE.")));
	require_file_writer(GetUserId(), def->name);
	unload_check_destination(def->unload_destination);
	destination = canonical_destination(def->unload_destination);
	check_overlap(def, destination, relid);
	publication_owner_check(destination, resolved_destination(destination));

	query = analyze_one(def->query);
	foreach(lc, query->targetList)
		if (!lfirst_node(TargetEntry, lc)->resjunk)
			columns++;
	foreach(lc, def->unload_partition_by)
	{
		const char *name = lfirst(lc);
		TargetEntry *column = query_output_column(query, name);
		int			named = query_output_columns_named(query, name);

		if (column == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("partition column \"%s\" is not a column of the query of \"%s\"",
							name, def->name)));
		/* a partition's path names its value: one column, of a real type */
		if (named > 1)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("partition column \"%s\" names %d columns of the query of \"%s\"",
							name, named, def->name),
					 errhint("Give the partition column a name of its own with AS.")));
		if (get_typtype(exprType((Node *) column->expr)) == TYPTYPE_PSEUDO)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("partition column \"%s\" of \"%s\" has pseudo-type %s",
							name, def->name, format_type_be(exprType((Node *) column->expr)))));
	}
	if (columns <= list_length(def->unload_partition_by))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every column of the query of \"%s\" is a partition column", def->name),
				 errdetail("A partition's file holds the other columns.")));
	if (def->unload_delete_function == NULL)
		def->unload_delete_fn = InvalidOid;
	else if (!OidIsValid(def->unload_delete_fn))
	{
		/*
		 * resolved once, as its definer means it (the caller's path), and
		 * kept by OID; the options keep the text as given
		 */
		def->unload_delete_fn = delete_function(def->unload_delete_function);

		/* older SQL keeps it only there, qualified, to look up at each run */
		if (!catalog_has_delete_functions())
		{
			def->unload_delete_function = format_procedure_qualified(def->unload_delete_fn);
			dpl_set_option(def, "unload-delete-function", def->unload_delete_function);
		}
	}
	else
		/* check() of a stored publication: the function it keeps */
		check_delete_signature(def->unload_delete_fn);
}

void
publication_create_table(Oid owner, const char *qualified)
{
	runas_ddl(owner, psprintf("CREATE TABLE %s (partition text PRIMARY KEY, rows bigint NOT NULL, "
							  "files text[] NOT NULL, published_at timestamptz NOT NULL)",
							  qualified));
}

void
publication_mark_stale(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.publication_state SET digest = NULL WHERE publication = $1",
					1, argtypes, values, NULL, false, -1);
}

/* A partition column's type, to cast a value's text to and compare. */
typedef struct PartitionType
{
	Oid			oid;
	char	   *name;			/* qualified */
} PartitionType;

/* One partition as published before, or as the query has it now. */
typedef struct Partition
{
	char	   *dir;			/* relative path */
	char	   *key;			/* the partition values, as a text[] literal */
	char	   *digest;
	int64		rows;
	List	   *files;			/* published: absolute paths */
	List	   *sizes;			/* int64 per file, boxed in palloc'd memory */
	bool		seen;			/* (published) the query still has it */
	bool		replaced;		/* (published) it is rewritten */
	bool		uncommitted;	/* (published) a run that did not commit wrote
								 * it */
} Partition;

/* Whether a published partition's files are not as published. */
static bool
files_differ(const Partition *p)
{
	ListCell   *f;
	ListCell   *s;

	forboth(f, p->files, s, p->sizes)
	{
		struct stat st;

		if (stat((char *) lfirst(f), &st) != 0 || (int64) st.st_size != *(int64 *) lfirst(s))
			return true;
	}
	return false;
}

/* "ARRAY[<q.a's text>, ...]": a row's partition values, as unload names them. */
static char *
partition_values_sql(List *partition_by, List *types)
{
	StringInfoData buf;
	ListCell   *c;
	ListCell   *t;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "ARRAY[");
	forboth(c, partition_by, t, types)
		appendStringInfo(&buf, "%s%s", buf.len > 6 ? ", " : "",
						 output_text_sql(psprintf("q.%s", quote_identifier((char *) lfirst(c))),
										 ((PartitionType *) lfirst(t))->oid));
	appendStringInfoString(&buf, "]::pg_catalog.text[]");
	return buf.data;
}

/*
 * "EXISTS (...)": q's partition values equal, as their types, those of a
 * key in $1.  A NULL equals nothing: rows with one never pass.
 */
static char *
partitions_typed_sql(List *partition_by, List *types)
{
	StringInfoData buf;
	ListCell   *c;
	ListCell   *t;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "EXISTS (SELECT FROM pg_catalog.unnest($1) k WHERE ");
	forboth(c, partition_by, t, types)
	{
		int			i = foreach_current_index(c);
		PartitionType *type = lfirst(t);

		appendStringInfo(&buf, "%s%s", i > 0 ? " AND " : "",
						 equality_expr_sql(comparison_type(type->oid),
										   comparison_operand_sql(type->oid, psprintf("q.%s", quote_identifier((char *) lfirst(c)))),
										   psprintf("(k::pg_catalog.text[])[%d]::%s", i + 1, type->name)));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * A query of the rows of the query in the partitions of the keys in $1
 * (text[] literals of their values, as Partition.key).  Not typed: by the
 * text of their values, a scan of the query (a whole run reads it all
 * anyway).  Else equality of the values as their types first, so that an
 * index on what the partition columns are computed from serves it (rows
 * with a NULL value, which equality never finds, in a branch of their own,
 * when a key has one); then, on the rows that passed (OFFSET 0 keeps the
 * order), of their text, which is what makes a partition (1.0 and 1.00 are
 * equal numerics, two partitions).
 */
static char *
partitions_rows_sql(const char *bound_query, List *partition_by, List *types, bool typed,
					bool null_keys)
{
	char	   *text_match = psprintf("%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1)",
									  partition_values_sql(partition_by, types));
	StringInfoData nulls;
	ListCell   *lc;

	if (!typed)
		return psprintf("SELECT * FROM (%s) q WHERE %s", bound_query, text_match);
	initStringInfo(&nulls);
	foreach(lc, partition_by)
		appendStringInfo(&nulls, "%sq.%s IS NULL", foreach_current_index(lc) > 0 ? " OR " : "",
						 quote_identifier((char *) lfirst(lc)));
	return psprintf("SELECT * FROM (SELECT * FROM (%s) q WHERE %s%s%s%s OFFSET 0) q WHERE %s",
					bound_query, partitions_typed_sql(partition_by, types),
					null_keys ? " UNION ALL SELECT * FROM (" : "",
					null_keys ? bound_query : "",
					null_keys ? psprintf(") q WHERE %s", nulls.data) : "",
					text_match);
}

/* Each partition column's PartitionType. */
static List *
partition_types(const char *bound_query, Oid owner, List *partition_by)
{
	Query	   *query;
	List	   *types = NIL;
	ListCell   *c;

	query = analyze_bound(bound_query, owner);
	foreach(c, partition_by)
	{
		TargetEntry *tle = query_output_column(query, lfirst(c));
		PartitionType *type = palloc(sizeof(PartitionType));

		if (tle == NULL)
			elog(ERROR, "partition column \"%s\" is not a column of the query", (char *) lfirst(c));
		type->oid = exprType((Node *) tle->expr);

		/* a cast only to compare runs no domain's check (a third role's code) */
		type->name = comparison_type_sql(type->oid);
		types = lappend(types, type);
	}
	return types;
}

/* The query's partitions with their digests, read as the owner's user code. */
static List *
current_partitions(const char *bound_query, List *partition_by, List *types)
{
	SpiRows    *rows;
	char	   *values = partition_values_sql(partition_by, types);
	char	   *sql;
	List	   *parts = NIL;

	/*
	 * A partition's digest is the sum of its rows' 64-bit hashes: the same
	 * whatever the order, so no sort, and the grouping is a hash aggregate.
	 * Text, not values, makes partitions and is hashed: 1.0 and 1.00 are
	 * equal numerics but different directories and files.
	 */
	sql = psprintf("SELECT %s, %s::pg_catalog.text, pg_catalog.count(*), "
				   "pg_catalog.sum(pg_catalog.hashtextextended((q.*)::pg_catalog.text, 0)::pg_catalog.numeric)::pg_catalog.text "
				   "FROM (%s) q GROUP BY 1",
				   values, values, bound_query);

	rows = spi_rows_user_code(sql, 0, NULL, NULL);
	for (uint64 r = 0; r < rows->count; r++)
	{
		Partition  *p = palloc0(sizeof(Partition));
		bool		isnull;

		p->dir = unload_partition_dir(partition_by, spi_array_texts(spi_rows_value(rows, r, 0, &isnull)));
		p->key = spi_rows_text(rows, r, 1);
		p->rows = DatumGetInt64(spi_rows_value(rows, r, 2, &isnull));
		p->digest = spi_rows_text(rows, r, 3);
		parts = lappend(parts, p);
	}
	return parts;
}

/* What the publication published before, by partition. */
static List *
published_partitions(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows;
	List	   *parts = NIL;

	rows = spi_rows(InvalidOid,
					"SELECT partition, digest, files, sizes::pg_catalog.text[] FROM pipeline.publication_state "
					" WHERE publication = $1",
					1, argtypes, values, NULL, false, SPI_OK_SELECT);
	for (uint64 r = 0; r < rows->count; r++)
	{
		Partition  *p = palloc0(sizeof(Partition));
		bool		isnull;
		List	   *sizes;
		ListCell   *lc;

		p->dir = spi_rows_text(rows, r, 0);
		p->digest = spi_rows_text(rows, r, 1);
		p->files = spi_array_texts(spi_rows_value(rows, r, 2, &isnull));
		sizes = spi_array_texts(spi_rows_value(rows, r, 3, &isnull));
		foreach(lc, sizes)
		{
			int64	   *boxed = palloc(sizeof(int64));

			*boxed = pg_strtoint64((char *) lfirst(lc));
			p->sizes = lappend(p->sizes, boxed);
		}
		parts = lappend(parts, p);
	}
	return parts;
}

static Partition *
find_partition(List *parts, const char *dir)
{
	ListCell   *lc;

	foreach(lc, parts)
		if (strcmp(((Partition *) lfirst(lc))->dir, dir) == 0)
			return lfirst(lc);
	return NULL;
}

/*
 * Makes a removal in directory dir durable.  A directory already gone has
 * nothing to sync (someone removed the partition, or an earlier attempt
 * did); a failed fsync is an ERROR, never fsync_fname()'s PANIC: these are
 * not the server's files.
 */
static void
sync_directory(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) != 0 && errno == ENOENT)
		return;
	(void) fsync_fname_ext(dir, true, false, ERROR);
}

pg_attribute_noreturn()
static void
report_outside(const char *file, const char *real_destination)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("file \"%s\" of a lake publication lies outside its destination", file),
			 errdetail("A symbolic link leads its directory out of \"%s\".", real_destination),
			 errhint("Remove the link; a publication writes and removes files only in its own tree.")));
}

/*
 * Refuses a file whose directory a symbolic link made since the definition
 * leads out of its destination (real_destination, resolved), into another
 * publication's tree say: a removal or a write there would hit the other's
 * files.  Before the files are placed, so that such a run places none; the
 * renames themselves are made in directories checked as opened
 * (UnloadBeforePlace.confine), a link swapped in after this check too.
 */
static void
require_inside(const char *file, const char *real_destination)
{
	if (!unload_path_inside(resolved_destination(parent_directory(file)), real_destination))
		report_outside(file, real_destination);
}

/*
 * Removes name from directory dir (an empty directory when is_dir) and
 * makes that durable; returns whether it removed it (a file already gone
 * counts).  The removal is made in dir as opened, and only when that
 * directory lies inside real_destination: a check of the path followed by
 * unlink() by the path would remove another tree's file, given a link put
 * in place of a partition's directory between the two (by whoever may
 * write in the lake).  Not there (any more): nothing to remove.
 */
static bool
remove_inside(const char *dir, const char *name, bool is_dir, const char *real_destination)
{
	int			fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	bool		inside;
	int			removed = -1;
	int			save_errno;

	if (fd < 0)
	{
		if (errno == ENOENT || errno == ENOTDIR)
			return !is_dir;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", dir)));
	}
	inside = unload_fd_inside(fd, real_destination);
	if (inside)
		removed = unlinkat(fd, name, is_dir ? AT_REMOVEDIR : 0);
	save_errno = errno;
	close(fd);
	errno = save_errno;
	if (!inside)
		report_outside(psprintf("%s/%s", dir, name), real_destination);
	if (removed != 0 && is_dir)
		return false;			/* not empty, or gone */
	if (removed != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s/%s\": %m", dir, name)));
	sync_directory(dir);
	return true;
}

/*
 * Removes a published partition's files (only those) and the directories
 * that leaves empty, up to the destination; each removal made durable.
 */
static void
remove_partition(const Partition *p, const char *destination)
{
	char	   *real_destination = resolved_destination(destination);
	ListCell   *lc;

	foreach(lc, p->files)
	{
		char	   *file = lfirst(lc);
		char	   *dir;

		if (!unload_path_inside(file, destination) || strcmp(file, destination) == 0)
			continue;
		dir = parent_directory(file);
		(void) remove_inside(dir, last_dir_separator(file) + 1, false, real_destination);
		/* the directories it leaves empty, deepest first */
		while (strcmp(dir, destination) != 0 && unload_path_inside(dir, destination))
		{
			char	   *parent = parent_directory(dir);

			if (!remove_inside(parent, last_dir_separator(dir) + 1, true, real_destination))
				break;
			dir = parent;
		}
	}
}

/* The destination a listed file was written under: less its partition */
static char *
written_destination(const PendingFile *f)
{
	char	   *dir = parent_directory(f->path);
	size_t		n = strlen(dir);
	size_t		m = strlen(f->partition);

	if (n > m && strcmp(dir + n - m, f->partition) == 0 && dir[n - m - 1] == '/')
		dir[n - m - 1] = '\0';
	return dir;
}

/*
 * The destinations of the publications but relid, as written and where
 * their files go (in pairs), as committed by now; with wait_for_definitions
 * after a definition in progress, which may be writing its first files.
 */
static List *
other_destinations(Oid relid, bool wait_for_definitions)
{
	SpiRows    *rows;
	List	   *destinations = NIL;

	if (wait_for_definitions)
		LockDatabaseObject(ExtensionRelationId, get_extension_oid("pipeline", false),
						   PUBLICATION_DEFINITION_LOCK, ShareLock);
	PushActiveSnapshot(GetLatestSnapshot());
	rows = other_publications(relid, catalog_owner());
	PopActiveSnapshot();
	for (uint64 r = 0; r < rows->count; r++)
	{
		char	   *other = canonical_destination(spi_rows_text(rows, r, 1));

		destinations = lappend(destinations, other);
		destinations = lappend(destinations, resolved_destination(other));
	}
	return destinations;
}

/* The partition of parts that lists the file at path, if any */
static Partition *
partition_listing(List *parts, const char *path)
{
	ListCell   *lc;
	ListCell   *file;

	foreach(lc, parts)
	{
		Partition  *p = lfirst(lc);

		foreach(file, p->files)
			if (strcmp((char *) lfirst(file), path) == 0)
				return p;
	}
	return NULL;
}

/*
 * Undoes a file a run that did not commit wrote (publication_pending.h),
 * relid's or adopted from a dropped publication: a file the state lists
 * (by its path) has its partition rewritten, any other goes.  For relid's
 * own, its partition is rewritten too.
 */
static void
undo_file(const PendingFile *f, List *before, const char *destination, bool own)
{
	Partition  *holder = partition_listing(before, f->path);
	Partition  *named;
	Partition	stray = {.files = list_make1(f->path)};

	if (holder)
	{
		holder->uncommitted = true;
		return;
	}
	named = own ? find_partition(before, f->partition) : NULL;
	if (named)
		named->uncommitted = true;
	remove_partition(&stray, destination);
}

/*
 * Undoes what runs that did not commit wrote.  In the tree of a destination
 * the publication left (a redefinition changed it), readers must not meet
 * rows that never committed either: such a file goes, unless another
 * publication's destination holds it now.
 */
static void
undo_uncommitted(Oid relid, List *before, const char *destination, List *adopted)
{
	List	   *others = NIL;
	bool		others_read = false;
	ListCell   *lc;

	foreach(lc, pending_take_uncommitted(relid))
	{
		PendingFile *f = lfirst(lc);
		Partition	stray = {.files = list_make1(f->path)};
		char	   *real_dir;
		bool		taken = false;
		ListCell   *o;

		if (unload_path_inside(f->path, destination))
		{
			undo_file(f, before, destination, true);
			continue;
		}
		if (!others_read)
		{
			others = other_destinations(relid, true);
			others_read = true;
		}
		real_dir = resolved_destination(parent_directory(f->path));
		foreach(o, others)
			taken |= unload_path_inside(f->path, lfirst(o)) || unload_path_inside(real_dir, lfirst(o));

		/*
		 * a tree this publication left, that another database took since
		 * (h131)
		 */
		taken = taken || publication_owner_held_elsewhere(parent_directory(f->path)) ||
			publication_owner_held_elsewhere(real_dir);
		if (!taken)
			remove_partition(&stray, written_destination(f));
	}
	foreach(lc, adopted)
		undo_file(lfirst(lc), before, destination, false);
}

/* Calls the delete function with a partition's relative path. */
static void
call_delete(Oid fn, Oid owner, const char *dir)
{
	RunAs		ra;

	if (pg_proc_aclcheck(fn, owner, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(fn)),
				 errdetail("The delete function of a publication runs as its owner.")));
	/* called by OID: with the owner's search_path for its body, as a hook */
	runas_begin_owner_session(&ra, owner);
	(void) OidFunctionCall1(fn, CStringGetTextDatum(dir));
	runas_end(&ra);
}

/* Records a written partition in the state (catalog owner) and manifest. */
static void
record_written(Oid relid, const char *manifest, Partition *p, List *written)
{
	List	   *files = NIL;
	List	   *sizes = NIL;
	Oid			argtypes[5] = {OIDOID, TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[5];
	Oid			mtypes[3] = {TEXTOID, INT8OID, TEXTARRAYOID};
	Datum		mvalues[3];
	ListCell   *lc;

	foreach(lc, written)
	{
		UnloadedFile *f = lfirst(lc);
		struct stat st;

		if (strcmp(f->partition, p->dir) != 0)
			continue;
		if (stat(f->path, &st) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not stat published file \"%s\": %m", f->path)));
		files = lappend(files, f->path);
		sizes = lappend(sizes, psprintf(INT64_FORMAT, (int64) st.st_size));
	}
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(p->dir);
	values[2] = CStringGetTextDatum(p->digest);
	values[3] = spi_text_array(files);
	values[4] = spi_text_array(sizes);
	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.publication_state AS s (publication, partition, digest, files, sizes) "
					"VALUES ($1, $2, $3, $4, $5::pg_catalog.int8[]) ON CONFLICT (publication, partition) "
					"DO UPDATE SET digest = EXCLUDED.digest, files = EXCLUDED.files, sizes = EXCLUDED.sizes",
					5, argtypes, values, NULL, false, -1);
	mvalues[0] = CStringGetTextDatum(p->dir);
	mvalues[1] = Int64GetDatum(p->rows);
	mvalues[2] = spi_text_array(files);
	if (SPI_execute_plan(runas_spi_prepare(InvalidOid,
										   psprintf("INSERT INTO %s AS m (partition, rows, files, published_at) "
													"VALUES ($1, $2, $3, pg_catalog.now()) ON CONFLICT (partition) "
													"DO UPDATE SET rows = EXCLUDED.rows, files = EXCLUDED.files, "
													"published_at = EXCLUDED.published_at", manifest),
										   3, mtypes),
						 mvalues, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record a published partition");
}

/* Forgets a removed partition in the state and the manifest. */
static void
record_removed(Oid relid, const char *manifest, const Partition *p)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(p->dir)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.publication_state WHERE publication = $1 AND partition = $2",
					2, argtypes, values, NULL, false, -1);
	if (SPI_execute_plan(runas_spi_prepare(InvalidOid,
										   psprintf("DELETE FROM %s WHERE partition OPERATOR(pg_catalog.=) $1",
													manifest),
										   1, argtypes + 1),
						 values + 1, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not forget a removed partition");
}

/* "a, b, c" of at most ten names, then how many more */
static char *
some_names(List *names)
{
	StringInfoData buf;
	int			n = 0;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
	{
		char	   *name = lfirst(lc);

		if (n++ == 10)
		{
			appendStringInfo(&buf, " and %d more", list_length(names) - 10);
			break;
		}
		appendStringInfo(&buf, "%s%s", n > 1 ? ", " : "", name);
	}
	return buf.data;
}

/* A partition's key (Partition.key) from its values' text. */
static char *
partition_key(List *values)
{
	return OidOutputFunctionCall(F_ARRAY_OUT, spi_text_array(values));
}

/* Why the run cannot go by the changes alone, or NULL. */
static const char *
whole_run_reason(const DiffChanges *changes, List *before)
{
	ListCell   *lc;

	if (!changes->known)
		return changes->reason;
	foreach(lc, before)
	{
		Partition  *old = lfirst(lc);

		if (old->digest == NULL)
			return "redefined since its last run";
		if (old->uncommitted)
			return psprintf("partition %s was written by a run that did not commit", old->dir);
		if (files_differ(old))
			return psprintf("the files of partition %s are not as published", old->dir);
	}
	return NULL;
}

/*
 * Writes the partitions the changes touched, as the query has them now,
 * into *written; returns a Partition of each, with its rows and digest as
 * the writer counted them.  The published ones touched that have no rows
 * any more are marked not seen, every other published one seen.
 */
static List *
write_changed(const char *bound_query, List *partition_by, List *types, const char *destination,
			  const DiffChanges *changes, List *before, const UnloadBeforePlace *listing,
			  List **written)
{
	UnloadParams params = {1, palloc(sizeof(Oid)), palloc(sizeof(Datum))};
	List	   *keys = NIL;
	List	   *now = NIL;
	bool		null_keys = false;
	ListCell   *lc;

	foreach(lc, before)
		((Partition *) lfirst(lc))->seen = true;
	foreach(lc, changes->values)
	{
		List	   *values = lfirst(lc);

		keys = lappend(keys, partition_key(values));
		null_keys |= list_member_ptr(values, NULL);
	}
	if (keys == NIL)
		return NIL;
	params.argtypes[0] = TEXTARRAYOID;
	params.values[0] = spi_text_array(keys);
	*written = unload_query(partitions_rows_sql(bound_query, partition_by, types, true, null_keys),
							&params, destination, partition_by, true, true, listing);
	foreach(lc, *written)
	{
		UnloadedFile *f = lfirst(lc);
		Partition  *p = palloc0(sizeof(Partition));

		p->dir = f->partition;
		p->rows = f->rows;
		p->digest = f->digest;
		now = lappend(now, p);
	}
	foreach(lc, changes->values)
	{
		char	   *dir = unload_partition_dir(partition_by, lfirst(lc));
		Partition  *old = find_partition(before, dir);

		if (old && !find_partition(now, dir))
			old->seen = false;
	}
	return now;
}

/*
 * The partitions of a whole run as written: the files were read by a
 * second statement, which in READ COMMITTED sees what committed since the
 * digests were read.  A partition takes its rows and digest from its file;
 * one that had no rows by then is dropped from to_write (and written_dirs)
 * and, if it was published, marked not seen, to be removed.
 */
static List *
as_written(List *to_write, List *written, List *before, List **written_dirs, int *published)
{
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, to_write)
	{
		Partition  *p = lfirst(lc);
		Partition  *old = find_partition(before, p->dir);
		UnloadedFile *file = NULL;
		ListCell   *f;

		foreach(f, written)
		{
			if (strcmp(((UnloadedFile *) lfirst(f))->partition, p->dir) == 0)
				file = lfirst(f);
		}
		if (file != NULL)
		{
			p->rows = file->rows;
			p->digest = file->digest;
			kept = lappend(kept, p);
			continue;
		}
		*written_dirs = list_delete_ptr(*written_dirs, p->dir);
		if (old)
			old->seen = false;
		else
			(*published)--;
	}
	return kept;
}

/* What list_pending() needs: the publication and where its files go */
typedef struct Publishing
{
	Oid			relid;
	char	   *real_destination;
} Publishing;

/*
 * UnloadBeforePlace: files are listed before they are in place, and
 * refused if a link leads them out of the destination
 */
static void
list_pending(List *files, void *arg)
{
	Publishing *publishing = arg;
	ListCell   *lc;

	foreach(lc, files)
		require_inside(((UnloadedFile *) lfirst(lc))->path, publishing->real_destination);
	pending_add(publishing->relid, files);
}

/*
 * Refuses a run whose destination a symbolic link made since the definition
 * now leads into another publication's tree, or the other's into this one:
 * each would remove the other's files.  The definition's test
 * (check_overlap()), on the definitions committed by now: one being made
 * meanwhile is checked against this one when it commits, and waiting for
 * it would hold up every run.
 */
static void
check_still_apart(Oid relid, const char *name, const char *destination, const char *real_destination)
{
	List	   *others = other_destinations(relid, false);

	for (int i = 0; i + 1 < list_length(others); i += 2)
	{
		const char *other = list_nth(others, i);

		if (trees_overlap(destination, real_destination, other, list_nth(others, i + 1)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("destination \"%s\" of lake publication \"%s\" now overlaps \"%s\"",
							destination, name, other),
					 errdetail("A symbolic link leads one into the other; each publication removes the files it published."),
					 errhint("Remove the link.")));
	}
}

void
publication_forget_owner(Oid relid, const char *new_destination)
{
	ManagedView *view = catalog_get(relid);
	char	   *destination;

	if (view == NULL || view->type != MATVIEW_UNLOAD)
		return;
	destination = canonical_destination(dpl_stored_options(MATVIEW_UNLOAD,
														   view->options_json)->unload_destination);
	if (new_destination == NULL || strcmp(canonical_destination(new_destination), destination) != 0)
		publication_owner_release(destination, relation_qualified_name(relid));
	/* moved elsewhere and back in one transaction: its tree stays held */
	if (new_destination != NULL)
		publication_owner_keep(canonical_destination(new_destination), relation_qualified_name(relid));
}

static uint64
publish(Oid relid, char **detail)
{
	ManagedView *view;
	MatviewDefinition *def;
	Oid			owner;
	char	   *destination;
	char	   *manifest;
	Oid			fn = InvalidOid;
	List	   *types;
	DiffChanges *changes;
	const char *whole;
	List	   *now;
	List	   *before;
	List	   *to_write = NIL;
	List	   *keys = NIL;
	List	   *written = NIL;
	List	   *written_dirs = NIL;
	List	   *removed_dirs = NIL;
	RunAs		ra;
	int			format_level;
	ListCell   *lc;
	MemoryContext caller = CurrentMemoryContext;
	int			published;
	int			changed;
	Publishing	publishing = {relid, NULL};
	UnloadBeforePlace listing = {list_pending, &publishing, NULL};
	List	   *removing = NIL;
	List	   *adopted;

	/* the definition as of now, as a stream's run reads it */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	view = catalog_get_required(relid);
	PopActiveSnapshot();
	def = dpl_stored_options(MATVIEW_UNLOAD, view->options_json);
	owner = catalog_relation_owner(relid);
	require_file_writer(owner, view->name);
	destination = canonical_destination(def->unload_destination);
	publishing.real_destination = resolved_destination(destination);
	listing.confine = publishing.real_destination;
	check_still_apart(relid, view->name, destination, publishing.real_destination);
	publication_owner_claim(destination, publishing.real_destination, relation_qualified_name(relid));
	adopted = pending_forget_dropped(relid, destination);
	manifest = relation_qualified_name(relid);
	types = partition_types(view->bound_query, owner, def->unload_partition_by);

	/* the query's rows pass their audits before any file is written */
	audit_check(relid, MATVIEW_UNLOAD, view->options_json, view->bound_query);

	/* partition values are text made under these settings, changes' too */
	format_level = unload_pin_file_formats();
	changes = differential_changes(relid, def->unload_partition_by);
	runas_begin_user_code(&ra, owner);
	/* by OID, as it was resolved when the publication was defined */
	fn = run_delete_function(view, def);
	SPI_connect();
	before = published_partitions(relid);
	undo_uncommitted(relid, before, destination, adopted);
	whole = whole_run_reason(changes, before);
	if (whole == NULL)
		now = write_changed(view->bound_query, def->unload_partition_by, types, destination,
							changes, before, &listing, &written);
	else
		now = current_partitions(view->bound_query, def->unload_partition_by, types);

	/*
	 * What to write (written already when going by the changes): new, changed
	 * or damaged partitions.  A partition rewritten with the rows it had (a
	 * change the query's columns do not show) counts as unchanged.
	 */
	published = list_length(before);
	foreach(lc, now)
	{
		Partition  *p = lfirst(lc);
		Partition  *old = find_partition(before, p->dir);

		if (old)
			old->seen = true;
		else
			published++;
		if (old && old->digest && strcmp(old->digest, p->digest) == 0 && !files_differ(old) &&
			!old->uncommitted)
			continue;
		if (old)
			old->replaced = true;
		to_write = lappend(to_write, p);
		keys = lappend(keys, p->key);
		written_dirs = lappend(written_dirs, p->dir);
	}
	if (whole != NULL && to_write != NIL)
	{
		UnloadParams params = {1, palloc(sizeof(Oid)), palloc(sizeof(Datum))};

		params.argtypes[0] = TEXTARRAYOID;
		params.values[0] = spi_text_array(keys);
		written = unload_query(partitions_rows_sql(view->bound_query, def->unload_partition_by,
												   types, false, false),
							   &params, destination, def->unload_partition_by, true, true, &listing);
		to_write = as_written(to_write, written, before, &written_dirs, &published);
	}
	/* a removal this run does not commit is undone by the next, too */
	foreach(lc, before)
	{
		Partition  *old = lfirst(lc);
		ListCell   *f;

		if (old->seen)
			continue;
		foreach(f, old->files)
		{
			UnloadedFile *file = palloc0(sizeof(UnloadedFile));

			file->path = lfirst(f);
			file->partition = old->dir;
			removing = lappend(removing, file);
		}
	}
	pending_add(relid, removing);
	foreach(lc, before)
	{
		Partition  *old = lfirst(lc);

		if (!old->seen)
		{
			remove_partition(old, destination);
			removed_dirs = lappend(removed_dirs, old->dir);
		}
	}

	/* the local tree is as it should be: now the lake's copy */
	foreach(lc, before)
	{
		Partition  *old = lfirst(lc);

		if (OidIsValid(fn) && (!old->seen || old->replaced))
			call_delete(fn, owner, old->dir);
	}

	foreach(lc, to_write)
		record_written(relid, manifest, lfirst(lc), written);
	foreach(lc, before)
		if (!((Partition *) lfirst(lc))->seen)
			record_removed(relid, manifest, lfirst(lc));

	/* what SPI_finish() frees is read before it */
	changed = list_length(written_dirs) + list_length(removed_dirs);
	published -= list_length(removed_dirs);
	if (detail)
		*detail = MemoryContextStrdup(caller,
									  psprintf("published: %d written%s%s, %d removed%s%s, %d unchanged; %s",
											   list_length(written_dirs), written_dirs ? " (" : "",
											   written_dirs ? psprintf("%s)", some_names(written_dirs)) : "",
											   list_length(removed_dirs), removed_dirs ? " (" : "",
											   removed_dirs ? psprintf("%s)", some_names(removed_dirs)) : "",
											   published - list_length(written_dirs),
											   whole ? psprintf("read whole: %s", whole) :
											   psprintf("read by changes (%s)",
														changes->detail + strlen("differential: "))));
	SPI_finish();
	runas_end(&ra);
	runas_unpin_settings(format_level);
	return (uint64) changed;
}

uint64
publication_refresh(Oid relid, char **detail)
{
	catalog_require_owner(relid, get_rel_name(relid));
	return publish(relid, detail);
}

uint64
publication_populate(Oid relid)
{
	return publish(relid, NULL);
}
