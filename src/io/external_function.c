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
 * function per row does not grow memory.  A request made while another is
 * being read (a result's domain check calling an external function) gets a
 * context of its own, so the reply being read is not reset under it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "io/external_function.h"
#include "util/arguments.h"
#include "io/external_function_cache.h"
#include "io/json_values.h"
#include "io/lambda_protocol.h"

/* Reset at the start of every request: request body, parsed reply. */
static MemoryContext request_context = NULL;

/* Requests being made or read now; 0 again at the end of a transaction */
static int	requests_open = 0;

/* The memory of one request */
typedef struct RequestMemory
{
	MemoryContext cxt;			/* request_context, or a nested request's own */
	MemoryContext caller;
} RequestMemory;

/*
 * The requests open when each subtransaction began, innermost first: one
 * that aborts (an error caught by an EXCEPTION block) closes the requests
 * its error left open, so later calls are not taken for nested ones.
 */
typedef struct OpenAtSubxact
{
	SubTransactionId subxid;
	int			open;
	struct OpenAtSubxact *outer;
} OpenAtSubxact;

static OpenAtSubxact *open_at_subxact = NULL;

static void
forget_open_requests(XactEvent event, void *arg)
{
	/* a request an error left open is closed by now */
	requests_open = 0;
	open_at_subxact = NULL;
}

static void
restore_open_requests(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_START_SUB)
	{
		OpenAtSubxact *s = MemoryContextAlloc(TopTransactionContext, sizeof(OpenAtSubxact));

		s->subxid = mySubid;
		s->open = requests_open;
		s->outer = open_at_subxact;
		open_at_subxact = s;
	}
	else if ((event == SUBXACT_EVENT_ABORT_SUB || event == SUBXACT_EVENT_COMMIT_SUB) &&
			 open_at_subxact != NULL && open_at_subxact->subxid == mySubid)
	{
		OpenAtSubxact *done = open_at_subxact;

		if (event == SUBXACT_EVENT_ABORT_SUB)
			requests_open = done->open;
		open_at_subxact = done->outer;
		pfree(done);
	}
}

void
external_function_init(void)
{
	RegisterXactCallback(forget_open_requests, NULL);
	RegisterSubXactCallback(restore_open_requests, NULL);
}

/* Memory for a request, made current: request_context, reset, if no other is open */
static void
begin_request_memory(RequestMemory *m)
{
	if (request_context == NULL)
		request_context = AllocSetContextCreate(TopMemoryContext,
												"pipeline external call",
												ALLOCSET_DEFAULT_SIZES);
	if (requests_open == 0)
	{
		MemoryContextReset(request_context);
		m->cxt = request_context;
	}
	else
		m->cxt = AllocSetContextCreate(request_context, "pipeline nested external call",
									   ALLOCSET_DEFAULT_SIZES);
	requests_open++;
	m->caller = MemoryContextSwitchTo(m->cxt);
}

/* Done with the request's reply: the caller's context is current again */
static void
end_request_memory(RequestMemory *m)
{
	MemoryContextSwitchTo(m->caller);
	if (m->cxt != request_context)
		MemoryContextDelete(m->cxt);
	if (requests_open > 0)
		requests_open--;
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
	RequestMemory memory;
	StringInfoData body;
	JsonbContainer *results;
	JsonbValue *v;
	Datum		result = (Datum) 0;
	bool		isnull;

	begin_request_memory(&memory);
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

	MemoryContextSwitchTo(memory.caller);
	v = getIthJsonbValueFromContainer(results, 0);
	isnull = v->type == jbvNull;
	if (!isnull)
		result = lambda_cast_result(ef, v, 0, &isnull);
	end_request_memory(&memory);
	external_function_release(ef);
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

/* Which argument is being read, for the context line of its error. */
typedef struct ReadingArgument
{
	ExternalFunction *ef;
	int			row;
	int			arg;
} ReadingArgument;

static void
reading_argument_context(void *arg)
{
	ReadingArgument *reading = (ReadingArgument *) arg;

	errcontext("argument %d of row %d of invoke(%s), read as %s",
			   reading->arg + 1, reading->row + 1, reading->ef->signature,
			   format_type_be(reading->ef->args[reading->arg].typid));
}

/*
 * invoke()'s argument rows as calls would send them, all in one buffer and
 * separated by commas, so that a batch's rows are one span of it.  One
 * buffer rather than a string a row: 200,000 rows would otherwise take a
 * StringInfo's 1 kB each.
 */
typedef struct InvokeArguments
{
	StringInfoData json;		/* row 0, row 1, ... */
	int		   *row_end;		/* offset just past each row in json */
	int			nrows;
} InvokeArguments;

/*
 * Appends one row of invoke()'s arguments as a call would send it: each
 * value read as its parameter's type (so a value that does not fit is
 * refused, as a call's cast would refuse it) and written back as JSON by
 * that type.
 */
static void
append_argument_row(StringInfo buf, ExternalFunction *ef, JsonbContainer *row, int rowno)
{
	ReadingArgument reading = {ef, rowno, 0};
	ErrorContextCallback callback;

	appendStringInfoChar(buf, '[');
	callback.callback = reading_argument_context;
	callback.arg = &reading;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	for (reading.arg = 0; reading.arg < ef->nargs; reading.arg++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(row, reading.arg);
		bool		isnull;
		Datum		value = jsonb_value_to_datum(&ef->args[reading.arg], v, &isnull);

		if (reading.arg > 0)
			appendStringInfoChar(buf, ',');
		if (isnull)
			appendStringInfoString(buf, "null");
		else
			append_json_value(buf, &ef->args[reading.arg], value);
	}
	error_context_stack = callback.previous;
	appendStringInfoChar(buf, ']');
}

/*
 * Reads every row of arguments before anything is sent: a JSON array of
 * arrays of ef->nargs values that fit ef's parameter types.
 */
static void
read_invoke_arguments(ExternalFunction *ef, Jsonb *arguments, InvokeArguments *rows)
{
	MemoryContext values_context;
	MemoryContext old;

	if (!JB_ROOT_IS_ARRAY(arguments) || JB_ROOT_IS_SCALAR(arguments))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments must be a JSON array of argument arrays"),
				 errhint("Pass [[a1, a2, ...], ...], one inner array per call.")));
	rows->nrows = JsonContainerSize(&arguments->root);
	rows->row_end = palloc(sizeof(int) * Max(rows->nrows, 1));
	initStringInfo(&rows->json);

	/* what reading a row allocates (its values, their text) is done with */
	values_context = AllocSetContextCreate(CurrentMemoryContext, "invoke arguments",
										   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < rows->nrows; i++)
	{
		JsonbValue *row;
		int			nvalues;

		old = MemoryContextSwitchTo(values_context);
		row = getIthJsonbValueFromContainer(&arguments->root, i);
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
		if (i > 0)
			appendStringInfoChar(&rows->json, ',');
		append_argument_row(&rows->json, ef, row->val.binary.data, i);
		MemoryContextSwitchTo(old);
		MemoryContextReset(values_context);
		rows->row_end[i] = rows->json.len;
	}
	MemoryContextDelete(values_context);
}

/*
 * Adds (ordinality, result) for result number index (from 0, of all the
 * call's rows) to the tuplestore, once the result fits the return type.
 * Run in memory reset after each result: the text a result gives its type's
 * input function can be thousands of times its JSON ("1e131071" is 131,072
 * digits), so casting a batch's results in one context let a small reply
 * take gigabytes.
 */
static void
invoke_put_result(ReturnSetInfo *rsinfo, ExternalFunction *ef, JsonbValue *v, int index)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		isnull;

	values[0] = Int64GetDatum((int64) index + 1);
	if (v->type == jbvNull)
		nulls[1] = true;
	else
	{
		/* the result must fit the return type, though it stays JSON */
		(void) lambda_cast_result(ef, v, index, &isnull);
		values[1] = JsonbPGetDatum(JsonbValueToJsonb(v));
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Sends rows start .. start + count - 1 in one request and adds a row
 * (ordinality, result) per result to the tuplestore.
 */
static void
invoke_batch(ReturnSetInfo *rsinfo, ExternalFunction *ef, const InvokeArguments *rows,
			 int start, int count)
{
	RequestMemory memory;
	StringInfoData body;
	JsonbContainer *results;
	MemoryContext result_cxt;
	int			first = start == 0 ? 0 : rows->row_end[start - 1] + 1;	/* past the comma */
	int			last = rows->row_end[start + count - 1];

	begin_request_memory(&memory);
	initStringInfo(&body);
	lambda_begin_request(&body, ef, count);
	appendBinaryStringInfo(&body, rows->json.data + first, last - first);
	lambda_end_request(&body);

	results = lambda_request_results(ef, &body, count);
	/* each result read in memory of its own (invoke_put_result()) */
	result_cxt = AllocSetContextCreate(CurrentMemoryContext, "invoke result",
									   ALLOCSET_DEFAULT_SIZES);
	for (int i = 0; i < count; i++)
	{
		MemoryContext reply_cxt = MemoryContextSwitchTo(result_cxt);

		invoke_put_result(rsinfo, ef, getIthJsonbValueFromContainer(results, i), start + i);
		MemoryContextSwitchTo(reply_cxt);
		MemoryContextReset(result_cxt);
	}
	MemoryContextDelete(result_cxt);
	end_request_memory(&memory);
}

PG_FUNCTION_INFO_V1(pipeline_invoke);

Datum
pipeline_invoke(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *arguments;
	ExternalFunction *ef;
	InvokeArguments rows;

	arguments_require_not_null(fcinfo, 2);
	arguments = PG_GETARG_JSONB_P(1);
	check_execute(PG_GETARG_OID(0));
	ef = external_function_lookup(PG_GETARG_OID(0));
	read_invoke_arguments(ef, arguments, &rows);

	InitMaterializedSRF(fcinfo, 0);
	for (int start = 0; start < rows.nrows; start += ef->max_batch_rows)
		invoke_batch(rsinfo, ef, &rows, start,
					 Min(ef->max_batch_rows, rows.nrows - start));
	external_function_release(ef);
	return (Datum) 0;
}
