/*-------------------------------------------------------------------------
 * guard.h
 *	  Event triggers that keep DDL outside the API from silently renaming
 *	  or dropping managed views.
 *
 * The SQL-callable functions are the whole interface:
 *	  pipeline.guard_ddl_command_start()	ddl_command_start trigger
 *	  pipeline.ddl_in_progress()			for the sql_drop trigger (PL/pgSQL)
 * and the ProcessUtility hook's guard_untagged_statement().  Pipeline's
 * own DDL runs through runas_ddl() (runas.h) and passes.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_GUARD_H
#define PIPELINE_GUARD_H

#include "nodes/nodes.h"

/*
 * The guard for the commands the event trigger's tags miss (ALTER FOREIGN
 * TABLE and ALTER TYPE on a managed view), from the ProcessUtility hook.
 */
extern void guard_untagged_statement(Node *parsetree);

/*
 * Around a user's utility statement: what it made (noted by an object
 * access hook, guard_init()) must not depend on a table pipeline makes as
 * it runs (catalog_is_runtime_relation()).  guard_before_statement()
 * returns the mark guard_after_statement() takes.
 */
extern int	guard_before_statement(void);
extern void guard_after_statement(int mark);
extern void guard_init(void);

#endif
