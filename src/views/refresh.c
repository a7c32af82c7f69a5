/*-------------------------------------------------------------------------
 * refresh.c
 *	  Refreshing managed views, alone or with their downstream views.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/interval.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/matview.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "portability/instr_time.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "views/audit.h"
#include "views/capture.h"
#include "views/hooks.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "views/differential.h"
#include "views/incremental.h"
#include "util/settings.h"
#include "views/mirror.h"
#include "views/publication.h"
#include "views/refresh.h"
#include "views/swap_refresh.h"
#include "util/lock_set.h"
#include "util/plpgsql_paths.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"

/*
 * A redefinition replaces the relation: an OID from before a wait may be
 * gone.  nspid and relname are the view's from before the wait.
 */
static void
error_if_gone_after_wait(Oid relid, Oid nspid, const char *relname)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("managed view %s was dropped or redefined while the refresh waited for it",
						quote_qualified_identifier(get_namespace_name(nspid), relname)),
				 errhint("Retry the refresh.")));
}

List *
refresh_lock_with_upstreams(Oid relid)
{
	List	   *upstreams = dag_upstreams(relid);

	lock_relations_all_or_nothing(upstreams, AccessShareLock,
								  list_make1_oid(relid), ShareUpdateExclusiveLock);
	return upstreams;
}

/*
 * Whether another process, not an autovacuum, holds a lock on relid in
 * conflict with mode; their transactions are added to *holders.
 */
static bool
locked_by_others(Oid relid, LOCKMODE mode, LockHolders *holders)
{
	LOCKTAG		tag;
	VirtualTransactionId *conflicts;
	int			count;
	bool		locked = false;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	conflicts = GetLockConflicts(&tag, mode, &count);
	for (int i = 0; i < count; i++)
	{
		/* a prepared transaction has no backend */
		PGPROC	   *proc = BackendIdGetProc(conflicts[i].backendId);

		if (proc != NULL && (proc->statusFlags & PROC_IS_AUTOVACUUM))
			continue;
		locked = true;
		lock_holders_add(holders, conflicts[i]);
	}
	return locked;
}

/* Whether index relid is a btree: the pg_class cache, the index not opened */
static bool
is_btree(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		btree;

	if (!HeapTupleIsValid(tuple))
		return false;
	btree = ((Form_pg_class) GETSTRUCT(tuple))->relam == BTREE_AM_OID;
	ReleaseSysCache(tuple);
	return btree;
}

/*
 * Whether rel has an index REFRESH ... CONCURRENTLY can use (a unique,
 * valid, immediate btree, no predicate, no expressions): its relcache
 * entry's index list, each index looked up in the catalog caches, none
 * opened (a view without indexes, the common case, costs no lookup).
 */
static bool
has_usable_unique_index(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		HeapTuple	tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tuple))
			continue;
		index = (Form_pg_index) GETSTRUCT(tuple);
		found = index->indisunique && index->indimmediate && index->indisvalid &&
			heap_attisnull(tuple, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tuple, Anum_pg_index_indexprs, NULL);
		ReleaseSysCache(tuple);
		found = found && is_btree(lfirst_oid(lc));
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

bool
refresh_lock_would_wait(Oid relid, Oid given_up_relid, LOCKMODE given_up_mode,
						LockHolders *holders)
{
	ListCell   *lc;
	bool		locked;

	holders->count = 0;

	/*
	 * the claim's locks; after a run gave one up, that one too (a full
	 * refresh's swap waits for the view's readers, a mirror's stage for its
	 * writers)
	 */
	locked = locked_by_others(relid, ShareUpdateExclusiveLock, holders);
	foreach(lc, dag_upstreams(relid))
		locked |= locked_by_others(lfirst_oid(lc), AccessShareLock, holders);
	if (OidIsValid(given_up_relid))
		locked |= locked_by_others(given_up_relid, given_up_mode, holders);
	return locked;
}

void
refresh_unlock_with_upstreams(Oid relid, List *upstreams)
{
	ListCell   *lc;

	UnlockRelationOid(relid, ShareUpdateExclusiveLock);
	foreach(lc, upstreams)
		UnlockRelationOid(lfirst_oid(lc), AccessShareLock);
}

void
refresh_lock(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	Oid			nspid = get_rel_namespace(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("a managed view was dropped or redefined while the refresh ran"),
				 errdetail("The relation with OID %u no longer exists.", relid),
				 errhint("Retry the refresh.")));
	/* like REFRESH: no lock for someone who may not refresh */
	catalog_require_owner(relid, relname);

	/*
	 * a cascade locked its views first: taken again, it costs no scan (this
	 * very mode: another one, a LOCK TABLE's, came without the upstreams)
	 */
	if (CheckRelationOidLockedByMe(relid, ShareUpdateExclusiveLock, false))
		return;
	(void) refresh_lock_with_upstreams(relid);
	error_if_gone_after_wait(relid, nspid, relname);
}

void
refresh_lock_sources(Oid relid)
{
	ManagedView *view;

	/*
	 * capture and mirrors came with 1.3 and 1.5; a view registered once stays
	 * so: the common case costs one probe
	 */
	if (get_rel_relkind(relid) != RELKIND_RELATION || !catalog_has_refresh_modes() ||
		capture_consumes_any(relid))
		return;
	view = catalog_get(relid);
	if (view == NULL)
		return;					/* gone: refresh_lock() says so */
	differential_lock_sources_to_capture(view);
	mirror_lock_stage(view);
}

/* refresh_lock(), its sources first, for refresh() */
static void
lock_sources_then_view(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname != NULL)
	{
		Oid			nspid = get_rel_namespace(relid);

		catalog_require_owner(relid, relname);
		refresh_lock_sources(relid);
		error_if_gone_after_wait(relid, nspid, relname);
	}
	refresh_lock(relid);
}

/*
 * REFRESH of a materialized view with the owner's own search_path
 * (runas.h); REFRESH itself runs the query as the owner in a
 * security-restricted operation.
 */
static uint64
refresh_as_owner(Oid relid, bool concurrent)
{
	RefreshMatViewStmt *stmt = makeNode(RefreshMatViewStmt);
	QueryCompletion qc;
	RunAs		ra;

	stmt->concurrent = concurrent;
	stmt->skipData = false;
	stmt->relation = makeRangeVar(get_namespace_name(get_rel_namespace(relid)),
								  get_rel_name(relid), -1);
	InitializeQueryCompletion(&qc);
	runas_begin_refresh(&ra, catalog_relation_owner(relid));
	if (concurrent)
		plpgsql_paths_refreshing_concurrently(relid);
	PG_TRY();
	{
		ExecRefreshMatView(stmt, "pipeline refresh", NULL, &qc);
	}
	PG_FINALLY();
	{
		plpgsql_paths_refreshing_concurrently(InvalidOid);
	}
	PG_END_TRY();
	runas_end(&ra);
	return qc.nprocessed;
}

/*
 * A full refresh of a materialized view that readers do not wait for:
 * CONCURRENTLY where REFRESH allows it (a populated view with a usable
 * unique index), else the new rows swapped in (swap_refresh.h).  Either
 * way its expectations are checked before readers can see the new rows.
 */
static uint64
refresh_regular(Oid relid, const char *options_json)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		concurrent = RelationIsPopulated(rel) && has_usable_unique_index(rel);
	uint64		rows;

	table_close(rel, NoLock);
	if (!concurrent)
		return swap_refresh(relid, options_json);
	rows = refresh_as_owner(relid, true);
	audit_check(relid, MATVIEW_REGULAR, options_json, NULL);
	return rows;
}

/* What the last refresh said about how it ran (TopMemoryContext). */
static char *refresh_detail = NULL;

/* The last refresh wrote nothing (refresh_last_unchanged()). */
static bool last_unchanged = false;

/* The last refresh emptied its source (refresh_last_consumed()). */
static bool last_consumed = false;

void
refresh_set_detail(const char *detail)
{
	char	   *copy = detail ? MemoryContextStrdup(TopMemoryContext, detail) : NULL;

	if (refresh_detail)
		pfree(refresh_detail);
	refresh_detail = copy;
}

const char *
refresh_last_detail(void)
{
	return refresh_detail;
}

bool
refresh_last_unchanged(void)
{
	return last_unchanged;
}

bool
refresh_last_consumed(void)
{
	return last_consumed;
}

static bool probe_catalog_table(const char *table, const char *index, Oid key, HeapTuple *row);

/*
 * The options of a definition row ("{}" when it has none, cheaply: no
 * text made of an empty object).
 */
static char *
definition_options(HeapTuple definition, Relation definitions)
{
	bool		isnull;
	Datum		options;
	Jsonb	   *jsonb;

	if (!catalog_has_options())
		return "{}";
	options = heap_getattr(definition, attnameAttNum(definitions, "options", false),
						   RelationGetDescr(definitions), &isnull);
	if (isnull)
		return "{}";
	jsonb = DatumGetJsonbP(options);
	if (JB_ROOT_COUNT(jsonb) == 0)
		return "{}";
	return JsonbToCString(NULL, &jsonb->root, VARSIZE(jsonb));
}

/*
 * A view's stored options, by an index probe: whether a materialized view
 * has expectations costs little.
 */
static char *
stored_options(Oid relid)
{
	HeapTuple	definition;
	Relation	definitions;
	char	   *json;

	if (!probe_catalog_table("matview_definitions", "matview_definitions_pkey", relid, &definition))
		return "{}";
	definitions = table_open(catalog_table("matview_definitions"), AccessShareLock);
	json = definition_options(definition, definitions);
	table_close(definitions, AccessShareLock);
	return json;
}

/*
 * refresh_matview(), with the view's stored options when the caller has
 * them (NULL: looked up when needed).
 */
static uint64
refresh_view(Oid relid, const char *matview_options)
{
	uint64		rows;

	refresh_set_detail(NULL);
	last_unchanged = false;
	last_consumed = false;
	refresh_lock(relid);

	/*
	 * an incremental view is an append-only table, a mirror and a
	 * differential view tables
	 */
	if (get_rel_relkind(relid) == RELKIND_RELATION)
	{
		char	   *detail = NULL;
		char	   *batch_mark = NULL;
		ManagedView *view = catalog_get_required(relid);
		MatviewType type = view->type;
		DiffWritten written = {0};

		if (type == MATVIEW_INCREMENTAL)
		{
			/* a stream's batch is what lies above its mark before the run */
			if (audit_has_expectations(view->options_json))
			{
				int			format_level = incremental_pin_mark_format();

				batch_mark = incremental_read_mark(relid);
				runas_unpin_settings(format_level);
			}
			rows = incremental_refresh(relid, &detail);
		}
		else if (type == MATVIEW_MIRROR)
			rows = mirror_refresh(relid, &detail);
		else if (type == MATVIEW_UNLOAD)
			rows = publication_refresh(relid, &detail);
		else
			rows = differential_refresh(relid, &detail,
										audit_has_expectations(view->options_json) ?
										&written : NULL);
		refresh_set_detail(detail);
		/* an append or an apply counts the rows it wrote */
		last_unchanged = type != MATVIEW_REGULAR && rows == 0;
		/* a mirror without a stream key empties its stage */
		last_consumed = type == MATVIEW_MIRROR && view->incremental_key == NULL;
		/* a publication checks its query before it writes a file */
		if (type == MATVIEW_INCREMENTAL && batch_mark != NULL)
		{
			int			format_level = incremental_pin_mark_format();

			audit_check_batch(relid, type, view->options_json, NULL,
							  view->incremental_key, batch_mark);
			runas_unpin_settings(format_level);
		}
		else if (written.applied)
			audit_check_written(relid, view->options_json, written.places, written.nplaces,
								written.rows);
		else if (type != MATVIEW_UNLOAD)
			audit_check(relid, type, view->options_json, NULL);
		return rows;
	}
	return refresh_regular(relid, matview_options ? matview_options : stored_options(relid));
}

uint64
refresh_matview(Oid relid)
{
	return refresh_view(relid, NULL);
}

uint64
refresh_populate(Oid relid)
{
	return refresh_as_owner(relid, false);
}

/* What refresh() needs to know about a view before it starts. */
typedef struct RefreshTarget
{
	int64		interval_us;
	char	   *options;		/* its stored options, for its audits */
	bool		has_downstream; /* some managed view reads it */
	bool		has_hook;		/* it has an after-refresh hook */
} RefreshTarget;

/*
 * Finds the first row of pipeline's table whose first column, its index's
 * first, is key; copies the row into *row when row is not NULL.
 */
static bool
probe_catalog_table(const char *table, const char *index, Oid key, HeapTuple *row)
{
	CatalogScan probe;
	HeapTuple	tuple;
	bool		found;

	catalog_scan_begin(&probe, table, index, NULL, key);
	tuple = systable_getnext(probe.scan);
	found = HeapTupleIsValid(tuple);
	if (found && row != NULL)
		*row = heap_copytuple(tuple);
	catalog_scan_end(&probe);
	return found;
}

/* Whether some managed view reads relid (an index probe of the edges). */
static bool
has_downstream(Oid relid)
{
	return probe_catalog_table("edges", "edges_upstream_idx", relid, NULL);
}

/*
 * What refresh() needs, from index probes, so refresh() of a single view
 * costs little more than REFRESH itself: no DAG load (whose cost grows with
 * the number of views) unless downstream views must follow, and no hook
 * call unless there is a hook.  False when relid is not a managed view.
 * Needs a transaction.
 */
static bool
lookup_refresh_target(Oid relid, RefreshTarget *target)
{
	HeapTuple	definition;
	Relation	definitions;
	bool		isnull;
	Datum		interval;

	if (!probe_catalog_table("matview_definitions", "matview_definitions_pkey",
							 relid, &definition))
		return false;
	definitions = table_open(catalog_table("matview_definitions"), AccessShareLock);
	interval = heap_getattr(definition,
							attnameAttNum(definitions, "refresh_interval", false),
							RelationGetDescr(definitions), &isnull);
	target->interval_us = interval_usecs(DatumGetIntervalP(interval));
	target->options = definition_options(definition, definitions);
	table_close(definitions, AccessShareLock);
	target->has_downstream = has_downstream(relid);
	target->has_hook = probe_catalog_table("after_refresh_hooks", "after_refresh_hooks_pkey",
										   relid, NULL);
	return true;
}

/*
 * After refresh() under other settings than the view's last run (1.14 on):
 * forgets what that run saw, so that the next run refreshes rather than
 * skips (skip-unchanged compares the settings of the last success,
 * schedule/change_tracking.h) and the view does not keep, unseen, an answer
 * of this session's TimeZone or DateStyle.  One index probe otherwise.
 */
static void
forget_run_under_other_settings(Oid relid)
{
	Oid			tableid = catalog_table("refresh_snapshots");
	AttrNumber	attnum;
	HeapTuple	row;
	Relation	rel;
	Datum		settings;
	bool		isnull;
	bool		same;

	if (!OidIsValid(tableid) ||
		(attnum = get_attnum(tableid, "settings")) == InvalidAttrNumber ||
		!probe_catalog_table("refresh_snapshots", "refresh_snapshots_pkey", relid, &row))
		return;
	rel = table_open(tableid, AccessShareLock);
	settings = heap_getattr(row, attnum, RelationGetDescr(rel), &isnull);
	same = !isnull && strcmp(TextDatumGetCString(settings), runas_answer_settings()) == 0;
	table_close(rel, AccessShareLock);
	if (!same)
	{
		Oid			argtypes[1] = {OIDOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		(void) spi_rows(catalog_owner(), "DELETE FROM pipeline.refresh_snapshots WHERE matview = $1",
						1, argtypes, values, NULL, false, -1);
	}
}

/* error context of refresh(): which view of a cascade (its name, quoted) */
static void
refreshing_error_context(void *arg)
{
	errcontext("refreshing %s", (const char *) arg);
}

PG_FUNCTION_INFO_V1(pipeline_refresh);

/*
 * refresh(matview regclass, cascade boolean)
 *	 RETURNS TABLE(matview regclass, status text, rows bigint, duration interval)
 */
Datum
pipeline_refresh(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	bool		cascade;
	RefreshTarget target;
	int			count;
	Oid		   *views;
	int64	   *intervals_us;
	bool		hooks_checked;
	ErrorContextCallback context = {.callback = refreshing_error_context};
	char	  **names;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("matview must not be null")));
	/* a standby's views follow the primary's; as REFRESH, not read-only */
	PreventCommandDuringRecovery("pipeline.refresh()");
	PreventCommandIfReadOnly("pipeline.refresh()");
	relid = PG_GETARG_OID(0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cascade must not be null")));
	cascade = PG_GETARG_BOOL(1);
	if (!lookup_refresh_target(relid, &target))
		catalog_get_required(relid);	/* raises the error */

	InitMaterializedSRF(fcinfo, 0);
	if (cascade && target.has_downstream)
	{
		Dag		   *dag = dag_load();
		List	   *todo = dag_with_downstream(dag, dag_find(dag, relid));
		StringInfoData others;
		int			left_out = 0;
		ListCell   *lc;

		initStringInfo(&others);
		count = 0;
		views = palloc(sizeof(Oid) * list_length(todo));
		intervals_us = palloc(sizeof(int64) * list_length(todo));
		foreach(lc, todo)
		{
			Oid			view = dag->nodes[lfirst_int(lc)].relid;

			/* one below gone (dropped meanwhile, or unseen): none to refresh */
			if (view != relid && !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
				continue;

			/*
			 * another role's view below: its own schedule refreshes it, as
			 * REFRESH takes only the owner's (the caller's own ones below it
			 * read it as it is)
			 */
			if (view != relid && !pg_class_ownercheck(view, GetUserId()))
			{
				appendStringInfo(&others, "%s%s", left_out++ > 0 ? ", " : "",
								 relation_qualified_name(view));
				continue;
			}
			views[count] = view;
			intervals_us[count++] = dag->nodes[lfirst_int(lc)].interval_us;
		}
		if (left_out > 0)
			ereport(NOTICE,
					(errmsg_plural("refresh() leaves out %d downstream view another role owns: %s",
								   "refresh() leaves out %d downstream views other roles own: %s",
								   left_out, left_out, others.data),
					 errdetail("Only a view's owner may refresh it; the scheduler refreshes them at their labels.")));
		hooks_checked = false;	/* after_refresh_run() looks for each */
	}
	else
	{
		count = 1;
		views = &relid;
		intervals_us = &target.interval_us;
		hooks_checked = true;
	}

	/*
	 * Every view of a cascade first, in DAG order, each after its sources, as
	 * run_due() does one by one: none of them can then be redefined or
	 * dropped under the cascade, and a redefinition that wants one of them
	 * waits without holding any.
	 */
	context.previous = error_context_stack;
	error_context_stack = &context;
	names = palloc(sizeof(char *) * count);
	for (int i = 0; i < count; i++)
	{
		names[i] = get_rel_name(views[i]) ? relation_qualified_name(views[i]) :
			psprintf("the view with OID %u", views[i]); /* dropped meanwhile */
		context.arg = names[i];
		lock_sources_then_view(views[i]);
	}

	for (int i = 0; i < count; i++)
	{
		instr_time	start;
		instr_time	elapsed;
		uint64		rows;
		Interval   *duration = palloc0(sizeof(Interval));
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		context.arg = names[i];
		INSTR_TIME_SET_CURRENT(start);
		rows = refresh_view(views[i], count == 1 ? target.options : NULL);
		forget_run_under_other_settings(views[i]);

		/*
		 * the views reading it, those a cascade leaves out too, must not be
		 * skipped at their labels as if it had not changed
		 */
		if (!refresh_last_unchanged() &&
			(count == 1 ? target.has_downstream : has_downstream(views[i])))
			catalog_record_change(views[i]);
		if (!hooks_checked || target.has_hook)
			after_refresh_run(views[i], time_label_of(intervals_us[i],
													  GetCurrentTransactionStartTimestamp()));
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		duration->time = INSTR_TIME_GET_MICROSEC(elapsed);

		values[0] = ObjectIdGetDatum(views[i]);
		values[1] = CStringGetTextDatum("succeeded");
		values[2] = Int64GetDatum((int64) rows);
		values[3] = IntervalPGetDatum(duration);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	error_context_stack = context.previous;
	return (Datum) 0;
}
