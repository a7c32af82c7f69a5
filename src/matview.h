/*-------------------------------------------------------------------------
 * matview.h
 *	  Creating, redefining and dropping managed materialized views.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_MATVIEW_H
#define PIPELINE_MATVIEW_H

#include "dpl.h"

/* "mv_<name>": the relation name of a view called name. */
extern char *matview_relation_name(const char *name);

/*
 * Creates the view a definition describes, or redefines it when it exists,
 * and records it in the catalogs.  Returns the relation's OID.  Needs a
 * transaction; DDL runs as the calling user, who becomes the owner.
 */
extern Oid	matview_define(MatviewDefinition *def);

/*
 * Errors unless the definition's type and incremental key agree: an
 * incremental view needs a key, a regular one must not have one.
 */
extern void matview_validate_type(const MatviewDefinition *def);

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
