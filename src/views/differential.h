/*-------------------------------------------------------------------------
 * differential.h
 *	  Differential refresh of a regular view whose query the classifier
 *	  (diff_shape.h) accepts: the view is a table; each refresh applies the
 *	  changes its sources' change logs (capture.h) hold since the view's
 *	  last refresh.  The design is in views/README.md.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DIFFERENTIAL_H
#define PIPELINE_DIFFERENTIAL_H

#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "storage/itemptr.h"

#include "model/catalog.h"

/* On a differential view's table: refuses writes but the refresh's. */
#define VIEW_GUARD_TRIGGER "pipeline_view_guard"

/*
 * NULL when the bound query of a view owned by owner can be refreshed
 * differentially, else the reason why not.
 */
extern const char *differential_reason(const char *bound_query, Oid owner);

/*
 * The catalog rows the text a query writes is read from (skip-unchanged
 * runs a view again when they change): diff_catalog_text_names() is true
 * when node writes a value's text read from the catalogs, and adds the
 * enum types and row types' relations it reads to names; by_any_name when
 * some of it names any object (a reg* value, an aclitem).
 */
typedef struct CatalogTextNames
{
	List	   *enums;			/* pg_enum.enumtypid */
	List	   *row_relations;	/* pg_attribute.attrelid */
	bool		by_any_name;
	bool		anonymous_rows; /* a record's text whose columns are unseen */
} CatalogTextNames;

extern bool diff_catalog_text_names(Node *node, CatalogTextNames *names);

/*
 * Adds the names every value of the query may be written with: for text
 * written from a whole row of a subquery, CTE, VALUES or function
 * (anonymous_rows), whose columns are found elsewhere in the query.
 */
extern void diff_catalog_names_everywhere(Query *query, CatalogTextNames *names);

/*
 * While the compile step checks a change set, the relations it made for
 * the set's views count as managed views (for differential_reason(): "upstream ...
 * is refreshed fully"); differential_judging_done() forgets them.
 */
extern void differential_judging_view(Oid relid);
extern void differential_judging_done(void);

/*
 * Sets up a new differential view whose (empty) table and catalog row
 * exist: its state table, the capture of its sources, then fills it.
 * Returns the rows it holds.
 */
extern uint64 differential_create(Oid relid);

/*
 * The name of a differential view's key index, "<view>_pipeline_key" (the
 * view's name cut to 40 bytes of whole characters).  Another relation of
 * the schema may have taken it first: the index then has a number after
 * it, and tells itself by its comment, DIFFERENTIAL_KEY_INDEX_COMMENT,
 * which every key index made since has.
 */
extern char *differential_key_index_name(Oid relid);

#define DIFFERENTIAL_KEY_INDEX_COMMENT "pipeline: the key index of a differential view"

/*
 * What a refresh wrote, for its audit: when it applied changes (rather
 * than recomputing the view), where the rows it inserted or rewrote are
 * (their ctids), and how many rows the view holds after it.
 */
typedef struct DiffWritten
{
	bool		applied;
	int64		rows;
	ItemPointerData *places;
	int64		nplaces;
	int64		capacity;
	MemoryContext context;		/* of places */
} DiffWritten;

/*
 * One refresh, the view locked (refresh_lock()) and the refresh's snapshot
 * active, taken after the lock: applies the changes, or recomputes when
 * that is the only exact or the cheaper way; *detail says which
 * ("differential: ..." or "full: <why>", for pipeline.runs.detail).  Saves
 * the view's position.  Returns the rows the view holds.  Fills *written
 * unless it is NULL (collecting the places costs the writes a RETURNING).
 */
extern uint64 differential_refresh(Oid relid, char **detail, DiffWritten *written);

/*
 * For a consumer of a query's changes that keeps none of its rows (a lake
 * publication; relid its relation, whose catalog row holds the query): the
 * values the output columns named in columns took in the rows that came or
 * went since its last call, or why they cannot be known (then read
 * everything).  Saves the consumer's position, in the caller's transaction.
 */
typedef struct DiffChanges
{
	bool		known;			/* else read everything, for reason */
	char	   *reason;
	List	   *values;			/* changed rows' values: a List of text (NULL
								 * for null) each, distinct */
	char	   *detail;			/* "differential: n changes in t" */
} DiffChanges;

extern DiffChanges *differential_changes(Oid relid, List *columns);

/*
 * Gives a grouped differential view's state table (if it has one) to owner,
 * the view's owner from now on (as the catalog owner).
 */
extern void differential_state_follows_owner(Oid relid, Oid owner);

/* Forgets what a dropped or replaced differential view kept. */
extern void differential_forget(Oid relid);

/*
 * The same but for the change capture, which stays on the sources until
 * the next differential_forget() of any view, or the scheduler's
 * housekeeping, stops what no view consumes (stopping it waits for the
 * sources' writers).
 */
extern void differential_forget_state(Oid relid);

/*
 * A skipped run of the view: its sources did not change, so its position is
 * as current as a refresh would leave it, and pipeline.change_log_retention
 * counts from now.
 */
extern void differential_position_current(Oid relid);

/*
 * Before anything locks the view (refresh_lock_sources()): takes the lock
 * change capture will take on each source the view's next refresh (or
 * publication run) starts capturing (ShareRowExclusiveLock, which waits for
 * the source's writers), so that locks are taken upstream first, as
 * change_tracking.h says why.  Nothing for a publication whose partition
 * columns its changes cannot name (it captures nothing).
 */
extern void differential_lock_sources_to_capture(const ManagedView *view);

#endif
