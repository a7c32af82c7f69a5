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
 * owner (who owns it): a materialized view WITH NO DATA, or for an
 * incremental view a table with an index on its key.  Only analysis runs,
 * under the pinned search_path; returns the OID.  Needs a transaction.
 */
extern Oid	matview_create_relation(Oid owner, const char *schema_name, Oid nspid,
									const char *relname, MatviewType type,
									const char *bound_query, const char *key);

/*
 * Fills a relation matview_create_relation() made (the catalog row must
 * exist for an incremental view): the query runs as the owner, as user code
 * (runas.h).  Returns the rows written.
 */
extern uint64 matview_populate(Oid relid, MatviewType type);

#endif
