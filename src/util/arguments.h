/*-------------------------------------------------------------------------
 * arguments.h
 *	  Refusing a null argument of a SQL-callable function by its name.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ARGUMENTS_H
#define PIPELINE_ARGUMENTS_H

#include "fmgr.h"

/*
 * Errors with "<name> must not be null" (SQLSTATE 22004) for the first
 * null one of arguments 0 to count - 1, named as the function's SQL
 * declaration names it.
 */
extern void arguments_require_not_null(FunctionCallInfo fcinfo, int count);

#endif
