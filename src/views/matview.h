/*-------------------------------------------------------------------------
 * matview.h
 *	  Creating, redefining and dropping managed materialized views.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_MATVIEW_H
#define PIPELINE_MATVIEW_H

#include "model/dpl.h"

/*
 * Creates the relation of a managed view, empty, from its bound query, as
 * owner (who owns it): a materialized view WITH NO DATA, a table for a
 * differentially refreshed view (mode), or for an incremental view a table
 * with an index on its key, or for a mirror its table (options_json holds
 * its keys; views/mirror.h).  Only analysis runs, under the pinned
 * search_path; returns the OID.  Needs a transaction.
 */
extern Oid	matview_create_relation(Oid owner, const char *schema_name, Oid nspid,
									const char *relname, MatviewType type, RefreshMode mode,
									const char *bound_query, const char *key,
									const char *options_json);

/*
 * Fills a relation matview_create_relation() made (the catalog row must
 * exist for an incremental or a differential view; a differential view's
 * state and capture are set up here: differential_create()): the query runs as the owner, as user code
 * (runas.h).  Then audits them against the expectations of options_json
 * (the view's options as stored): a definition whose first contents fail
 * is refused.  Returns the rows written.
 */
extern uint64 matview_populate(Oid relid, MatviewType type, const char *options_json);

/*
 * The one way a new managed view comes to be, for define(), create_matview()
 * and an update set alike: from a validated definition (model/definition.h)
 * whose bound_query is set, resolves its refresh mode
 * (matview_resolve_refresh_mode()), creates the relation relname in schema
 * nspid as owner (matview_create_relation()), records it and the edges to what its
 * bound query reads in the catalogs, then fills it (matview_populate()).
 * Returns the relation's OID.  Needs a transaction.
 */
extern Oid	matview_create(Oid owner, Oid nspid, const char *relname,
						   MatviewDefinition *def);

/*
 * Why a regular view's bound query cannot be refreshed differentially when
 * owner owns it (a lower-case phrase, as pipeline.matviews shows it), or
 * NULL when it can.  Needs a transaction; def's bound_query is set.
 */
extern const char *matview_differential_reason(const MatviewDefinition *def, Oid owner);

/*
 * Whether a relation of the definition's query's shape is made, whose
 * columns must then be ones a table can have (runas_check_output_columns()):
 * a view's own, or a lake publication's audit's; a publication without
 * expectations writes only files.
 */
extern bool matview_makes_query_shape(const MatviewDefinition *def);

/*
 * Resolves def's refresh mode (definition_resolve_refresh_mode()) for a
 * view owner owns, with matview_differential_reason(): an ERROR when it
 * asks for differential refresh and cannot have it.  Called just before a
 * view is created or replaced, and when a definition is judged.
 */
extern void matview_resolve_refresh_mode(MatviewDefinition *def, Oid owner);

/*
 * The checks def's kind makes of its query and options (an incremental
 * view's key and query and its quarantine, a mirror's keys, a lake
 * publication's destination and partitions), erroring as the analyzer
 * would.  relid is the relation a redefinition replaces, else InvalidOid.
 */
extern void matview_check_kind(MatviewDefinition *def, Oid relid);

/*
 * The bound form of a materialized view's query, deparsed from its rule:
 * the rule names its objects by OID, so this follows every rename since
 * the view was defined.  Takes AccessShareLock on the view.
 */
extern char *matview_bound_from_rule(Oid relid);

/*
 * Forgets the managed views whose relation is gone without pipeline's
 * knowing (a drop no event trigger reports: a session's end taking its
 * temporary objects and what depends on them, such as a plain view the
 * view reads replaced to call one): their catalog rows and differential
 * state (their change capture stops with the next differential_forget(),
 * or the scheduler's housekeeping, capture_stop_unconsumed()).
 * Returns how many.  Needs a transaction.
 */
extern int	matview_forget_gone(void);

/* Whether this transaction's matview_forget_gone() forgot relid. */
extern bool matview_forgotten(Oid relid);

#endif
