/*-------------------------------------------------------------------------
 * catalog.c
 *	  Reading and writing pipeline's metadata tables.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "model/catalog.h"
#include "util/analyze.h"
#include "util/interval.h"
#include "util/runas.h"
#include "util/settings.h"
#include "util/spi_rows.h"

Oid
catalog_relation_owner_if_exists(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tuple))
	{
		owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
		ReleaseSysCache(tuple);
	}
	return owner;
}

Oid
catalog_relation_owner(Oid relid)
{
	Oid			owner = catalog_relation_owner_if_exists(relid);

	if (!OidIsValid(owner))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return owner;
}

void
catalog_require_owner(Oid relid, const char *name)
{
	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER,
					   get_rel_relkind(relid) == RELKIND_RELATION ? OBJECT_TABLE : OBJECT_MATVIEW,
					   name);
}

/*
 * The schema require_superuser_schema() last found a superuser's, until a
 * schema or a role changes (each catalog read asks: a lookup of its own
 * would cost every refresh and every captured write)
 */
static Oid	superuser_schema = InvalidOid;
static bool superuser_schema_watched = false;

static void
forget_superuser_schema(Datum arg, int cacheid, uint32 hashvalue)
{
	superuser_schema = InvalidOid;
}

/*
 * Errors unless namespace, where pipeline's catalog is, belongs to a
 * superuser.  CREATE EXTENSION installs into a schema of the control
 * file's name that exists already, whoever made it: a role with CREATE on
 * the database could make it before a superuser installs pipeline (or
 * after DROP SCHEMA pipeline), and as its owner put functions beside
 * pipeline's, an overload of one its SQL calls by name
 * (pipeline.apply_changes_row(), pipeline.max_scale()) that callers, view
 * owners and the catalog owner would then run, or rename it and make
 * another holding tables of its own.
 */
static void
require_superuser_schema(Oid namespace)
{
	HeapTuple	tuple;
	Oid			owner;

	if (namespace == superuser_schema)
		return;
	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(namespace));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for namespace %u", namespace);
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	if (!superuser_arg(owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("schema \"%s\" of extension pipeline is owned by role \"%s\", which is not a superuser",
						PIPELINE_SCHEMA, GetUserNameFromId(owner, false)),
				 errdetail("The schema's owner can put objects beside pipeline's that pipeline's SQL would call with other roles' rights."),
				 errhint("Drop the extension and the schema (DROP SCHEMA %s CASCADE also drops what its owner put there), then create the extension again as a superuser.",
						 PIPELINE_SCHEMA)));
	if (!superuser_schema_watched)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, forget_superuser_schema, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, forget_superuser_schema, (Datum) 0);
		superuser_schema_watched = true;
	}
	superuser_schema = namespace;
}

Oid
catalog_table(const char *name)
{
	Oid			namespace = get_namespace_oid(PIPELINE_SCHEMA, true);
	Oid			relid = get_relname_relid(name, namespace);

	/* only a schema that holds pipeline's catalog: a stray one is no one's */
	if (OidIsValid(relid))
		require_superuser_schema(namespace);
	return relid;
}

void
catalog_scan_begin(CatalogScan *cs, const char *table, const char *index,
				   const char *column, Oid key)
{
	Oid			tableid = catalog_table(table);
	Oid			indexid = catalog_table(index);

	if (!OidIsValid(tableid) || !OidIsValid(indexid))
		elog(ERROR, "pipeline catalog index %s is missing", index);
	cs->rel = table_open(tableid, AccessShareLock);

	/*
	 * by the table's column number (NULL: the first), which
	 * systable_beginscan() maps
	 */
	ScanKeyInit(&cs->key, column ? attnameAttNum(cs->rel, column, false) : 1,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(key));
	cs->scan = systable_beginscan(cs->rel, indexid, true, NULL, 1, &cs->key);
}

void
catalog_scan_end(CatalogScan *cs)
{
	systable_endscan(cs->scan);
	table_close(cs->rel, AccessShareLock);
}

void
catalog_refuse_own_table(Oid relid, const char *role, const char *name)
{
	Oid			extension = get_extension_oid("pipeline", true);

	if (get_rel_namespace(relid) == get_namespace_oid(PIPELINE_SCHEMA, true) ||
		(OidIsValid(extension) &&
		 getExtensionOfObject(RelationRelationId, relid) == extension))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied: %s \"%s\" is one of pipeline's own tables",
						role, name),
				 errdetail("Only pipeline's functions write its tables, superusers' calls included.")));
}

void
catalog_require_lasting_table(Oid relid, const char *role)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	char		persistence;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	persistence = ((Form_pg_class) GETSTRUCT(tuple))->relpersistence;
	ReleaseSysCache(tuple);
	if (persistence == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s \"%s\" is a temporary table", role, get_rel_name(relid)),
				 errdetail("What pipeline keeps of it by its OID would outlive it: the session's end drops it unseen.")));
}

bool
catalog_has_column(const char *table, const char *column)
{
	Oid			relid = catalog_table(table);

	return OidIsValid(relid) && get_attnum(relid, column) != InvalidAttrNumber;
}

Oid
catalog_owner(void)
{
	Oid			relid = catalog_table("matview_definitions");

	if (!OidIsValid(relid))
		elog(ERROR, "pipeline catalog is missing");
	return catalog_relation_owner(relid);
}

bool
catalog_binds_queries(void)
{
	return catalog_has_column("matview_definitions", "bound_query");
}

void
catalog_require_sql_1_1(const char *function)
{
	/* 1.1's unique run claim, and with it apply_changes' row check */
	if (!OidIsValid(catalog_table("runs_matview_time_label_attempt_key")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs version 1.1 or later of the extension's SQL", function),
				 errhint("Run ALTER EXTENSION pipeline UPDATE.")));
}

bool
catalog_has_refresh_modes(void)
{
	return catalog_has_column("matview_definitions", "refresh_mode");
}

bool
catalog_has_options(void)
{
	return catalog_has_column("matview_definitions", "options");
}

bool
catalog_has_delete_functions(void)
{
	return catalog_has_column("matview_definitions", "delete_function");
}

/*
 * A view's refresh modes from columns 8 to 10 of fetch_view()'s row; under
 * SQL without them a regular view is refreshed fully.
 */
static void
refresh_modes_from_row(ManagedView *view, const SpiRows *rows, bool has_modes)
{
	char	   *requested = spi_rows_text(rows, 0, 8);
	char	   *mode = spi_rows_text(rows, 0, 9);

	view->requested_mode = REFRESH_MODE_AUTO;
	view->refresh_mode = REFRESH_MODE_NONE;
	view->full_refresh_reason = spi_rows_text(rows, 0, 10);
	if (view->type != MATVIEW_REGULAR)
		return;
	if (!has_modes)
	{
		view->refresh_mode = REFRESH_MODE_FULL;
		view->full_refresh_reason = pstrdup(CATALOG_OLD_SQL_FULL_REASON);
		return;
	}
	if (requested == NULL || mode == NULL)
		elog(ERROR, "managed view %u has no refresh mode", view->relid);
	view->requested_mode = refresh_mode_from_name(requested);
	view->refresh_mode = refresh_mode_from_name(mode);
}

/* The managed view of a row of fetch_view()'s query (palloc'd). */
static ManagedView *
view_from_row(Oid relid, const SpiRows *rows, bool has_modes)
{
	ManagedView *view = palloc0(sizeof(ManagedView));
	bool		isnull;

	view->relid = relid;
	view->schema_name = spi_rows_text(rows, 0, 0);
	view->name = spi_rows_text(rows, 0, 1);
	view->type = matview_type_from_name(spi_rows_text(rows, 0, 2));
	view->interval_us = interval_usecs(DatumGetIntervalP(spi_rows_value(rows, 0, 3, &isnull)));
	view->query = spi_rows_text(rows, 0, 4);
	view->incremental_key = spi_rows_text(rows, 0, 5);
	view->version = DatumGetInt32(spi_rows_value(rows, 0, 6, &isnull));
	view->bound_query = spi_rows_text(rows, 0, 7);
	refresh_modes_from_row(view, rows, has_modes);
	view->options_json = spi_rows_text(rows, 0, 11);
	view->delete_function = DatumGetObjectId(spi_rows_value(rows, 0, 12, &isnull));
	if (isnull)
		view->delete_function = InvalidOid;
	return view;
}

static ManagedView *
fetch_view(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	ManagedView *view;
	bool		binds = catalog_binds_queries();
	bool		has_modes = catalog_has_refresh_modes();
	SpiRows    *rows;
	RunAs		ra;

	/* the columns of older SQL's catalog as stand-ins for newer ones */
	rows = spi_rows(catalog_owner(),
					psprintf("SELECT schema_name::text, name, matview_type, refresh_interval, "
							 "       query, incremental_key, version, %s, %s, %s, %s "
							 "  FROM pipeline.matview_definitions WHERE matview = $1",
							 binds ? "bound_query" : "query",
							 has_modes ?
							 "requested_refresh_mode, refresh_mode, full_refresh_reason" :
							 "NULL::text, NULL::text, NULL::text",
							 catalog_has_options() ? "options::text" : "'{}'::text",
							 catalog_has_delete_functions() ?
							 "delete_function::pg_catalog.oid" : "NULL::pg_catalog.oid"),
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (rows->count != 1)
		return NULL;
	view = view_from_row(relid, rows, has_modes);

	/*
	 * Older SQL kept no bound form: read the text as its owner would.  Not
	 * for a relation a redefinition has dropped already (the row is read then
	 * for what else it holds).
	 */
	if (!binds)
	{
		Oid			owner = catalog_relation_owner_if_exists(relid);

		if (OidIsValid(owner))
		{
			runas_begin_owner_session(&ra, owner);
			view->bound_query = runas_bind_query(view->query);
			runas_end(&ra);
		}
	}
	return view;
}

bool
catalog_is_managed(Oid relid)
{
	return fetch_view(relid) != NULL;
}

/* type_holds_matching(): the row type of a table pipeline makes as it runs */
static bool
is_runtime_row(Oid type, void *arg)
{
	Oid			relid = get_typ_typrelid(type);

	return OidIsValid(relid) && catalog_is_runtime_relation(relid);
}

bool
catalog_type_holds_runtime_row(Oid type)
{
	return type_holds_matching(type, is_runtime_row, NULL);
}

bool
catalog_is_runtime_relation(Oid relid)
{
	Oid			schema = get_namespace_oid(PIPELINE_SCHEMA, true);
	char	   *name;

	if (!OidIsValid(schema) || get_rel_namespace(relid) != schema ||
		get_rel_relkind(relid) != RELKIND_RELATION)
		return false;
	name = get_rel_name(relid);
	if (strncmp(name, "state_", strlen("state_")) == 0)
		name += strlen("state_");
	else if (strncmp(name, "capture_log_", strlen("capture_log_")) == 0)
		name += strlen("capture_log_");
	else
		return false;
	/* a number: capture_log_seq is the sequence that numbers the logs */
	return *name != '\0' && strspn(name, "0123456789") == strlen(name);
}

bool
catalog_tracks_command_ids(void)
{
	return catalog_has_column("refresh_snapshots", "command_id");
}

void
catalog_record_change(Oid relid)
{
	bool		commands = catalog_tracks_command_ids();
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		values[2] = {ObjectIdGetDatum(relid),
	Int64GetDatum((int64) GetCurrentCommandId(false))};

	(void) spi_rows(catalog_owner(),
					commands ?
					"INSERT INTO pipeline.changes (relation, command_id) VALUES ($1, $2)" :
					"INSERT INTO pipeline.changes (relation) VALUES ($1)",
					commands ? 2 : 1, argtypes, values, NULL, false, -1);
}

bool
catalog_is_managed_now(Oid relid)
{
	bool		managed;

	PushActiveSnapshot(GetLatestSnapshot());
	managed = catalog_is_managed(relid);
	PopActiveSnapshot();
	return managed;
}

ManagedView *
catalog_get(Oid relid)
{
	return fetch_view(relid);
}

ManagedView *
catalog_get_now(Oid relid)
{
	ManagedView *view;

	CommandCounterIncrement();
	PushActiveSnapshot(GetLatestSnapshot());
	view = catalog_get_required(relid);
	PopActiveSnapshot();
	return view;
}

ManagedView *
catalog_get_required(Oid relid)
{
	ManagedView *view = fetch_view(relid);

	if (view == NULL)
	{
		char	   *relname = get_rel_name(relid);

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 relname ?
				 errmsg("\"%s\" is not a materialized view managed by pipeline", relname) :
				 errmsg("relation with OID %u does not exist", relid),
				 errhint("Managed views are listed in pipeline.matviews.")));
	}
	return view;
}

/* Parameter i of a statement: text, or NULL for a null pointer. */
static void
set_text_param(Datum *values, char *nulls, int i, const char *value)
{
	nulls[i] = value ? ' ' : 'n';
	values[i] = value ? CStringGetTextDatum(value) : (Datum) 0;
}

/*
 * The parameters of a definition for catalog_insert() and
 * catalog_update_definition(): $1 the relation, $2 the schema, $3 to $14 the
 * columns, in the order of the statements below.
 */
#define DEFINITION_PARAMS 14

static void
definition_params(Oid relid, const MatviewDefinition *def, Oid *argtypes,
				  Datum *values, char *nulls)
{
	Interval   *interval = palloc(sizeof(Interval));

	/* AUTO is only ever asked for: the resolved mode is never AUTO */
	if (def->refresh_mode == REFRESH_MODE_AUTO)
		elog(ERROR, "refresh mode of view \"%s\" was not resolved", def->name);
	*interval = def->interval;
	for (int i = 0; i < DEFINITION_PARAMS; i++)
		argtypes[i] = TEXTOID;
	argtypes[0] = OIDOID;
	values[0] = ObjectIdGetDatum(relid);
	nulls[0] = ' ';
	argtypes[1] = NAMEOID;
	/* NAMEOID wants a Name, not a cstring */
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(def->schema_name));
	nulls[1] = ' ';
	set_text_param(values, nulls, 2, def->name);
	set_text_param(values, nulls, 3, matview_type_name(def->type));
	argtypes[4] = INTERVALOID;
	values[4] = IntervalPGetDatum(interval);
	nulls[4] = ' ';
	set_text_param(values, nulls, 5, def->query);
	set_text_param(values, nulls, 6, def->incremental_key);
	set_text_param(values, nulls, 7, def->datacoral_version);
	set_text_param(values, nulls, 8, def->bound_query);
	set_text_param(values, nulls, 9, def->type == MATVIEW_REGULAR ?
				   refresh_mode_name(def->requested_mode) : NULL);
	set_text_param(values, nulls, 10, refresh_mode_name(def->refresh_mode));
	set_text_param(values, nulls, 11, def->full_refresh_reason);
	set_text_param(values, nulls, 12, def->options_json ? def->options_json : "{}");
	/* a publication's delete function, by OID (publication_check()) */
	argtypes[13] = OIDOID;
	values[13] = ObjectIdGetDatum(def->unload_delete_fn);
	nulls[13] = OidIsValid(def->unload_delete_fn) ? ' ' : 'n';
}

void
catalog_insert(Oid relid, const MatviewDefinition *def)
{
	Oid			argtypes[DEFINITION_PARAMS];
	Datum		values[DEFINITION_PARAMS];
	char		nulls[DEFINITION_PARAMS];
	bool		binds = catalog_binds_queries();
	bool		has_modes = catalog_has_refresh_modes();
	bool		has_options = catalog_has_options();
	bool		has_delete_functions = catalog_has_delete_functions();

	definition_params(relid, def, argtypes, values, nulls);

	/*
	 * only the columns the installed SQL has (bound_query: 1.2, modes: 1.3,
	 * options: 1.5, delete_function: 1.11)
	 */
	(void) spi_rows(catalog_owner(),
					psprintf("INSERT INTO pipeline.matview_definitions "
							 "(matview, schema_name, name, matview_type, refresh_interval, "
							 " query, incremental_key, datacoral_version%s%s%s%s) "
							 "VALUES ($1::regclass, $2, $3, $4, $5, $6, $7, $8%s%s%s%s)",
							 binds ? ", bound_query" : "",
							 has_modes ? ", requested_refresh_mode, refresh_mode, full_refresh_reason" : "",
							 has_options ? ", options" : "",
							 has_delete_functions ? ", delete_function" : "",
							 binds ? ", $9" : "",
							 has_modes ? ", $10, $11, $12" : "",
							 has_options ? ", $13::pg_catalog.jsonb" : "",
							 has_delete_functions ? ", $14::pg_catalog.regprocedure" : ""),
					DEFINITION_PARAMS, argtypes, values, nulls, false, -1);
}

void
catalog_update_definition(Oid relid, const MatviewDefinition *def)
{
	Oid			argtypes[DEFINITION_PARAMS];
	Datum		values[DEFINITION_PARAMS];
	char		nulls[DEFINITION_PARAMS];

	definition_params(relid, def, argtypes, values, nulls);
	/* $2 and $3, the names, stay as they are: they name the relation */
	(void) spi_rows(catalog_owner(),
					psprintf("UPDATE pipeline.matview_definitions "
							 "   SET matview_type = $4, refresh_interval = $5, query = $6, "
							 "       incremental_key = $7, datacoral_version = $8, %s%s%s%s"
							 "       version = version + 1, updated_at = now() "
							 " WHERE matview = $1::regclass",
							 catalog_binds_queries() ? "bound_query = $9, " : "",
							 catalog_has_refresh_modes() ?
							 "requested_refresh_mode = $10, refresh_mode = $11, "
							 "full_refresh_reason = $12, " : "",
							 catalog_has_options() ? "options = $13::pg_catalog.jsonb, " : "",
							 catalog_has_delete_functions() ?
							 "delete_function = $14::pg_catalog.regprocedure, " : ""),
					DEFINITION_PARAMS, argtypes, values, nulls, false, -1);
}

void
catalog_delete(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.matview_definitions WHERE matview = $1::regclass",
					1, argtypes, values, NULL, false, -1);
	/* its rejected rows and ingested ids: no other table will have its OID's */
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.rejected WHERE target = $1::regclass",
					1, argtypes, values, NULL, false, -1);
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.ingested WHERE target = $1::regclass",
					1, argtypes, values, NULL, false, -1);
}

void
catalog_set_refresh_mode(Oid relid, RefreshMode mode, const char *full_reason)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	if (!catalog_has_refresh_modes())
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(refresh_mode_name(mode));
	set_text_param(values, nulls, 2, full_reason);
	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.matview_definitions SET refresh_mode = $2, full_refresh_reason = $3 "
					" WHERE matview = $1::regclass",
					3, argtypes, values, nulls, false, -1);
}
