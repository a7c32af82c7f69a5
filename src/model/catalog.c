/*-------------------------------------------------------------------------
 * catalog.c
 *	  Reading and writing pipeline's metadata tables.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/interval.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"
#include "utils/timestamp.h"

#include "model/catalog.h"
#include "util/settings.h"
#include "util/runas.h"
#include "util/spi_rows.h"

Oid
catalog_relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
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

Oid
catalog_table(const char *name)
{
	return get_relname_relid(name, get_namespace_oid(PIPELINE_SCHEMA, true));
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

/* The managed view of a row of fetch_view()'s query (palloc'd). */
static ManagedView *
view_from_row(Oid relid, const SpiRows *rows)
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
	return view;
}

static ManagedView *
fetch_view(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	ManagedView *view;
	bool		binds = catalog_binds_queries();
	SpiRows    *rows;
	RunAs		ra;

	rows = spi_rows(InvalidOid,
					binds ?
					"SELECT schema_name::text, name, matview_type, refresh_interval, "
					"       query, incremental_key, version, bound_query "
					"  FROM pipeline.matview_definitions WHERE matview = $1" :
					"SELECT schema_name::text, name, matview_type, refresh_interval, "
					"       query, incremental_key, version, query "
					"  FROM pipeline.matview_definitions WHERE matview = $1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (rows->count != 1)
		return NULL;
	view = view_from_row(relid, rows);

	/* older SQL kept no bound form: read the text as its owner would */
	if (!binds)
	{
		runas_begin_user_code(&ra, catalog_relation_owner(relid));
		view->bound_query = runas_bind_query(view->query);
		runas_end(&ra);
	}
	return view;
}

bool
catalog_is_managed(Oid relid)
{
	return fetch_view(relid) != NULL;
}

ManagedView *
catalog_get(Oid relid)
{
	return fetch_view(relid);
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

void
catalog_insert(Oid relid, const MatviewDefinition *def)
{
	Oid			argtypes[9] = {OIDOID, NAMEOID, TEXTOID, TEXTOID, INTERVALOID,
	TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[9];
	char		nulls[9] = "         ";
	Interval   *interval = palloc(sizeof(Interval));

	*interval = def->interval;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetDatum(def->schema_name);
	values[2] = CStringGetTextDatum(def->name);
	values[3] = CStringGetTextDatum(matview_type_name(def->type));
	values[4] = IntervalPGetDatum(interval);
	values[5] = CStringGetTextDatum(def->query);
	if (def->incremental_key)
		values[6] = CStringGetTextDatum(def->incremental_key);
	else
		nulls[6] = 'n';
	if (def->datacoral_version)
		values[7] = CStringGetTextDatum(def->datacoral_version);
	else
		nulls[7] = 'n';
	values[8] = CStringGetTextDatum(def->bound_query);

	/* NAMEOID wants a Name, not a cstring */
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(def->schema_name));

	if (catalog_binds_queries())
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.matview_definitions "
						"(matview, schema_name, name, matview_type, refresh_interval, "
						" query, incremental_key, datacoral_version, bound_query) "
						"VALUES ($1::regclass, $2, $3, $4, $5, $6, $7, $8, $9)",
						9, argtypes, values, nulls, false, -1);
	else
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.matview_definitions "
						"(matview, schema_name, name, matview_type, refresh_interval, "
						" query, incremental_key, datacoral_version) "
						"VALUES ($1::regclass, $2, $3, $4, $5, $6, $7, $8)",
						8, argtypes, values, nulls, false, -1);
}

void
catalog_delete(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.matview_definitions WHERE matview = $1::regclass",
					1, argtypes, values, NULL, false, -1);
}

void
catalog_set_edges(Oid relid, List *upstream_relids)
{
	Oid			argtypes[2] = {OIDOID, OIDARRAYOID};
	Datum		values[2];
	Datum	   *elems = palloc(sizeof(Datum) * (list_length(upstream_relids) + 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, upstream_relids)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.edges WHERE downstream = $1::regclass",
					1, argtypes, values, NULL, false, -1);
	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.edges (upstream, downstream) "
					"SELECT DISTINCT u::regclass, $1::regclass FROM unnest($2) u",
					2, argtypes, values, NULL, false, -1);
}
