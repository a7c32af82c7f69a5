/*-------------------------------------------------------------------------
 * compile.c
 *	  The compile step: schema-compatibility checks, redefinitions and
 *	  update sets.
 *
 * A change set is one or more new definitions (of existing or new views).
 * Everything it touches -- the changed views and every managed view
 * transitively downstream of them -- is put in one topological order.
 *
 * Checking (never changes anything): inside a subtransaction that is always
 * rolled back, each view of the set is analyzed by PostgreSQL's own parser
 * in that order.  A changed or new view is created WITH NO DATA under its
 * name (the old relation is renamed aside), so what reads it is analyzed
 * against the new shape; a downstream view is recreated the same way only
 * when its own output shape changed, so a change that keeps a view's shape
 * costs one parse analysis per downstream view.  Each view is judged in its
 * own subtransaction so that one failure does not hide the others.
 *
 * A downstream view "breaks" when its stored query no longer analyzes, when
 * one of its output columns would disappear or change type (type or
 * collation; a typmod change such as varchar(10) -> varchar(50) is allowed
 * and propagates), or when an upstream of it breaks.  Changed views only
 * break when their own query does not analyze.
 *
 * Applying: lock every existing view of the set and every other relation
 * the set's queries read (all or nothing, never waiting while holding one),
 * rebuild the set from the catalog as committed by then (READ COMMITTED:
 * a redefinition that waited for another applies on top of it; with a
 * transaction snapshot, a change is SQLSTATE 40001), check, then drop the
 * old relations (deepest first) and create the new ones populated, in
 * order, each as its original owner, restoring indexes, grants and
 * comments, and remapping the catalog rows from the old OID to the new one.
 *
 * Incremental views (append-only tables, incremental.c) take part like any
 * other view, with one difference: their rows are history a query may not
 * be able to reproduce, so a table whose query, key and columns all stay
 * the same is kept as it is, rows and high-water mark included.  Any other
 * change -- a new query or key, new columns through a changed upstream, a
 * switch between regular and incremental -- rebuilds the table from
 * scratch: every row of the query is appended again and the mark restarts
 * from them.  The key must be an ordered output column (a break otherwise).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/analyze.h"
#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "model/definition.h"
#include "model/catalog.h"
#include "compile/compile.h"
#include "model/dag.h"
#include "model/dpl.h"
#include "views/incremental.h"
#include "views/matview.h"
#include "util/settings.h"
#include "util/runas.h"
#include "util/subxact.h"

/* One view of a change set. */
typedef struct PendingView
{
	Oid			relid;			/* existing relation, InvalidOid when new */
	Oid			nspid;
	char	   *schema_name;
	char	   *relname;		/* mv_<name> */
	Oid			owner;			/* DDL for the view runs as this role */
	MatviewDefinition *def;		/* new definition; NULL for a rebuilt view */
	char	   *name;			/* the view's name, without mv_ */
	char	   *query;			/* the query as its user wrote it */
	char	   *bound;			/* its bound form (runas.h): stored for a
								 * rebuilt view, bound in place for a
								 * changed one once its upstreams exist */
	MatviewType type;			/* what it will be */
	char	   *key;			/* its incremental key, or NULL */
	MatviewType old_type;		/* what an existing view is now */
	char	   *old_query;
	char	   *old_key;
	int			dagindex;		/* index in the old DAG, -1 when new */
	List	   *reads;			/* a changed view: relations its query reads */
	List	   *upstream;		/* indexes of pending views it reads */
	List	   *downstream;
	/* the verdict */
	bool		broken;			/* does not analyze, or its shape breaks */
	char	   *detail;
	char	   *dependents;		/* unmanaged objects that block a rebuild */
	bool		keep;			/* an incremental view whose table, rows and
								 * mark stay as they are */
	/* applying */
	Oid			newrelid;
} PendingView;

typedef struct ChangeSet
{
	int			count;
	PendingView *views;			/* in topological order once sorted */
	Dag		   *dag;
	bool		locked;			/* build_and_lock() holds what judging needs */
} ChangeSet;

/* ---------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------
 */

static char *
display_name(PendingView *v)
{
	return quote_qualified_identifier(v->schema_name, v->relname);
}

/* The word DDL uses for an existing managed view's relation. */
static const char *
relation_keyword(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_RELATION ? "TABLE" : "MATERIALIZED VIEW";
}

/*
 * True for an existing incremental view that stays incremental with the
 * same query and key: its table may be kept, rows and mark included, if
 * its columns do not change either.
 */
static bool
incremental_unchanged(PendingView *v)
{
	return OidIsValid(v->relid) &&
		v->old_type == MATVIEW_INCREMENTAL && v->type == MATVIEW_INCREMENTAL &&
		strcmp(v->old_query, v->query) == 0 &&
		v->old_key != NULL && v->key != NULL && strcmp(v->old_key, v->key) == 0;
}

/*
 * How a pending view's query is read: a changed view's new query means what
 * it means to its author now (the caller's search_path, as the caller); a
 * rebuilt view's bound query is read with search_path pinned, as its owner
 * (who rebuilds it), whoever the caller is.  Each reading is bracketed by
 * begin_reading() and end_reading().
 */
static const char *
begin_reading(PendingView *v, RunAs *ra)
{
	if (v->def)
		return v->query;
	runas_begin_internal(ra, v->owner);
	return v->bound;
}

static void
end_reading(PendingView *v, RunAs *ra)
{
	if (!v->def)
		runas_end(ra);
}

/*
 * Parse analysis of a pending view's query (errors are the analyzer's); a
 * changed view is bound from it.
 */
static Query *
analyze_pending(PendingView *v)
{
	RunAs		ra;
	Query	   *query = analyze_one(begin_reading(v, &ra));

	end_reading(v, &ra);
	if (v->def)
		v->bound = runas_deparse_bound(query);
	return query;
}

static bool
rangevar_walker(Node *node, List **rangevars)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeVar))
	{
		*rangevars = lappend(*rangevars, node);
		return false;
	}
	return raw_expression_tree_walker(node, rangevar_walker, rangevars);
}

/* ---------------------------------------------------------------------
 * Building a change set
 * ---------------------------------------------------------------------
 */

static int
pending_by_relid(ChangeSet *cs, Oid relid)
{
	int			i;

	for (i = 0; i < cs->count; i++)
		if (cs->views[i].relid == relid && OidIsValid(relid))
			return i;
	return -1;
}

static void
add_upstream(ChangeSet *cs, int down, int up)
{
	cs->views[down].upstream = list_append_unique_int(cs->views[down].upstream, up);
}

/*
 * The relations a view's query reads directly, found without parse analysis
 * and without taking any lock: its range variables, resolved as the
 * analyzer would resolve them now (a name that resolves to nothing, such as
 * a CTE's, is left out).  With match_new, a name of a view of the set that
 * does not exist yet makes that view an upstream of this one.
 */
static List *
direct_reads(ChangeSet *cs, int index, bool match_new)
{
	PendingView *v = &cs->views[index];
	RunAs		ra;
	List	   *raw = raw_parser(begin_reading(v, &ra), RAW_PARSE_DEFAULT);
	List	   *rangevars = NIL;
	List	   *reads = NIL;
	ListCell   *lc;

	rangevar_walker(linitial_node(RawStmt, raw)->stmt, &rangevars);
	foreach(lc, rangevars)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid;
		int			i;

		if (rv->catalogname != NULL)
			continue;
		/* views of the set that do not exist yet */
		if (match_new)
			for (i = 0; i < cs->count; i++)
			{
				PendingView *other = &cs->views[i];

				if (!OidIsValid(other->relid) &&
					strcmp(other->relname, rv->relname) == 0 &&
					(rv->schemaname == NULL ||
					 strcmp(other->schema_name, rv->schemaname) == 0))
					add_upstream(cs, index, i);
			}
		relid = RangeVarGetRelid(rv, NoLock, true);
		if (OidIsValid(relid))
			reads = list_append_unique_oid(reads, relid);
	}
	end_reading(v, &ra);
	return reads;
}

/*
 * relids and, for every plain view among them, every relation it reads,
 * recursively, as the dependencies of the view's rule record them
 * (pg_depend): the relations a query over relids opens, found without
 * opening or locking any of them.  Materialized views are not expanded
 * (reading one does not read its sources).
 */
static List *
view_closure(List *relids)
{
	MemoryContext caller = CurrentMemoryContext;
	Datum	   *elems;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	List	   *result = NIL;
	ListCell   *lc;
	int			n = 0;
	bool		any_view = false;
	uint64		i;

	foreach(lc, relids)
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_VIEW)
			any_view = true;
	if (!any_view)
		return relids;

	elems = palloc(sizeof(Datum) * list_length(relids));
	foreach(lc, relids)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	SPI_connect();
	runas_spi(InvalidOid, "WITH RECURSIVE r(relid) AS ("
							  "    SELECT pg_catalog.unnest($1) "
							  "  UNION "
							  "    SELECT d.refobjid FROM r "
							  "      JOIN pg_catalog.pg_class c ON c.oid = r.relid AND c.relkind = 'v' "
							  "      JOIN pg_catalog.pg_rewrite w ON w.ev_class = c.oid "
							  "      JOIN pg_catalog.pg_depend d "
							  "        ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
							  "       AND d.objid = w.oid AND d.deptype = 'n' "
							  "       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass "
							  "     WHERE d.refobjid <> r.relid) "
							  "SELECT r.relid FROM r JOIN pg_catalog.pg_class c ON c.oid = r.relid "
							  " WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f') ORDER BY 1",
							  1, argtypes, values, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext spi = MemoryContextSwitchTo(caller);

		result = lappend_oid(result, relid);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return result;
}

/*
 * The pending views a new query reads.  Relations are taken from the raw
 * parse tree (the query cannot be analyzed yet: it may read views of the
 * set that do not exist in their new form, and analyzing it would lock
 * what it reads before the set is locked), resolved like the analyzer
 * would; a plain view counts with everything it reads.  Remembers every
 * relation the query reads in v->reads.
 */
static void
find_new_references(ChangeSet *cs, int index)
{
	PendingView *v = &cs->views[index];
	ListCell   *lc;

	v->reads = view_closure(direct_reads(cs, index, true));
	foreach(lc, v->reads)
	{
		int			i = pending_by_relid(cs, lfirst_oid(lc));

		if (i >= 0)
			add_upstream(cs, index, i);
	}
}

/* Names the cycle among the views Kahn's sort could not place. */
static void
report_cycle(ChangeSet *cs, bool *placed)
{
	int		   *state = palloc0(sizeof(int) * cs->count);	/* 0 new, 1 on path, 2 done */
	int		   *path = palloc(sizeof(int) * (cs->count + 1));
	int			start = -1;
	int			depth = 0;
	int			i;
	StringInfoData cycle;

	/* prefer starting at a changed view */
	for (i = 0; i < cs->count; i++)
		if (!placed[i] && (start < 0 || (cs->views[i].def && !cs->views[start].def)))
			start = i;

	/*
	 * Every unplaced view has an unplaced upstream, so following unplaced
	 * upstreams from start must come back to a view already on the path.
	 */
	path[depth++] = start;
	state[start] = 1;
	for (;;)
	{
		int			cur = path[depth - 1];
		int			next = -1;
		ListCell   *lc;

		foreach(lc, cs->views[cur].upstream)
			if (!placed[lfirst_int(lc)])
			{
				next = lfirst_int(lc);
				break;
			}
		Assert(next >= 0);
		if (state[next] == 1)
		{
			int			from;

			for (from = 0; path[from] != next; from++)
				;
			/* path runs downstream -> upstream; print it the way data flows */
			initStringInfo(&cycle);
			appendStringInfoString(&cycle, display_name(&cs->views[next]));
			for (i = depth - 1; i >= from; i--)
				appendStringInfo(&cycle, " -> %s", display_name(&cs->views[path[i]]));
			break;
		}
		state[next] = 1;
		path[depth++] = next;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("definition of %s would create a cycle",
					display_name(&cs->views[start])),
			 errdetail("Cycle: %s.", cycle.data),
			 errhint("A view may not read, directly or through other views, a view that reads it.")));
}

/* Kahn's sort of the set; ties keep the set's order. */
static void
sort_change_set(ChangeSet *cs)
{
	int		   *pending = palloc0(sizeof(int) * cs->count);
	int		   *order = palloc(sizeof(int) * cs->count);
	bool	   *placed = palloc0(sizeof(bool) * cs->count);
	int		   *newpos = palloc(sizeof(int) * cs->count);
	PendingView *sorted;
	int			n = 0;
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		ListCell   *lc;

		pending[i] = list_length(cs->views[i].upstream);
		foreach(lc, cs->views[i].upstream)
			cs->views[lfirst_int(lc)].downstream =
				lappend_int(cs->views[lfirst_int(lc)].downstream, i);
	}
	for (i = 0; i < cs->count; i++)
		if (pending[i] == 0)
		{
			order[n++] = i;
			placed[i] = true;
		}
	for (i = 0; i < n; i++)
	{
		ListCell   *lc;

		foreach(lc, cs->views[order[i]].downstream)
			if (--pending[lfirst_int(lc)] == 0)
			{
				order[n++] = lfirst_int(lc);
				placed[lfirst_int(lc)] = true;
			}
	}
	if (n < cs->count)
		report_cycle(cs, placed);

	/* renumber so that views[] itself is in order */
	sorted = palloc(sizeof(PendingView) * Max(cs->count, 1));
	for (i = 0; i < cs->count; i++)
		newpos[order[i]] = i;
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &sorted[i];
		ListCell   *lc;
		List	   *up = NIL;
		List	   *down = NIL;

		*v = cs->views[order[i]];
		foreach(lc, v->upstream)
			up = lappend_int(up, newpos[lfirst_int(lc)]);
		foreach(lc, v->downstream)
			down = lappend_int(down, newpos[lfirst_int(lc)]);
		v->upstream = up;
		v->downstream = down;
	}
	cs->views = sorted;
}

/*
 * True when relid has a row in pipeline.matview_definitions as of a new
 * snapshot, whatever the active snapshot sees.
 */
static bool
managed_now(Oid relid)
{
	bool		managed;

	PushActiveSnapshot(GetLatestSnapshot());
	managed = catalog_is_managed(relid);
	PopActiveSnapshot();
	return managed;
}

/*
 * The error for a managed view that changed where this transaction could
 * not see it: view names it (NULL: the set as a whole changed); waited says
 * whether the redefinition had locked the set, so waited for it.
 */
static void
report_changed(const char *view, bool waited)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 view == NULL ?
			 errmsg("managed views changed while the redefinition waited for them") :
			 waited ?
			 errmsg("managed view %s was dropped or redefined while the redefinition waited for it",
					view) :
			 errmsg("managed view %s was dropped or redefined by a concurrent transaction",
					view),
			 IsolationUsesXactSnapshot() ?
			 errdetail("The snapshot of a REPEATABLE READ or SERIALIZABLE transaction cannot see the change.") : 0,
			 errhint("Retry the transaction.")));
}

/*
 * Builds the set a list of definitions touches, sorted; refuses cycles,
 * unknown schemas, unmanaged relations in the way, and an incremental key
 * that does not fit the view's type.
 *
 * The catalog rows are read with the active snapshot, the relations are
 * looked up in the current system catalogs.  When the two disagree because
 * a managed view was dropped or redefined by a transaction the snapshot
 * cannot see, returns NULL with *changed naming the view, or with changed
 * NULL raises SQLSTATE 40001.
 */
static ChangeSet *
build_change_set(List *defs, char **changed)
{
	ChangeSet  *cs = palloc0(sizeof(ChangeSet));
	Dag		   *dag = dag_load();
	bool	   *affected = palloc0(sizeof(bool) * Max(dag->count, 1));
	char	   *stale = NULL;
	ListCell   *lc;
	int			i;

	cs->dag = dag;
	cs->views = palloc0(sizeof(PendingView) * (list_length(defs) + dag->count));

	foreach(lc, defs)
	{
		MatviewDefinition *def = lfirst(lc);
		PendingView *v = &cs->views[cs->count];
		int			j;

		v->schema_name = def->schema_name;
		v->relname = matview_relation_name(def->name);
		v->nspid = get_namespace_oid(def->schema_name, true);
		if (!OidIsValid(v->nspid))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_SCHEMA_NAME),
					 errmsg("schema \"%s\" does not exist", def->schema_name)));
		for (j = 0; j < cs->count; j++)
			if (cs->views[j].nspid == v->nspid &&
				strcmp(cs->views[j].relname, v->relname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("%s is defined twice in one update set", display_name(v))));
		definition_validate_type(def);
		v->def = def;
		v->name = def->name;
		v->query = def->query;
		v->type = def->type;
		v->key = def->incremental_key;
		v->relid = get_relname_relid(v->relname, v->nspid);
		v->dagindex = -1;
		if (OidIsValid(v->relid))
		{
			ManagedView *old;

			v->dagindex = dag_find(dag, v->relid);
			if (v->dagindex < 0)
			{
				/* a view redefined after the snapshot was taken */
				if (managed_now(v->relid))
				{
					stale = display_name(v);
					goto changed;
				}
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_TABLE),
						 errmsg("relation \"%s.%s\" already exists and is not managed by pipeline",
								v->schema_name, v->relname),
						 errhint("Drop or rename it, or choose another view name.")));
			}
			old = catalog_get_required(v->relid);
			v->old_type = old->type;
			v->old_query = old->query;
			v->old_key = old->incremental_key;
			affected[v->dagindex] = true;
			v->owner = catalog_relation_owner(v->relid);
			catalog_require_owner(v->relid, display_name(v));
		}
		else
			v->owner = GetUserId();
		cs->count++;
	}

	/* dag nodes are in topological order: one sweep closes downstream */
	for (i = 0; i < dag->count; i++)
	{
		ListCell   *uc;
		bool		changed = affected[i];
		ManagedView *mv;
		PendingView *v;

		if (!changed)
			foreach(uc, dag->nodes[i].upstream)
				if (affected[lfirst_int(uc)])
					affected[i] = true;
		if (changed || !affected[i])
			continue;
		/* a view dropped or replaced after the snapshot was taken */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(dag->nodes[i].relid)))
		{
			if (managed_now(dag->nodes[i].relid))
				elog(ERROR, "managed view %u has no relation", dag->nodes[i].relid);
			mv = catalog_get_required(dag->nodes[i].relid);
			stale = quote_qualified_identifier(mv->schema_name,
											   matview_relation_name(mv->name));
			goto changed;
		}
		mv = catalog_get_required(dag->nodes[i].relid);
		v = &cs->views[cs->count++];
		v->relid = mv->relid;
		v->nspid = get_rel_namespace(mv->relid);
		v->schema_name = get_namespace_name(v->nspid);
		v->relname = get_rel_name(mv->relid);
		v->owner = catalog_relation_owner(mv->relid);
		v->name = mv->name;
		v->query = v->old_query = mv->query;
		v->bound = mv->bound_query;
		v->type = v->old_type = mv->type;
		v->key = v->old_key = mv->incremental_key;
		v->dagindex = i;
	}

	/* edges: stored ones for rebuilt views, the new query's for changed ones */
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];

		if (v->def)
			find_new_references(cs, i);
		else
		{
			ListCell   *uc;

			foreach(uc, dag->nodes[v->dagindex].upstream)
			{
				int			up = pending_by_relid(cs, dag->nodes[lfirst_int(uc)].relid);

				if (up >= 0)
					add_upstream(cs, i, up);
			}
		}
	}
	sort_change_set(cs);
	return cs;

changed:
	if (changed == NULL)
		report_changed(stale, false);
	*changed = stale;
	return NULL;
}

/*
 * What the compile step locks for a set: every existing view of the set
 * with AccessExclusiveLock, in DAG order (they are dropped and recreated),
 * and every other relation the set's queries read with AccessShareLock, in
 * OID order (they are analyzed and read to populate the views, never
 * changed).  Sources read through plain views count, as do the plain views.
 */
typedef struct LockSet
{
	List	   *exclusive;		/* OIDs, AccessExclusiveLock */
	List	   *shared;			/* OIDs, AccessShareLock */
} LockSet;

static LockSet *
lock_set_for(ChangeSet *cs)
{
	LockSet    *ls = palloc0(sizeof(LockSet));
	List	   *reads = NIL;
	ListCell   *lc;
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];

		if (OidIsValid(v->relid))
			ls->exclusive = lappend_oid(ls->exclusive, v->relid);
		/* a rebuilt view reads what its stored query names */
		reads = list_concat_unique_oid(reads,
									   v->def ? v->reads : direct_reads(cs, i, false));
	}
	foreach(lc, view_closure(reads))
		if (!list_member_oid(ls->exclusive, lfirst_oid(lc)))
			ls->shared = list_append_unique_oid(ls->shared, lfirst_oid(lc));
	list_sort(ls->shared, list_oid_cmp);
	return ls;
}

/* True when every lock need asks for is in held, or a stronger one is. */
static bool
lock_set_covers(LockSet *held, LockSet *need)
{
	ListCell   *lc;

	foreach(lc, need->exclusive)
		if (!list_member_oid(held->exclusive, lfirst_oid(lc)))
			return false;
	foreach(lc, need->shared)
		if (!list_member_oid(held->shared, lfirst_oid(lc)) &&
			!list_member_oid(held->exclusive, lfirst_oid(lc)))
			return false;
	return true;
}

/* The n first locks of ls, exclusive ones first; -1: all of them. */
static void
unlock_set(LockSet *ls, int n)
{
	int			i = 0;
	ListCell   *lc;

	foreach(lc, ls->exclusive)
		if (n < 0 || i++ < n)
			UnlockRelationOid(lfirst_oid(lc), AccessExclusiveLock);
	foreach(lc, ls->shared)
		if (n < 0 || i++ < n)
			UnlockRelationOid(lfirst_oid(lc), AccessShareLock);
}

/*
 * Tries to lock each relation of relids in mode without waiting, counting
 * the locks taken in *taken; at the first busy one stores it in *busy and
 * returns false.
 */
static bool
try_lock_each(List *relids, LOCKMODE mode, int *taken, Oid *busy)
{
	ListCell   *lc;

	foreach(lc, relids)
	{
		if (!ConditionalLockRelationOid(lfirst_oid(lc), mode))
		{
			*busy = lfirst_oid(lc);
			return false;
		}
		(*taken)++;
	}
	return true;
}

/*
 * Takes every lock of ls, all or nothing: when one is busy, every lock
 * taken so far is let go before waiting for it (an ordinary lock wait, so
 * cancel and lock_timeout work), then all are tried again.  A redefinition
 * therefore never waits while holding a view or an upstream a refresh or a
 * run might want next: no deadlock, whatever order they lock in.  (Without
 * the upstreams, a redefinition holding a downstream view would wait to read
 * an upstream a plain REFRESH holds, while the run refreshing it waits for
 * the downstream view.)
 */
static void
lock_all_or_nothing(LockSet *ls)
{
	for (;;)
	{
		int			taken = 0;
		Oid			busy = InvalidOid;
		LOCKMODE	busy_mode;

		CHECK_FOR_INTERRUPTS();
		busy_mode = AccessExclusiveLock;
		if (try_lock_each(ls->exclusive, busy_mode, &taken, &busy))
		{
			busy_mode = AccessShareLock;
			if (try_lock_each(ls->shared, busy_mode, &taken, &busy))
				return;
		}
		unlock_set(ls, taken);
		LockRelationOid(busy, busy_mode);
		UnlockRelationOid(busy, busy_mode);
	}
}

void
compat_lock_all_or_nothing(List *exclusive, List *shared)
{
	LockSet		ls = {exclusive, shared};

	lock_all_or_nothing(&ls);
}

/*
 * How many times build_and_lock() locks a set (or looks again after a race
 * with a commit) before it gives up with SQLSTATE 40001: in READ COMMITTED,
 * once, plus once per change to the set while it waited.
 */
#define MAX_LOCK_ROUNDS 10

/*
 * Builds the set and locks everything it needs (lock_set_for()), then
 * builds it again, now that nobody can change it, and makes sure the locks
 * cover it: a concurrent redefinition replaces the OIDs of what it
 * redefines and rebuilds, so what was locked may be gone after the wait.
 *
 * READ COMMITTED: each build reads the catalog with a new snapshot, taken
 * after the locks, so a redefinition that waited for another one of the
 * same view applies on top of it, as a second UPDATE of a row would: it is
 * judged against and replaces the definition committed meanwhile (version
 * grows again).  If the set changed, its new members are locked (all or
 * nothing again) and it is built once more.
 *
 * REPEATABLE READ, SERIALIZABLE: the transaction's snapshot cannot see what
 * was committed meanwhile, so any change is SQLSTATE 40001.
 *
 * Returns with the snapshot of the last build pushed as the active
 * snapshot (the rest of the compile step reads the catalog with it); the
 * caller pops it once done.
 */
static ChangeSet *
build_and_lock(List *defs)
{
	LockSet    *held = NULL;
	int			rounds = 0;

	for (;;)
	{
		ChangeSet  *cs;
		LockSet    *need = NULL;
		char	   *stale = NULL;

		CHECK_FOR_INTERRUPTS();
		/* what is committed now, in the system catalogs and our snapshot */
		AcceptInvalidationMessages();
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		cs = build_change_set(defs, &stale);
		if (cs != NULL)
		{
			need = lock_set_for(cs);
			if (held != NULL && lock_set_covers(held, need))
			{
				cs->locked = true;
				return cs;
			}
		}
		PopActiveSnapshot();

		if (held != NULL)
			unlock_set(held, -1);
		if (IsolationUsesXactSnapshot() && (cs == NULL || held != NULL))
			report_changed(stale, held != NULL);
		if (++rounds > MAX_LOCK_ROUNDS)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("managed views changed while the redefinition waited for them"),
					 errhint("Retry the redefinition.")));
		held = NULL;
		if (cs == NULL)
			continue;			/* a commit raced our snapshot: look again */
		lock_all_or_nothing(need);
		held = need;
	}
}

/* ---------------------------------------------------------------------
 * Checking
 * ---------------------------------------------------------------------
 */

/*
 * Compares an existing relation's columns with an analyzed query's output.
 * Sets *same when a relation created from the query would look identical
 * to readers; returns a description of any break (a column gone or of
 * another type or collation), or NULL.
 */
static char *
compare_shape(Oid relid, Query *query, bool *same)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *tles = NIL;
	ListCell   *lc;
	StringInfoData breaks;
	int			live = 0;
	int			i;

	initStringInfo(&breaks);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!tle->resjunk)
			tles = lappend(tles, tle);
	}
	*same = true;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		TargetEntry *tle = NULL;
		TargetEntry *at;

		if (att->attisdropped)
			continue;
		at = live < list_length(tles) ? list_nth_node(TargetEntry, tles, live) : NULL;
		live++;
		foreach(lc, tles)
		{
			TargetEntry *t = lfirst(lc);

			if (t->resname && strcmp(t->resname, NameStr(att->attname)) == 0)
			{
				tle = t;
				break;
			}
		}
		if (tle == NULL)
		{
			*same = false;
			appendStringInfo(&breaks, "%scolumn %s would disappear",
							 breaks.len ? "; " : "", quote_identifier(NameStr(att->attname)));
			continue;
		}
		if (tle != at || exprTypmod((Node *) tle->expr) != att->atttypmod)
			*same = false;
		if (exprType((Node *) tle->expr) != att->atttypid ||
			exprCollation((Node *) tle->expr) != att->attcollation)
		{
			*same = false;
			if (exprType((Node *) tle->expr) != att->atttypid)
				appendStringInfo(&breaks, "%scolumn %s would change type from %s to %s",
								 breaks.len ? "; " : "", quote_identifier(NameStr(att->attname)),
								 format_type_be(att->atttypid),
								 format_type_be(exprType((Node *) tle->expr)));
			else
				appendStringInfo(&breaks, "%scolumn %s would change collation",
								 breaks.len ? "; " : "", quote_identifier(NameStr(att->attname)));
		}
	}
	if (live != list_length(tles))
		*same = false;
	relation_close(rel, AccessShareLock);
	return breaks.len ? breaks.data : NULL;
}

/* An incremental view's key, checked against its query as it is read. */
static void
check_key(PendingView *v)
{
	RunAs		ra;

	incremental_check_key(begin_reading(v, &ra), v->key, v->name);
	end_reading(v, &ra);
}

/*
 * Judges one view inside the check's subtransaction: analyzes its query
 * and, when readers would see a new shape, puts the new shape in place.
 */
static void
judge_view(PendingView *v)
{
	Query	   *query = analyze_pending(v);
	bool		same = false;

	if (!v->def || incremental_unchanged(v))
	{
		char	   *breaks = compare_shape(v->relid, query, &same);

		/* a changed view's own columns are its readers' concern */
		if (breaks && !v->def)
		{
			v->broken = true;
			v->detail = breaks;
		}
	}
	if (v->type == MATVIEW_INCREMENTAL && !v->broken)
		check_key(v);
	if (v->type == MATVIEW_INCREMENTAL && v->def && !v->broken)
		incremental_check_query(v->query, v->key, v->name);
	if (same)
	{
		v->keep = v->type == MATVIEW_INCREMENTAL;
		return;
	}
	if (OidIsValid(v->relid))
		runas_ddl(v->owner, psprintf("ALTER %s %s RENAME TO %s",
									  relation_keyword(v->relid), display_name(v),
									  quote_identifier(psprintf("pipeline_old_%u", v->relid))));
	(void) matview_create_relation(v->owner, v->schema_name, v->nspid, v->relname,
								   v->type, v->bound, v->key);
}

/* Marks the views that unmanaged objects (plain views, ...) depend on. */
static void
find_unmanaged_dependents(ChangeSet *cs)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(cs->count, 1));
	int			n = 0;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	MemoryContext caller = CurrentMemoryContext;
	int			i;

	for (i = 0; i < cs->count; i++)
		if (OidIsValid(cs->views[i].relid))
			elems[n++] = ObjectIdGetDatum(cs->views[i].relid);
	if (n == 0)
		return;
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
	SPI_connect();
	runas_spi(InvalidOid, "SELECT DISTINCT d.refobjid, "
							  "       CASE WHEN r.ev_class IS NOT NULL "
							  "            THEN CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END "
							  "                 || r.ev_class::regclass::text "
							  "            ELSE pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) END "
							  "  FROM pg_catalog.pg_depend d "
							  "  LEFT JOIN pg_catalog.pg_rewrite r "
							  "         ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid "
							  "  LEFT JOIN pg_catalog.pg_class c ON c.oid = r.ev_class "
							  " WHERE d.refclassid = 'pg_catalog.pg_class'::regclass "
							  "   AND d.refobjid = ANY ($1) AND d.deptype = 'n' "
							  "   AND (r.ev_class IS NULL OR r.ev_class <> ALL ($1)) "
							  " ORDER BY 1, 2",
							  1, argtypes, values, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < (int) SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		char	   *what = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		PendingView *v = &cs->views[pending_by_relid(cs, relid)];
		MemoryContext spi = MemoryContextSwitchTo(caller);

		v->dependents = v->dependents
			? psprintf("%s, %s", v->dependents, what)
			: pstrdup(what);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
}

static bool
is_broken(PendingView *v)
{
	return v->broken || v->dependents != NULL;
}

static char *
verdict_detail(PendingView *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (v->def && !OidIsValid(v->relid))
		appendStringInfo(&buf, "new view %s", display_name(v));
	if (v->detail)
		appendStringInfo(&buf, "%s%s", buf.len ? ": " : "", v->detail);
	if (v->dependents)
		appendStringInfo(&buf, "%s%s depends on it and is not managed by pipeline",
						 buf.len ? "; " : "", v->dependents);
	return buf.len ? buf.data : NULL;
}

/* judge_view() for subxact_try() */
static void
judge_view_try(void *arg)
{
	judge_view((PendingView *) arg);
}

static void judge_change_set(ChangeSet *cs);

/*
 * Judges every view of the set, filling in the verdicts.  Changes nothing:
 * the work happens in a subtransaction that is rolled back.  Needs to be
 * called in a memory context that outlives it.
 */
static void
check_change_set(ChangeSet *cs)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	int			i;

	find_unmanaged_dependents(cs);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		judge_change_set(cs);
	}
	PG_CATCH();
	{
		/* a lock error or a cancel: never leave the subtransaction open */
		ErrorData  *error;

		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		ReThrowError(error);
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;

	/* a table that is kept does not get in the way of what reads it */
	for (i = 0; i < cs->count; i++)
		if (cs->views[i].keep)
			cs->views[i].dependents = NULL;
}

/*
 * check_change_set()'s work inside its subtransaction, which is always
 * rolled back.
 */
static void
judge_change_set(ChangeSet *cs)
{
	int			i;

	/*
	 * Judging renames and recreates views: a check takes every lock that
	 * needs at once, all or nothing, as a redefinition did already, so it
	 * never waits for an upstream a run holds while holding a view the run
	 * wants next.  The subtransaction's rollback lets them go again.
	 */
	if (!cs->locked)
		lock_all_or_nothing(lock_set_for(cs));
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];
		ListCell   *lc;
		ErrorData  *error;

		CHECK_FOR_INTERRUPTS();
		foreach(lc, v->upstream)
		{
			PendingView *up = &cs->views[lfirst_int(lc)];

			if (up->broken)
			{
				v->broken = true;
				v->detail = psprintf("upstream %s breaks", display_name(up));
				break;
			}
		}
		if (v->broken)
			continue;

		error = subxact_try(judge_view_try, v, false);
		if (error != NULL)
		{
			v->broken = true;
			v->detail = error->message;
		}
	}
}

/* Raises the error that lists every break, if there is one. */
static void
refuse_breaks(ChangeSet *cs, const char *changed)
{
	StringInfoData detail;
	int			broken = 0;
	int			i;

	initStringInfo(&detail);
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];

		if (!is_broken(v))
			continue;
		broken++;
		appendStringInfo(&detail, "%s%s: %s", detail.len ? "\n" : "",
						 display_name(v), verdict_detail(v));
	}
	if (broken == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 changed ?
			 errmsg("redefining %s would break %d managed view(s)", changed, broken) :
			 errmsg("the staged update set would break %d managed view(s)", broken),
			 errdetail_internal("%s", detail.data),
			 errhint("Stage the change together with fixes for the broken views with pipeline.stage() and apply them with pipeline.apply_staged(); pipeline.check_staged() judges them as a whole.")));
}

/* ---------------------------------------------------------------------
 * Applying
 * ---------------------------------------------------------------------
 */

/* What a rebuilt view keeps from its predecessor. */
typedef struct SavedView
{
	List	   *indexdefs;		/* CREATE INDEX statements */
	List	   *grants;			/* GrantEntry */
	char	   *comment;
	List	   *column_comments;	/* pairs: name, comment */
} SavedView;

typedef struct GrantEntry
{
	Oid			grantor;
	Oid			grantee;		/* InvalidOid: PUBLIC */
	char	   *privilege;
	bool		grantable;
} GrantEntry;

static SavedView *
save_view(PendingView *v)
{
	SavedView  *saved = palloc0(sizeof(SavedView));
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(v->relid)};
	Oid			indexargtypes[2] = {OIDOID, TEXTOID};
	Datum		indexvalues[2];
	char		indexnulls[2] = "  ";
	uint64		i;

	/*
	 * Not the index an incremental table gets on its key: the new relation
	 * gets its own if it is incremental (perhaps on another key).
	 */
	indexvalues[0] = ObjectIdGetDatum(v->relid);
	if (v->old_type == MATVIEW_INCREMENTAL)
		indexvalues[1] = CStringGetTextDatum(v->old_key);
	else
		indexnulls[1] = 'n';
	SPI_connect();
	runas_spi(InvalidOid, "SELECT pg_catalog.pg_get_indexdef(i.indexrelid) FROM pg_catalog.pg_index i "
							  " WHERE i.indrelid = $1 "
							  "   AND ($2 IS NOT NULL AND i.indnatts = 1 AND NOT i.indisunique "
							  "        AND i.indexprs IS NULL AND i.indpred IS NULL "
							  "        AND i.indkey[0] = (SELECT a.attnum FROM pg_catalog.pg_attribute a "
							  "                            WHERE a.attrelid = $1 AND a.attname = $2) "
							  "        AND (SELECT c.relam FROM pg_catalog.pg_class c WHERE c.oid = i.indexrelid) "
							  "            = (SELECT am.oid FROM pg_catalog.pg_am am WHERE am.amname = 'btree')) "
							  "       IS NOT TRUE "
							  " ORDER BY i.indexrelid",
							  2, indexargtypes, indexvalues, indexnulls, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *def = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		saved->indexdefs = lappend(saved->indexdefs, pstrdup(def));
		MemoryContextSwitchTo(spi);
	}

	/* the owner's own grants first, so grant options exist before use */
	runas_spi(InvalidOid, "SELECT a.grantor, a.grantee, a.privilege_type, a.is_grantable "
							  "  FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a "
							  " WHERE c.oid = $1 AND NOT (a.grantee = c.relowner AND a.grantor = c.relowner) "
							  " ORDER BY a.grantor <> c.relowner, a.grantor, a.grantee, a.privilege_type",
							  1, argtypes, values, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		GrantEntry *g = MemoryContextAlloc(caller, sizeof(GrantEntry));
		MemoryContext spi;

		g->grantor = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		g->grantee = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		g->privilege = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 3));
		g->grantable = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		spi = MemoryContextSwitchTo(caller);
		saved->grants = lappend(saved->grants, g);
		MemoryContextSwitchTo(spi);
	}

	runas_spi(InvalidOid, "SELECT a.attname::text, d.description, d.objsubid "
							  "  FROM pg_catalog.pg_description d "
							  "  LEFT JOIN pg_catalog.pg_attribute a "
							  "         ON a.attrelid = d.objoid AND a.attnum = d.objsubid "
							  " WHERE d.classoid = 'pg_catalog.pg_class'::regclass AND d.objoid = $1 "
							  " ORDER BY d.objsubid",
							  1, argtypes, values, NULL, true, 0, SPI_OK_SELECT);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *column = SPI_getvalue(tup, desc, 1);
		char	   *comment = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 2));

		MemoryContext spi = MemoryContextSwitchTo(caller);

		if (column == NULL)
			saved->comment = comment;
		else
			saved->column_comments = lappend(lappend(saved->column_comments,
													 pstrdup(column)),
											 comment);
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	return saved;
}

static void
restore_view(PendingView *v, SavedView *saved)
{
	char	   *qname = display_name(v);
	ListCell   *lc;

	foreach(lc, saved->indexdefs)
		runas_ddl(v->owner, lfirst(lc));
	if (saved->comment)
		runas_ddl(v->owner, psprintf("COMMENT ON %s %s IS %s", relation_keyword(v->newrelid),
									  qname, quote_literal_cstr(saved->comment)));
	for (int i = 0; i + 1 < list_length(saved->column_comments); i += 2)
	{
		char	   *column = list_nth(saved->column_comments, i);

		/* a changed view may have dropped the column */
		if (get_attnum(v->newrelid, column) == InvalidAttrNumber)
			continue;
		runas_ddl(v->owner, psprintf("COMMENT ON COLUMN %s.%s IS %s", qname,
									  quote_identifier(column),
									  quote_literal_cstr(list_nth(saved->column_comments, i + 1))));
	}
	foreach(lc, saved->grants)
	{
		GrantEntry *g = lfirst(lc);

		runas_ddl(g->grantor,
				   psprintf("GRANT %s ON %s TO %s%s", g->privilege, qname,
							OidIsValid(g->grantee) ?
							quote_identifier(GetUserNameFromId(g->grantee, false)) : "PUBLIC",
							g->grantable ? " WITH GRANT OPTION" : ""));
	}
}

/* "WITH u1 AS (UPDATE ...), ... SELECT" over every regclass column. */
static char *
remap_statement(void)
{
	StringInfoData sql;
	StringInfoData sets;
	StringInfoData where;
	char	   *table = NULL;
	int			n = 0;
	uint64		i;
	MemoryContext caller = CurrentMemoryContext;
	char	   *result;

	SPI_connect();
	runas_spi(InvalidOid, "SELECT quote_ident(c.relname), quote_ident(a.attname) "
					"  FROM pg_catalog.pg_attribute a "
					"  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
					" WHERE c.relnamespace = '" PIPELINE_SCHEMA "'::regnamespace "
					"   AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
					"   AND a.atttypid = 'pg_catalog.regclass'::regtype "
					"   AND a.attnum > 0 AND NOT a.attisdropped "
					" ORDER BY 1, 2", 0, NULL, NULL, NULL, true, 0, SPI_OK_SELECT);
	initStringInfo(&sql);
	initStringInfo(&sets);
	initStringInfo(&where);
	for (i = 0; i <= SPI_processed; i++)
	{
		char	   *t = i < SPI_processed ? SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1) : NULL;
		char	   *col;

		if (table && (t == NULL || strcmp(t, table) != 0))
		{
			/* one UPDATE per table, so no row is updated twice */
			appendStringInfo(&sql, "%su%d AS (UPDATE %s.%s SET %s WHERE %s)",
							 n ? ", " : "WITH ", n, PIPELINE_SCHEMA, table, sets.data, where.data);
			n++;
			resetStringInfo(&sets);
			resetStringInfo(&where);
		}
		if (t == NULL)
			break;
		table = t;
		col = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		appendStringInfo(&sets, "%s%s = CASE WHEN %s = $1 THEN $2 ELSE %s END",
						 sets.len ? ", " : "", col, col, col);
		appendStringInfo(&where, "%s%s = $1", where.len ? " OR " : "", col);
	}
	appendStringInfoString(&sql, " SELECT 1");
	result = MemoryContextStrdup(caller, sql.data);
	SPI_finish();
	return result;
}

static void
remap_with(const char *statement, Oid oldrelid, Oid newrelid)
{
	Oid			argtypes[2] = {REGCLASSOID, REGCLASSOID};
	Datum		values[2] = {ObjectIdGetDatum(oldrelid), ObjectIdGetDatum(newrelid)};

	SPI_connect();
	catalog_exec_as_owner(statement, 2, argtypes, values, NULL);
	SPI_finish();
}

void
compat_remap_relation(Oid oldrelid, Oid newrelid)
{
	remap_with(remap_statement(), oldrelid, newrelid);
}

/* Records a changed view's new definition and bumps its version. */
static void
record_redefinition(Oid relid, MatviewDefinition *def)
{
	Oid			argtypes[7] = {OIDOID, TEXTOID, TEXTOID, INTERVALOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = "       ";
	Interval   *interval = palloc(sizeof(Interval));

	*interval = def->interval;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(def->query);
	values[2] = CStringGetTextDatum(matview_type_name(def->type));
	values[3] = IntervalPGetDatum(interval);
	if (def->incremental_key)
		values[4] = CStringGetTextDatum(def->incremental_key);
	else
		nulls[4] = 'n';
	if (def->datacoral_version)
		values[5] = CStringGetTextDatum(def->datacoral_version);
	else
		nulls[5] = 'n';
	values[6] = CStringGetTextDatum(def->bound_query);
	SPI_connect();
	catalog_exec_as_owner(catalog_binds_queries() ?
						  "UPDATE pipeline.matview_definitions "
						  "   SET query = $2, matview_type = $3, refresh_interval = $4, "
						  "       incremental_key = $5, datacoral_version = $6, "
						  "       bound_query = $7, version = version + 1, updated_at = now() "
						  " WHERE matview = $1::regclass" :
						  "UPDATE pipeline.matview_definitions "
						  "   SET query = $2, matview_type = $3, refresh_interval = $4, "
						  "       incremental_key = $5, datacoral_version = $6, "
						  "       version = version + 1, updated_at = now() "
						  " WHERE matview = $1::regclass",
						  7, argtypes, values, nulls);
	SPI_finish();
}

/*
 * Replaces every view of a checked, locked set.  Returns the actions, one
 * per view in order, as "created", "redefined" or "rebuilt".
 */
static void
apply_change_set(ChangeSet *cs)
{
	SavedView **saved = palloc0(sizeof(SavedView *) * Max(cs->count, 1));
	char	   *remap = remap_statement();
	int		   *bydag = palloc(sizeof(int) * Max(cs->dag->count, 1));
	int			i;

	for (i = 0; i < cs->dag->count; i++)
		bydag[i] = -1;
	for (i = 0; i < cs->count; i++)
		if (OidIsValid(cs->views[i].relid) && !cs->views[i].keep)
		{
			saved[i] = save_view(&cs->views[i]);
			bydag[cs->views[i].dagindex] = i;
		}

	/* the old relations depend on each other as the old DAG says */
	for (i = cs->dag->count - 1; i >= 0; i--)
	{
		PendingView *v;

		if (bydag[i] < 0)
			continue;
		v = &cs->views[bydag[i]];
		runas_ddl(v->owner, psprintf("DROP %s %s", relation_keyword(v->relid), display_name(v)));
	}

	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];
		List	   *upstream;

		CHECK_FOR_INTERRUPTS();
		/* bound against its upstreams as they now are */
		if (v->def)
		{
			(void) analyze_pending(v);
			v->def->bound_query = v->bound;
		}
		if (v->keep)
		{
			/* an incremental table that stays: rows and mark included */
			v->newrelid = v->relid;
			if (v->def)
				record_redefinition(v->relid, v->def);
			catalog_set_edges(v->relid, dag_bound_query_dependencies(v->bound, v->owner));
			continue;
		}
		v->newrelid = matview_create_relation(v->owner, v->schema_name, v->nspid,
											  v->relname, v->type, v->bound, v->key);
		if (saved[i])
			restore_view(v, saved[i]);

		if (!OidIsValid(v->relid))
			catalog_insert(v->newrelid, v->def);
		else
		{
			remap_with(remap, v->relid, v->newrelid);
			if (v->def)
				record_redefinition(v->newrelid, v->def);
		}
		upstream = dag_bound_query_dependencies(v->bound, v->owner);
		catalog_set_edges(v->newrelid, upstream);

		/* a new table starts from scratch: every row, a new mark */
		matview_populate(v->newrelid, v->type);
		if (v->type == MATVIEW_REGULAR && OidIsValid(v->relid) &&
			v->old_type == MATVIEW_INCREMENTAL)
			incremental_forget_mark(v->newrelid);
	}
}

static const char *
action_name(PendingView *v)
{
	if (!v->def)
		return "rebuilt";
	return OidIsValid(v->relid) ? "redefined" : "created";
}

Oid
compat_redefine(MatviewDefinition *def)
{
	ChangeSet  *cs = build_and_lock(list_make1(def));
	Oid			newrelid = InvalidOid;
	int			i;

	/* the view's own errors, as the analyzer words them, with a position */
	dag_query_dependencies(def->query);
	if (def->type == MATVIEW_INCREMENTAL)
		incremental_check_key(def->query, def->incremental_key, def->name);
	if (def->type == MATVIEW_INCREMENTAL)
		incremental_check_query(def->query, def->incremental_key, def->name);
	check_change_set(cs);
	refuse_breaks(cs, display_name(&cs->views[0]));
	apply_change_set(cs);
	/* build_and_lock()'s snapshot */
	PopActiveSnapshot();
	for (i = 0; i < cs->count; i++)
		if (cs->views[i].def == def)
			newrelid = cs->views[i].newrelid;
	if (!OidIsValid(newrelid))
		elog(ERROR, "redefined view is missing from its change set");
	return newrelid;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

static void
return_verdicts(FunctionCallInfo fcinfo, ChangeSet *cs)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		char	   *detail = verdict_detail(v);

		values[0] = ObjectIdGetDatum(v->relid);
		nulls[0] = !OidIsValid(v->relid);
		values[1] = CStringGetTextDatum(is_broken(v) ? "breaks" : "ok");
		if (detail)
			values[2] = CStringGetTextDatum(detail);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

static void
check_definitions(FunctionCallInfo fcinfo, List *defs)
{
	ChangeSet  *cs;

	InitMaterializedSRF(fcinfo, 0);
	cs = build_change_set(defs, NULL);
	check_change_set(cs);
	return_verdicts(fcinfo, cs);
}

PG_FUNCTION_INFO_V1(pipeline_check_dpl);

/* check(dpl text) RETURNS TABLE(matview regclass, status text, detail text) */
Datum
pipeline_check_dpl(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("DPL document must not be null")));
	check_definitions(fcinfo, list_make1(dpl_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_check_query);

/*
 * check(matview regclass, new_query text)
 *	 RETURNS TABLE(matview regclass, status text, detail text)
 */
Datum
pipeline_check_query(PG_FUNCTION_ARGS)
{
	ManagedView *mv;
	MatviewDefinition *def = palloc0(sizeof(MatviewDefinition));

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("matview and new_query must not be null")));
	mv = catalog_get_required(PG_GETARG_OID(0));
	def->schema_name = mv->schema_name;
	def->name = mv->name;
	def->type = mv->type;
	def->incremental_key = mv->incremental_key;
	def->interval_us = mv->interval_us;
	def->interval.time = mv->interval_us;
	def->query = dpl_normalize_query(text_to_cstring(PG_GETARG_TEXT_PP(1)), "new_query");
	check_definitions(fcinfo, list_make1(def));
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Update sets
 * ---------------------------------------------------------------------
 */

/* The current user's staged definitions, parsed, in staging order. */
static List *
staged_definitions(void)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(GetUserId())};
	List	   *docs = NIL;
	List	   *defs = NIL;
	ListCell   *lc;
	uint64		i;

	SPI_connect();
	/* the table is the catalog owner's; each user reads only their own rows */
	catalog_exec_as_owner("SELECT dpl FROM pipeline.staged_changes WHERE staged_by = $1 "
						  " ORDER BY staged_at, schema_name, name",
						  1, argtypes, values, NULL);
	for (i = 0; i < SPI_processed; i++)
	{
		char	   *dpl = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext spi = MemoryContextSwitchTo(caller);

		docs = lappend(docs, pstrdup(dpl));
		MemoryContextSwitchTo(spi);
	}
	SPI_finish();
	foreach(lc, docs)
		defs = lappend(defs, dpl_parse(lfirst(lc)));
	return defs;
}

static void
delete_staged(void)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(GetUserId())};

	SPI_connect();
	catalog_exec_as_owner("DELETE FROM pipeline.staged_changes WHERE staged_by = $1",
						  1, argtypes, values, NULL);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(pipeline_stage);

/* stage(dpl text) RETURNS void */
Datum
pipeline_stage(PG_FUNCTION_ARGS)
{
	MatviewDefinition *def;
	Oid			argtypes[5] = {OIDOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char	   *dpl;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("DPL document must not be null")));
	dpl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	def = dpl_parse(dpl);
	definition_validate_type(def);
	if (strlen(matview_relation_name(def->name)) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("view name \"%s\" is too long", def->name)));

	values[0] = ObjectIdGetDatum(GetUserId());
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(def->schema_name));
	values[2] = CStringGetTextDatum(def->name);
	values[3] = CStringGetTextDatum(dpl);
	values[4] = CStringGetTextDatum(def->query);
	SPI_connect();
	catalog_exec_as_owner("INSERT INTO pipeline.staged_changes "
						  "       (staged_by, schema_name, name, dpl, query) "
						  "VALUES ($1, $2, $3, $4, $5) "
						  "ON CONFLICT (staged_by, schema_name, name) DO UPDATE "
						  "   SET dpl = EXCLUDED.dpl, query = EXCLUDED.query, "
						  "       staged_at = clock_timestamp()",
						  5, argtypes, values, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pipeline_check_staged);

/* check_staged() RETURNS TABLE(matview regclass, status text, detail text) */
Datum
pipeline_check_staged(PG_FUNCTION_ARGS)
{
	check_definitions(fcinfo, staged_definitions());
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_apply_staged);

/* apply_staged() RETURNS TABLE(matview regclass, action text) */
Datum
pipeline_apply_staged(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *defs;
	ChangeSet  *cs;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	defs = staged_definitions();
	if (defs == NIL)
		return (Datum) 0;
	cs = build_and_lock(defs);
	check_change_set(cs);
	refuse_breaks(cs, NULL);
	apply_change_set(cs);
	/* build_and_lock()'s snapshot */
	PopActiveSnapshot();
	delete_staged();
	for (i = 0; i < cs->count; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = ObjectIdGetDatum(cs->views[i].newrelid);
		values[1] = CStringGetTextDatum(action_name(&cs->views[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_discard_staged);

/* discard_staged() RETURNS void */
Datum
pipeline_discard_staged(PG_FUNCTION_ARGS)
{
	delete_staged();
	PG_RETURN_VOID();
}
