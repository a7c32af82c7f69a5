/*-------------------------------------------------------------------------
 * arguments.c
 *	  Refusing a null argument of a SQL-callable function by its name.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/syscache.h"

#include "util/arguments.h"

/* The SQL name of argument i of the called function, or "argument i+1". */
static char *
argument_name(FunctionCallInfo fcinfo, int i)
{
	HeapTuple	proc = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	char	   *name = NULL;

	if (HeapTupleIsValid(proc))
	{
		Oid		   *types;
		char	  **names;
		char	   *modes;
		int			nargs = get_func_arg_info(proc, &types, &names, &modes);

		if (names != NULL && i < nargs && names[i][0] != '\0')
			name = pstrdup(names[i]);
		ReleaseSysCache(proc);
	}
	return name ? name : psprintf("argument %d", i + 1);
}

void
arguments_require_not_null(FunctionCallInfo fcinfo, int count)
{
	for (int i = 0; i < count && i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argument_name(fcinfo, i))));
}
