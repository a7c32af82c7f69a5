/*-------------------------------------------------------------------------
 * changeset.c
 *	  Building a change set: the changed views, every managed view
 *	  transitively downstream of them, the edges among them (the new
 *	  queries' for changed views, the stored ones for rebuilt views) and one
 *	  topological order.  Nothing is locked or analyzed here: a new query
 *	  is read from its raw parse tree, so the set can be locked all or
 *	  nothing (locks.c) before anything reads a source.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parser.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compile/changeset.h"
#include "views/matview.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "model/definition.h"
#include "util/analyze.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/toposort.h"

/* ---------------------------------------------------------------------
 * A pending view
 * ---------------------------------------------------------------------
 */

char *
pending_display_name(PendingView *v)
{
	return quote_qualified_identifier(v->schema_name, v->relname);
}

const char *
relation_keyword(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_RELATION ? "TABLE" : "MATERIALIZED VIEW";
}

bool
pending_incremental_unchanged(PendingView *v)
{
	return OidIsValid(v->relid) &&
		v->old_type == MATVIEW_INCREMENTAL && v->type == MATVIEW_INCREMENTAL &&
		strcmp(v->old_query, v->query) == 0 &&
		v->old_key != NULL && v->key != NULL && strcmp(v->old_key, v->key) == 0;
}

const char *
pending_begin_reading(PendingView *v, RunAs *ra)
{
	if (v->def)
		return v->query;
	runas_begin_internal(ra, v->owner);
	return v->bound;
}

void
pending_end_reading(PendingView *v, RunAs *ra)
{
	if (!v->def)
		runas_end(ra);
}

/* The function the executor checks EXECUTE on for node, else InvalidOid */
static Oid
executed_function(Node *node)
{
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			return ((FuncExpr *) node)->funcid;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			set_opfuncid((OpExpr *) node);
			return ((OpExpr *) node)->opfuncid;
		case T_ScalarArrayOpExpr:
			set_sa_opfuncid((ScalarArrayOpExpr *) node);
			return ((ScalarArrayOpExpr *) node)->opfuncid;
		case T_Aggref:
			return ((Aggref *) node)->aggfnoid;
		case T_WindowFunc:
			return ((WindowFunc *) node)->winfnoid;
		default:
			return InvalidOid;
	}
}

/*
 * ExecCheckRTPerms() on the range table of every query level, and EXECUTE
 * on the functions and operators it calls, as the executor checks them
 */
static bool
query_rights_walker(Node *node, void *context)
{
	Oid			function;

	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		(void) ExecCheckRTPerms(((Query *) node)->rtable, true);
		return query_tree_walker((Query *) node, query_rights_walker, context, 0);
	}
	function = executed_function(node);
	if (OidIsValid(function) &&
		pg_proc_aclcheck(function, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(function));
	return expression_tree_walker(node, query_rights_walker, context);
}

Query *
pending_analyze(PendingView *v)
{
	RunAs		ra;
	Query	   *query = analyze_one(pending_begin_reading(v, &ra));

	/* a view rebuilt as its owner calls no cast of a third role */
	check_cast_owners((Node *) query, v->owner);
	pending_end_reading(v, &ra);
	if (v->def)
	{
		/*
		 * The rights its refreshes will need, as its owner: the judge makes
		 * the new relation empty, which checks none, so check() said "ok" for
		 * a query its owner may not read.
		 */
		runas_begin_internal(&ra, v->owner);
		(void) query_rights_walker((Node *) query, NULL);
		runas_end(&ra);
		if (matview_makes_query_shape(v->def))
			runas_check_output_columns(query);
		v->bound = runas_deparse_bound(query);
	}
	return query;
}

/* ---------------------------------------------------------------------
 * What a query reads, without locks
 * ---------------------------------------------------------------------
 */

void
pending_resolve_refresh_mode(PendingView *v)
{
	MatviewDefinition *def = v->def;

	if (def == NULL)
	{
		/* what a rebuilt view asked for, as it was defined */
		ManagedView *view = catalog_get_required(v->relid);

		def = palloc0(sizeof(MatviewDefinition));
		def->schema_name = v->schema_name;
		def->name = v->name;
		def->type = v->type;
		def->requested_mode = view->requested_mode;
		def->bound_query = v->bound;
	}
	else
		def->bound_query = v->bound;
	matview_resolve_refresh_mode(def, v->owner);
	v->mode = def->refresh_mode;
	v->full_reason = def->full_refresh_reason;
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

int
changeset_find(ChangeSet *cs, Oid relid)
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
 * Makes every view of the set that does not exist yet and that rv names an
 * upstream of view index.
 */
static void
match_new_views(ChangeSet *cs, int index, RangeVar *rv)
{
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		PendingView *other = &cs->views[i];

		if (!OidIsValid(other->relid) &&
			strcmp(other->relname, rv->relname) == 0 &&
			(rv->schemaname == NULL ||
			 strcmp(other->schema_name, rv->schemaname) == 0))
			add_upstream(cs, index, i);
	}
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
	List	   *raw = raw_parser(pending_begin_reading(v, &ra), RAW_PARSE_DEFAULT);
	List	   *rangevars = NIL;
	List	   *reads = NIL;
	ListCell   *lc;

	rangevar_walker(linitial_node(RawStmt, raw)->stmt, &rangevars);
	foreach(lc, rangevars)
	{
		RangeVar   *rv = lfirst_node(RangeVar, lc);
		Oid			relid;

		if (rv->catalogname != NULL)
			continue;
		if (match_new)
			match_new_views(cs, index, rv);
		relid = RangeVarGetRelid(rv, NoLock, true);
		if (OidIsValid(relid))
			reads = list_append_unique_oid(reads, relid);
	}
	pending_end_reading(v, &ra);
	return reads;
}

List *
changeset_direct_reads(ChangeSet *cs, int index)
{
	return direct_reads(cs, index, false);
}

List *
changeset_view_closure(List *relids)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	ListCell   *lc;
	SpiRows    *rows;
	bool		any_view = false;

	foreach(lc, relids)
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_VIEW)
			any_view = true;
	if (!any_view)
		return relids;

	values[0] = spi_oid_array(relids);
	rows = spi_rows(InvalidOid, "WITH RECURSIVE r(relid) AS ("
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
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	return spi_rows_oids(rows, 0);
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

	v->reads = changeset_view_closure(direct_reads(cs, index, true));
	foreach(lc, v->reads)
	{
		int			i = changeset_find(cs, lfirst_oid(lc));

		if (i >= 0)
			add_upstream(cs, index, i);
	}
}

/* ---------------------------------------------------------------------
 * Order
 * ---------------------------------------------------------------------
 */

static void report_cycle(ChangeSet *cs, const bool *placed) pg_attribute_noreturn();

/* Names the cycle among the views Kahn's sort could not place. */
static void
report_cycle(ChangeSet *cs, const bool *placed)
{
	int		   *state = palloc0(sizeof(int) * cs->count);	/* 0 new, 1 on path, 2
															 * done */
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
			appendStringInfoString(&cycle, pending_display_name(&cs->views[next]));
			for (i = depth - 1; i >= from; i--)
				appendStringInfo(&cycle, " -> %s", pending_display_name(&cs->views[path[i]]));
			break;
		}
		state[next] = 1;
		path[depth++] = next;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
			 errmsg("definition of %s would create a cycle",
					pending_display_name(&cs->views[start])),
			 errdetail("Cycle: %s.", cycle.data),
			 errhint("A view may not read, directly or through other views, a view that reads it.")));
}

/* Kahn's sort of the set (util/toposort.h); ties keep the set's order. */
static void
sort_change_set(ChangeSet *cs)
{
	List	  **upstream = palloc(sizeof(List *) * Max(cs->count, 1));
	int		   *newpos = palloc(sizeof(int) * Max(cs->count, 1));
	PendingView *sorted;
	TopoSort   *ts;
	int			i;

	for (i = 0; i < cs->count; i++)
		upstream[i] = cs->views[i].upstream;
	ts = toposort(cs->count, upstream);
	if (ts->placed < cs->count)
		report_cycle(cs, ts->is_placed);

	/* renumber so that views[] itself is in order */
	sorted = palloc(sizeof(PendingView) * Max(cs->count, 1));
	for (i = 0; i < cs->count; i++)
		newpos[ts->order[i]] = i;
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &sorted[i];
		ListCell   *lc;
		List	   *up = NIL;

		*v = cs->views[ts->order[i]];
		foreach(lc, v->upstream)
			up = lappend_int(up, newpos[lfirst_int(lc)]);
		v->upstream = up;
	}
	cs->views = sorted;
}

/* ---------------------------------------------------------------------
 * Building
 * ---------------------------------------------------------------------
 */

void
changeset_report_changed(const char *view, bool waited)
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
 * Adds a changed or new view to the set, validated (model/definition.h),
 * and marks an existing one in affected (by DAG index).  Returns false,
 * with *stale naming the view, when it was redefined after the snapshot
 * was taken.
 */
static bool
add_changed_view(ChangeSet *cs, MatviewDefinition *def, bool *affected, char **stale)
{
	PendingView *v = &cs->views[cs->count];
	ManagedView *old;
	int			j;

	v->nspid = definition_validate(def, &v->relname);
	v->schema_name = def->schema_name;
	for (j = 0; j < cs->count; j++)
		if (cs->views[j].nspid == v->nspid &&
			strcmp(cs->views[j].relname, v->relname) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("%s is defined twice in one update set", pending_display_name(v))));
	v->def = def;
	v->name = def->name;
	v->query = def->query;
	v->type = def->type;
	v->key = def->incremental_key;
	v->options = def->options_json ? def->options_json : "{}";
	v->relid = get_relname_relid(v->relname, v->nspid);
	v->dagindex = -1;
	v->owner = GetUserId();
	cs->count++;
	if (!OidIsValid(v->relid))
		return true;

	v->dagindex = dag_find(cs->dag, v->relid);
	if (v->dagindex < 0)
	{
		/* a view redefined after the snapshot was taken */
		if (catalog_is_managed_now(v->relid))
		{
			*stale = pending_display_name(v);
			return false;
		}
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_TABLE),
				 errmsg("relation \"%s.%s\" already exists and is not managed by pipeline",
						v->schema_name, v->relname),
				 errhint("Drop or rename it, or choose another view name.")));
	}
	/* redefined or dropped since the DAG was read: its relation may be gone */
	if (!OidIsValid(catalog_relation_owner_if_exists(v->relid)) ||
		!catalog_is_managed_now(v->relid))
	{
		*stale = pending_display_name(v);
		return false;
	}
	old = catalog_get_required(v->relid);
	v->old_type = old->type;
	v->old_query = old->query;
	v->old_key = old->incremental_key;
	v->old_options = old->options_json;
	affected[v->dagindex] = true;
	v->owner = catalog_relation_owner(v->relid);
	catalog_require_owner(v->relid, pending_display_name(v));
	return true;
}

/* Adds DAG node i, a view downstream of a changed one, to be rebuilt. */
static void
add_rebuilt_view(ChangeSet *cs, int i)
{
	ManagedView *mv = catalog_get_required(cs->dag->nodes[i].relid);
	PendingView *v = &cs->views[cs->count++];

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
	v->options = v->old_options = mv->options_json;
	v->dagindex = i;
}

/*
 * Adds every managed view downstream of an affected one (the DAG's nodes
 * are in topological order: one sweep closes downstream).  Returns false,
 * with *stale naming it, when one was dropped or replaced after the
 * snapshot was taken.
 */
static bool
add_downstream_views(ChangeSet *cs, bool *affected, char **stale)
{
	Dag		   *dag = cs->dag;
	int			i;

	for (i = 0; i < dag->count; i++)
	{
		ListCell   *uc;
		bool		changed = affected[i];

		if (!changed)
			foreach(uc, dag->nodes[i].upstream)
				if (affected[lfirst_int(uc)])
					affected[i] = true;
		if (changed || !affected[i])
			continue;
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(dag->nodes[i].relid)))
		{
			ManagedView *mv;

			/*
			 * dropped unseen (matview_forget_gone() forgets it): none to
			 * judge
			 */
			if (catalog_is_managed_now(dag->nodes[i].relid))
				continue;
			mv = catalog_get_required(dag->nodes[i].relid);
			*stale = quote_qualified_identifier(mv->schema_name,
												matview_relation_name(mv->name));
			return false;
		}
		add_rebuilt_view(cs, i);
	}
	return true;
}

/* Edges: the new query's for changed views, stored ones for rebuilt views. */
static void
link_views(ChangeSet *cs)
{
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];
		ListCell   *uc;

		if (v->def)
		{
			find_new_references(cs, i);
			continue;
		}
		foreach(uc, cs->dag->nodes[v->dagindex].upstream)
		{
			int			up = changeset_find(cs, cs->dag->nodes[lfirst_int(uc)].relid);

			if (up >= 0)
				add_upstream(cs, i, up);
		}
	}
}

ChangeSet *
changeset_build(List *defs, char **changed)
{
	ChangeSet  *cs = palloc0(sizeof(ChangeSet));
	bool	   *affected;
	char	   *stale = NULL;
	ListCell   *lc;

	cs->dag = dag_load();
	cs->views = palloc0(sizeof(PendingView) * (list_length(defs) + cs->dag->count));
	affected = palloc0(sizeof(bool) * Max(cs->dag->count, 1));
	foreach(lc, defs)
		if (!add_changed_view(cs, lfirst(lc), affected, &stale))
			break;
	if (stale == NULL)
		(void) add_downstream_views(cs, affected, &stale);
	if (stale != NULL)
	{
		if (changed == NULL)
			changeset_report_changed(stale, false);
		*changed = stale;
		return NULL;
	}
	link_views(cs);
	sort_change_set(cs);
	return cs;
}
