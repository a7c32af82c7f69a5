/*-------------------------------------------------------------------------
 * external_function.h
 *	  SQL functions whose body is an HTTP endpoint speaking the Redshift
 *	  Lambda UDF protocol.
 *
 * The SQL-callable functions (create_external_function and
 * drop_external_function in external_function_define.c; invoke and the
 * handler behind every external function in external_function.c) are
 * reached through the install script only.  What the rest of the
 * extension needs is the setting pipeline.allowed_endpoints, defined at
 * _PG_init (allowed_endpoints.h), and external_function_init().
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_EXTERNAL_FUNCTION_H
#define PIPELINE_EXTERNAL_FUNCTION_H

#include "io/allowed_endpoints.h"

/*
 * At _PG_init: the transaction callbacks that close the requests an error
 * left open (every subtransaction must be seen from its start).
 */
extern void external_function_init(void);

#endif
