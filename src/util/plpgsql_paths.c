/*-------------------------------------------------------------------------
 * plpgsql_paths.c
 *	  Refusing a PL/pgSQL function whose compiled form another role's
 *	  search_path may have shaped, where pipeline runs one role's code in a
 *	  session that ran another's.  See plpgsql_paths.h.
 *
 * PL/pgSQL compiles a function once per session (per argument types,
 * collation and trigger) and resolves its DECLAREd types, %TYPE and
 * %ROWTYPE with the search_path of that first call; it keeps the result
 * until the function's pg_proc row changes, and nothing flushes it.  So in
 * a session where role A called B's function under A's path, a later call
 * as B uses the types A's path found: A's domain CHECK runs as B.
 * PostgreSQL leaves that to a session's own roles; pipeline runs several
 * owners' code in one session (run_due, a refresh worker, the session whose
 * redefinition rebuilds another owner's view), so it must not.
 *
 * What is kept, per function and role, is the search_paths calls of it
 * ran under in this session since its pg_proc row last changed (each may
 * have compiled a form: another argument type or collation compiles
 * another), the first two only: of two distinct paths one differs from any
 * other, and that is all a check asks, so a session that switches among
 * many paths keeps two per role (and that there were more).  A call is
 * refused when an earlier one ran as another role under another path and
 * pipeline ran either of them.  The role is the one the function runs as:
 * its definer for SECURITY DEFINER, which therefore compares the paths
 * alone.  A function with its own SET search_path is called under that
 * path every time, so its calls never conflict.
 *
 * Calls are seen as they start (fmgr_hook), after SECURITY DEFINER and SET
 * took effect, so each is checked under the path it compiles with.  That
 * takes every PL/pgSQL function through PostgreSQL's
 * fmgr_security_definer() (needs_fmgr_hook), at a small cost per call.
 * PL/pgSQL's validator compiles (and keeps) the function it is given too,
 * under the caller's path whatever the function's own SET says: called
 * from SQL (not by CREATE FUNCTION), which function it compiled is not
 * known here, so its (role, path) counts as a run of every one, and no
 * function's last run vouches for a call after it.
 *
 * Apart from compiled forms, a session's temporary schema is the session's,
 * whoever made what is in it: code pipeline runs as an owner in another
 * role's session must not search it before the owner's schemas, so a
 * function entered with its own search_path that does (pg_temp not last)
 * is refused there.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "util/plpgsql_paths.h"

/* A search_path a function ran under */
typedef struct RunPath
{
	OverrideSearchPath *path;	/* as set: quick to compare */
	List	   *order;			/* the schemas in the order names are looked
								 * up (path_order()) */
	bool		by_pipeline;	/* a run inside one of pipeline's runas blocks */
} RunPath;

/*
 * A function's runs as one role in this session: its first two paths, and
 * whether it ran under more (two is enough to tell: of two distinct paths
 * one differs from any other).
 */
typedef struct RoleRuns
{
	Oid			role;
	int			npaths;
	RunPath		paths[2];
	bool		more;			/* ran under other paths too */
	bool		more_by_pipeline;	/* pipeline ran one of those */
} RoleRuns;

typedef struct FunctionRuns
{
	Oid			fn;				/* hash key */
	bool		plpgsql;		/* false: not watched */
	bool		validator;		/* PL/pgSQL's validator */
	bool		definer;		/* SECURITY DEFINER: compare paths alone */
	uint64		checked;		/* the pg_proc generation last compared */
	TransactionId xmin;			/* the pg_proc row the runs compiled from */
	ItemPointerData tid;
	List	   *roles;			/* RoleRuns, in runs_context */
	RoleRuns   *last;			/* the last call's role and path, or NULL */
	int			last_path;
	uint64		validator_calls;	/* validator_generation then */
} FunctionRuns;

static HTAB *functions = NULL;
static MemoryContext runs_context = NULL;

/* RoleRuns of PL/pgSQL's validator called from SQL: runs of every function */
static List *validator_roles = NIL;

/* Bumped by every such call: a function's last run no longer vouches */
static uint64 validator_generation = 0;

/* Bumped by every pg_proc invalidation: entries compare pg_proc again */
static uint64 proc_generation = 1;

static void
proc_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	proc_generation++;
}

static void
init_functions(void)
{
	HASHCTL		ctl;

	runs_context = AllocSetContextCreate(TopMemoryContext, "pipeline PL/pgSQL runs",
										 ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(FunctionRuns);
	ctl.hcxt = runs_context;
	functions = hash_create("pipeline PL/pgSQL runs", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterSyscacheCallback(PROCOID, proc_changed, (Datum) 0);
}

/* PL/pgSQL's language and validator, or InvalidOid (not installed) */
static Oid
plpgsql_language(Oid *validator)
{
	HeapTuple	tuple = SearchSysCache1(LANGNAME, CStringGetDatum("plpgsql"));
	Oid			language = InvalidOid;

	*validator = InvalidOid;
	if (HeapTupleIsValid(tuple))
	{
		Form_pg_language form = (Form_pg_language) GETSTRUCT(tuple);

		language = form->oid;
		*validator = form->lanvalidator;
		ReleaseSysCache(tuple);
	}
	return language;
}

/* Is proc PL/pgSQL's (plpgsql), or its validator (validator)? */
static void
classify(Oid fn, Form_pg_proc proc, bool *plpgsql, bool *validator)
{
	Oid			validator_fn;
	Oid			language = plpgsql_language(&validator_fn);

	*plpgsql = OidIsValid(language) && proc->prolang == language;
	*validator = OidIsValid(validator_fn) && fn == validator_fn;
}

bool
plpgsql_paths_watch(Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	bool		plpgsql;
	bool		validator;

	if (!HeapTupleIsValid(tuple))
		return false;
	classify(fn, (Form_pg_proc) GETSTRUCT(tuple), &plpgsql, &validator);
	ReleaseSysCache(tuple);
	return plpgsql || validator;
}

/* Frees runs (RoleRuns) and what they hold */
static void
free_roles(List *runs)
{
	ListCell   *lc;

	foreach(lc, runs)
	{
		RoleRuns   *r = lfirst(lc);

		for (int i = 0; i < r->npaths; i++)
		{
			list_free(r->paths[i].path->schemas);
			pfree(r->paths[i].path);
			list_free(r->paths[i].order);
		}
		pfree(r);
	}
	list_free(runs);
}

/*
 * Compares the entry with fn's pg_proc row, once per pg_proc change: a new
 * row (CREATE OR REPLACE, ALTER FUNCTION, or a new function that reuses the
 * OID) compiles afresh, so what ran before no longer counts.
 */
static void
refresh_entry(FunctionRuns *entry, bool found)
{
	HeapTuple	tuple;
	Form_pg_proc proc;

	if (found && entry->checked == proc_generation)
		return;
	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(entry->fn));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", entry->fn);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (!found || entry->xmin != HeapTupleHeaderGetRawXmin(tuple->t_data) ||
		!ItemPointerEquals(&entry->tid, &tuple->t_self))
	{
		if (found)
			free_roles(entry->roles);
		entry->roles = NIL;
		entry->last = NULL;
		classify(entry->fn, proc, &entry->plpgsql, &entry->validator);
		entry->definer = proc->prosecdef;
		entry->xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
		entry->tid = tuple->t_self;
	}
	entry->checked = proc_generation;
	ReleaseSysCache(tuple);
}

/* The error for a call under role that an earlier run may have shaped */
static void
refuse(Oid fn, Oid role, const RoleRuns *earlier)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("pipeline does not run PL/pgSQL function %s as role %s under this search_path",
					format_procedure(fn), GetUserNameFromId(role, false)),
			 errdetail("This session ran it (or compiled PL/pgSQL functions) as role %s under another search_path, and PL/pgSQL keeps the types it resolved then for the whole session.",
					   GetUserNameFromId(earlier->role, false)),
			 errhint("Give the function its own search_path ending with pg_temp (ALTER FUNCTION ... SET search_path = ..., pg_temp), or run this in a new session.")));
}

/*
 * The schemas a type name is looked up in, in order, as far as the order
 * decides: the temporary schema as InvalidOid (there is one per session),
 * except in last place, where it decides nothing a compiled function found
 * (a name found earlier wins) and appears once the session makes it
 * ("pg_catalog, pg_temp").  Two paths spelled apart (pg_catalog named or
 * implied) that look names up alike give the same list.
 */
static List *
path_order(OverrideSearchPath *path)
{
	List	   *order = NIL;
	ListCell   *lc;

	if (path->addTemp)
		order = lappend_oid(order, InvalidOid);
	if (path->addCatalog)
		order = lappend_oid(order, PG_CATALOG_NAMESPACE);
	foreach(lc, path->schemas)
	{
		Oid			schema = lfirst_oid(lc);

		order = lappend_oid(order, isTempNamespace(schema) ? InvalidOid : schema);
	}
	if (order != NIL && !OidIsValid(llast_oid(order)))
		order = list_delete_last(order);
	return order;
}

/* path_order() of the current search_path, in the current context */
static List *
current_order(void)
{
	OverrideSearchPath *path = GetOverrideSearchPath(CurrentMemoryContext);
	List	   *order = path_order(path);

	list_free(path->schemas);
	pfree(path);
	return order;
}

/* Is path the current one?  *order: the current path_order(), once needed */
static bool
is_current(const RunPath *path, List **order)
{
	if (OverrideSearchPathMatchesCurrent(path->path))
		return true;
	if (*order == NIL)
		*order = current_order();
	return equal(*order, path->order);
}

/*
 * May the runs r have shaped what a call as role under the current path
 * runs, with pipeline running either?  definer: the function is SECURITY
 * DEFINER (role is always its owner, so only the paths tell).  Of paths
 * beyond the first two only that there were some is kept: one of them may
 * be the current path, and is taken to differ.
 */
static bool
conflicts(const RoleRuns *r, Oid role, bool definer, bool by_pipeline, List **order)
{
	if (r->role == role && !definer)
		return false;
	for (int i = 0; i < r->npaths; i++)
		if ((by_pipeline || r->paths[i].by_pipeline) && !is_current(&r->paths[i], order))
			return true;
	return r->more && (by_pipeline || r->more_by_pipeline);
}

/*
 * Notes a run as role under the current path in *runs (RoleRuns, in
 * runs_context): returns its role's RoleRuns, and in *path which of its
 * paths is the current one (-1: one beyond the first two).
 */
static RoleRuns *
note_run(List **runs, Oid role, bool by_pipeline, List **order, int *path)
{
	RoleRuns   *r = NULL;
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, *runs)
		if (((RoleRuns *) lfirst(lc))->role == role)
			r = lfirst(lc);
	*path = -1;
	for (int i = 0; r != NULL && i < r->npaths && *path < 0; i++)
		if (is_current(&r->paths[i], order))
			*path = i;
	old = MemoryContextSwitchTo(runs_context);
	if (r == NULL)
	{
		r = palloc0(sizeof(RoleRuns));
		r->role = role;
		*runs = lappend(*runs, r);
	}
	if (*path < 0 && r->npaths < 2)
	{
		*path = r->npaths++;
		r->paths[*path].path = GetOverrideSearchPath(runs_context);
		r->paths[*path].order = path_order(r->paths[*path].path);
		r->paths[*path].by_pipeline = false;
	}
	MemoryContextSwitchTo(old);
	if (*path >= 0)
		r->paths[*path].by_pipeline |= by_pipeline;
	else
	{
		r->more = true;
		r->more_by_pipeline |= by_pipeline;
	}
	return r;
}

void
plpgsql_paths_check(Oid fn, bool by_pipeline, bool from_sql, Datum *cache)
{
	FunctionRuns *entry = cache ? (FunctionRuns *) DatumGetPointer(*cache) : NULL;
	bool		found = true;
	Oid			role = GetUserId();
	ListCell   *lc;
	List	   *order = NIL;	/* the current path's, once needed */
	int			path;

	if (entry == NULL)
	{
		if (functions == NULL)
			init_functions();
		entry = hash_search(functions, &fn, HASH_ENTER, &found);
		if (!found)
		{
			entry->roles = NIL;
			entry->last = NULL;
			entry->validator_calls = 0;
		}
		if (cache)
			*cache = PointerGetDatum(entry);
	}
	refresh_entry(entry, found);
	if (entry->validator && from_sql)
	{
		/* a run of every function: none's last run vouches any more */
		validator_generation++;
		(void) note_run(&validator_roles, role, by_pipeline, &order, &path);
	}
	if (!entry->plpgsql)
	{
		list_free(order);
		return;
	}
	/* the usual call: as the last one, known to pipeline if need be */
	if (entry->last != NULL && entry->last_path >= 0 &&
		entry->validator_calls == validator_generation &&
		entry->last->role == role &&
		(entry->last->paths[entry->last_path].by_pipeline || !by_pipeline) &&
		OverrideSearchPathMatchesCurrent(entry->last->paths[entry->last_path].path))
		return;

	foreach(lc, validator_roles)
		if (conflicts(lfirst(lc), role, entry->definer, by_pipeline, &order))
			refuse(fn, role, lfirst(lc));
	foreach(lc, entry->roles)
		if (conflicts(lfirst(lc), role, entry->definer, by_pipeline, &order))
			refuse(fn, role, lfirst(lc));
	entry->last = note_run(&entry->roles, role, by_pipeline, &order, &path);
	entry->last_path = path;
	entry->validator_calls = validator_generation;
	list_free(order);
}

/* plpgsql_paths_refreshing_concurrently()'s view, in its transaction */
static Oid	refreshing_concurrently = InvalidOid;
static LocalTransactionId refreshing_concurrently_lxid = InvalidLocalTransactionId;

void
plpgsql_paths_refreshing_concurrently(Oid matview)
{
	refreshing_concurrently = matview;
	refreshing_concurrently_lxid = MyProc->lxid;
}

/* Whether relid is a table REFRESH ... CONCURRENTLY made for that view. */
static bool
concurrent_refresh_table(Oid relid)
{
	char	   *name;
	char		heap_name[NAMEDATALEN];
	char		diff_name[NAMEDATALEN];

	if (!OidIsValid(refreshing_concurrently) || refreshing_concurrently_lxid != MyProc->lxid)
		return false;
	name = get_rel_name(relid);
	if (name == NULL)
		return false;
	/* as matview.c's make_new_heap() and make_temptable_name_n() name them */
	snprintf(heap_name, sizeof(heap_name), "pg_temp_%u", refreshing_concurrently);
	snprintf(diff_name, sizeof(diff_name), "pg_temp_%u_2", refreshing_concurrently);
	return strcmp(name, heap_name) == 0 || strcmp(name, diff_name) == 0;
}

/*
 * Whether anything is in the namespace: every object made in one depends on
 * it (a table's row type and indexes on the table), so a probe of
 * pg_depend's reference index tells, passing over the tables of a
 * concurrent refresh.
 */
static bool
namespace_holds_objects(Oid nspid)
{
	/*
	 * Known for a command: only DDL, with a command id of its own, adds to a
	 * session's temporary schema (another session's commits cannot)
	 */
	static LocalTransactionId known_lxid = InvalidLocalTransactionId;
	static CommandId known_cid;
	static Oid	known_nspid;
	static Oid	known_refreshing;
	static bool known_found;
	CommandId	cid = GetCurrentCommandId(false);
	Relation	depend;
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (known_lxid == MyProc->lxid && known_cid == cid && known_nspid == nspid &&
		known_refreshing == refreshing_concurrently)
		return known_found;
	depend = table_open(DependRelationId, AccessShareLock);

	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(NamespaceRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(nspid));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 2, keys);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend entry = (Form_pg_depend) GETSTRUCT(tuple);

		found = entry->classid != RelationRelationId || !concurrent_refresh_table(entry->objid);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	known_lxid = MyProc->lxid;
	known_cid = cid;
	known_nspid = nspid;
	known_refreshing = refreshing_concurrently;
	known_found = found;
	return found;
}

void
plpgsql_paths_check_temp(Oid fn)
{
	Oid			temp;
	Oid			temp_toast;
	List	   *order;

	GetTempNamespaceState(&temp, &temp_toast);
	if (!OidIsValid(temp))
		return;
	order = current_order();

	/*
	 * An empty one (REFRESH CONCURRENTLY's tables dropped) has nothing to
	 * find, and user code pipeline runs cannot make temporary objects (a
	 * security-restricted operation)
	 */
	if (list_member_oid(order, InvalidOid) && namespace_holds_objects(temp))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("pipeline does not run function %s with this session's temporary schema searched before other schemas",
						format_procedure(fn)),
				 errdetail("Its search_path does not end with pg_temp, and the temporary objects of the session pipeline runs it in may be another role's."),
				 errhint("End the function's search_path with pg_temp (ALTER FUNCTION ... SET search_path = ..., pg_temp), or run this in a new session.")));
	list_free(order);
}
