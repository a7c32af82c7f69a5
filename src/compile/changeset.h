/*-------------------------------------------------------------------------
 * changeset.h
 *	  A change set: new definitions of managed views and every managed view
 *	  downstream of them, in one topological order.  The compile step's
 *	  files (locks, judge, apply, staging) share it; nothing outside
 *	  compile/ sees it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CHANGESET_H
#define PIPELINE_CHANGESET_H

#include "model/dag.h"
#include "model/dpl.h"
#include "nodes/parsenodes.h"
#include "util/runas.h"

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
								 * rebuilt view, bound in place for a changed
								 * one once its upstreams exist */
	MatviewType type;			/* what it will be */
	char	   *key;			/* its incremental key, or NULL */
	char	   *options;		/* its other DPL keys, as stored (JSON) */
	MatviewType old_type;		/* what an existing view is now */
	char	   *old_query;
	char	   *old_key;
	char	   *old_options;
	int			dagindex;		/* index in the old DAG, -1 when new */
	List	   *reads;			/* a changed view: relations its query reads */
	List	   *upstream;		/* indexes of pending views it reads */
	/* the verdict (judge.c) */
	bool		broken;			/* does not analyze, or its shape breaks */
	char	   *detail;
	ErrorData  *error;			/* what building it raised, or NULL */
	char	   *dependents;		/* unmanaged objects that block a rebuild */
	bool		keep;			/* an incremental view or mirror whose table,
								 * rows and mark stay as they are */
	/* how it will be refreshed: pending_resolve_refresh_mode() */
	RefreshMode mode;
	char	   *full_reason;	/* why full, or NULL */
	/* applying (apply.c) */
	Oid			newrelid;
} PendingView;

typedef struct ChangeSet
{
	int			count;
	PendingView *views;			/* in topological order */
	Dag		   *dag;			/* the managed views as the set was built */
	bool		locked;			/* changeset_build_and_lock() holds what
								 * judging needs */
} ChangeSet;

/*
 * Builds the set a list of definitions touches, sorted; validates each
 * definition (definition_validate(), model/definition.h) and refuses
 * cycles, a view defined twice, unmanaged relations in the way, and views
 * the caller does not own.  Takes no lock on any view or source.
 *
 * The catalog rows are read with the active snapshot, the relations are
 * looked up in the current system catalogs.  When the two disagree because
 * a managed view was dropped or redefined by a transaction the snapshot
 * cannot see, returns NULL with *changed naming the view, or with changed
 * NULL raises SQLSTATE 40001.
 */
extern ChangeSet *changeset_build(List *defs, char **changed);

/* Index of the pending view of relid (a valid OID), or -1. */
extern int	changeset_find(ChangeSet *cs, Oid relid);

/*
 * The relations pending view index's query reads directly, from its raw
 * parse tree, resolved as the analyzer would resolve them now, without
 * taking any lock.
 */
extern List *changeset_direct_reads(ChangeSet *cs, int index);

/*
 * relids and, for every plain view among them, every relation it reads,
 * recursively (pg_depend): what a query over relids opens, found without
 * opening or locking anything.  Materialized views are not expanded.
 */
extern List *changeset_view_closure(List *relids);

/*
 * The error for a managed view that changed where this transaction could
 * not see it: view names it (NULL: the set as a whole changed); waited says
 * whether the redefinition had locked the set, so waited for it.
 */
extern void changeset_report_changed(const char *view, bool waited) pg_attribute_noreturn();

/* The view's schema-qualified relation name, quoted for messages and DDL. */
extern char *pending_display_name(PendingView *v);

/* The word DDL uses for an existing managed view's relation. */
extern const char *relation_keyword(Oid relid);

/*
 * True for an existing incremental view that stays incremental with the
 * same query and key: its table may be kept, rows and mark included, if
 * its columns do not change either.
 */
extern bool pending_incremental_unchanged(PendingView *v);

/*
 * How a pending view's query is read: a changed view's new query means what
 * it means to its author now (the caller's search_path, as the caller); a
 * rebuilt view's bound query is read with search_path pinned, as its owner
 * (who rebuilds it), whoever the caller is.  Each reading is bracketed by
 * pending_begin_reading() and pending_end_reading().
 */
extern const char *pending_begin_reading(PendingView *v, RunAs *ra);
extern void pending_end_reading(PendingView *v, RunAs *ra);

/*
 * Parse analysis of a pending view's query (errors are the analyzer's); a
 * changed view is bound from it.
 */
extern Query *pending_analyze(PendingView *v);

/*
 * Sets v's mode and full_reason from its bound query as its upstreams now
 * are (pending_analyze() first): a changed view's definition resolves it
 * (an error when it asks for differential and cannot have it), a rebuilt
 * view keeps the mode it asked for, which an upstream's change may make
 * full, or impossible.
 */
extern void pending_resolve_refresh_mode(PendingView *v);

#endif
