/*-------------------------------------------------------------------------
 * marks.c
 *	  A stream's or mirror's mark across a change of its key's type.
 *
 * A stream's mark (and a mirror's first consumed key) is kept as the text
 * of its key (pipeline.incremental_state), which some statements change
 * while the values stay: renaming an enum's label (the label keeps its
 * OID), adding attributes to a row type (they come last: a row read before
 * reads after with them NULL, and keys keep their order, a NULL field
 * sorting above every value).  Around such a statement (pipeline.c's
 * ProcessUtility hook calls marks_before() and marks_after()) the marks of
 * the views whose key holds the changed type are read as values before it
 * and written as text again after it; otherwise every later run of the
 * view would fail on the mark's old text.
 *
 * Not followed: dropping an attribute (keys are compared field by field,
 * so without it they order otherwise, and a rewritten mark would append
 * rows twice or never: the old text fails the next run instead, loudly),
 * ALTER ATTRIBUTE TYPE (the old bytes would be read as the new type), DROP
 * TYPE ... CASCADE, CREATE OR REPLACE VIEW of a view's row type.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compile/marks.h"
#include "compile/remembered_keys.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "util/analyze.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/incremental.h"

/* One view's mark around the statement. */
typedef struct NotedMark
{
	Oid			relid;
	Oid			owner;
	Oid			type;			/* what the mark is read as */
	char	   *mark_text;		/* the mark and first consumed key as read */
	char	   *first_key_text; /* (NULL: none) */
	Datum		mark;			/* ... and as values of type */
	Datum		first_key;
} NotedMark;

/*
 * Whether stmt changes how values of a type are written while they stay
 * the same values: renames an enum's label, or adds attributes to a row
 * type (ALTER TYPE ... ADD ATTRIBUTE, ALTER TABLE ... ADD COLUMN) and
 * neither drops one nor changes one's type (see the header).
 */
static bool
changes_value_text(Node *stmt)
{
	bool		adds = false;
	ListCell   *lc;

	if (IsA(stmt, AlterEnumStmt))
		return ((AlterEnumStmt *) stmt)->oldVal != NULL;
	if (!IsA(stmt, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) stmt)->cmds)
	{
		AlterTableType subtype = lfirst_node(AlterTableCmd, lc)->subtype;

		if (subtype == AT_DropColumn || subtype == AT_AlterColumnType)
			return false;
		adds |= subtype == AT_AddColumn;
	}
	return adds;
}

/* The tables made OF a composite type. */
static List *
typed_tables(Oid type)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(type)};

	return spi_rows_oids(spi_rows(catalog_owner(),
								  "SELECT c.oid FROM pg_catalog.pg_class c "
								  " WHERE c.reloftype OPERATOR(pg_catalog.=) $1",
								  1, argtypes, values, NULL, true, SPI_OK_SELECT), 0);
}

/*
 * The types changes_value_text()'s stmt changes, when the current user owns
 * what it alters (else the statement fails, and must wait for no view):
 * the enum, or the relation's row type with those of its inheritors
 * (unless ONLY) and, for a composite type, of the tables made OF it and
 * their partitions (ALTER TYPE ... CASCADE).
 */
static List *
changed_types(Node *stmt)
{
	AlterTableStmt *alter;
	Oid			relid;
	List	   *relids;
	List	   *types = NIL;
	ListCell   *lc;

	if (IsA(stmt, AlterEnumStmt))
	{
		TypeName   *name = makeTypeNameFromNameList(((AlterEnumStmt *) stmt)->typeName);
		Oid			type = LookupTypeNameOid(NULL, name, true);

		return OidIsValid(type) && pg_type_ownercheck(type, GetUserId()) ? list_make1_oid(type) : NIL;
	}
	alter = (AlterTableStmt *) stmt;
	relid = RangeVarGetRelid(alter->relation, NoLock, true);
	if (!OidIsValid(relid) || !pg_class_ownercheck(relid, GetUserId()))
		return NIL;
	relids = alter->relation->inh ? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	if (get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
		foreach(lc, typed_tables(get_rel_type_id(relid)))
			relids = list_concat(relids, find_all_inheritors(lfirst_oid(lc), NoLock, NULL));
	foreach(lc, relids)
		types = lappend_oid(types, get_rel_type_id(lfirst_oid(lc)));
	return types;
}

/*
 * The type of a stream's or mirror's key, or InvalidOid, when its runs have
 * not recorded it (before 1.28): its table's column, or for a mirror whose
 * key is not one, the column of that name of the one relation it reads that
 * has one.  From the catalogs, without analyzing its query, which would
 * lock (and wait for) what it reads.
 */
static Oid
key_type(Oid relid, const char *key)
{
	AttrNumber	column = get_attnum(relid, key);
	Oid			type = InvalidOid;
	ListCell   *lc;

	if (column != InvalidAttrNumber)
		return get_atttype(relid, column);
	foreach(lc, dag_upstreams(relid))
	{
		column = get_attnum(lfirst_oid(lc), key);
		if (column == InvalidAttrNumber)
			continue;
		if (OidIsValid(type))
			return InvalidOid;	/* two: which one is it? */
		type = get_atttype(lfirst_oid(lc), column);
	}
	return type;
}

/* A catalog read in snapshot (read_only: SPI takes the active one as it is) */
static SpiRows *
catalog_rows_in(Snapshot snapshot, const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	SpiRows    *rows;

	PushActiveSnapshot(snapshot);
	rows = spi_rows(catalog_owner(), sql, nargs, argtypes, values, NULL, true, SPI_OK_SELECT);
	PopActiveSnapshot();
	return rows;
}

/*
 * The view's mark and first consumed key as snapshot sees them (no row:
 * none, or no mark yet).
 */
static SpiRows *
read_mark(Oid relid, Snapshot snapshot)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	return catalog_rows_in(snapshot,
						   "SELECT s.high_water, s.first_key FROM pipeline.incremental_state s "
						   " WHERE s.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
						   "   AND s.high_water IS NOT NULL",
						   1, argtypes, values);
}

/* Whether two of read_mark()'s results differ. */
static bool
marks_differ(SpiRows *a, SpiRows *b)
{
	char	   *a_first;
	char	   *b_first;

	if (a->count != b->count)
		return true;
	if (a->count == 0)
		return false;
	a_first = spi_rows_text(a, 0, 1);
	b_first = spi_rows_text(b, 0, 1);
	return strcmp(spi_rows_text(a, 0, 0), spi_rows_text(b, 0, 0)) != 0 ||
		(a_first == NULL) != (b_first == NULL) ||
		(a_first != NULL && strcmp(a_first, b_first) != 0);
}

/*
 * The mark's text read as values of its type (to_text false), or its
 * values written as text: as the view's owner, as its runs read and write
 * it (an input function may run code: a key holding a domain is refused
 * by comparison_type(), as its runs refuse it), in the marks' format.
 */
static void
convert_mark(NotedMark *noted, bool to_text)
{
	Oid			function;
	Oid			ioparam;
	bool		typIsVarlena;
	RunAs		ra;
	int			format_level;

	if (to_text)
		getTypeOutputInfo(noted->type, &function, &typIsVarlena);
	else
		getTypeInputInfo(noted->type, &function, &ioparam);
	runas_begin_user_code(&ra, noted->owner);
	format_level = incremental_pin_mark_format();
	if (to_text)
	{
		noted->mark_text = OidOutputFunctionCall(function, noted->mark);
		if (noted->first_key_text != NULL)
			noted->first_key_text = OidOutputFunctionCall(function, noted->first_key);
	}
	else
	{
		noted->mark = OidInputFunctionCall(function, noted->mark_text, ioparam, -1);
		if (noted->first_key_text != NULL)
			noted->first_key = OidInputFunctionCall(function, noted->first_key_text, ioparam, -1);
	}
	runas_unpin_settings(format_level);
	runas_end(&ra);
}

/* convert_mark() to values, for subxact_try(): a mark that does not read stays */
static void
mark_as_values(void *arg)
{
	NotedMark  *noted = (NotedMark *) arg;

	noted->type = comparison_type(noted->type);
	convert_mark(noted, false);
}

/*
 * Notes one view's mark, if it has one, under the lock a refresh of the
 * view takes first, so that none runs from here to the statement's
 * commit; taken outside any subtransaction, so that a lock timeout or a
 * deadlock fails the statement rather than leave the mark behind.  A
 * transaction whose snapshot predates the mark written last fails to
 * serialize.
 */
static NotedMark *
note_mark(Oid relid, Oid type)
{
	NotedMark  *noted;
	SpiRows    *now;

	LockRelationOid(relid, ShareUpdateExclusiveLock);
	now = read_mark(relid, GetLatestSnapshot());
	if (IsolationUsesXactSnapshot() && marks_differ(now, read_mark(relid, GetTransactionSnapshot())))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent refresh of %s",
						relation_qualified_name(relid)),
				 errdetail("Its mark, which the statement changes, was written after this transaction's snapshot."),
				 errhint("Retry the transaction.")));
	if (now->count != 1)
		return NULL;
	noted = palloc0(sizeof(NotedMark));
	noted->relid = relid;
	noted->owner = catalog_relation_owner(relid);
	noted->type = type;
	noted->mark_text = spi_rows_text(now, 0, 0);
	noted->first_key_text = spi_rows_text(now, 0, 1);
	return subxact_try(mark_as_values, noted, false) == NULL ? noted : NULL;
}

/*
 * Takes the lock an ALTER TABLE stmt takes on its relation (and on its
 * inheritors, unless ONLY), in its order, before any view's: a stream that
 * reads the relation then waits for the statement as the statement would
 * wait for it, and a transaction that wrote to the relation and then
 * refreshes the stream does not deadlock with it.  Its name is looked up
 * again, as the statement will: checked to be the caller's before the
 * lock, as PostgreSQL does, or a name that moved while we waited for the
 * types' locks would have the caller queue for another role's table.
 */
static void
lock_altered_relation(Node *stmt)
{
	AlterTableStmt *alter;
	LOCKMODE	mode;
	Oid			relid;

	if (!IsA(stmt, AlterTableStmt))
		return;
	alter = (AlterTableStmt *) stmt;
	mode = AlterTableGetLockLevel(alter->cmds);
	relid = RangeVarGetRelidExtended(alter->relation, mode, RVR_MISSING_OK,
									 RangeVarCallbackOwnsRelation, NULL);
	if (OidIsValid(relid) && alter->relation->inh)
		(void) find_all_inheritors(relid, mode, NULL);
}

NotedMarks *
marks_before(Node *stmt)
{
	List	   *types;
	List	   *marks = NIL;
	NotedMarks *noted;
	SpiRows    *rows;

	/* pipeline's own DDL keeps its catalogs itself */
	if (!changes_value_text(stmt) || runas_ddl_in_progress() || !IsTransactionState() ||
		!OidIsValid(get_extension_oid("pipeline", true)) || !catalog_binds_queries())
		return NULL;
	types = changed_types(stmt);
	if (types == NIL)
		return NULL;
	noted = palloc(sizeof(NotedMarks));
	/* first: it waits for applies, and holds nothing readers wait for */
	noted->remembered_keys = remembered_keys_before(types);
	lock_altered_relation(stmt);
	/* every view there is by now, as the statement sees the catalogs */
	rows = catalog_rows_in(GetLatestSnapshot(),
						   catalog_has_column("incremental_state", "key_type") ?
						   "SELECT d.matview::pg_catalog.oid, d.incremental_key, s.key_type::pg_catalog.oid "
						   "  FROM pipeline.matview_definitions d "
						   "  LEFT JOIN pipeline.incremental_state s ON s.matview OPERATOR(pg_catalog.=) d.matview "
						   " WHERE d.incremental_key IS NOT NULL ORDER BY 1" :
						   "SELECT d.matview::pg_catalog.oid, d.incremental_key, NULL::pg_catalog.oid "
						   "  FROM pipeline.matview_definitions d "
						   " WHERE d.incremental_key IS NOT NULL ORDER BY 1",
						   0, NULL, NULL);
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		Datum		recorded = spi_rows_value(rows, i, 2, &isnull);
		Oid			type;
		NotedMark  *mark;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;
		/* as its last run recorded it (1.28), else guessed */
		type = !isnull ? DatumGetObjectId(recorded) : key_type(relid, spi_rows_text(rows, i, 1));
		if (!OidIsValid(type) || !type_holds_one_of(type, types))
			continue;
		mark = note_mark(relid, type);
		if (mark != NULL)
			marks = lappend(marks, mark);
	}
	noted->marks = marks;
	return noted;
}

void
marks_after(NotedMarks *noted)
{
	ListCell   *lc;

	if (noted == NULL)
		return;
	CommandCounterIncrement();
	remembered_keys_after(noted->remembered_keys);
	foreach(lc, noted->marks)
	{
		NotedMark  *mark = lfirst(lc);
		Oid			argtypes[5] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		values[5] = {ObjectIdGetDatum(mark->relid)};
		char		nulls[5] = {' ', ' ', 'n', ' ', 'n'};

		values[3] = CStringGetTextDatum(mark->mark_text);
		if (mark->first_key_text != NULL)
		{
			values[4] = CStringGetTextDatum(mark->first_key_text);
			nulls[4] = ' ';
		}
		convert_mark(mark, true);
		values[1] = CStringGetTextDatum(mark->mark_text);
		if (mark->first_key_text != NULL)
		{
			values[2] = CStringGetTextDatum(mark->first_key_text);
			nulls[2] = ' ';
		}
		/* as read: the lock kept refreshes out, but not this backend's own */
		if (spi_rows(catalog_owner(),
					 "UPDATE pipeline.incremental_state s SET high_water = $2, first_key = $3 "
					 " WHERE s.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					 "   AND s.high_water OPERATOR(pg_catalog.=) $4 "
					 "   AND s.first_key IS NOT DISTINCT FROM $5",
					 5, argtypes, values, nulls, false, SPI_OK_UPDATE)->count != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("the mark of %s changed during this statement",
							relation_qualified_name(mark->relid)),
					 errdetail("The statement changes how the view's key is written; a refresh of the view ran meanwhile."),
					 errhint("Retry the statement.")));
	}
}
