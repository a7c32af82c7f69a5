/*-------------------------------------------------------------------------
 * access.h
 *	  Who may see what: the rule behind row-level security on
 *	  pipeline.runs, and the "unknown" of pipeline.status.blocked_by and
 *	  pipeline.graph().
 *
 * A role sees a relation (and the runs of a managed view) when it owns it
 * (is a member of the owning role) or may SELECT from it.  Superusers see
 * everything.  The SQL functions pipeline.can_see(regclass) and
 * pipeline.blocking_upstreams(regclass) are reached through the install
 * script only.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ACCESS_H
#define PIPELINE_ACCESS_H

/*
 * May role see relid?  False for a relation that does not exist (any more).
 * Needs a transaction; reads the syscache only.
 */
extern bool access_can_see(Oid relid, Oid role);

#endif
