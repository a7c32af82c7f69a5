/*-------------------------------------------------------------------------
 * dag.c
 *	  The dependency graph of managed views.
 *
 * Dependencies come from the analyzer (the query's range tables), never
 * from the query text.  The order is Kahn's topological sort by level, so
 * every view comes after all of its upstreams, ties broken by name.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_rewrite.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "rewrite/rewriteHandler.h"
#include "parser/parse_relation.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "model/catalog.h"
#include "model/dag.h"
#include "model/dpl.h"
#include "util/analyze.h"
#include "util/interval.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "util/toposort.h"

/* What to do with each relation entry of a query's range tables */
typedef struct RelationVisit
{
	void		(*visit) (RangeTblEntry *rte, void *arg);
	void	   *arg;
} RelationVisit;

/* Visits the relation entries of every range table: subqueries, CTEs, sublinks */
static bool
relation_entries_walker(Node *node, RelationVisit *visit)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				visit->visit(rte, visit->arg);
		}
		return query_tree_walker(query, relation_entries_walker, visit, 0);
	}
	return expression_tree_walker(node, relation_entries_walker, visit);
}

static void
collect_relation(RangeTblEntry *rte, void *arg)
{
	List	  **relids = arg;

	*relids = list_append_unique_oid(*relids, rte->relid);
}

/* Adds the relations node's range tables name to *relids */
static void
collect_relations(Node *node, List **relids)
{
	RelationVisit visit = {collect_relation, relids};

	(void) relation_entries_walker(node, &visit);
}

List *
dag_relations_named(Query *query)
{
	List	   *relids = NIL;

	collect_relations((Node *) query, &relids);
	return relids;
}

/* The relations an analyzed query reads, plain views opened up. */
static List *
relations_read(Query *query)
{
	List	   *relids = NIL;
	List	   *result = NIL;
	int			i;

	collect_relations((Node *) query, &relids);

	/* relids grows as plain views are opened up; walk it as a worklist */
	for (i = 0; i < list_length(relids); i++)
	{
		Oid			relid = list_nth_oid(relids, i);
		char		relkind = get_rel_relkind(relid);

		switch (relkind)
		{
			case RELKIND_VIEW:
				{
					Relation	view = table_open(relid, AccessShareLock);

					collect_relations((Node *) get_view_query(view), &relids);
					table_close(view, AccessShareLock);
				}
				/* FALLTHROUGH */
			case RELKIND_RELATION:
			case RELKIND_PARTITIONED_TABLE:
			case RELKIND_MATVIEW:
			case RELKIND_FOREIGN_TABLE:
			case RELKIND_SEQUENCE:	/* read, never tracked: always changed */
				result = lappend_oid(result, relid);
				break;
			default:
				break;
		}
	}
	return result;
}

static void dag_check_before_commit(void);
static Dag *load_dag(bool error_on_cycle);

List *
dag_upstreams(Oid relid)
{
	CatalogScan edges;
	AttrNumber	upstream_column;
	HeapTuple	tuple;
	List	   *upstreams = NIL;

	catalog_scan_begin(&edges, "edges", "edges_pkey", "downstream", relid);
	upstream_column = attnameAttNum(edges.rel, "upstream", false);
	while (HeapTupleIsValid(tuple = systable_getnext(edges.scan)))
	{
		bool		isnull;
		Datum		upstream = heap_getattr(tuple, upstream_column,
											RelationGetDescr(edges.rel), &isnull);

		upstreams = lappend_oid(upstreams, DatumGetObjectId(upstream));
	}
	catalog_scan_end(&edges);
	list_sort(upstreams, list_oid_cmp);
	return upstreams;
}

/*
 * Whether this transaction set edges (defined or redefined a managed
 * view), and whether they need the check before it commits
 */
static bool graph_changed = false;
static bool edges_changed = false;

/*
 * A prepared transaction keeps its locks until an admin ends it: a
 * definition's would hold up other roles' definitions (the graph-change
 * lock), writers of the tables its view reads (the tracking triggers'
 * SHARE ROW EXCLUSIVE) and the graph check it still owes.
 */
static void
refuse_prepare(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot PREPARE a transaction that has defined or changed managed views"),
			 errdetail("A prepared transaction would keep the locks of the definition, which other sessions' definitions and writes wait for, until it is committed or rolled back."),
			 errhint("Define managed views in a transaction that commits.")));
}

static void
check_edges_before_commit(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/* before the graph-change lock: the abort forgets the changes */
			if (graph_changed)
				refuse_prepare();
			break;
		case XACT_EVENT_PRE_COMMIT:
			graph_changed = false;
			if (edges_changed)
			{
				edges_changed = false;
				dag_check_before_commit();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			graph_changed = false;
			edges_changed = false;
			break;
		default:
			break;
	}
}

void
dag_set_edges(Oid relid, List *upstream_relids)
{
	static bool registered = false;

	Oid			argtypes[2] = {OIDOID, OIDARRAYOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), spi_oid_array(upstream_relids)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.edges WHERE downstream = $1::regclass",
					1, argtypes, values, NULL, false, -1);
	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.edges (upstream, downstream) "
					"SELECT DISTINCT u::regclass, $1::regclass FROM unnest($2) u",
					2, argtypes, values, NULL, false, -1);
	if (!registered)
	{
		RegisterXactCallback(check_edges_before_commit, NULL);
		registered = true;
	}
	graph_changed = true;

	/*
	 * Only an edge from a managed view can close a cycle: a view reading
	 * tables alone (most definitions) needs no check at commit.
	 */
	if (edges_changed || upstream_relids == NIL ||
		!DatumGetBool(spi_rows(catalog_owner(),
							   "SELECT EXISTS (SELECT FROM pipeline.matview_definitions"
							   " WHERE matview OPERATOR(pg_catalog.=)"
							   "       ANY ($2::pg_catalog.regclass[]))",
							   2, argtypes, values, NULL, false, SPI_OK_SELECT)->values[0]))
		return;
	edges_changed = true;
}

/* What reader_dependencies() works on */
typedef struct ReaderQuery
{
	const char *bound_query;
	Oid			owner;
	List	   *reads;
} ReaderQuery;

static void
analyze_reader(void *arg)
{
	ReaderQuery *reader = arg;

	reader->reads = dag_bound_query_dependencies(reader->bound_query, reader->owner);
}

char *
dag_family_sql(const char *seed)
{
	return psprintf("WITH RECURSIVE up(rel) AS (%s UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i"
					"   JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.rel),"
					" down(rel) AS (%s UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i"
					"   JOIN down ON i.inhparent OPERATOR(pg_catalog.=) down.rel)"
					" SELECT rel FROM up UNION SELECT rel FROM down", seed, seed);
}

List *
dag_family(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	return spi_rows_oids(spi_rows(catalog_owner(), dag_family_sql("SELECT $1"), 1, argtypes, values,
								  NULL, true, SPI_OK_SELECT), 0);
}

void
dag_refuse_reading_stages(List *reads, const char *schema_name, const char *name)
{
	Oid			argtypes[3] = {OIDARRAYOID, TEXTOID, TEXTOID};
	Datum		values[3];
	SpiRows    *rows;

	if (reads == NIL)
		return;
	values[0] = spi_oid_array(reads);
	values[1] = CStringGetTextDatum(schema_name);
	values[2] = CStringGetTextDatum(name);
	/* as of now, not of the transaction's snapshot (REPEATABLE READ) */
	PushActiveSnapshot(GetLatestSnapshot());
	rows = spi_rows(catalog_owner(),
					psprintf("SELECT d.matview::pg_catalog.text, e.upstream::pg_catalog.text "
							 "  FROM pipeline.matview_definitions d "
							 "  JOIN pipeline.edges e ON e.downstream OPERATOR(pg_catalog.=) d.matview "
							 " WHERE d.matview_type OPERATOR(pg_catalog.=) 'mirror' AND d.incremental_key IS NULL "
							 "   AND e.upstream::pg_catalog.oid IN (%s) "
							 "   AND NOT (d.schema_name::pg_catalog.text OPERATOR(pg_catalog.=) $2 "
							 "            AND d.name OPERATOR(pg_catalog.=) $3) "
							 " ORDER BY 1 LIMIT 1", dag_family_sql("SELECT pg_catalog.unnest($1)")),
					3, argtypes, values, NULL, true, SPI_OK_SELECT);
	PopActiveSnapshot();
	if (rows->count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("managed view \"%s\" cannot read %s: mirror %s empties it",
						name, spi_rows_text(rows, 0, 1), spi_rows_text(rows, 0, 0)),
				 errdetail("Each run of the mirror applies the table's rows and removes them."),
				 errhint("Read the mirror instead.")));
}

/*
 * What managed view relid reads now: its bound_query analyzed as its owner
 * or, when its owner may no longer see something the query names (USAGE
 * on a schema revoked since: its own refreshes fail until it is given
 * back), as the catalog's owner.  Analysis runs nothing; it only names the
 * relations, so the owner of a plain view it reads can still replace that.
 */
static List *
reader_dependencies(Oid relid, const char *bound_query)
{
	ReaderQuery reader = {
		.bound_query = bound_query,
		.owner = catalog_relation_owner(relid)
	};

	if (subxact_try(analyze_reader, &reader, false) != NULL)
	{
		reader.owner = catalog_owner();
		analyze_reader(&reader);
	}
	return reader.reads;
}

void
dag_follow_replaced_view(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};
	SpiRows    *readers;
	bool		isnull;

	/*
	 * pipeline's own update script replacing one of its views keeps its
	 * columns and their meaning: every reader follows it
	 */
	bool		own_script = creating_extension &&
	getExtensionOfObject(RelationRelationId, view) == CurrentExtensionObject;

	/*
	 * As of now, not of the statement's start: a definition the replacement
	 * waited for may have added a reader or an edge.  (Two transactions that
	 * each add half of a cycle are caught before they commit:
	 * dag_check_before_commit().)  Read as the catalog's owner, so that a
	 * role without USAGE on schema pipeline may still replace its views.
	 */
	PushActiveSnapshot(GetLatestSnapshot());
	readers = spi_rows(catalog_owner(),
					   "SELECT DISTINCT e.downstream::pg_catalog.oid FROM pipeline.edges e "
					   " WHERE e.upstream OPERATOR(pg_catalog.=) $1::pg_catalog.regclass ORDER BY 1",
					   1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < readers->count; i++)
	{
		Oid			relid = DatumGetObjectId(spi_rows_value(readers, i, 0, &isnull));
		ManagedView *reader = catalog_get_required(relid);
		List	   *now;
		Dag		   *dag;
		ListCell   *lc;

		/*
		 * A view that consumes it (stream, mirror, publication) keeps rows, a
		 * mark and remembered deletes of what it read: a new meaning under
		 * the same names would mix with them unseen.
		 */
		if (reader->type != MATVIEW_REGULAR && !own_script)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot replace view %s: %s view %s consumes it",
							relation_qualified_name(view), matview_type_name(reader->type),
							relation_qualified_name(relid)),
					 errdetail("Its rows and its mark hold values of what the view read."),
					 errhint("Redefine %s to read something else, or drop it, first.",
							 relation_qualified_name(relid))));
		now = reader_dependencies(relid, reader->bound_query);
		dag_refuse_reading_stages(now, reader->schema_name, reader->name);
		dag = load_dag(false);

		/*
		 * Never a cycle in the graph: it would stop every view's runs.  (One
		 * there already, load_dag() gives NULL, is left to the check before
		 * commit, so a replacement may break it.)
		 */
		foreach(lc, dag ? dag_with_downstream(dag, dag_find(dag, relid)) : NIL)
		{
			Oid			down = dag->nodes[lfirst_int(lc)].relid;

			if (list_member_oid(now, down))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_RECURSION),
						 errmsg("%s would read %s, which reads it",
								relation_qualified_name(relid), relation_qualified_name(down)),
						 errdetail("The replaced view %s reads a view downstream of %s.",
								   relation_qualified_name(view), relation_qualified_name(relid)),
						 errhint("Replace it with a query that reads no managed view downstream of its readers.")));
		}
		dag_set_edges(relid, list_concat_unique_oid(NIL, now));
	}
	PopActiveSnapshot();
}

/*
 * Graph changes take turns on this sub-id of the extension's object lock
 * (DROP EXTENSION locks sub-id 0, publication definitions 1)
 */
#define GRAPH_CHANGE_LOCK 2

static void
checking_before_commit_context(void *arg)
{
	errcontext("checking the graph of managed views before commit, with what other transactions committed meanwhile");
}

/* The graph as of now, in turn with other transactions that changed it */
static void
dag_check_before_commit(void)
{
	Oid			extension = get_extension_oid("pipeline", true);
	ErrorContextCallback context = {.callback = checking_before_commit_context};

	if (!OidIsValid(extension))
		return;					/* dropped with the extension */
	context.previous = error_context_stack;
	error_context_stack = &context;
	/* held until the end: the next checker sees what this one commits */
	LockDatabaseObject(ExtensionRelationId, extension, GRAPH_CHANGE_LOCK, ExclusiveLock);
	PushActiveSnapshot(GetLatestSnapshot());
	(void) dag_load();
	PopActiveSnapshot();
	error_context_stack = context.previous;
}

List *
dag_query_dependencies(const char *query_text)
{
	return relations_read(analyze_one(query_text));
}

List *
dag_bound_query_dependencies(const char *bound_query, Oid owner)
{
	return relations_read(analyze_bound(bound_query, owner));
}

/* A relation entry as an entry of nothing: no dependency is found on it */
static void
forget_relation(RangeTblEntry *rte, void *arg)
{
	rte->rtekind = RTE_RESULT;
}

/*
 * Deletes the dependencies of relation relid itself (not of its columns) on
 * anything but its schema and its access method: those
 * dag_record_query_dependencies() records, and a differential view's on
 * its sources.  Or, when source is valid, only the one on source's column
 * attnum.
 */
static void
delete_query_dependencies(Oid relid, Oid source, AttrNumber attnum)
{
	Relation	depend = table_open(DependRelationId, RowExclusiveLock);
	ScanKeyData key[3];
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&key[2], Anum_pg_depend_objsubid, BTEqualStrategyNumber, F_INT4EQ,
				Int32GetDatum(0));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 3, key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->deptype != DEPENDENCY_NORMAL)
			continue;
		if (OidIsValid(source) ?
			dep->refclassid == RelationRelationId && dep->refobjid == source &&
			dep->refobjsubid == attnum :
			dep->refclassid != NamespaceRelationId && dep->refclassid != AccessMethodRelationId)
			CatalogTupleDelete(depend, &tuple->t_self);
	}
	systable_endscan(scan);
	table_close(depend, RowExclusiveLock);
}

void
dag_forget_column_dependency(Oid relid, Oid source, AttrNumber attnum)
{
	delete_query_dependencies(relid, source, attnum);
	CommandCounterIncrement();
}

/* Adds object to the walk's list of ObjectAddress, unless there. */
static void
walk_add(List **walk, Oid classid, Oid objid)
{
	ListCell   *lc;
	ObjectAddress *object;

	foreach(lc, *walk)
	{
		object = lfirst(lc);
		if (object->classId == classid && object->objectId == objid)
			return;
	}
	object = palloc(sizeof(ObjectAddress));
	ObjectAddressSet(*object, classid, objid);
	*walk = lappend(*walk, object);
}

/* Adds the SELECT rule of relation relid (a view's query) to the walk. */
static void
walk_add_rules(List **walk, Oid relid)
{
	Relation	rewrite = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key, Anum_pg_rewrite_ev_class, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rewrite, RewriteRelRulenameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_rewrite rule = (Form_pg_rewrite) GETSTRUCT(tuple);

		/* an ON INSERT rule's drop leaves the relation; _RETURN's does not */
		if (rule->ev_type == '0' + CMD_SELECT)
			walk_add(walk, RewriteRelationId, rule->oid);
	}
	systable_endscan(scan);
	table_close(rewrite, AccessShareLock);
}

/*
 * Adds what object depends on to the walk, but schemas; true when its
 * schema is temporary.
 */
static bool
walk_add_referenced(List **walk, const ObjectAddress *object)
{
	Relation	depend = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		temporary = false;

	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(object->classId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(object->objectId));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, key);
	while (!temporary && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->refclassid != NamespaceRelationId)
			walk_add(walk, dep->refclassid, dep->refobjid);
		else
			temporary = isAnyTempNamespace(dep->refobjid);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);
	return temporary;
}

/*
 * Walks pg_depend from the objects of the walk (a plain view's query, a
 * function's argument type, a BEGIN ATOMIC body's objects) to the first
 * object that does not last: one in a temporary schema (*temporary set),
 * or, with runtime, one of the tables pipeline makes as it runs
 * (catalog_is_runtime_relation(), which a restore lacks); or NULL.  With
 * stop_at_managed, does not walk on from a managed view other than relid:
 * each was walked at its own definition (looking costs more than walking
 * on, where the walk is short).
 */
static ObjectAddress *
walk_to_unlasting(List **walk, Oid relid, bool runtime, bool stop_at_managed, bool *temporary)
{
	ListCell   *lc;

	*temporary = false;
	/* the list grows as it is walked */
	foreach(lc, *walk)
	{
		ObjectAddress *object = lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		if (object->classId == RelationRelationId)
		{
			char		relkind = get_rel_relkind(object->objectId);

			if (runtime && catalog_is_runtime_relation(object->objectId))
				return object;
			if (stop_at_managed && object->objectId != relid &&
				catalog_is_managed(object->objectId))
				continue;
			/* only a view's or materialized view's query is a SELECT rule */
			if (relkind == RELKIND_VIEW || relkind == RELKIND_MATVIEW)
				walk_add_rules(walk, object->objectId);
		}
		if (walk_add_referenced(walk, object))
		{
			*temporary = true;
			return object;
		}
	}
	return NULL;
}

void
dag_refuse_runtime_read(const char *what, Oid runtime_relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s must not read %s", what, relation_qualified_name(runtime_relid)),
			 errdetail("It is a table pipeline makes as it runs, which pg_dump leaves out: whatever reads it would fail its restore."),
			 errhint("Read the managed view instead.")));
}

/*
 * Refuses a view that depends, through anything, on an object in a
 * temporary schema: the end of that session drops it with everything
 * depending on it, and fires no event trigger, so the view's catalog rows
 * would be left; or on a table pipeline makes as it runs, which a restore
 * lacks.  Walks from the view and from the relations its query reads.
 */
static void
refuse_unlasting_dependencies(Oid relid, List *relations_read)
{
	List	   *walk = NIL;
	ListCell   *lc;
	ObjectAddress *found;
	bool		temporary;

	walk_add(&walk, RelationRelationId, relid);
	foreach(lc, relations_read)
		walk_add(&walk, RelationRelationId, lfirst_oid(lc));
	found = walk_to_unlasting(&walk, relid, true, true, &temporary);
	if (found != NULL && temporary)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a managed view's query must not use temporary objects"),
				 errdetail("It depends on %s, which is dropped when its session ends.",
						   getObjectDescription(found, false))));
	if (found != NULL)
		dag_refuse_runtime_read("a managed view", found->objectId);
	list_free_deep(walk);
}

void
dag_refuse_runtime_reads(Oid classid, Oid objid)
{
	List	   *walk = NIL;
	ObjectAddress *found;
	ObjectAddress object;
	bool		temporary;

	/*
	 * a temporary object is gone before any dump; a dropped one too; and a
	 * run-time table, its index or its TOAST table is no reader of it (an
	 * owner change, a move to another tablespace alter them)
	 */
	if (classid == RelationRelationId)
	{
		char		relkind;

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(objid)) ||
			get_rel_persistence(objid) == RELPERSISTENCE_TEMP ||
			get_rel_namespace(objid) == PG_TOAST_NAMESPACE)
			return;
		relkind = get_rel_relkind(objid);
		if (catalog_is_runtime_relation(objid) ||
			((relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX) &&
			 catalog_is_runtime_relation(IndexGetRelation(objid, false))))
			return;
	}
	walk_add(&walk, classid, objid);
	found = walk_to_unlasting(&walk, InvalidOid, true, false, &temporary);
	ObjectAddressSet(object, classid, objid);
	if (found != NULL && !temporary)
		dag_refuse_runtime_read(classid == RelationRelationId ? relation_qualified_name(objid) :
								getObjectDescription(&object, false), found->objectId);
	list_free_deep(walk);
}

bool
dag_depends_on_temporary(Oid classid, Oid objid)
{
	List	   *walk = NIL;
	bool		temporary;

	/* PostgreSQL's own objects are in no temporary schema, nor depend on one */
	if (objid < FirstNormalObjectId)
		return false;
	walk_add(&walk, classid, objid);
	(void) walk_to_unlasting(&walk, InvalidOid, false, true, &temporary);
	list_free_deep(walk);
	return temporary;
}

void
dag_record_query_dependencies(Oid relid, const char *bound_query, Oid owner)
{
	ObjectAddress view;
	Query	   *query = analyze_bound(bound_query, owner);
	List	   *read = NIL;
	RelationVisit visit = {0};

	collect_relations((Node *) query, &read);
	if (get_rel_relkind(relid) == RELKIND_RELATION)
	{
		delete_query_dependencies(relid, InvalidOid, 0);
		visit.visit = forget_relation;
		(void) relation_entries_walker((Node *) query, &visit);
		ObjectAddressSet(view, RelationRelationId, relid);
		recordDependencyOnExpr(&view, (Node *) query, NIL, DEPENDENCY_NORMAL);
		CommandCounterIncrement();
	}
	refuse_unlasting_dependencies(relid, read);
}

/* What reads_column_walker() looks for */
typedef struct ColumnUse
{
	Oid			relid;
	AttrNumber	attnum;
} ColumnUse;

static bool
reads_column_walker(Node *node, ColumnUse *use)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		ListCell   *lc;

		foreach(lc, ((Query *) node)->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			/* selectedCols: the columns the query reads, 0 for a whole row */
			if (rte->rtekind == RTE_RELATION && rte->relid == use->relid &&
				(bms_is_member(use->attnum - FirstLowInvalidHeapAttributeNumber,
							   rte->selectedCols) ||
				 bms_is_member(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber,
							   rte->selectedCols)))
				return true;
		}
		return query_tree_walker((Query *) node, reads_column_walker, use, 0);
	}
	return expression_tree_walker(node, reads_column_walker, use);
}

bool
dag_query_reads_column(const char *query_text, Oid relid, AttrNumber attnum)
{
	ColumnUse	use = {relid, attnum};

	return reads_column_walker((Node *) analyze_one(query_text), &use);
}

int
dag_find(Dag *dag, Oid relid)
{
	int			i;

	for (i = 0; i < dag->count; i++)
		if (dag->nodes[i].relid == relid)
			return i;
	return -1;
}

typedef struct LoadedNode
{
	Oid			relid;
	char	   *name;
	int64		interval_us;
	int64		sla_us;
	TimestampTz defined_label;
	List	   *upstream;		/* indexes into the loaded array */
	int			level;
	int			placed;			/* position once sorted, else -1 */
} LoadedNode;

/* A managed view's OID and its index in the loaded array, for lookups. */
typedef struct OidIndex
{
	Oid			relid;
	int			index;
} OidIndex;

static int
compare_oid_index(const void *a, const void *b)
{
	Oid			x = ((const OidIndex *) a)->relid;
	Oid			y = ((const OidIndex *) b)->relid;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Index of relid in the loaded array (by a sorted OidIndex), or -1. */
static int
loaded_index(OidIndex *byoid, int count, Oid relid)
{
	OidIndex	key = {.relid = relid,.index = -1};
	OidIndex   *found;

	found = bsearch(&key, byoid, count, sizeof(OidIndex), compare_oid_index);
	return found ? found->index : -1;
}

static int
compare_ready(const void *a, const void *b, void *arg)
{
	LoadedNode *nodes = arg;
	const LoadedNode *x = &nodes[*(const int *) a];
	const LoadedNode *y = &nodes[*(const int *) b];

	if (x->level != y->level)
		return x->level - y->level;
	return strcmp(x->name, y->name);
}

static int
name_cmp(const ListCell *a, const ListCell *b)
{
	return strcmp((const char *) lfirst(a), (const char *) lfirst(b));
}

/*
 * The refresh order of the loaded nodes: Kahn's sort gives each node its
 * level, and sorting by (level, name) then is a topological order too,
 * since every view's level exceeds its upstreams'.
 */
static int *
refresh_order(LoadedNode *loaded, int count, bool error_on_cycle)
{
	List	  **upstream = palloc(sizeof(List *) * Max(count, 1));
	TopoSort   *ts;
	int			i;

	for (i = 0; i < count; i++)
		upstream[i] = loaded[i].upstream;
	ts = toposort(count, upstream);
	if (ts->placed < count && !error_on_cycle)
		return NULL;
	if (ts->placed < count)
	{
		List	   *unplaced = NIL;
		StringInfoData names;
		ListCell   *lc;

		for (i = 0; i < count; i++)
			if (!ts->is_placed[i])
				unplaced = lappend(unplaced, loaded[i].name);
		/* by name: the catalog's order is its heap's */
		list_sort(unplaced, name_cmp);
		initStringInfo(&names);
		foreach(lc, unplaced)
			appendStringInfo(&names, "%s%s", names.len ? ", " : "", (char *) lfirst(lc));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_RECURSION),
				 errmsg("pipeline dependency graph has a cycle"),
				 errdetail("On the cycle or downstream of it: %s.", names.data)));
	}
	for (i = 0; i < count; i++)
		loaded[i].level = ts->level[i];
	qsort_arg(ts->order, count, sizeof(int), compare_ready, loaded);
	return ts->order;			/* the rest goes with dag_load()'s context */
}

/*
 * The managed views, one LoadedNode each, and into *byoid their OIDs
 * sorted, for loaded_index().  Returns how many.
 */
static int
load_views(LoadedNode **nodes, OidIndex **byoid)
{
	/* an SLA in minutes, as a whole number of them (dpl.c) */
	SpiRows    *rows = spi_rows(catalog_owner(),
								catalog_has_options() ?
								"SELECT matview::oid, matview::text, refresh_interval, created_at, "
								"       (options OPERATOR(pg_catalog.->>) 'freshness-sla-minutes')::pg_catalog.int8 "
								"  FROM pipeline.matview_definitions" :
								"SELECT matview::oid, matview::text, refresh_interval, created_at, NULL::pg_catalog.int8 "
								"  FROM pipeline.matview_definitions",
								0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	int			count = (int) rows->count;
	LoadedNode *loaded = palloc0(sizeof(LoadedNode) * Max(count, 1));
	OidIndex   *index = palloc(sizeof(OidIndex) * Max(count, 1));

	for (int i = 0; i < count; i++)
	{
		bool		isnull;
		Datum		d;

		loaded[i].relid = DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull));
		loaded[i].name = TextDatumGetCString(spi_rows_value(rows, i, 1, &isnull));
		loaded[i].interval_us =
			interval_usecs(DatumGetIntervalP(spi_rows_value(rows, i, 2, &isnull)));
		loaded[i].defined_label =
			time_label_of(loaded[i].interval_us,
						  DatumGetTimestampTz(spi_rows_value(rows, i, 3, &isnull)));
		d = spi_rows_value(rows, i, 4, &isnull);
		loaded[i].sla_us = isnull ? 0 : DatumGetInt64(d) * USECS_PER_MINUTE;
		loaded[i].placed = -1;
		index[i].relid = loaded[i].relid;
		index[i].index = i;
	}
	qsort(index, count, sizeof(OidIndex), compare_oid_index);
	*nodes = loaded;
	*byoid = index;
	return count;
}

/*
 * Links the loaded views by the edges among them; edges from source
 * tables are dropped.
 */
static void
load_edges(LoadedNode *loaded, OidIndex *byoid, int count)
{
	SpiRows    *rows = spi_rows(catalog_owner(),
								"SELECT upstream::oid, downstream::oid FROM pipeline.edges",
								0, NULL, NULL, NULL, true, SPI_OK_SELECT);

	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		int			up = loaded_index(byoid, count,
									  DatumGetObjectId(spi_rows_value(rows, i, 0, &isnull)));
		int			down = loaded_index(byoid, count,
										DatumGetObjectId(spi_rows_value(rows, i, 1, &isnull)));

		if (up < 0 || down < 0)
			continue;			/* a source relation, not a managed view */
		loaded[down].upstream = lappend_int(loaded[down].upstream, up);
	}
}

/* The Dag of the loaded views, placed in order (indexes into loaded). */
static Dag *
build_dag(LoadedNode *loaded, const int *order, int count)
{
	Dag		   *dag = palloc(sizeof(Dag));

	dag->count = count;
	dag->nodes = palloc0(sizeof(DagNode) * Max(count, 1));
	for (int i = 0; i < count; i++)
		loaded[order[i]].placed = i;
	for (int i = 0; i < count; i++)
	{
		LoadedNode *src = &loaded[order[i]];
		DagNode    *node = &dag->nodes[i];
		ListCell   *lc;

		node->relid = src->relid;
		node->interval_us = src->interval_us;
		node->sla_us = src->sla_us;
		node->defined_label = src->defined_label;
		node->level = src->level;
		node->position = i + 1;
		foreach(lc, src->upstream)
		{
			int			up = loaded[lfirst_int(lc)].placed;

			node->upstream = lappend_int(node->upstream, up);
			dag->nodes[up].downstream = lappend_int(dag->nodes[up].downstream, i);
		}
	}
	return dag;
}

/*
 * Two plain scans, no sorting in SQL: the scheduler reloads the DAG whenever
 * a definition changes, and it may hold thousands of views.  Edges are
 * mapped to nodes by OID here.  Everything but the Dag is built in a
 * context of its own and freed with it: the scheduler keeps the Dag across
 * ticks.  NULL when the edges make a cycle, unless error_on_cycle.
 */
static Dag *
load_dag(bool error_on_cycle)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work = AllocSetContextCreate(caller, "pipeline dag_load",
											   ALLOCSET_DEFAULT_SIZES);
	LoadedNode *loaded;
	OidIndex   *byoid;
	int			count;
	int		   *order;
	Dag		   *dag;

	MemoryContextSwitchTo(work);
	count = load_views(&loaded, &byoid);
	load_edges(loaded, byoid, count);

	order = refresh_order(loaded, count, error_on_cycle);

	MemoryContextSwitchTo(caller);
	dag = order != NULL ? build_dag(loaded, order, count) : NULL;
	MemoryContextDelete(work);
	return dag;
}

Dag *
dag_load(void)
{
	return load_dag(true);
}

List *
dag_with_downstream(Dag *dag, int index)
{
	bool	   *included = palloc0(sizeof(bool) * dag->count);
	List	   *result = NIL;
	int			i;

	included[index] = true;
	/* nodes are in topological order, so one forward sweep closes the set */
	for (i = index; i < dag->count; i++)
	{
		ListCell   *lc;

		if (!included[i])
			continue;
		result = lappend_int(result, i);
		foreach(lc, dag->nodes[i].downstream)
			included[lfirst_int(lc)] = true;
	}
	pfree(included);
	return result;
}

PG_FUNCTION_INFO_V1(pipeline_refresh_order);

/* refresh_order() -> (position int, matview regclass, level int) */
Datum
pipeline_refresh_order(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Dag		   *dag;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	dag = dag_load();
	for (i = 0; i < dag->count; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(dag->nodes[i].position);
		values[1] = ObjectIdGetDatum(dag->nodes[i].relid);
		values[2] = Int32GetDatum(dag->nodes[i].level);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
