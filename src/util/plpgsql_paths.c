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
 * compares the paths alone.  A function with its own SET search_path is
 * called under that path every time, so its calls never conflict.
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

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
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
	bool		validator;		/* PL/pgSQL's validator */
	bool		definer;		/* SECURITY DEFINER: compare paths alone */
	uint64		checked;		/* the pg_proc generation last compared */
	TransactionId xmin;			/* the pg_proc row the runs compiled from */
	ItemPointerData tid;
	List	   *runs;			/* PathRun, in runs_context */
	PathRun    *last;			/* the run the last call matched or added */
	uint64		validator_calls;	/* validator_generation then */
} FunctionRuns;

static HTAB *functions = NULL;
static MemoryContext runs_context = NULL;

/* PathRuns of PL/pgSQL's validator called from SQL: runs of every function */
static List *validator_runs = NIL;

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
refuse(Oid fn, Oid role, const PathRun *earlier)
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

/* Was run under the current path?  *order: its path_order(), once needed */
static bool
same_path(const PathRun *run, List **order)
{
	if (OverrideSearchPathMatchesCurrent(run->path))
		return true;
	if (*order == NIL)
		*order = current_order();
	return equal(*order, run->order);
}

/*
 * May run have shaped what a call under role with the current path runs?
 * definer: the function is SECURITY DEFINER (role is always its owner).
 */
static bool
conflicts(const PathRun *run, Oid role, bool definer, bool by_pipeline, List **order)
{
	if (!run->by_pipeline && !by_pipeline)
		return false;
	if (run->role == role && !definer)
		return false;
	return !same_path(run, order);
}

/* A new PathRun for role and the current path, in runs_context */
static PathRun *
new_run(Oid role, bool by_pipeline)
{
	PathRun    *run = palloc(sizeof(PathRun));

	run->role = role;
	run->by_pipeline = by_pipeline;
	run->path = GetOverrideSearchPath(runs_context);
	run->order = path_order(run->path);
	return run;
}

/* A call of PL/pgSQL's validator from SQL: a run of every function */
static void
validator_called(Oid role, bool by_pipeline)
{
	ListCell   *lc;
	MemoryContext old;

	validator_generation++;
	foreach(lc, validator_runs)
	{
		PathRun    *earlier = lfirst(lc);

		if (earlier->role == role && OverrideSearchPathMatchesCurrent(earlier->path))
		{
			earlier->by_pipeline |= by_pipeline;
			return;
		}
	}
	old = MemoryContextSwitchTo(runs_context);
	validator_runs = lappend(validator_runs, new_run(role, by_pipeline));
	MemoryContextSwitchTo(old);
}

void
plpgsql_paths_check(Oid fn, bool by_pipeline, bool from_sql, Datum *cache)
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
		{
			entry->runs = NIL;
			entry->last = NULL;
			entry->validator_calls = 0;
		}
		if (cache)
			*cache = PointerGetDatum(entry);
	}
	refresh_entry(entry, found);
	if (entry->validator && from_sql)
		validator_called(role, by_pipeline);
	if (!entry->plpgsql)
		return;
	/* the usual call: as the last one, known to pipeline if need be */
	if (entry->last != NULL && entry->validator_calls == validator_generation &&
		entry->last->role == role &&
		(entry->last->by_pipeline || !by_pipeline) &&
		OverrideSearchPathMatchesCurrent(entry->last->path))
		return;

	foreach(lc, validator_runs)
		if (conflicts(lfirst(lc), role, entry->definer, by_pipeline, &order))
			refuse(fn, role, lfirst(lc));
	foreach(lc, entry->runs)
	{
		PathRun    *earlier = lfirst(lc);

		if (conflicts(earlier, role, entry->definer, by_pipeline, &order))
			refuse(fn, role, earlier);
		if (earlier->role == role && same_path(earlier, &order))
		{
			earlier->by_pipeline |= by_pipeline;
			seen = earlier;
		}
	}
	old = MemoryContextSwitchTo(runs_context);
	if (seen == NULL)
	{
		seen = new_run(role, by_pipeline);
		entry->runs = lappend(entry->runs, seen);
	}
	MemoryContextSwitchTo(old);
	entry->last = seen;
	entry->validator_calls = validator_generation;
	list_free(order);
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
	if (list_member_oid(order, InvalidOid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("pipeline does not run function %s with this session's temporary schema searched before other schemas",
						format_procedure(fn)),
				 errdetail("Its search_path does not end with pg_temp, and the temporary objects of the session pipeline runs it in may be another role's."),
				 errhint("End the function's search_path with pg_temp (ALTER FUNCTION ... SET search_path = ..., pg_temp), or run this in a new session.")));
	list_free(order);
}
