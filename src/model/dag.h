/*-------------------------------------------------------------------------
 * dag.h
 *	  The dependency graph: which relations a query reads, and the order
 *	  in which managed views must be refreshed.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DAG_H
#define PIPELINE_DAG_H

#include "datatype/timestamp.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"

/*
 * Relations a query reads, found by PostgreSQL's parse analysis: tables,
 * views, materialized views and foreign tables, through subqueries, CTEs
 * and sublinks.  A plain view counts, and so does everything it reads,
 * recursively, so a managed view read through a plain view is an upstream.
 * Errors (a missing table, a bad column) are the analyzer's own.
 */
extern List *dag_query_dependencies(const char *query);

/*
 * The same for a bound query (runas.h): analyzed as owner (InvalidOid: the
 * current user) with search_path pinned, so it resolves what it was bound
 * to, whoever asks.
 */
extern List *dag_bound_query_dependencies(const char *bound_query, Oid owner);

/*
 * The relations an analyzed query's range tables name (subqueries, CTEs and
 * sublinks too), each once, plain views not opened up: those its analysis
 * locked.
 */
extern List *dag_relations_named(Query *query);

/*
 * Records that a managed view's table (relid) depends on what its bound
 * query names other than the relations it reads (functions, operators,
 * types, collations, constraints, a regclass constant's relation), as a
 * materialized view's rule makes its view depend on them: none can be
 * dropped, or dropped and created anew under the same name, from under a
 * query that is analyzed by name at every run.  Replaces every dependency
 * of the table itself an earlier call or a differential refresh recorded,
 * on relations too; a materialized view, which has its rule, is left
 * alone.  The relations read stay the guard's (and, for a differential
 * view, its refresh's, which records them after this) to protect.  Refuses
 * a view that depends, through anything, on an object in a temporary schema
 * (its session's end would drop the view and leave its catalog rows).
 */
extern void dag_record_query_dependencies(Oid relid, const char *bound_query, Oid owner);

/*
 * Forgets that a managed view's table depends on a column of source (which
 * its owner may no longer read: the guard lets the column go); its next
 * full refresh records what its query reads again.
 */
extern void dag_forget_column_dependency(Oid relid, Oid source, AttrNumber attnum);

/*
 * Whether the object (a function, operator, type, collation, relation)
 * lives in a temporary schema or depends, through anything, on something
 * that does: the end of that session drops it.
 */
extern bool dag_depends_on_temporary(Oid classid, Oid objid);

/*
 * Errors when the lasting object (a view, a rule, a function's body or
 * argument types, a constraint, a default, a column's type...) depends,
 * through anything, on a table pipeline makes as it runs
 * (catalog_is_runtime_relation()): pg_dump leaves those out, so the object
 * would fail its restore.
 */
extern void dag_refuse_runtime_reads(Oid classid, Oid objid);

/* The error that what reads runtime_relid, a table pipeline makes as it runs */
extern void dag_refuse_runtime_read(const char *what, Oid runtime_relid) pg_attribute_noreturn();

/*
 * After CREATE OR REPLACE VIEW (or RULE "_RETURN") of plain view view: the
 * edges of the managed views that read it, again from their bound queries
 * (it may read other tables now; skip-unchanged watches the edges).
 * Errors, refusing the replacement, when a view would read one of its
 * downstream views.
 */
extern void dag_follow_replaced_view(Oid view);

/*
 * Replaces the upstream edges of a managed view.  When one of them is from
 * a managed view, then before the transaction commits, in turn with every
 * other such transaction of the database, the graph as of then, this
 * transaction's changes included, must have no cycle (two transactions
 * that each added half of one would each see none); the commit fails
 * otherwise.  A transaction that set edges cannot be prepared (PREPARE
 * TRANSACTION fails, and the transaction is rolled back): its locks would
 * hold other sessions up until an admin ended it.
 */
extern void dag_set_edges(Oid relid, List *upstream_relids);

/* The relations the view relid reads (pipeline.edges), in OID order. */
extern List *dag_upstreams(Oid relid);

/*
 * Whether the query reads column attnum of relation relid directly (not
 * through a plain view, whose own dependency protects the column).
 */
extern bool dag_query_reads_column(const char *query, Oid relid, AttrNumber attnum);

/* A snapshot of the managed views and the edges among them. */
typedef struct DagNode
{
	Oid			relid;
	int64		interval_us;
	int64		sla_us;			/* @freshness-sla-minutes; 0 when none */
	TimestampTz defined_label;	/* its label when defined: as fresh as that
								 * before its first success */
	int			level;			/* 1 + max level of managed upstreams */
	int			position;		/* 1-based place in refresh order */
	List	   *upstream;		/* indexes of managed upstream nodes */
	List	   *downstream;		/* indexes of managed downstream nodes */
} DagNode;

typedef struct Dag
{
	int			count;
	DagNode    *nodes;			/* sorted in refresh order */
} Dag;

/* Loads the managed DAG in refresh order (palloc'd in the current context). */
extern Dag *dag_load(void);

/* Index of relid in dag, or -1. */
extern int	dag_find(Dag *dag, Oid relid);

/*
 * The node indexes of relid and its transitive downstream views, in refresh
 * order (relid first).
 */
extern List *dag_with_downstream(Dag *dag, int index);

/*
 * The relations of seed (SQL yielding oids) with their inheritance
 * ancestors and descendants, as SQL: what emptying a table touches, and
 * whose readers see it.
 */
extern char *dag_family_sql(const char *seed);

/* relid with its inheritance ancestors and descendants (dag_family_sql()) */
extern List *dag_family(Oid relid);

/*
 * Refuses a managed view schema_name.name (any kind) reading any of reads
 * where another mirror without an incremental key empties one of them, or
 * its parent or child: it would only see an emptied table, and pin the
 * mirror.  Looks as of now, not as of the transaction's snapshot.
 */
extern void dag_refuse_reading_stages(List *reads, const char *schema_name, const char *name);

#endif
