/*-------------------------------------------------------------------------
 * matview.c
 *	  A managed view's relation: creating it empty from its bound query as
 *	  its owner, filling it, the one path that creates a new managed view
 *	  (relation, catalog rows, data), and choosing how a view is refreshed
 *	  (its refresh mode).  define() and the compile step
 *	  (compile/) decide when.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/interval.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "model/access.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "model/definition.h"
#include "model/dpl.h"
#include "views/audit.h"
#include "views/differential.h"
#include "views/incremental.h"
#include "views/matview.h"
#include "views/mirror.h"
#include "views/publication.h"
#include "views/quarantine.h"
#include "views/refresh.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "util/relation_name.h"

Oid
matview_create_relation(Oid owner, const char *schema_name, Oid nspid,
						const char *relname, MatviewType type, RefreshMode mode,
						const char *bound_query, const char *key,
						const char *options_json)
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
	else if (type == MATVIEW_MIRROR)
		mirror_create_table(owner, qualified, bound_query, options_json, key);
	else if (type == MATVIEW_UNLOAD)
		publication_create_table(owner, qualified);
	else if (mode == REFRESH_MODE_DIFFERENTIAL)
	{
		/* PostgreSQL lets no extension change a materialized view's rows */
		runas_ddl(owner, psprintf("CREATE TABLE %s AS\n%s\nWITH NO DATA",
								  qualified, bound_query));

		/*
		 * a publication of all tables, or of its schema, publishes its
		 * changes
		 */
		runas_ddl(owner, psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", qualified));
	}
	else
		runas_ddl(owner, psprintf("CREATE MATERIALIZED VIEW %s AS\n%s\nWITH NO DATA",
								  qualified, bound_query));
	relid = get_relname_relid(relname, nspid);
	if (!OidIsValid(relid))
		elog(ERROR, "relation %s was not created", qualified);
	return relid;
}

/* error context of a view's first fill: which view */
static void
populate_error_context(void *arg)
{
	errcontext("filling %s", (const char *) arg);
}

static uint64
populate(Oid relid, MatviewType type, const char *options_json)
{
	uint64		rows;

	if (type == MATVIEW_INCREMENTAL)
		rows = incremental_populate(relid);
	else if (type == MATVIEW_MIRROR)
		rows = mirror_populate(relid);
	else if (type == MATVIEW_UNLOAD)
		rows = publication_populate(relid);
	else if (get_rel_relkind(relid) == RELKIND_RELATION)
		rows = differential_create(relid);
	else
		rows = refresh_populate(relid);
	if (type != MATVIEW_UNLOAD)
		audit_check(relid, type, options_json, NULL);
	return rows;
}

/*
 * Whether an error building a view says nothing of its data: a refusal for
 * want of rights that names objects only, PostgreSQL's or pipeline's PL/pgSQL
 * path check's (by the file that raised it).
 */
static bool
safe_to_show(const ErrorData *error)
{
	return error->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE && error->filename != NULL &&
		(strcmp(error->filename, "aclchk.c") == 0 || strcmp(error->filename, "plpgsql_paths.c") == 0);
}

typedef struct PopulateCall
{
	Oid			relid;
	MatviewType type;
	const char *options_json;
	uint64		rows;
} PopulateCall;

/* populate() for subxact_try() */
static void
populate_call(void *arg)
{
	PopulateCall *call = arg;

	call->rows = populate(call->relid, call->type, call->options_json);
}

/*
 * A view's first contents, audited: a definition whose first contents fail
 * is refused (a publication audits its query before it writes).  A
 * redefinition upstream rebuilds other owners' views: the error of one the
 * caller may not read is not shown, as it may carry its data ("invalid
 * input syntax for type integer: <a value>"), only logged; a failed
 * audit's is, without its example.
 */
uint64
matview_populate(Oid relid, MatviewType type, const char *options_json)
{
	/* named now: an error's context callback must not read the catalogs */
	char	   *name = relation_qualified_name(relid);
	ErrorContextCallback context = {error_context_stack, populate_error_context, name};
	PopulateCall call = {relid, type, options_json, 0};
	ErrorData  *error;

	error_context_stack = &context;
	if (access_can_see(relid, GetUserId()))
		call.rows = populate(relid, type, options_json);
	else
	{
		audit_forget();
		/* rolled back before anything is said; a cancel is re-thrown */
		error = subxact_try(populate_call, &call, false);
		if (error != NULL && (audit_failed() || safe_to_show(error)))
			ReThrowError(error);
		if (error != NULL)
			ereport(ERROR,
					(errcode(error->sqlerrcode),
					 errmsg("could not build %s", name),
					 errdetail("The error is not shown to a role that may not read the view (owned by %s); it is in the server log.",
							   GetUserNameFromId(catalog_relation_owner(relid), false)),
					 errdetail_log("%s", error->message)));
	}
	error_context_stack = context.previous;
	return call.rows;
}

void
matview_check_kind(MatviewDefinition *def, Oid relid)
{
	switch (def->type)
	{
		case MATVIEW_INCREMENTAL:
			incremental_check_key(def->query, def->incremental_key, def->name);
			incremental_check_query(def->query, def->incremental_key, def->name);
			quarantine_check(def);
			break;
		case MATVIEW_MIRROR:
			mirror_check(def, true);
			break;
		case MATVIEW_UNLOAD:
			publication_check(def, relid);
			break;
		case MATVIEW_REGULAR:
			break;
	}
	mirror_refuse_reading_stages(def);
}

bool
matview_makes_query_shape(const MatviewDefinition *def)
{
	return def->type != MATVIEW_UNLOAD || audit_has_expectations(def->options_json);
}

const char *
matview_differential_reason(const MatviewDefinition *def, Oid owner)
{
	return differential_reason(def->bound_query, owner);
}

void
matview_resolve_refresh_mode(MatviewDefinition *def, Oid owner)
{
	char	   *name = quote_qualified_identifier(def->schema_name,
												  matview_relation_name(def->name));
	const char *reason = NULL;

	/* under older SQL there is nowhere to record how a view is refreshed */
	if (!catalog_has_refresh_modes())
		reason = CATALOG_OLD_SQL_FULL_REASON;
	else if (def->type == MATVIEW_REGULAR)
		reason = matview_differential_reason(def, owner);
	definition_resolve_refresh_mode(def, name, reason);
}

Oid
matview_create(Oid owner, Oid nspid, const char *relname,
			   MatviewDefinition *def)
{
	Oid			relid;

	matview_resolve_refresh_mode(def, owner);
	relid = matview_create_relation(owner, def->schema_name, nspid, relname,
									def->type, def->refresh_mode, def->bound_query,
									def->incremental_key, def->options_json);
	/* expectations bound to the new relation's columns */
	audit_bind(def, relid);

	catalog_insert(relid, def);
	dag_set_edges(relid, dag_bound_query_dependencies(def->bound_query, owner));
	dag_record_query_dependencies(relid, def->bound_query, owner);
	matview_populate(relid, def->type, def->options_json);
	return relid;
}

char *
matview_bound_from_rule(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	char	   *bound;

	if (rel->rd_rules == NULL || rel->rd_rules->numLocks != 1)
		elog(ERROR, "materialized view \"%s\" has no single rule",
			 RelationGetRelationName(rel));
	/* a copy: the deparser takes locks by rewriting the tree in place */
	bound = runas_deparse_bound(copyObject(linitial_node(Query, rel->rd_rules->rules[0]->actions)));
	table_close(rel, AccessShareLock);
	return bound;
}

/* an upgrade that binds every view's query says which one failed */
static void
binding_context(void *arg)
{
	errcontext("binding the stored query of managed view %s", (char *) arg);
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
	ErrorContextCallback context = {.callback = binding_context};
	char	   *bound;
	RunAs		ra;

	context.arg = relation_qualified_name(relid);
	context.previous = error_context_stack;
	error_context_stack = &context;
	if (view->type == MATVIEW_REGULAR)
		bound = matview_bound_from_rule(relid);
	else
	{
		runas_begin_owner_session(&ra, catalog_relation_owner(relid));
		bound = runas_bind_query(view->query);
		runas_end(&ra);
	}
	error_context_stack = context.previous;
	PG_RETURN_TEXT_P(cstring_to_text(bound));
}

/* The views this transaction forgot, for matview_forgotten() */
static LocalTransactionId forgotten_lxid = InvalidLocalTransactionId;
static List *forgotten = NIL;	/* in TopTransactionContext */

int
matview_forget_gone(void)
{
	Oid			argtypes[1] = {OIDOID};
	List	   *gone;
	ListCell   *lc;
	int			count = 0;

	/* one query, one snapshot: a view being defined has neither row yet */
	gone = spi_rows_oids(spi_rows(catalog_owner(),
								  "SELECT d.matview::pg_catalog.oid FROM pipeline.matview_definitions d "
								  " WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c "
								  "                    WHERE c.oid = d.matview::pg_catalog.oid)",
								  0, NULL, NULL, NULL, false, -1), 0);
	foreach(lc, gone)
	{
		Oid			relid = lfirst_oid(lc);
		Datum		values[1] = {ObjectIdGetDatum(relid)};
		MemoryContext caller;

		/*
		 * claimed by deleting its row: a session doing the same waits, then
		 * finds none
		 */
		if (spi_rows(catalog_owner(),
					 "DELETE FROM pipeline.matview_definitions WHERE matview = $1::pg_catalog.regclass "
					 "RETURNING 1",
					 1, argtypes, values, NULL, false, -1)->count == 0)
			continue;
		ereport(LOG,
				(errmsg("pipeline forgets managed view %u, whose relation was dropped without it", relid)));
		/* not its capture: stopping that would wait for the sources' writers */
		differential_forget_state(relid);
		catalog_delete(relid);
		if (forgotten_lxid != MyProc->lxid)
		{
			forgotten_lxid = MyProc->lxid;
			forgotten = NIL;
		}
		caller = MemoryContextSwitchTo(TopTransactionContext);
		forgotten = lappend_oid(forgotten, relid);
		MemoryContextSwitchTo(caller);
		count++;
	}
	return count;
}

bool
matview_forgotten(Oid relid)
{
	return forgotten_lxid == MyProc->lxid && list_member_oid(forgotten, relid);
}
