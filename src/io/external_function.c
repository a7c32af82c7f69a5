/*-------------------------------------------------------------------------
 * external_function.c
 *	  Calling external functions: the handler behind every one of them
 *	  (one request per call) and invoke() (many rows, max_batch_rows per
 *	  request).
 *
 * create_external_function() (external_function_define.c) makes ordinary
 * LANGUAGE C functions whose symbol is pipeline_external_call.  The
 * handler finds the function's endpoint and settings in the per-backend
 * cache (external_function_cache.c), speaks the Lambda UDF protocol to it
 * (lambda_protocol.c) and casts the reply's result to the return type.
 *
 * Every request builds its body and parses its reply in request_context,
 * reset at the start of the next request, so a long scan calling the
 * function per row does not grow memory.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "io/external_function.h"
#include "io/external_function_cache.h"
#include "io/json_values.h"
#include "io/lambda_protocol.h"

/* Reset at the start of every request: request body, parsed reply. */
static MemoryContext request_context = NULL;

/* request_context, reset and made current; returns the previous context. */
static MemoryContext
begin_request_memory(void)
{
	if (request_context == NULL)
		request_context = AllocSetContextCreate(TopMemoryContext,
												"pipeline external call",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContextReset(request_context);
	return MemoryContextSwitchTo(request_context);
}

/* ---------------------------------------------------------------------
 * The handler behind every external function
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(pipeline_external_call);

Datum
pipeline_external_call(PG_FUNCTION_ARGS)
{
	ExternalFunction *ef = external_function_lookup(fcinfo->flinfo->fn_oid);
	MemoryContext caller;
	StringInfoData body;
	JsonbContainer *results;
	JsonbValue *v;
	Datum		result;
	bool		isnull;

	caller = begin_request_memory();
	initStringInfo(&body);
	lambda_begin_request(&body, ef, 1);
	appendStringInfoChar(&body, '[');
	for (int i = 0; i < ef->nargs; i++)
	{
		if (i > 0)
			appendStringInfoChar(&body, ',');
		if (PG_ARGISNULL(i))
			appendStringInfoString(&body, "null");
		else
			append_json_value(&body, &ef->args[i], PG_GETARG_DATUM(i));
	}
	appendStringInfoChar(&body, ']');
	lambda_end_request(&body);

	results = lambda_request_results(ef, &body, 1);

	MemoryContextSwitchTo(caller);
	v = getIthJsonbValueFromContainer(results, 0);
	if (v->type == jbvNull)
		PG_RETURN_NULL();
	result = lambda_cast_result(ef, results, 0, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	return result;
}

/* ---------------------------------------------------------------------
 * invoke(fn regprocedure, arguments jsonb)
 *	 RETURNS TABLE(ordinality bigint, result jsonb)
 * ---------------------------------------------------------------------
 */

static void
check_execute(Oid fn)
{
	AclResult	aclresult = pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(fn));
}

/*
 * Checks every row of arguments before anything is sent: a JSON array of
 * arrays of ef->nargs values.  Returns the number of rows.
 */
static int
check_invoke_arguments(ExternalFunction *ef, Jsonb *arguments)
{
	int			nrows;

	if (!JB_ROOT_IS_ARRAY(arguments) || JB_ROOT_IS_SCALAR(arguments))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments must be a JSON array of argument arrays"),
				 errhint("Pass [[a1, a2, ...], ...], one inner array per call.")));
	nrows = JsonContainerSize(&arguments->root);
	for (int i = 0; i < nrows; i++)
	{
		JsonbValue *row = getIthJsonbValueFromContainer(&arguments->root, i);
		int			nvalues;

		if (row->type != jbvBinary || !JsonContainerIsArray(row->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument row %d is not a JSON array", i + 1)));
		nvalues = (int) JsonContainerSize(row->val.binary.data);
		if (nvalues != ef->nargs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg_plural("argument row %d has %d value, but %s takes %d",
								   "argument row %d has %d values, but %s takes %d",
								   nvalues,
								   i + 1, nvalues, ef->signature, ef->nargs)));
		pfree(row);
	}
	return nrows;
}

/*
 * Sends rows start .. start + count - 1 of arguments in one request and
 * adds a row (ordinality, result) per result to the tuplestore.
 */
static void
invoke_batch(ReturnSetInfo *rsinfo, ExternalFunction *ef, Jsonb *arguments,
			 int start, int count)
{
	MemoryContext caller = begin_request_memory();
	StringInfoData body;
	JsonbContainer *results;

	initStringInfo(&body);
	lambda_begin_request(&body, ef, count);
	for (int i = 0; i < count; i++)
	{
		JsonbValue *row = getIthJsonbValueFromContainer(&arguments->root, start + i);

		if (i > 0)
			appendStringInfoChar(&body, ',');
		(void) JsonbToCString(&body, row->val.binary.data, 16);
	}
	lambda_end_request(&body);

	results = lambda_request_results(ef, &body, count);
	for (int i = 0; i < count; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(results, i);
		Datum		values[2];
		bool		nulls[2] = {false, false};
		bool		isnull;

		/* the result must fit the return type, though it stays JSON */
		(void) lambda_cast_result(ef, results, i, &isnull);
		values[0] = Int64GetDatum((int64) start + i + 1);
		if (v->type == jbvNull)
			nulls[1] = true;
		else
			values[1] = JsonbPGetDatum(JsonbValueToJsonb(v));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	MemoryContextSwitchTo(caller);
}

PG_FUNCTION_INFO_V1(pipeline_invoke);

Datum
pipeline_invoke(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *arguments;
	ExternalFunction *ef;
	int			nrows;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fn and arguments must not be null")));
	arguments = PG_GETARG_JSONB_P(1);
	check_execute(PG_GETARG_OID(0));
	ef = external_function_lookup(PG_GETARG_OID(0));
	nrows = check_invoke_arguments(ef, arguments);

	InitMaterializedSRF(fcinfo, 0);
	for (int start = 0; start < nrows; start += ef->max_batch_rows)
		invoke_batch(rsinfo, ef, arguments, start,
					 Min(ef->max_batch_rows, nrows - start));
	return (Datum) 0;
}
