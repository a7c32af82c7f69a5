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
 * What is kept, per function, is every (role, search_path) a call of it
 * ran under in this session since its pg_proc row last changed: each may
 * have compiled a form (another argument type or collation compiles
 * another).  A call is refused when an earlier one ran as another role
 * under another path and pipeline ran either of them.  The role is the one
 * the function runs as: its definer for SECURITY DEFINER, which therefore
 * compares the paths alone.  A function with its own SET search_path runs
 * under that path every time and is never refused.
 *
 * Calls are seen as they start (fmgr_hook), after SECURITY DEFINER and SET
 * took effect, so each is checked under the path it compiles with.  That
 * takes every PL/pgSQL function through PostgreSQL's
 * fmgr_security_definer() (needs_fmgr_hook), at a small cost per call.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "commands/proclang.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "util/plpgsql_paths.h"

/* One (role, search_path) a function ran under */
typedef struct PathRun
{
	Oid			role;
	bool		by_pipeline;	/* inside one of pipeline's runas blocks */
	OverrideSearchPath *path;	/* as set: quick to compare */
	List	   *order;			/* the schemas in the order names are looked
								 * up (path_order()) */
} PathRun;

typedef struct FunctionRuns
{
	Oid			fn;				/* hash key */
	bool		plpgsql;		/* false: not watched */
	bool		definer;		/* SECURITY DEFINER: compare paths alone */
	uint64		checked;		/* the pg_proc generation last compared */
	TransactionId xmin;			/* the pg_proc row the runs compiled from */
	ItemPointerData tid;
	List	   *runs;			/* PathRun, in runs_context */
	PathRun    *last;			/* the run the last call matched or added */
} FunctionRuns;

static HTAB *functions = NULL;
static MemoryContext runs_context = NULL;

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

/* Is the language PL/pgSQL?  (No such language: no.) */
static bool
is_plpgsql(Oid language)
{
	return language == get_language_oid("plpgsql", true) && OidIsValid(language);
}

bool
plpgsql_paths_watch(Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	bool		watch;

	if (!HeapTupleIsValid(tuple))
		return false;
	watch = is_plpgsql(((Form_pg_proc) GETSTRUCT(tuple))->prolang);
	ReleaseSysCache(tuple);
	return watch;
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
			list_free_deep(entry->runs);
		entry->runs = NIL;
		entry->last = NULL;
		entry->plpgsql = is_plpgsql(proc->prolang);
		entry->definer = proc->prosecdef;
		entry->xmin = HeapTupleHeaderGetRawXmin(tuple->t_data);
		entry->tid = tuple->t_self;
	}
	entry->checked = proc_generation;
	ReleaseSysCache(tuple);
}

/* The error for a call under role that an earlier run may have shaped */
static void
refuse(Oid fn, Oid role, const PathRun *earlier)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("pipeline does not run PL/pgSQL function %s as role %s under this search_path",
					format_procedure(fn), GetUserNameFromId(role, false)),
			 errdetail("This session ran it as role %s under another search_path, and PL/pgSQL keeps the types it resolved then for the whole session.",
					   GetUserNameFromId(earlier->role, false)),
			 errhint("Give the function its own search_path (ALTER FUNCTION ... SET search_path = ...), or run this in a new session.")));
}

/*
 * The schemas a type name is looked up in, in order, as far as the order
 * decides: the temporary schema (as InvalidOid: there is one per session)
 * when it comes first, then the rest without it.  Elsewhere it decides
 * nothing a compiled function found (a name found earlier on the path wins)
 * and it appears there once the session makes it (pg_catalog, pg_temp).
 * Two paths spelled apart (pg_catalog named or implied) that look names up
 * alike give the same list.
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

		if (!isTempNamespace(schema))
			order = lappend_oid(order, schema);
		else if (order == NIL)
			order = lappend_oid(order, InvalidOid);
	}
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

void
plpgsql_paths_check(Oid fn, bool by_pipeline, Datum *cache)
{
	FunctionRuns *entry = cache ? (FunctionRuns *) DatumGetPointer(*cache) : NULL;
	bool		found = true;
	Oid			role = GetUserId();
	ListCell   *lc;
	List	   *order = NIL;	/* the current path's, once needed */
	PathRun    *seen = NULL;
	MemoryContext old;

	if (entry == NULL)
	{
		if (functions == NULL)
			init_functions();
		entry = hash_search(functions, &fn, HASH_ENTER, &found);
		if (!found)
			entry->runs = NIL;
		if (cache)
			*cache = PointerGetDatum(entry);
	}
	refresh_entry(entry, found);
	if (!entry->plpgsql)
		return;
	/* the usual call: as the last one, known to pipeline if need be */
	if (entry->last != NULL && entry->last->role == role &&
		(entry->last->by_pipeline || !by_pipeline) &&
		OverrideSearchPathMatchesCurrent(entry->last->path))
		return;

	old = MemoryContextSwitchTo(runs_context);
	foreach(lc, entry->runs)
	{
		PathRun    *earlier = lfirst(lc);
		bool		same_path = OverrideSearchPathMatchesCurrent(earlier->path);

		if (!same_path)
		{
			if (order == NIL)
				order = current_order();
			same_path = equal(order, earlier->order);
		}
		if (same_path && earlier->role == role)
		{
			earlier->by_pipeline |= by_pipeline;
			seen = earlier;
		}
		else if (!same_path && (earlier->role != role || entry->definer) &&
				 (earlier->by_pipeline || by_pipeline))
			refuse(fn, role, earlier);
	}
	if (seen == NULL)
	{
		seen = palloc(sizeof(PathRun));
		seen->role = role;
		seen->by_pipeline = by_pipeline;
		seen->path = GetOverrideSearchPath(runs_context);
		seen->order = path_order(seen->path);
		entry->runs = lappend(entry->runs, seen);
	}
	entry->last = seen;
	list_free(order);
	MemoryContextSwitchTo(old);
}
