/*-------------------------------------------------------------------------
 * external_function.h
 *	  SQL functions whose body is an HTTP endpoint speaking the Redshift
 *	  Lambda UDF protocol.
 *
 * The SQL-callable functions (create_external_function,
 * drop_external_function, invoke, and the handler behind every external
 * function) are reached through the install script only.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_EXTERNAL_FUNCTION_H
#define PIPELINE_EXTERNAL_FUNCTION_H

/* GUC pipeline.allowed_endpoints: comma-separated URL prefixes, or empty. */
extern char *pipeline_allowed_endpoints;

/* Defines the GUCs of this module; called from _PG_init. */
extern void external_define_settings(void);

#endif
