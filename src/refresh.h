/*-------------------------------------------------------------------------
 * refresh.h
 *	  Running the refresh of one managed view.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REFRESH_H
#define PIPELINE_REFRESH_H

/*
 * Refreshes one materialized view: CONCURRENTLY when it is populated and has
 * a usable unique index, a plain REFRESH otherwise.  The query runs as the
 * view's owner (REFRESH switches to it); the caller must own the view or be
 * a superuser.  Returns the number of rows the query produced.  Needs a
 * transaction and an active snapshot.
 */
extern uint64 refresh_matview(Oid relid);

#endif
