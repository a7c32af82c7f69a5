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
 * view's expectations (views/audit.h) are kept so too.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compile/rebind.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "util/analyze.h"
#include "util/lock_tries.h"
#include "util/relation_name.h"
#include "util/named_objects.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/audit.h"
#include "views/matview.h"

/* One managed view around a renaming statement. */
typedef struct BoundView
{
	Oid			relid;
	Oid			owner;
	char	   *stored;			/* the bound query as stored */
	Query	   *query;			/* an incremental view's, analyzed before */
	MatviewType type;
	char	   *options;		/* its options as stored */
	int32		version;		/* its version then */
	List	   *expectations;	/* its expectations, analyzed before */
	ResourceOwner statement_owner;	/* the statement's, which holds... */
	List	   *held;			/* ...an ACCESS SHARE lock for it on these */
	char	   *stored_after;	/* the bound query as the statement left it */
	char	   *options_after;	/* its options so, NULL without expectations */
} BoundView;

struct Rebinding
{
	List	   *renamed;		/* the relations the statement renames */
	Datum		names;			/* the names it changes (text[]), or 0 */
	bool		every_view;		/* not known: every view may spell them */
	List	   *typed_tables;	/* a row type's attribute renamed in these */
	List	   *views;			/* BoundView of each view to store again */
	List	   *seen;			/* every view read before, by OID */
};

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

/* Whether this database has pipeline's SQL with bound queries. */
static bool
binds_queries_here(void)
{
	return OidIsValid(get_extension_oid("pipeline", true)) &&
		catalog_binds_queries();
}

/*
 * Locks relids in ACCESS SHARE mode for the statement's resource owner and
 * notes them in view->held.  An analysis runs in a subtransaction that is
 * rolled back, taking the locks it took with it: these are the ones that
 * keep what the analyzed tree names until the statement is done with it,
 * and that rebind_after() can let go of when the statement did not change
 * the view.  Taken while the analysis still holds them: no wait.
 */
static void
hold_for_statement(BoundView *view, List *relids)
{
	ResourceOwner analysis_owner = CurrentResourceOwner;
	ListCell   *lc;

	CurrentResourceOwner = view->statement_owner;
	foreach(lc, relids)
	{
		LockRelationOid(lfirst_oid(lc), AccessShareLock);
		view->held = lappend_oid(view->held, lfirst_oid(lc));
	}
	CurrentResourceOwner = analysis_owner;
}

/* Lets go of what hold_for_statement() locked for view. */
static void
let_go(BoundView *view)
{
	ListCell   *lc;

	if (CurrentResourceOwner != view->statement_owner)
		return;					/* kept to the end of the transaction */
	foreach(lc, view->held)
		UnlockRelationOid(lfirst_oid(lc), AccessShareLock);
	view->held = NIL;
}

/* analyze_one() of a view's bound query as its owner, for subxact_probe() */
static void
analyze_as_owner(void *arg)
{
	BoundView  *view = (BoundView *) arg;

	view->query = analyze_bound(view->stored, view->owner);
	hold_for_statement(view, dag_relations_named(view->query));
}

/* audit_analyze_stored() of a view's expectations, for subxact_probe() */
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

/* The name of the schema extension extname is in, or NULL when none. */
static char *
extension_schema_name(const char *extname)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(extname)};
	SpiRows    *rows;

	rows = spi_rows(catalog_owner(),
					"SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_extension e "
					"  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					" WHERE e.extname OPERATOR(pg_catalog.=) $1::pg_catalog.name",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	return rows->count == 1 ? spi_rows_text(rows, 0, 0) : NULL;
}

/*
 * The name a statement renaming something other than a relation changes,
 * as a bound query spells it (an identifier, or an enum's label in a
 * literal): a function's, operator's, type's, collation's or text search
 * object's current name (SET SCHEMA changes its qualifier, spelled next to
 * it), a schema's, a row type's attribute's, a label's, a role's, or an
 * extension's schema (SET SCHEMA moves every member out of it).  NULL
 * for any other statement, or a name with a character quoting doubles or
 * JSON escapes (then its spelling need not contain it).
 */
static char *
renamed_name(Node *stmt)
{
	ObjectType	type = OBJECT_TYPE;
	Node	   *object = NULL;
	char	   *name = NULL;
	List	   *names = NIL;

	if (IsA(stmt, AlterEnumStmt))
		name = ((AlterEnumStmt *) stmt)->oldVal;
	else if (IsA(stmt, RenameStmt))
	{
		RenameStmt *rename = (RenameStmt *) stmt;

		type = rename->renameType;
		object = rename->object;
		if (type == OBJECT_SCHEMA || type == OBJECT_ROLE ||
			(rename->relation != NULL && (type == OBJECT_ATTRIBUTE || type == OBJECT_COLUMN)))
			name = rename->subname;
	}
	else
	{
		type = ((AlterObjectSchemaStmt *) stmt)->objectType;
		object = ((AlterObjectSchemaStmt *) stmt)->object;
		if (type == OBJECT_EXTENSION && object != NULL && IsA(object, String))
			name = extension_schema_name(strVal(object));
	}
	if (name == NULL && object != NULL &&
		(type == OBJECT_FUNCTION || type == OBJECT_ROUTINE || type == OBJECT_AGGREGATE ||
		 type == OBJECT_OPERATOR || type == OBJECT_TYPE || type == OBJECT_DOMAIN ||
		 type == OBJECT_COLLATION || type == OBJECT_TSCONFIGURATION ||
		 type == OBJECT_TSDICTIONARY))
	{
		if (IsA(object, ObjectWithArgs))
			names = ((ObjectWithArgs *) object)->objname;
		else if (IsA(object, List))
			names = (List *) object;
		if (names != NIL && IsA(llast(names), String))
			name = strVal(llast(names));
	}
	if (name == NULL || name[0] == '\0' || strpbrk(name, "\"'\\") != NULL)
		return NULL;
	/* a control character: JSON spells it escaped in the expectations */
	for (const char *c = name; *c; c++)
		if ((unsigned char) *c < 0x20)
			return NULL;
	return name;
}

/*
 * What a relation's rename or move renames or moves with it: its indexes
 * and owned sequences (SET SCHEMA moves them), as the CTE moved, for the
 * relations $1.
 */
#define MOVED_RELATIONS \
	"moved AS (" \
	"       SELECT pg_catalog.unnest($1) AS rel " \
	"       UNION SELECT i.indexrelid FROM pg_catalog.pg_index i " \
	"        WHERE i.indrelid = ANY ($1) " \
	"       UNION SELECT d.objid FROM pg_catalog.pg_depend d " \
	"        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"          AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"          AND d.refobjid = ANY ($1) AND d.deptype IN ('a', 'i'))"

/*
 * The names of the relations renamed and of what moves with them, before
 * the statement (text[]; NULL when none): a view may spell them where
 * pg_depend does not record them (a regprocedure literal spells a row type
 * by its relation's name, and records only the function).
 */
static Datum
moved_relation_names(List *renamed)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1] = {spi_oid_array(renamed)};
	SpiRows    *rows;
	bool		isnull;
	Datum		names;

	rows = spi_rows(catalog_owner(),
					"WITH " MOVED_RELATIONS " "
					"SELECT pg_catalog.array_agg(c.relname::pg_catalog.text) FROM pg_catalog.pg_class c "
					" WHERE c.oid IN (SELECT rel FROM moved)",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	names = spi_rows_value(rows, 0, 0, &isnull);
	return isnull ? (Datum) 0 : names;
}

/*
 * The managed views whose bound query a statement may change, with their
 * stored bound queries, types and options, as of the active snapshot:
 * those that read a relation it renames (renamed; pipeline.edges holds
 * everything a view reads, through plain views too) or name it, its row
 * type or what its SET SCHEMA moves with it (pg_depend), and those whose
 * bound query or expectations spell one of the names it changes (names,
 * text[]: for something else than a relation, its name; for relations,
 * theirs), or every view when the names are not known.  A view that does
 * not spell a name cannot spell it after the statement either, so the
 * statement neither re-derives it nor waits for its refresh.  Columns:
 * the view, its bound query, type and options, whether its expectations
 * spell what the statement changes, and its version.
 */
static SpiRows *
candidate_views(Rebinding *rebinding)
{
	Oid			argtypes[3] = {OIDARRAYOID, BOOLOID, TEXTARRAYOID};
	Datum		values[3] = {spi_oid_array(rebinding->renamed), BoolGetDatum(rebinding->every_view),
	rebinding->names};
	char		nulls[3] = {' ', ' ', rebinding->names == (Datum) 0 ? 'n' : ' '};

	/* as the catalog's owner: whoever renames may not read the catalog */
	return spi_rows(catalog_owner(),
					catalog_has_options() ?
					"WITH " MOVED_RELATIONS ", "
	/* their row and array types */
					"     moved_types AS ("
					"       SELECT t.oid AS type FROM pg_catalog.pg_class c "
					"         JOIN pg_catalog.pg_type t ON t.oid IN (c.reltype, "
					"              (SELECT r.typarray FROM pg_catalog.pg_type r WHERE r.oid = c.reltype)) "
					"        WHERE c.oid IN (SELECT rel FROM moved)), "
					"     reading AS ("
					"       SELECT e.downstream::oid AS matview FROM pipeline.edges e "
					"        WHERE e.upstream::oid = ANY ($1) "
	/* one it names otherwise: a 'name'::regclass literal, a row type */
					"       UNION "
					"       SELECT coalesce(r.ev_class, dep.objid) FROM pg_catalog.pg_depend dep "
					"         LEFT JOIN pg_catalog.pg_rewrite r "
					"           ON dep.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
					"          AND r.oid = dep.objid "
					"        WHERE (dep.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
					"               AND dep.refobjid IN (SELECT rel FROM moved) "
					"               OR dep.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass "
					"               AND dep.refobjid IN (SELECT type FROM moved_types)) "
					"          AND dep.classid IN ('pg_catalog.pg_class'::pg_catalog.regclass, "
					"                              'pg_catalog.pg_rewrite'::pg_catalog.regclass)), "

	/*
	 * a name spelled whole, between characters that cannot continue an
	 * identifier; one with a character quoting doubles or JSON escapes may be
	 * spelled by any view
	 */
					"     names AS ("
					"       SELECT n.name OPERATOR(pg_catalog.~) '[\"''\\\\[:cntrl:]]' AS any_view, "
					"              '(^|[^[:alnum:]_$])' OPERATOR(pg_catalog.||) "
					"              pg_catalog.regexp_replace(n.name, '([^[:alnum:]_])', '\\\\\\1', 'g') "
					"              OPERATOR(pg_catalog.||) '([^[:alnum:]_$]|$)' AS spelling "
					"         FROM pg_catalog.unnest($3) n(name)) "
					"SELECT v.matview, v.bound_query, v.matview_type, v.options, v.checks, v.version "
					"  FROM (SELECT d.matview::oid AS matview, d.bound_query, d.matview_type, "
					"               d.options::text AS options, d.version, "
					"               d.matview::oid = ANY ($1) OR d.matview::oid IN (SELECT matview FROM reading) "
					"               OR $2 "
					"               OR EXISTS (SELECT FROM names n "
					"                           WHERE n.any_view "
					"                              OR d.bound_query OPERATOR(pg_catalog.~) n.spelling) AS reads, "
	/* or its expectations may (audit_has_expectations()), unrecorded */
					"               pg_catalog.strpos(d.options::text, '\"expect') > 0 "
					"               AND (d.matview::oid = ANY ($1) OR $2 "
					"                    OR EXISTS (SELECT FROM names n "
					"                                WHERE n.any_view "
					"                                   OR d.options::text OPERATOR(pg_catalog.~) n.spelling)) "
					"               AS checks "
					"          FROM pipeline.matview_definitions d) v "
					" WHERE v.reads OR v.checks "
					" ORDER BY v.matview" :
					"SELECT d.matview::oid, d.bound_query, d.matview_type, '{}', false, d.version "
					"  FROM pipeline.matview_definitions d "
					" WHERE $2 "
					"    OR EXISTS (SELECT FROM pg_catalog.unnest($3) n(name) "
					"                WHERE pg_catalog.strpos(d.bound_query, n.name) > 0) "
					"    OR d.matview IN "
					"       (SELECT e.downstream FROM pipeline.edges e "
					"         WHERE e.upstream::oid = ANY ($1)) "
					" ORDER BY d.matview::oid",
					3, argtypes, values, nulls, true, SPI_OK_SELECT);
}

/*
 * Whether an error analyzing a view must end the statement, which would
 * otherwise leave the view naming what it renames: one of waiting
 * (lock_timeout, a deadlock), of a serialization failure or of resources.
 */
static bool
ends_statement(ErrorData *edata)
{
	int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return category == ERRCODE_TRANSACTION_ROLLBACK ||
		category == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE ||
		category == ERRCODE_INSUFFICIENT_RESOURCES ||
		category == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		category == ERRCODE_OPERATOR_INTERVENTION ||
		category == ERRCODE_SYSTEM_ERROR ||
		category == ERRCODE_INTERNAL_ERROR;
}

/*
 * Whether an error analyzing a view before the statement (or NULL) leaves
 * the view as it is: its query does not analyze now (an object it names
 * gone, a right revoked, a domain's CHECK failing on a literal).  One that
 * ends the statement is thrown again instead.
 */
static bool
view_left_as_is(ErrorData *edata)
{
	if (edata == NULL)
		return false;
	if (ends_statement(edata))
		ReThrowError(edata);
	return true;
}

/* A view's definition row as stored */
typedef struct StoredRow
{
	char	   *bound_query;
	char	   *options;
	int32		version;
} StoredRow;

/*
 * A view's definition row as committed by now (NULL: the view is gone).
 * With lock, locked to the commit, and with the invalidations of what
 * committed meanwhile taken in, so that names read afterwards are the
 * committed ones.
 */
static StoredRow *
read_stored(Oid relid, bool lock)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows;
	StoredRow  *row;
	bool		isnull;

	if (!lock)
		PushActiveSnapshot(GetLatestSnapshot());
	rows = spi_rows(catalog_owner(),
					psprintf("SELECT bound_query, %s, version FROM pipeline.matview_definitions "
							 " WHERE matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass%s",
							 catalog_has_options() ? "options::pg_catalog.text" : "'{}'",
							 lock ? " FOR UPDATE" : ""),
					1, argtypes, values, NULL, !lock, SPI_OK_SELECT);
	if (lock)
		AcceptInvalidationMessages();
	else
		PopActiveSnapshot();
	if (rows->count != 1)
		return NULL;
	row = palloc(sizeof(StoredRow));
	row->bound_query = spi_rows_text(rows, 0, 0);
	row->options = spi_rows_text(rows, 0, 1);
	row->version = DatumGetInt32(spi_rows_value(rows, 0, 2, &isnull));
	return row;
}

/*
 * analyze_as_owner() of a view kept in a table, in a subtransaction: the
 * error, or NULL.  An analysis that waited for a lock (another rename of
 * something the view reads) may have read text that rename has rewritten
 * since: then the text committed now is analyzed instead, or the view
 * would be left naming what no longer exists, keeping this statement's
 * old name too (h127).
 */
static ErrorData *
analyze_latest(BoundView *view)
{
	for (int tries = 0;; tries++)
	{
		ErrorData  *edata = subxact_probe(analyze_as_owner, view);
		StoredRow  *now;

		if (edata == NULL || ends_statement(edata) || tries == 3)
			return edata;
		now = read_stored(view->relid, false);
		if (now == NULL || strcmp(now->bound_query, view->stored) == 0)
			return edata;
		view->stored = now->bound_query;
	}
}

/*
 * Reads the views the statement may change into rebinding.  Views kept in
 * tables (stream and differential views) are analyzed now, before the
 * statement renames anything; a view whose query no longer analyzes
 * (broken already) is left as it is.
 */
static void
views_before(Rebinding *rebinding)
{
	List	   *renamed = rebinding->renamed;
	SpiRows    *rows = candidate_views(rebinding);
	List	   *views = NIL;

	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		BoundView  *view = palloc0(sizeof(BoundView));

		view->relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		view->stored = spi_rows_text(rows, i, 1);
		rebinding->seen = lappend_oid(rebinding->seen, view->relid);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view->relid)))
			continue;
		view->owner = catalog_relation_owner(view->relid);
		view->type = matview_type_from_name(spi_rows_text(rows, i, 2));
		view->options = spi_rows_text(rows, i, 3);
		view->version = DatumGetInt32(spi_rows_value(rows, i, 5, &isnull));
		view->statement_owner = CurrentResourceOwner;

		/*
		 * its expectations name their columns and functions as bound queries
		 * do; analyzed over its relation, which is locked first, and which a
		 * redefinition waited for may have dropped (apply_staged(): h130)
		 */
		if (audit_has_expectations(view->options))
		{
			hold_for_statement(view, list_make1_oid(view->relid));
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view->relid)))
			{
				let_go(view);
				continue;
			}
			if (view_left_as_is(subxact_probe(analyze_expectations, view)))
				view->expectations = NIL;
		}
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
			ErrorData  *edata = analyze_latest(view);

			/*
			 * Its owner may not see what it reads for now (USAGE on a schema
			 * revoked): analyzed by anyone else, its query could run their
			 * code (a domain's CHECK on a literal), so it keeps the old names
			 * and says so.
			 */
			if (view_left_as_is(edata))
			{
				if (!rebinding->every_view &&
					edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
					ereport(WARNING,
							(errmsg("managed view %s cannot follow this rename", relation_qualified_name(view->relid)),
							 errdetail("Its query does not analyze as its owner now: %s", edata->message),
							 errhint("Redefine the view after the rename, or rename while its owner can read what it reads.")));
				let_go(view);	/* what its expectations' analysis held */
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
			hold_for_statement(view, list_make1_oid(view->relid));
		}
		views = lappend(views, view);
	}
	rebinding->views = views;
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

/* bound_after() for subxact_probe(), into view->stored_after */
static void
probe_bound_after(void *arg)
{
	BoundView  *view = (BoundView *) arg;

	view->stored_after = bound_after(view);
}

/*
 * Whether the statement changed view's bound form: deparsed in a
 * subtransaction rolled back, which takes back the locks deparsing takes
 * (ruleutils locks every relation of a query it deparses).
 */
static bool
bound_changed(BoundView *view)
{
	ErrorData  *edata = subxact_probe(probe_bound_after, view);

	if (edata != NULL)
		ReThrowError(edata);
	return view->stored_after != NULL && strcmp(view->stored_after, view->stored) != 0;
}

/* Whether two JSON texts (or NULLs) hold different values, as jsonb compares them. */
static bool
json_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) != (b == NULL);
	return DatumGetBool(DirectFunctionCall2(jsonb_ne,
											DirectFunctionCall1(jsonb_in, CStringGetDatum(a)),
											DirectFunctionCall1(jsonb_in, CStringGetDatum(b))));
}

/* The options a view would have after the statement, from base ones. */
static char *
options_after(BoundView *view, const char *base)
{
	if (view->expectations == NIL)
		return NULL;
	return audit_rebound_options(view->relid, view->type, base, view->expectations);
}

/* Sets a column of a view's definition row: set is "column = $2", value $2 */
static void
store_stored(Oid relid, const char *set, const char *value)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(value)};

	(void) spi_rows(catalog_owner(),
					psprintf("UPDATE pipeline.matview_definitions SET %s WHERE matview = $1::regclass", set),
					2, argtypes, values, NULL, false, SPI_OK_UPDATE);
}

/*
 * Stores the bound form (query and expectations) of a view the statement
 * changed, its row locked.  Another rename that rewrote the row first has
 * committed by then: its names are deparsed too rather than overwritten
 * (h127, h129); a redefinition's query is deparsed from what it left (a
 * materialized view's rule; a view kept in a table keeps its relation only
 * for the same query).  A redefinition that replaced the expectations
 * analyzed before the statement leaves nothing to deparse in their place:
 * the statement fails to serialize (h130).
 */
static void
store_changed_view(BoundView *view)
{
	StoredRow  *now = read_stored(view->relid, true);
	char	   *options = NULL;
	char	   *bound = NULL;

	if (now == NULL)
		return;
	if (strcmp(now->bound_query, view->stored) == 0 &&
		!json_differs(now->options, view->options))
	{
		options = view->options_after;
		bound = view->stored_after;
	}
	else if (now->version != view->version && view->expectations != NIL &&
			 json_differs(now->options, view->options))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("managed view %s was redefined while this statement renamed what it names",
						relation_qualified_name(view->relid)),
				 errhint("Retry the statement.")));
	else
	{
		options = options_after(view, now->options);
		bound = bound_after(view);
	}
	if (options != NULL && json_differs(options, now->options))
		store_stored(view->relid, "options = $2::pg_catalog.jsonb", options);
	if (bound != NULL && strcmp(bound, now->bound_query) != 0)
		store_stored(view->relid, "bound_query = $2", bound);
}

/*
 * Stores the bound form of each view that the statement changed.  What was
 * locked for a view it did not change is let go: whoever renames an object
 * whose name another role's view spells (a word of its query) must not
 * hold that view, or what it reads, to the end of its transaction.  The
 * changed views are deparsed again first, keeping what that locks to the
 * commit (a rename of one of those committed before then would rewrite a
 * row from what it saw, without this statement's names), and only then
 * are their rows locked: relations before rows, in the order the statement
 * took its locks, or a view's row held while another view's deparse waits
 * for a relation could deadlock with that relation's rename (h129, h130).
 */
static void
store_bound_forms(List *views)
{
	List	   *changed = NIL;
	ListCell   *lc;

	foreach(lc, views)
	{
		BoundView  *view = lfirst(lc);

		view->options_after = options_after(view, view->options);
		if (!bound_changed(view) &&
			!(view->options_after != NULL && json_differs(view->options_after, view->options)))
		{
			let_go(view);
			continue;
		}
		view->stored_after = bound_after(view);
		changed = lappend(changed, view);
	}
	foreach(lc, changed)
		store_changed_view(lfirst(lc));
	list_free(changed);
}

/*
 * A view defined while the statement waited for a relation it renames
 * (the definition held it until its commit): not read before, so its
 * bound query still names the old name.  A materialized view's is taken
 * again from its rule; a view kept in a table, or whose expectations
 * spell what the statement renames, was not analyzed before the rename,
 * and under REPEATABLE READ the view's row is not in the snapshot an
 * update of it would use: then the statement fails and is retried.
 */
static void
follow_views_defined_meanwhile(Rebinding *rebinding)
{
	SpiRows    *rows;

	PushActiveSnapshot(GetLatestSnapshot());
	rows = candidate_views(rebinding);
	PopActiveSnapshot();
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		BoundView  *view = palloc0(sizeof(BoundView));

		view->relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		if (list_member_oid(rebinding->seen, view->relid) ||
			list_member_oid(rebinding->renamed, view->relid) ||
			!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view->relid)))
			continue;
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("managed view %s was defined since this transaction's snapshot",
							relation_qualified_name(view->relid)),
					 errdetail("A rename must rewrite the stored queries of the views that name what it renames."),
					 errhint("Retry the transaction.")));
		if (get_rel_relkind(view->relid) != RELKIND_MATVIEW ||
			DatumGetBool(spi_rows_value(rows, i, 4, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("managed view %s was defined while this statement waited for what it reads",
							relation_qualified_name(view->relid)),
					 errhint("Retry the statement.")));
		view->stored = spi_rows_text(rows, i, 1);
		store_bound_forms(list_make1(view));
	}
}

/* RangeVarGetRelidExtended()'s check of a row type's owner, as PostgreSQL words it */
static void
owns_row_type(const RangeVar *relation, Oid relid, Oid oldrelid, void *arg)
{
	if (OidIsValid(relid) && !pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   relation->relname);
}

/*
 * The object a statement names now, as PostgreSQL will look it up
 * (InvalidOid when none), without keeping a lock: the lookup takes one
 * (NoLock is no mode for objects) and lets it go.
 */
static ObjectAddress
named_object(ObjectType type, Node *object)
{
	Relation	relation = NULL;
	ObjectAddress address = get_object_address(type, object, &relation, AccessShareLock, true);

	if (relation != NULL)
		relation_close(relation, NoLock);
	if (OidIsValid(address.objectId))
		UnlockDatabaseObject(address.classId, address.objectId, 0, AccessShareLock);
	return address;
}

/*
 * The relations an extension's SET SCHEMA will move, locked as it will
 * lock them, before the extension: a definition locks what it reads, then
 * the extensions of what it names, so taking the extension first would
 * deadlock with one reading a member table.
 */
static void
lock_member_relations(Oid extension)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(extension)};
	SpiRows    *members;
	bool		isnull;

	members = spi_rows(catalog_owner(),
					   "SELECT d.objid FROM pg_catalog.pg_depend d "
					   " WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					   "   AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass "
					   "   AND d.refobjid OPERATOR(pg_catalog.=) $1 AND d.deptype OPERATOR(pg_catalog.=) 'e' "
					   " ORDER BY d.objid",
					   1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < members->count; i++)
		LockRelationOid(DatumGetObjectId(spi_rows_value(members, i, 0, &isnull)),
						AccessExclusiveLock);
}

/*
 * A role's rename, as a definition naming the role (a regrole or aclitem
 * literal) locks it; only a role that may rename roles waits here.
 */
static bool
lock_renamed_role(const char *name)
{
	Oid			role = get_role_oid(name, true);

	if (!has_createrole_privilege(GetUserId()))
		return OidIsValid(role);
	/* until the name means what we hold, as lock_renamed_object() */
	while (OidIsValid(role))
	{
		Oid			now;

		LockSharedObject(AuthIdRelationId, role, 0, AccessExclusiveLock);
		now = get_role_oid(name, true);
		if (now == role)
			return true;
		role = now;
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * Locks what a statement renames that is not a relation (a function, type,
 * schema, collation, role, an enum's label, a row type's attribute, an
 * extension whose SET SCHEMA moves its members: a definition naming a
 * member locks its extension too) as PostgreSQL's own DDL locks an object
 * it alters.  False when it names nothing that exists (the statement then
 * fails or skips by itself, and no view needs rewriting).
 */
static bool
lock_renamed_object(Node *stmt)
{
	ObjectType	type;
	Node	   *object;
	ObjectAddress address;

	if (IsA(stmt, RenameStmt))
	{
		RenameStmt *rename = (RenameStmt *) stmt;

		/*
		 * a row type's attribute: renamed under its relation's lock, taken
		 * after its owner is checked
		 */
		if (rename->relation != NULL)
			return OidIsValid(RangeVarGetRelidExtended(rename->relation, AccessExclusiveLock,
													   RVR_MISSING_OK, owns_row_type, NULL));
		if (rename->renameType == OBJECT_ROLE)
			return lock_renamed_role(rename->subname);
		type = rename->renameType;
		object = type == OBJECT_SCHEMA ? (Node *) makeString(rename->subname) : rename->object;
	}
	else if (IsA(stmt, AlterObjectSchemaStmt))
	{
		type = ((AlterObjectSchemaStmt *) stmt)->objectType;
		object = ((AlterObjectSchemaStmt *) stmt)->object;
	}
	else
	{
		/* ALTER TYPE ... RENAME VALUE */
		type = OBJECT_TYPE;
		object = (Node *) makeTypeNameFromNameList(((AlterEnumStmt *) stmt)->typeName);
	}
	/* other kinds: no lock, every view is rewritten as before */
	if (object == NULL ||
		!(type == OBJECT_FUNCTION || type == OBJECT_ROUTINE || type == OBJECT_AGGREGATE ||
		  type == OBJECT_OPERATOR || type == OBJECT_TYPE || type == OBJECT_DOMAIN ||
		  type == OBJECT_SCHEMA || type == OBJECT_COLLATION ||
		  type == OBJECT_TSCONFIGURATION || type == OBJECT_TSDICTIONARY ||
		  type == OBJECT_EXTENSION))
		return true;
	/* the statements name a type by a list, the lookup wants a TypeName */
	if ((type == OBJECT_TYPE || type == OBJECT_DOMAIN) && IsA(object, List))
		object = (Node *) makeTypeNameFromNameList((List *) object);
	address = named_object(type, object);
	for (;;)
	{
		ObjectAddress now;

		if (!OidIsValid(address.objectId))
			return false;

		/*
		 * Only its owner waits here: anyone else gets the statement's own
		 * error now, before queueing a lock that definitions naming the
		 * object (which hold it) would then queue behind.
		 */
		check_object_ownership(GetUserId(), type, address, object, NULL);
		if (type == OBJECT_EXTENSION)
			lock_member_relations(address.objectId);
		/* tried first: while one long holder runs, later ones pass it */
		lock_trying_first(address.classId, address.objectId, AccessExclusiveLock);

		/*
		 * A rename committed while we waited may have given the name to
		 * another object, which the statement will rename: that one is locked
		 * too, until the name means what we hold.
		 */
		now = named_object(type, object);
		if (now.classId == address.classId && now.objectId == address.objectId)
			return true;
		address = now;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Under REPEATABLE READ: a transaction snapshot that misses one of the
 * views read could not store its new bound form (the update would see no
 * row, and leave it naming what is gone), so that is a serialization
 * failure.
 */
static void
refuse_unseen_views(Rebinding *rebinding)
{
	SpiRows    *visible;
	List	   *visible_relids = NIL;
	bool		isnull;

	PushActiveSnapshot(GetTransactionSnapshot());
	visible = candidate_views(rebinding);
	PopActiveSnapshot();
	for (uint64 i = 0; i < visible->count; i++)
		visible_relids = lappend_oid(visible_relids,
									 DatumGetObjectId(spi_rows_value(visible, i, 0, &isnull)));
	/* both read in OID order */
	if (!equal(visible_relids, rebinding->seen))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("managed views were defined or dropped since this transaction's snapshot"),
				 errdetail("A rename must rewrite the stored queries of the views that name what it renames."),
				 errhint("Retry the transaction.")));
}

/*
 * The tables of a row type (CREATE TABLE ... OF), with their partitions
 * and inheritors: ALTER TYPE ... RENAME ATTRIBUTE ... CASCADE renames
 * their columns too.
 */
static List *
typed_tables(RangeVar *row_type)
{
	Oid			relid = RangeVarGetRelid(row_type, NoLock, true);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	SpiRows    *rows;
	List	   *tables = NIL;
	bool		isnull;

	if (!OidIsValid(relid))
		return NIL;
	values[0] = ObjectIdGetDatum(get_rel_type_id(relid));
	rows = spi_rows(catalog_owner(),
					"SELECT c.oid FROM pg_catalog.pg_class c "
					" WHERE c.reloftype OPERATOR(pg_catalog.=) $1 ORDER BY c.oid",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
		tables = list_concat_unique_oid(tables,
										find_all_inheritors(DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull)),
															NoLock, NULL));
	return tables;
}

/*
 * The names the statement changes, as a view may spell them (or that it
 * does not know them), and the typed tables a row type's attribute is
 * renamed in.
 */
static void
changed_names(Rebinding *rebinding, Node *stmt)
{
	char	   *name;

	if (rebinding->renamed != NIL)
	{
		rebinding->names = moved_relation_names(rebinding->renamed);
		return;
	}
	name = renamed_name(stmt);
	rebinding->every_view = name == NULL;
	if (name != NULL)
		rebinding->names = spi_text_array(list_make1(name));
	if (IsA(stmt, RenameStmt) && ((RenameStmt *) stmt)->relation != NULL)
		rebinding->typed_tables = typed_tables(((RenameStmt *) stmt)->relation);
}

Rebinding *
rebind_before(Node *stmt)
{
	Rebinding  *rebinding;

	/* pipeline's own DDL keeps its catalogs itself */
	if (!changes_names(stmt) || runas_ddl_in_progress() ||
		!IsTransactionState() || !binds_queries_here())
		return NULL;
	rebinding = palloc0(sizeof(Rebinding));
	rebinding->renamed = renamed_relations(stmt);

	/*
	 * A relation is locked by the statement and by a definition that reads
	 * it, each to its end: a definition in progress is seen afterwards
	 * (rebind_after()), one behind waits and reads the new name.  Another
	 * object is locked here, as a definition naming it locks it
	 * (util/named_objects.h): definitions in progress end first and are read
	 * below, one behind waits for this statement's transaction.  A statement
	 * that renames nothing (IF EXISTS) rewrites nothing.
	 */
	if (rebinding->renamed == NIL && !lock_renamed_object(stmt))
		return NULL;
	changed_names(rebinding, stmt);
	/* the views committed by now, whatever this transaction's snapshot */
	PushActiveSnapshot(GetLatestSnapshot());
	views_before(rebinding);
	PopActiveSnapshot();
	if (IsolationUsesXactSnapshot())
		refuse_unseen_views(rebinding);
	return rebinding;
}

void
rebind_after(Rebinding *rebinding)
{
	if (rebinding == NULL)
		return;
	CommandCounterIncrement();

	/*
	 * The views are committed and keep what they name: deparsing them takes
	 * no lock on it, or this statement would hold every object every view
	 * names until it commits
	 */
	named_objects_suspend();
	PG_TRY();
	{
		store_bound_forms(rebinding->views);
		if (rebinding->renamed != NIL)
			follow_views_defined_meanwhile(rebinding);
		else if (rebinding->typed_tables != NIL)
		{
			/* the views reading them, which waited for them */
			Rebinding	typed = *rebinding;

			typed.renamed = rebinding->typed_tables;
			typed.names = moved_relation_names(typed.renamed);
			typed.every_view = false;
			follow_views_defined_meanwhile(&typed);
		}
	}
	PG_FINALLY();
	{
		named_objects_resume();
	}
	PG_END_TRY();
}
