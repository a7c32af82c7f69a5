/*-------------------------------------------------------------------------
 * swap_refresh.h
 *	  A full refresh of a materialized view that readers do not wait for.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_SWAP_REFRESH_H
#define PIPELINE_SWAP_REFRESH_H

/*
 * Refreshes materialized view relid as REFRESH MATERIALIZED VIEW (without
 * CONCURRENTLY) does, as its owner in a security-restricted operation, and
 * checks its expectations (options_json, audit.h) on the new rows before
 * they replace the old ones.  Readers wait only for the swap itself and the
 * rebuild of the view's indexes, never for its query or audit.  The caller
 * holds refresh_lock() on relid.  Returns the rows written.
 */
extern uint64 swap_refresh(Oid relid, const char *options_json);

#endif
