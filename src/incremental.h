/*-------------------------------------------------------------------------
 * incremental.h
 *	  Incremental (append-only) managed views: a table that each refresh
 *	  appends the query's new rows to, above a stored high-water mark.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_INCREMENTAL_H
#define PIPELINE_INCREMENTAL_H

#include "dpl.h"

/*
 * Creates the (empty) table relname in nspid for an incremental view
 * definition and checks its key: the column must be in the query's output
 * and have an ordering.  Returns the table's OID.  Runs the DDL as the
 * calling user, who owns the table.  Needs a transaction.  The caller
 * records the catalog row and edges.
 */
extern Oid	incremental_create(MatviewDefinition *def, Oid nspid, const char *relname);

/*
 * Appends the rows of the view's query whose key is above the stored
 * high-water mark and advances the mark, in the caller's transaction (so
 * both happen or neither).  The query runs as the view's owner in a
 * security-restricted operation.  Concurrent refreshes of one view queue
 * on a lock.  Returns the number of rows appended.  The caller must own
 * the view or be a superuser.  Needs a transaction and an active snapshot.
 */
extern uint64 incremental_refresh(Oid relid);

#endif
