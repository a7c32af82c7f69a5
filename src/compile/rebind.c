/*-------------------------------------------------------------------------
 * rebind.c
 *	  Keeping stored bound queries current across renames.
 *
 * A bound query names objects by their names, fully qualified, as they
 * were when the view was defined; PostgreSQL keeps a view bound by OID, so
 * after ALTER ... RENAME or SET SCHEMA of a table, column, function, type
 * or schema a view reads, the view still works but the stored text names
 * what no longer exists, and every re-analysis of it (the compile step,
 * an incremental view's append) would fail.  So around each such
 * statement (pipeline.c's ProcessUtility hook calls rebind_before() and
 * rebind_after() around it) the bound form is taken again from what is
 * bound by OID: a
 * materialized view's rule, deparsed afterwards; an incremental view's
 * query, analyzed before the statement and deparsed after it.  Deparsing
 * the same tree resolves the new names, as ruleutils does for a view.  A
 * view's expectations (views/audit.h) are kept so too, and a stream's mark,
 * kept as its key's text, is read before a statement that may change how
 * its value is written (an enum label renamed, a row type's attribute
 * added or dropped) and written again after it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "compile/rebind.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "util/analyze.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/audit.h"
#include "views/incremental.h"
#include "views/matview.h"

/*
 * One managed view around a renaming statement, or around a statement that
 * may change how its mark is written.
 */
typedef struct BoundView
{
	Oid			relid;
	Oid			owner;
	char	   *stored;			/* the bound query as stored; NULL when only
								 * the mark follows the statement */
	Query	   *query;			/* an incremental view's, analyzed before */
	MatviewType type;
	char	   *options;		/* its options as stored */
	List	   *expectations;	/* its expectations, analyzed before */
	/* a stream's or mirror's mark, read before (note_mark()) */
	Oid			mark_type;		/* the type it is read as (InvalidOid: not
								 * read) */
	char	   *mark_text;		/* the mark and first consumed key as read */
	char	   *first_key_text; /* (NULL: none) */
	Datum		mark;			/* ... and as values of mark_type */
	Datum		first_key;
} BoundView;

/* note_mark()'s argument */
typedef struct MarkToNote
{
	BoundView  *view;
	char	   *key;			/* the view's incremental key */
	Oid			key_type;		/* its type (key_type()) */
} MarkToNote;

/*
 * Whether stmt may change a name that a bound query spells out (an enum's
 * label in a literal too).
 */
static bool
changes_names(Node *stmt)
{
	return IsA(stmt, RenameStmt) || IsA(stmt, AlterObjectSchemaStmt) ||
		(IsA(stmt, AlterEnumStmt) && ((AlterEnumStmt *) stmt)->oldVal != NULL);
}

/*
 * Whether stmt may change how values of a type are written while they stay
 * the same values: it renames an enum's label (the label keeps its OID), or
 * adds attributes to a row type or drops some from it (ALTER TYPE ...
 * ADD/DROP ATTRIBUTE, ALTER TABLE ... ADD/DROP COLUMN: a row read before
 * reads after, an attribute added NULL or its default) and changes none's
 * type (its bytes would be read as the new type).
 */
static bool
changes_value_text(Node *stmt)
{
	bool		adds_or_drops = false;
	ListCell   *lc;

	if (IsA(stmt, AlterEnumStmt))
		return ((AlterEnumStmt *) stmt)->oldVal != NULL;
	if (!IsA(stmt, AlterTableStmt))
		return false;
	foreach(lc, ((AlterTableStmt *) stmt)->cmds)
	{
		AlterTableType subtype = lfirst_node(AlterTableCmd, lc)->subtype;

		if (subtype == AT_AlterColumnType)
			return false;
		adds_or_drops |= subtype == AT_AddColumn || subtype == AT_DropColumn;
	}
	return adds_or_drops;
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
 * what it alters (else it fails, and must wait for no view): the enum, or
 * the relation's row type with those of its inheritors (unless ONLY) and,
 * for a composite type, of its typed tables and their partitions (ALTER
 * TYPE ... CASCADE).
 */
static List *
value_text_types(Node *stmt)
{
	AlterTableStmt *alter = (AlterTableStmt *) stmt;
	Oid			relid;
	List	   *relids;
	List	   *types = NIL;
	ListCell   *lc;

	if (IsA(stmt, AlterEnumStmt))
	{
		Oid			type = LookupTypeNameOid(NULL,
											 makeTypeNameFromNameList(((AlterEnumStmt *) stmt)->typeName),
											 true);

		return OidIsValid(type) && pg_type_ownercheck(type, GetUserId()) ? list_make1_oid(type) : NIL;
	}
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
 * Whether values of type hold values of target: are of it, or of a domain,
 * array, range or multirange over it, or a row with a column of it.
 */
static bool
type_holds(Oid type, Oid target)
{
	char		typtype;

	check_stack_depth();
	if (type == target)
		return true;
	typtype = get_typtype(type);
	if (typtype == TYPTYPE_DOMAIN)
		return type_holds(getBaseType(type), target);
	if (OidIsValid(get_element_type(type)))
		return type_holds(get_element_type(type), target);
	if (typtype == TYPTYPE_RANGE)
		return type_holds(get_range_subtype(type), target);
	if (typtype == TYPTYPE_MULTIRANGE)
		return type_holds(get_multirange_range(type), target);
	if (typtype == TYPTYPE_COMPOSITE)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(type, -1);
		bool		found = false;

		for (int i = 0; i < desc->natts && !found; i++)
			found = !TupleDescAttr(desc, i)->attisdropped &&
				type_holds(TupleDescAttr(desc, i)->atttypid, target);
		ReleaseTupleDesc(desc);
		return found;
	}
	return false;
}

/* Whether values of type hold values of any of targets. */
static bool
type_holds_any(Oid type, List *targets)
{
	ListCell   *lc;

	foreach(lc, targets)
		if (type_holds(type, lfirst_oid(lc)))
			return true;
	return false;
}

/* Whether this database has pipeline's SQL with bound queries. */
static bool
binds_queries_here(void)
{
	return OidIsValid(get_extension_oid("pipeline", true)) &&
		catalog_binds_queries();
}

/* analyze_one() of a view's bound query as its owner, for subxact_try() */
static void
analyze_as_owner(void *arg)
{
	BoundView  *view = (BoundView *) arg;

	view->query = analyze_bound(view->stored, view->owner);
}

/* audit_analyze_stored() of a view's expectations, for subxact_try() */
static void
analyze_expectations(void *arg)
{
	BoundView  *view = (BoundView *) arg;
	RunAs		ra;

	runas_begin_internal(&ra, view->owner);
	view->expectations = audit_analyze_stored(view->relid, view->type, view->options);
	runas_end(&ra);
}

/*
 * The relations stmt renames or moves (or one of whose columns it renames:
 * with the inheritors it recurses to, unless ONLY), or NIL when it names no
 * relation (a function, a type, a schema).
 */
static List *
renamed_relations(Node *stmt)
{
	RangeVar   *relation = NULL;
	Oid			relid;

	if (IsA(stmt, RenameStmt))
		relation = ((RenameStmt *) stmt)->relation;
	else if (IsA(stmt, AlterObjectSchemaStmt))
		relation = ((AlterObjectSchemaStmt *) stmt)->relation;
	relid = relation ? RangeVarGetRelid(relation, NoLock, true) : InvalidOid;

	/* a composite type's attribute: views read it through other relations */
	if (!OidIsValid(relid) || get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
		return NIL;
	if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->renameType == OBJECT_COLUMN &&
		relation->inh)
		return find_all_inheritors(relid, NoLock, NULL);
	return list_make1_oid(relid);
}

/*
 * The managed views whose bound query stmt may change, with their stored
 * bound queries: those that read a relation it renames (pipeline.edges
 * holds everything a view reads, through plain views too), or every view
 * when it renames something else.  Views kept in tables (stream and
 * differential views) are analyzed now,
 * before the statement renames anything; a view whose query no longer
 * analyzes (broken already) is left as it is.
 */
static List *
views_before(Node *stmt)
{
	List	   *renamed = renamed_relations(stmt);
	Oid			argtypes[2] = {OIDARRAYOID, BOOLOID};
	Datum		values[2] = {spi_oid_array(renamed), BoolGetDatum(renamed == NIL)};
	SpiRows    *rows;
	List	   *views = NIL;

	/* as the catalog's owner: whoever renames may not read the catalog */
	rows = spi_rows(catalog_owner(),
					catalog_has_options() ?
					"SELECT d.matview::oid, d.bound_query, d.matview_type, d.options::text "
					"  FROM pipeline.matview_definitions d "
					" WHERE $2 OR d.matview::oid = ANY ($1) OR d.matview IN "
					"       (SELECT e.downstream FROM pipeline.edges e "
					"         WHERE e.upstream::oid = ANY ($1)) "
	/* a relation it names otherwise: a 'name'::regclass literal */
					"    OR d.matview::oid IN "
					"       (SELECT coalesce(r.ev_class, dep.objid) FROM pg_catalog.pg_depend dep "
					"          LEFT JOIN pg_catalog.pg_rewrite r "
					"            ON dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
					"           AND r.oid = dep.objid "
					"         WHERE dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
					"           AND dep.refobjid = ANY ($1) "
					"           AND dep.classid IN ('pg_catalog.pg_class'::pg_catalog.regclass, "
					"                               'pg_catalog.pg_rewrite'::pg_catalog.regclass)) "
	/* or its expectations may (audit_has_expectations()), unrecorded */
					"    OR pg_catalog.strpos(d.options::text, '\"expect') > 0 "
					" ORDER BY d.matview::oid" :
					"SELECT d.matview::oid, d.bound_query, d.matview_type, '{}' "
					"  FROM pipeline.matview_definitions d "
					" WHERE $2 OR d.matview IN "
					"       (SELECT e.downstream FROM pipeline.edges e "
					"         WHERE e.upstream::oid = ANY ($1)) "
					" ORDER BY d.matview::oid",
					2, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		BoundView  *view = palloc0(sizeof(BoundView));

		view->relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		view->stored = spi_rows_text(rows, i, 1);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view->relid)))
			continue;
		view->owner = catalog_relation_owner(view->relid);
		view->type = matview_type_from_name(spi_rows_text(rows, i, 2));
		view->options = spi_rows_text(rows, i, 3);

		/*
		 * its expectations name their columns and functions as bound queries
		 * do
		 */
		if (audit_has_expectations(view->options) &&
			subxact_try(analyze_expectations, view, false) != NULL)
			view->expectations = NIL;
		/* the view itself: only its expectations can name its own columns */
		if (list_member_oid(renamed, view->relid))
		{
			if (view->expectations != NIL)
				views = lappend(views, view);
			continue;
		}
		/* a table (stream or differential view) keeps no rule to deparse */
		if (get_rel_relkind(view->relid) == RELKIND_RELATION)
		{
			ErrorData  *edata = subxact_try(analyze_as_owner, view, false);

			/*
			 * Its owner may not see what it reads for now (USAGE on a schema
			 * revoked): analyzed by anyone else, its query could run their
			 * code (a domain's CHECK on a literal), so it keeps the old names
			 * and says so.
			 */
			if (edata != NULL)
			{
				if (renamed != NIL && edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
					ereport(WARNING,
							(errmsg("managed view %s cannot follow this rename", relation_qualified_name(view->relid)),
							 errdetail("Its query does not analyze as its owner now: %s", edata->message),
							 errhint("Redefine the view after the rename, or rename while its owner can read what it reads.")));
				continue;
			}
		}
		else
		{
			/*
			 * Locked now, before the statement locks what the view reads, in
			 * the order a REFRESH of it takes them: deparsing its rule
			 * afterwards then never waits for a refresh that waits for us.
			 */
			LockRelationOid(view->relid, AccessShareLock);
		}
		views = lappend(views, view);
	}
	return views;
}

/*
 * The type of a stream's or mirror's key, or InvalidOid: its table's column,
 * or for a mirror whose key is not one, the column of that name of what
 * it reads.  Read from the catalogs without analyzing its query, which
 * would lock (and wait for) what it reads on a statement about anything.
 */
static Oid
key_type(Oid relid, const char *key)
{
	AttrNumber	column = get_attnum(relid, key);
	ListCell   *lc;

	if (column != InvalidAttrNumber)
		return get_atttype(relid, column);
	foreach(lc, dag_upstreams(relid))
	{
		column = get_attnum(lfirst_oid(lc), key);
		if (column != InvalidAttrNumber)
			return get_atttype(lfirst_oid(lc), column);
	}
	return InvalidOid;
}

/*
 * A stream's or mirror's mark (and a mirror's first consumed key) is kept
 * as the text of its key, which the statement may change (see
 * changes_value_text()).  So when its key holds a type the statement
 * changes, it is read before, as a value of the type it is compared as, to
 * be written again after (store_mark()).  Read and written as the view's
 * owner, as its runs read and write it (a key holding a domain, whose
 * input would run the domain's checks, is refused, as its runs refuse
 * it), in the format marks are kept in.  Under the lock a refresh of the
 * view takes first (views_with_marks_before()): none runs from the read
 * to the statement's commit.
 */
static void
note_mark(void *arg)
{
	MarkToNote *note = (MarkToNote *) arg;
	BoundView  *view = note->view;
	Oid			type = comparison_type(note->key_type);
	SpiRows    *rows;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(view->relid)};
	Oid			input;
	Oid			ioparam;
	RunAs		ra;
	int			format_level;

	rows = spi_rows(catalog_owner(),
					"SELECT s.high_water, s.first_key FROM pipeline.incremental_state s "
					" WHERE s.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"   AND s.high_water IS NOT NULL",
					1, argtypes, values, NULL, false, SPI_OK_SELECT);
	if (rows->count != 1)
		return;
	view->mark_text = spi_rows_text(rows, 0, 0);
	view->first_key_text = spi_rows_text(rows, 0, 1);
	getTypeInputInfo(type, &input, &ioparam);
	runas_begin_user_code(&ra, view->owner);
	format_level = incremental_pin_mark_format();
	view->mark = OidInputFunctionCall(input, view->mark_text, ioparam, -1);
	if (view->first_key_text != NULL)
		view->first_key = OidInputFunctionCall(input, view->first_key_text, ioparam, -1);
	runas_unpin_settings(format_level);
	runas_end(&ra);
	view->mark_type = type;
}

/*
 * Notes the marks stmt may change (note_mark()) into views, adding the
 * views not there yet.  A mark that does not read stays as it is.
 */
static List *
views_with_marks_before(Node *stmt, List *views)
{
	List	   *changed_types = value_text_types(stmt);
	SpiRows    *rows;

	if (changed_types == NIL)
		return views;
	rows = spi_rows(catalog_owner(),
					"SELECT d.matview::oid, d.incremental_key "
					"  FROM pipeline.matview_definitions d "
					" WHERE d.incremental_key IS NOT NULL ORDER BY d.matview::oid",
					0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		BoundView  *view = NULL;
		MarkToNote	note = {NULL, spi_rows_text(rows, i, 1), InvalidOid};
		ListCell   *lc;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			continue;
		foreach(lc, views)
			if (((BoundView *) lfirst(lc))->relid == relid)
				view = lfirst(lc);
		if (view == NULL)
		{
			view = palloc0(sizeof(BoundView));
			view->relid = relid;
			view->owner = catalog_relation_owner(relid);
		}
		note.view = view;
		note.key_type = key_type(relid, note.key);
		if (!OidIsValid(note.key_type) || !type_holds_any(note.key_type, changed_types))
			continue;
		if (!list_member_ptr(views, view))
			views = lappend(views, view);

		/*
		 * outside the subtransaction: a lock timeout or deadlock fails the
		 * statement
		 */
		LockRelationOid(relid, ShareUpdateExclusiveLock);
		if (subxact_try(note_mark, &note, false) != NULL)
			view->mark_type = InvalidOid;
	}
	return views;
}

/*
 * Stores the mark note_mark() read as its value is written now, unless a
 * run changed it since, which the lock prevents but for a transaction
 * whose snapshot predates that run: it then fails to serialize, also when
 * the text stays the same (what it read is not the mark any more).
 */
static void
store_mark(BoundView *view)
{
	Oid			argtypes[5] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5] = {ObjectIdGetDatum(view->relid)};
	char		nulls[5] = {' ', ' ', 'n', ' ', 'n'};
	char	   *mark;
	char	   *first_key = NULL;
	Oid			output;
	bool varlena;
	RunAs		ra;
	int			format_level;

	if (!OidIsValid(view->mark_type))
		return;
	getTypeOutputInfo(view->mark_type, &output, &varlena);
	runas_begin_user_code(&ra, view->owner);
	format_level = incremental_pin_mark_format();
	mark = OidOutputFunctionCall(output, view->mark);
	if (view->first_key_text != NULL)
		first_key = OidOutputFunctionCall(output, view->first_key);
	runas_unpin_settings(format_level);
	runas_end(&ra);
	values[1] = CStringGetTextDatum(mark);
	values[3] = CStringGetTextDatum(view->mark_text);
	if (first_key != NULL)
	{
		values[2] = CStringGetTextDatum(first_key);
		values[4] = CStringGetTextDatum(view->first_key_text);
		nulls[2] = nulls[4] = ' ';
	}
	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.incremental_state s SET high_water = $2, first_key = $3 "
					" WHERE s.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"   AND s.high_water OPERATOR(pg_catalog.=) $4 "
					"   AND s.first_key IS NOT DISTINCT FROM $5",
					5, argtypes, values, nulls, false, SPI_OK_UPDATE);
}

/* The bound form of view now, or NULL if it cannot be had. */
static char *
bound_after(BoundView *view)
{
	if (view->query != NULL)
		return runas_deparse_bound(view->query);
	if (get_rel_relkind(view->relid) == RELKIND_MATVIEW)
		return matview_bound_from_rule(view->relid);
	return NULL;
}

/* Stores the bound expectations of a view, when the statement changed them. */
static void
store_bound_expectations(BoundView *view)
{
	char	   *options = audit_rebound_options(view->relid, view->type, view->options,
												view->expectations);
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(view->relid), CStringGetTextDatum(options)};

	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.matview_definitions SET options = $2::pg_catalog.jsonb "
					" WHERE matview = $1::regclass AND options IS DISTINCT FROM $2::pg_catalog.jsonb",
					2, argtypes, values, NULL, false, SPI_OK_UPDATE);
}

/* Stores the bound form of each view that the statement changed. */
static void
store_bound_forms(List *views)
{
	ListCell   *lc;

	foreach(lc, views)
	{
		BoundView  *view = lfirst(lc);
		char	   *bound;
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2];

		if (view->expectations != NIL)
			store_bound_expectations(view);
		store_mark(view);
		if (view->stored == NULL)
			continue;
		bound = bound_after(view);
		if (bound == NULL || strcmp(bound, view->stored) == 0)
			continue;
		values[0] = ObjectIdGetDatum(view->relid);
		values[1] = CStringGetTextDatum(bound);
		(void) spi_rows(catalog_owner(),
						"UPDATE pipeline.matview_definitions SET bound_query = $2 "
						" WHERE matview = $1::regclass",
						2, argtypes, values, NULL, false, SPI_OK_UPDATE);
	}
}

List *
rebind_before(Node *stmt)
{
	bool		names = changes_names(stmt);
	bool		value_text = changes_value_text(stmt);
	List	   *views;

	/* pipeline's own DDL keeps its catalogs itself */
	if ((!names && !value_text) || runas_ddl_in_progress() ||
		!IsTransactionState() || !binds_queries_here())
		return NIL;
	views = names ? views_before(stmt) : NIL;
	return value_text ? views_with_marks_before(stmt, views) : views;
}

void
rebind_after(List *views)
{
	if (views == NIL)
		return;
	CommandCounterIncrement();
	store_bound_forms(views);
}
