/*-------------------------------------------------------------------------
 * compile.h
 *	  The compile step's entry points for define.c: redefining a managed
 *	  view with every downstream view judged and rebuilt, and judging
 *	  definitions without applying them.  The design is in README.md.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_COMPILE_H
#define PIPELINE_COMPILE_H

#include "fmgr.h"
#include "model/dpl.h"
#include "nodes/pg_list.h"

/*
 * The one way an existing managed view is redefined: judges every
 * downstream view, refuses with an error listing each break, otherwise
 * replaces the view and rebuilds its downstream views in this transaction.
 * Returns the view's new OID.  The caller has validated def
 * (definition_validate()).
 */
extern Oid	compile_redefine(MatviewDefinition *def);

/*
 * Judges defs as one change set and returns one row per view of the set
 * (matview, status, detail) as the result of the set-returning SQL function
 * called with fcinfo.  Changes nothing, but needs a read-write transaction
 * (caller names the function in the refusal).
 */
extern void compile_check_definitions(FunctionCallInfo fcinfo, List *defs, const char *caller);

#endif
