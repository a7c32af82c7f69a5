/*-------------------------------------------------------------------------
 * matview.c
 *	  define(), create_matview() and drop_matview().
 *
 * The view is created by CREATE MATERIALIZED VIEW as the calling user, so
 * PostgreSQL checks CREATE on the schema and SELECT on the sources and makes
 * the caller the owner; only the catalog rows are written as the extension.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "compat.h"
#include "dag.h"
#include "dpl.h"
#include "incremental.h"
#include "matview.h"
#include "refresh.h"
#include "runas.h"
#include "schedule.h"

char *
matview_relation_name(const char *name)
{
	return psprintf("mv_%s", name);
}

Oid
matview_create_relation(Oid owner, const char *schema_name, Oid nspid,
						const char *relname, MatviewType type,
						const char *bound_query, const char *key)
{
	char	   *qualified = quote_qualified_identifier(schema_name, relname);
	Oid			relid;

	/* analysis only: no user code runs before the owner's populate */
	if (type == MATVIEW_INCREMENTAL)
	{
		runas_ddl(owner, psprintf("CREATE TABLE %s AS\n%s\nWITH NO DATA",
								  qualified, bound_query));
		/* the key is what refreshes search by */
		runas_ddl(owner, psprintf("CREATE INDEX ON %s (%s)", qualified,
								  quote_identifier(key)));
	}
	else
		runas_ddl(owner, psprintf("CREATE MATERIALIZED VIEW %s AS\n%s\nWITH NO DATA",
								  qualified, bound_query));
	relid = get_relname_relid(relname, nspid);
	if (!OidIsValid(relid))
		elog(ERROR, "relation %s was not created", qualified);
	return relid;
}

uint64
matview_populate(Oid relid, MatviewType type)
{
	if (type == MATVIEW_INCREMENTAL)
		return incremental_populate(relid);
	return refresh_populate(relid);
}

/* Checks what the header or arguments say, before anything is created. */
static Oid
validate_definition(MatviewDefinition *def, char **relname)
{
	Oid			nspid;

	if (def->schema_name[0] == '\0' || def->name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("schema and view names must not be empty")));
	nspid = get_namespace_oid(def->schema_name, true);
	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_SCHEMA_NAME),
				 errmsg("schema \"%s\" does not exist", def->schema_name),
				 errhint("Create it first with CREATE SCHEMA %s.",
						 quote_identifier(def->schema_name))));

	*relname = matview_relation_name(def->name);
	if (strlen(*relname) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("view name \"%s\" is too long", def->name),
				 errdetail("The relation name \"mv_\" || name must be at most %d bytes.",
						   NAMEDATALEN - 1)));

	if (def->interval_us < USECS_PER_SEC || def->interval.month < 0 ||
		def->interval.day < 0 || def->interval.time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh interval of \"%s\" must be at least 1 second", def->name)));

	matview_validate_type(def);
	return nspid;
}

void
matview_validate_type(const MatviewDefinition *def)
{
	if (def->type == MATVIEW_INCREMENTAL && def->incremental_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("incremental view \"%s\" needs an incremental key", def->name),
				 errhint("Add @incremental-key <column> to the header.")));
	if (def->type == MATVIEW_REGULAR && def->incremental_key != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("@incremental-key is only for incremental views"),
				 errhint("Add @matview-type incremental, or drop the key.")));
}

Oid
matview_define(MatviewDefinition *def)
{
	char	   *relname;
	Oid			nspid = validate_definition(def, &relname);
	Oid			relid = get_relname_relid(relname, nspid);
	List	   *upstream;

	/*
	 * A redefinition: the compile step checks and rebuilds downstream.  It
	 * also refuses a relation pipeline does not manage, telling it from a
	 * view redefined by a transaction our snapshot cannot see.
	 */
	if (OidIsValid(relid))
		return compat_redefine(def);
	if (def->type == MATVIEW_INCREMENTAL)
	{
		incremental_check_key(def->query, def->incremental_key, def->name);
		incremental_check_query(def->query, def->incremental_key, def->name);
	}

	/* what the caller means now, bound for good; the analyzer's errors */
	def->bound_query = runas_bind_query(def->query);
	upstream = dag_bound_query_dependencies(def->bound_query, InvalidOid);
	relid = matview_create_relation(GetUserId(), def->schema_name, nspid, relname,
									def->type, def->bound_query, def->incremental_key);
	catalog_insert(relid, def);
	catalog_set_edges(relid, upstream);
	matview_populate(relid, def->type);
	return relid;
}

PG_FUNCTION_INFO_V1(pipeline_define);

/* define(dpl text) RETURNS regclass */
Datum
pipeline_define(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("DPL document must not be null")));
	PG_RETURN_OID(matview_define(dpl_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

PG_FUNCTION_INFO_V1(pipeline_create_matview);

/*
 * create_matview(target_schema name, name text, query text,
 *				  refresh_interval interval, matview_type text,
 *				  incremental_key text) RETURNS regclass
 */
Datum
pipeline_create_matview(PG_FUNCTION_ARGS)
{
	static const char *const argnames[] = {
		"target_schema", "name", "query", "refresh_interval", "matview_type"
	};
	MatviewDefinition *def = palloc0(sizeof(MatviewDefinition));
	Interval   *interval;
	int			i;

	for (i = 0; i < (int) lengthof(argnames); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argnames[i])));

	def->schema_name = pstrdup(NameStr(*PG_GETARG_NAME(0)));
	def->name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	def->query = dpl_normalize_query(text_to_cstring(PG_GETARG_TEXT_PP(2)), "query");
	interval = PG_GETARG_INTERVAL_P(3);
	def->interval = *interval;
	def->interval_us = schedule_interval_usecs(interval);
	def->type = matview_type_from_name(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	if (!PG_ARGISNULL(5))
		def->incremental_key = text_to_cstring(PG_GETARG_TEXT_PP(5));
	PG_RETURN_OID(matview_define(def));
}

PG_FUNCTION_INFO_V1(pipeline_drop_matview);

/* drop_matview(matview regclass, cascade boolean) RETURNS void */
Datum
pipeline_drop_matview(PG_FUNCTION_ARGS)
{
	Oid			relid;
	bool		cascade;
	Dag		   *dag;
	List	   *doomed;
	List	   *relids = NIL;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("matview must not be null")));
	relid = PG_GETARG_OID(0);
	cascade = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	catalog_get_required(relid);

	dag = dag_load();
	doomed = dag_with_downstream(dag, dag_find(dag, relid));
	if (list_length(doomed) > 1 && !cascade)
	{
		StringInfoData names;

		initStringInfo(&names);
		for_each_from(lc, doomed, 1)
		{
			Oid			down = dag->nodes[lfirst_int(lc)].relid;

			appendStringInfo(&names, "%s%s", names.len ? ", " : "",
							 quote_qualified_identifier(get_namespace_name(get_rel_namespace(down)),
														get_rel_name(down)));
		}
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop \"%s\" because other managed views depend on it",
						get_rel_name(relid)),
				 errdetail("Depending views: %s.", names.data),
				 errhint("Use pipeline.drop_matview(..., cascade => true) to drop them too.")));
	}

	/*
	 * The owner's right first (as DROP checks it), then every doomed view
	 * locked at once: dropping one by one, deepest first, would hold a
	 * downstream view while waiting for an upstream one a run holds, and
	 * that run wants the downstream view next.
	 */
	foreach(lc, doomed)
	{
		Oid			victim = dag->nodes[lfirst_int(lc)].relid;

		catalog_require_owner(victim, get_rel_name(victim));
		relids = lappend_oid(relids, victim);
	}
	compat_lock_all_or_nothing(relids, NIL);
	foreach(lc, relids)
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(lfirst_oid(lc))))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("a managed view was dropped or redefined while drop_matview() waited for it"),
					 errhint("Retry the drop.")));

	/* deepest first, so nothing is dropped from under a dependent */
	for (int i = list_length(doomed) - 1; i >= 0; i--)
	{
		Oid			victim = dag->nodes[list_nth_int(doomed, i)].relid;

		runas_ddl(InvalidOid, psprintf("DROP %s %s%s",
						 get_rel_relkind(victim) == RELKIND_RELATION ? "TABLE" : "MATERIALIZED VIEW",
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(victim)),
													get_rel_name(victim)),
						 cascade ? " CASCADE" : ""));
		catalog_delete(victim);
	}
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pipeline_bind_stored_query);

/*
 * bind_stored_query(matview regclass) RETURNS text: the bound form of a
 * view defined before queries were bound (the 1.1 -> 1.2 upgrade).  A
 * materialized view's rule holds exactly what it was bound to; an
 * incremental view's text is read as its owner reads it.
 */
Datum
pipeline_bind_stored_query(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ManagedView *view = catalog_get_required(relid);
	char	   *bound;
	RunAs		ra;

	if (view->type == MATVIEW_REGULAR)
	{
		/* the query of its _RETURN rule, deparsed as every bound query is */
		Relation	rel = table_open(relid, AccessShareLock);

		if (rel->rd_rules == NULL || rel->rd_rules->numLocks != 1)
			elog(ERROR, "materialized view \"%s\" has no single rule",
				 RelationGetRelationName(rel));
		bound = runas_deparse_bound(linitial_node(Query, rel->rd_rules->rules[0]->actions));
		table_close(rel, AccessShareLock);
		PG_RETURN_TEXT_P(cstring_to_text(bound));
	}
	runas_begin_user_code(&ra, catalog_relation_owner(relid));
	bound = runas_bind_query(view->query);
	runas_end(&ra);
	PG_RETURN_TEXT_P(cstring_to_text(bound));
}
