/*-------------------------------------------------------------------------
 * define.c
 *	  define(), create_matview() and drop_matview().
 *
 * Every definition is validated once (definition_validate()).  A new view
 * is created through matview_create(), the one creation path: WITH NO DATA
 * as the calling user, so PostgreSQL checks CREATE on the schema and SELECT
 * on the sources and makes the caller the owner, then populated as its
 * owner; only the catalog rows are written as the extension.  A
 * redefinition goes through the compile step (compile_redefine()), as an
 * update set does.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compile/compile.h"
#include "compile/define.h"
#include "compile/locks.h"
#include "model/catalog.h"
#include "model/definition.h"
#include "model/dag.h"
#include "model/dpl.h"
#include "schedule/change_tracking.h"
#include "util/interval.h"
#include "util/runas.h"
#include "util/subxact.h"
#include "views/differential.h"
#include "views/matview.h"
#include "views/publication.h"
#include "util/relation_name.h"

Oid
define_view(MatviewDefinition *def)
{
	char	   *relname;
	Oid			nspid = definition_validate(def, &relname);
	Oid			relid = get_relname_relid(relname, nspid);

	/*
	 * A redefinition: the compile step checks and rebuilds downstream.  It
	 * also refuses a relation pipeline does not manage, telling it from a
	 * view redefined by a transaction our snapshot cannot see.
	 */
	if (OidIsValid(relid))
		return compile_redefine(def);

	/* a new view: the one behind a session defining it redefines it */
	compile_lock_view_name(nspid, relname);
	relid = get_relname_relid(relname, nspid);
	if (OidIsValid(relid))
		return compile_redefine(def);
	/* a view of this name whose relation went unseen holds its name */
	(void) matview_forget_gone();
	matview_check_kind(def, InvalidOid);

	/* what the caller means now, bound for good; the analyzer's errors */
	def->bound_query = matview_makes_query_shape(def) ? runas_bind_table_query(def->query) :
		runas_bind_query(def->query);
	return matview_create(GetUserId(), nspid, relname, def);
}

PG_FUNCTION_INFO_V1(pipeline_define);

/* define(dpl text) RETURNS regclass */
Datum
pipeline_define(PG_FUNCTION_ARGS)
{
	PreventCommandDuringRecovery("pipeline.define()");
	PreventCommandIfReadOnly("pipeline.define()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("DPL document must not be null")));
	PG_RETURN_OID(define_view(dpl_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}

PG_FUNCTION_INFO_V1(pipeline_create_matview);

/*
 * create_matview(target_schema name, name text, query text,
 *				  refresh_interval interval, matview_type text,
 *				  incremental_key text, refresh_mode text, options jsonb)
 *	 RETURNS regclass
 *
 * The SQL of 1.2 and before declares only the first six arguments.  NULL
 * options are no options; a NULL refresh_mode is refused like a NULL
 * matview_type, rather than read as a mode nobody asked for.
 */
Datum
pipeline_create_matview(PG_FUNCTION_ARGS)
{
	static const char *const argnames[] = {
		"target_schema", "name", "query", "refresh_interval", "matview_type",
		NULL, "refresh_mode"
	};
	MatviewDefinition *def = palloc0(sizeof(MatviewDefinition));
	Interval   *interval;
	int			i;

	PreventCommandDuringRecovery("pipeline.create_matview()");

	PreventCommandIfReadOnly("pipeline.create_matview()");
	for (i = 0; i < (int) lengthof(argnames) && i < PG_NARGS(); i++)
		if (argnames[i] != NULL && PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argnames[i])));

	def->schema_name = pstrdup(NameStr(*PG_GETARG_NAME(0)));
	def->name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	def->query = dpl_normalize_query(text_to_cstring(PG_GETARG_TEXT_PP(2)), "query");
	interval = PG_GETARG_INTERVAL_P(3);
	def->interval = *interval;
	def->interval_us = interval_usecs_capped(interval);
	def->type = matview_type_from_name(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	if (!PG_ARGISNULL(5))
		def->incremental_key = text_to_cstring(PG_GETARG_TEXT_PP(5));
	def->requested_mode = REFRESH_MODE_AUTO;
	if (PG_NARGS() > 6)
		def->requested_mode = refresh_mode_from_name(text_to_cstring(PG_GETARG_TEXT_PP(6)));
	/* every other DPL key, checked as a DPL header's */
	if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
		dpl_apply_options(def, PG_GETARG_JSONB_P(7));
	PG_RETURN_OID(define_view(def));
}

/* runas_ddl() of a DROP as the caller, for call_with_dependents_hint() */
static void
drop_as_caller(void *sql)
{
	runas_ddl(InvalidOid, sql);
}

/*
 * DROP of a managed view's relation as the caller.  Without cascade, the
 * refusal over a plain view (or other object) that depends on it names
 * drop_matview()'s cascade, not DROP's, which the guard would refuse.
 */
static void
drop_relation(Oid relid, bool cascade)
{
	char	   *sql = psprintf("DROP %s %s%s",
							   get_rel_relkind(relid) == RELKIND_RELATION ? "TABLE" : "MATERIALIZED VIEW",
							   relation_qualified_name(relid),
							   cascade ? " CASCADE" : "");

	if (cascade)
		runas_ddl(InvalidOid, sql);
	else
		call_with_dependents_hint(drop_as_caller, sql,
								  "Use pipeline.drop_matview(..., cascade => true) to drop them too.");
}

PG_FUNCTION_INFO_V1(pipeline_drop_matview);

/* drop_matview(matview regclass, cascade boolean) RETURNS void */
Datum
pipeline_drop_matview(PG_FUNCTION_ARGS)
{
	Oid			relid;
	bool		cascade;
	Dag		   *dag;
	Dag		   *now;
	List	   *doomed;
	List	   *relids = NIL;
	List	   *read;
	ListCell   *lc;

	PreventCommandDuringRecovery("pipeline.drop_matview()");

	PreventCommandIfReadOnly("pipeline.drop_matview()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("matview must not be null")));
	relid = PG_GETARG_OID(0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cascade must not be null")));
	cascade = PG_GETARG_BOOL(1);

	/*
	 * The catalog as this call finds it, with what earlier calls in the same
	 * statement dropped (drop_matview() over a list, downstream views first):
	 * the statement's own snapshot still shows their rows.
	 */
	CommandCounterIncrement();

	/*
	 * A view whose relation went unseen (or one downstream): forgotten first;
	 * its own drop is then done
	 */
	(void) matview_forget_gone();
	if (matview_forgotten(relid))
		PG_RETURN_VOID();
	PushActiveSnapshot(GetTransactionSnapshot());
	catalog_get_required(relid);
	dag = dag_load();
	PopActiveSnapshot();
	/* a caller who may not drop it learns that first, not what depends on it */
	catalog_require_owner(relid, get_rel_name(relid));
	doomed = dag_with_downstream(dag, dag_find(dag, relid));
	if (list_length(doomed) > 1 && !cascade)
	{
		StringInfoData names;

		initStringInfo(&names);
		for_each_from(lc, doomed, 1)
		{
			Oid			down = dag->nodes[lfirst_int(lc)].relid;

			appendStringInfo(&names, "%s%s", names.len ? ", " : "",
							 relation_qualified_name(down));
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
	 * downstream view while waiting for an upstream one a run holds, and that
	 * run wants the downstream view next.
	 */
	foreach(lc, doomed)
	{
		Oid			victim = dag->nodes[lfirst_int(lc)].relid;

		catalog_require_owner(victim, get_rel_name(victim));
		relids = lappend_oid(relids, victim);
	}
	compile_lock_views_to_drop(relids);
	foreach(lc, relids)
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(lfirst_oid(lc))))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("a managed view was dropped or redefined while drop_matview() waited for it"),
					 errhint("Retry the drop.")));

	/*
	 * A view defined downstream while it waited is not in the set (nor was
	 * its owner asked): DROP ... CASCADE would take it, catalog rows left.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	now = dag_load();
	PopActiveSnapshot();
	if (list_length(dag_with_downstream(now, dag_find(now, relid))) != list_length(doomed))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("a managed view was defined downstream of \"%s\" while drop_matview() waited for it",
						get_rel_name(relid)),
				 errhint("Retry the drop.")));

	/* deepest first, so nothing is dropped from under a dependent */
	read = change_tracking_tables_read(relids);
	for (int i = list_length(doomed) - 1; i >= 0; i--)
	{
		Oid			victim = dag->nodes[list_nth_int(doomed, i)].relid;

		differential_forget(victim);
		publication_forget_owner(victim, NULL);
		drop_relation(victim, cascade);
		catalog_delete(victim);
	}
	/* the sources no view reads now record no more changes */
	change_tracking_release_unread_tables(read);
	PG_RETURN_VOID();
}
