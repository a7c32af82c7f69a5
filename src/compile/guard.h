/*-------------------------------------------------------------------------
 * guard.h
 *	  Event triggers that keep DDL outside the API from silently renaming
 *	  or dropping managed views.
 *
 * The SQL-callable functions are the whole interface:
 *	  pipeline.guard_ddl_command_start()	ddl_command_start trigger
 *	  pipeline.ddl_in_progress()			for the sql_drop trigger (PL/pgSQL)
 * Pipeline's own DDL runs through runas_ddl() (runas.h) and passes.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_GUARD_H
#define PIPELINE_GUARD_H

#endif
