/*-------------------------------------------------------------------------
 * lambda_protocol.c
 *	  Requests and replies of the Redshift Lambda UDF protocol: building
 *	  the request, sending it with retries, checking the reply.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "common/jsonapi.h"
#include "common/pg_prng.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "io/allowed_endpoints.h"
#include "io/external_function_cache.h"
#include "io/http.h"
#include "io/json_values.h"
#include "io/lambda_protocol.h"

/* The "database" of every request: this backend's database. */
static char *database_name = NULL;

void
lambda_begin_request(StringInfo buf, ExternalFunction *ef, int num_records)
{
	uint64		r1 = pg_prng_uint64(&pg_global_prng_state);
	uint64		r2 = pg_prng_uint64(&pg_global_prng_state);

	if (database_name == NULL)
		database_name = MemoryContextStrdup(TopMemoryContext,
											get_database_name(MyDatabaseId));

	/* a version 4 UUID */
	appendStringInfo(buf, "{\"request_id\":\"%08x-%04x-4%03x-%04x-%012llx\"",
					 (uint32) (r1 >> 32), (uint32) (r1 >> 16) & 0xffff,
					 (uint32) r1 & 0x0fff,
					 (uint32) ((r2 >> 48) & 0x3fff) | 0x8000,
					 (unsigned long long) (r2 & UINT64CONST(0xffffffffffff)));
	appendStringInfoString(buf, ",\"cluster\":");
	escape_json(buf, cluster_name != NULL ? cluster_name : "");
	appendStringInfoString(buf, ",\"user\":");
	escape_json(buf, GetUserNameFromId(GetUserId(), false));
	appendStringInfoString(buf, ",\"database\":");
	escape_json(buf, database_name);
	appendStringInfoString(buf, ",\"external_function\":");
	escape_json(buf, ef->qualified_name);
	appendStringInfo(buf, ",\"query_id\":" INT64_FORMAT ",\"num_records\":%d,\"arguments\":[",
					 (int64) pgstat_get_my_query_id(), num_records);
}

void
lambda_end_request(StringInfo buf)
{
	appendStringInfoString(buf, "]}");
}

/* ---------------------------------------------------------------------
 * Sending, with retries
 * ---------------------------------------------------------------------
 */

/*
 * Refuses a request to ef's endpoint unless pipeline.allowed_endpoints, as it
 * is now, admits it.  The verdict is kept until the setting changes.
 */
static void
require_allowed(ExternalFunction *ef)
{
	uint64		generation = allowed_endpoints_generation();

	if (ef->url_error != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("external function %s has an invalid endpoint \"%s\"",
						ef->signature, ef->endpoint),
				 errdetail("%s.", ef->url_error),
				 errhint("Recreate the function with pipeline.create_external_function().")));
	if (ef->verdict_generation != generation)
	{
		ef->allowed = endpoint_allowed(&ef->url);
		ef->verdict_generation = generation;
	}
	if (!ef->allowed)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("endpoint \"%s\" of external function %s is not allowed",
						ef->endpoint, ef->signature),
				 endpoint_refused_detail(&ef->url),
				 errhint("A superuser may add a prefix of the endpoint to pipeline.allowed_endpoints, or the function may be recreated with an allowed endpoint.")));
}

/*
 * POSTs body to ef's endpoint until a reply that is not worth retrying or
 * the last retry, sleeping a doubling backoff (on the latch, so interrupts
 * end it) between attempts.  Returns the number of attempts.
 */
static int
post_with_retries(ExternalFunction *ef, StringInfo body, HttpResult *res)
{
	for (int attempt = 0;; attempt++)
	{
		require_allowed(ef);
		http_post(ef->url.url, body->data, body->len, ef->timeout_ms, res);
		if (!http_retryable(res) || attempt >= ef->retries)
			return attempt + 1;
		http_backoff(attempt);
	}
}

static char *endpoint_text(const char *text);

/*
 * The first 200 bytes or so of a reply's body, for an error's DETAIL, in
 * the server encoding: read as UTF-8 and cut at a character when they are
 * valid UTF-8 and so is the database, else with every byte outside ASCII
 * escaped; "..." when cut.
 */
static char *
raw_reply_text(const char *body, size_t len)
{
	StringInfoData out;
	int			encoding = GetDatabaseEncoding();
	int			keep = pg_encoding_mbcliplen(PG_UTF8, body, len, Min(len, 200));

	initStringInfo(&out);
	if ((encoding == PG_UTF8 || encoding == PG_SQL_ASCII) &&
		pg_verify_mbstr(PG_UTF8, body, keep, true))
		appendBinaryStringInfo(&out, body, keep);
	else
		for (int i = 0; i < keep; i++)
		{
			if (IS_HIGHBIT_SET(body[i]))
				appendStringInfo(&out, "\\x%02x", (unsigned char) body[i]);
			else
				appendStringInfoChar(&out, body[i]);
		}
	return psprintf("%s%s", endpoint_text(out.data), (size_t) keep < len ? "..." : "");
}

/* Raises the error of a call whose last attempt failed (res). */
static void
pg_attribute_noreturn()
report_failed_call(ExternalFunction *ef, HttpResult *res, int attempts)
{
	switch (res->outcome)
	{
		case HTTP_OK:
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("external function %s at \"%s\" returned HTTP status %ld",
							ef->signature, ef->endpoint, res->status),
					 errdetail_plural("Reply: %s (%d attempt).",
									  "Reply: %s (%d attempts).",
									  attempts,
									  raw_reply_text(res->body, res->body_len),
									  attempts)));
			break;
		case HTTP_CONNECT_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not connect to external function %s at \"%s\": %s",
							ef->signature, ef->endpoint, res->error),
					 errdetail_plural("Tried %d time.", "Tried %d times.",
									  attempts, attempts)));
			break;
		case HTTP_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("external function %s at \"%s\" timed out after %ld ms",
							ef->signature, ef->endpoint, ef->timeout_ms),
					 errdetail_plural("Tried %d time: %s.", "Tried %d times: %s.",
									  attempts, attempts, res->error)));
			break;
		case HTTP_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("reply of external function %s at \"%s\" exceeds %d bytes",
							ef->signature, ef->endpoint, HTTP_MAX_RESPONSE)));
			break;
		case HTTP_TRANSFER_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("external function %s at \"%s\" failed: %s",
							ef->signature, ef->endpoint, res->error),
					 errdetail_plural("Tried %d time.", "Tried %d times.",
									  attempts, attempts)));
			break;
	}
	pg_unreachable();
}

/*
 * POSTs body to ef's endpoint with retries; throws when the last attempt
 * failed.  On return res holds a reply with a status below 400.
 */
static void
call_endpoint(ExternalFunction *ef, StringInfo body, HttpResult *res)
{
	char	   *utf8 = pg_server_to_any(body->data, body->len, PG_UTF8);
	int			attempts;

	/* JSON is UTF-8 on the wire, whatever the database's encoding */
	if (utf8 != body->data)
	{
		resetStringInfo(body);
		appendStringInfoString(body, utf8);
	}
	attempts = post_with_retries(ef, body, res);

	/*
	 * a large body read from here on in the call's memory, which an error
	 * frees too, not in the buffer kept for the next request
	 */
	if (res->body_len > HTTP_KEPT_BODY)
	{
		if (res->outcome == HTTP_TOO_LARGE)
		{
			/* not read at all */
			res->body = "";
			res->body_len = 0;
		}
		else
			res->body = pnstrdup(res->body, res->body_len);
		http_release_large_body();
	}

	/* no redirect is followed: a 3xx is no reply either */
	if (res->outcome != HTTP_OK || res->status >= 300)
		report_failed_call(ef, res, attempts);
}

/* ---------------------------------------------------------------------
 * Reading the reply
 * ---------------------------------------------------------------------
 */

/* Parses JSON text that pg_parse_json accepted first; errors name ef. */
static Jsonb *
parse_json_reply(ExternalFunction *ef, char *reply_text)
{
	JsonLexContext *lex;
	JsonParseErrorType rc;
	MemoryContext caller = CurrentMemoryContext;

	lex = makeJsonLexContextCstringLen(reply_text, strlen(reply_text), GetDatabaseEncoding(), true);
	PG_TRY();
	{
		rc = pg_parse_json(lex, &nullSemAction);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		/* the parser recurses once per level: too deep is invalid too */
		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		if (error->sqlerrcode != ERRCODE_STATEMENT_TOO_COMPLEX)
			PG_RE_THROW();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned invalid JSON",
						ef->signature, ef->endpoint),
				 errdetail("The reply is nested too deeply.")));
	}
	PG_END_TRY();
	if (rc != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned invalid JSON",
						ef->signature, ef->endpoint),
				 errdetail("%s", json_errdetail(rc, lex))));
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(reply_text)));
}

static void
reading_reply_context(void *arg)
{
	ExternalFunction *ef = arg;

	errcontext("reply of external function %s at \"%s\"", ef->signature, ef->endpoint);
}

/*
 * A reply's body (JSON: UTF-8) as text in the server encoding, refused if
 * it is not UTF-8 or holds a NUL byte: its strings become the function's
 * text results.
 */
static char *
reply_in_server_encoding(ExternalFunction *ef, HttpResult *res)
{
	ErrorContextCallback reading;
	char	   *text;

	if (memchr(res->body, '\0', res->body_len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned invalid JSON",
						ef->signature, ef->endpoint),
				 errdetail("The reply contains a NUL byte.")));
	if (!pg_verify_mbstr(PG_UTF8, res->body, res->body_len, true))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned a reply that is not valid UTF-8",
						ef->signature, ef->endpoint),
				 errdetail("Reply: %s", raw_reply_text(res->body, res->body_len))));
	/* verified above: a UTF-8 database takes it as it is */
	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII)
		return pnstrdup(res->body, res->body_len);
	/* a character the database cannot hold: say whose reply it was */
	reading.callback = reading_reply_context;
	reading.arg = ef;
	reading.previous = error_context_stack;
	error_context_stack = &reading;
	text = pg_any_to_server(pnstrdup(res->body, res->body_len), res->body_len, PG_UTF8);

	error_context_stack = reading.previous;
	return text;
}

/*
 * The reply as a JSON object; a JSON string holding JSON is read in turn,
 * since a Lambda handler returns json.dumps(...).
 */
static Jsonb *
reply_object(ExternalFunction *ef, HttpResult *res)
{
	Jsonb	   *reply;
	JsonbValue	scalar;

	reply = parse_json_reply(ef, reply_in_server_encoding(ef, res));
	if (JB_ROOT_IS_SCALAR(reply) &&
		JsonbExtractScalar(&reply->root, &scalar) && scalar.type == jbvString)
		reply = parse_json_reply(ef, pnstrdup(scalar.val.string.val, scalar.val.string.len));
	if (!JB_ROOT_IS_OBJECT(reply))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned a reply that is not a JSON object",
						ef->signature, ef->endpoint)));
	return reply;
}

/*
 * An endpoint's text for an error message: control characters escaped (a
 * newline would start what looks like another line of the server log) and
 * at most 1,000 bytes, cut at a character boundary.
 */
static char *
endpoint_text(const char *text)
{
	StringInfoData out;
	int			len = strlen(text);
	int			keep = pg_mbcliplen(text, len, Min(len, 1000));

	initStringInfo(&out);
	for (int i = 0; i < keep; i++)
	{
		unsigned char c = (unsigned char) text[i];

		if (c == '\n')
			appendStringInfoString(&out, "\\n");
		else if (c < ' ' || c == 0x7f)
			appendStringInfo(&out, "\\x%02x", c);
		else
			appendStringInfoChar(&out, (char) c);
	}
	if (keep < len)
		appendStringInfoString(&out, "...");
	return out.data;
}

/* Errors unless the reply says "success": true, with its error_msg. */
static void
check_success(ExternalFunction *ef, Jsonb *reply)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&reply->root, "success", 7, NULL);
	JsonbValue *msg;
	char	   *error_text = NULL;

	if (v == NULL || v->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned a reply without a boolean \"success\"",
						ef->signature, ef->endpoint)));
	if (v->val.boolean)
		return;
	msg = getKeyJsonValueFromContainer(&reply->root, "error_msg", 9, NULL);
	/* a message that is no string (an object, say) is shown as its JSON */
	if (msg != NULL && msg->type != jbvNull)
		error_text = endpoint_text(msg->type == jbvBinary ? jsonb_value_text(msg) :
								   json_scalar_text(msg));
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("external function %s at \"%s\" failed: %s",
					ef->signature, ef->endpoint,
					error_text ? error_text : "(no error_msg)")));
}

/* Errors if the reply gives a num_records other than the one sent. */
static void
check_num_records(ExternalFunction *ef, Jsonb *reply, int num_records)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&reply->root, "num_records", 11, NULL);
	char	   *s;

	if (v == NULL || v->type == jbvNull)
		return;
	s = v->type == jbvNumeric ? json_scalar_text(v) : jsonb_value_text(v);
	if (v->type != jbvNumeric || strcmp(s, psprintf("%d", num_records)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned a wrong num_records",
						ef->signature, ef->endpoint),
				 errdetail_plural("Sent %d record, the reply says %s.",
								  "Sent %d records, the reply says %s.",
								  num_records,
								  num_records, v->type == jbvNumeric ? s :
								  psprintf("%s, not a number", endpoint_text(s)))));
}

/* The reply's "results" array; errors unless it has num_records values. */
static JsonbContainer *
results_array(ExternalFunction *ef, Jsonb *reply, int num_records)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&reply->root, "results", 7, NULL);
	JsonbContainer *results;
	int			n;

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned a reply without a \"results\" array",
						ef->signature, ef->endpoint)));
	results = v->val.binary.data;
	n = JsonContainerSize(results);
	if (n != num_records)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
				 errmsg("external function %s at \"%s\" returned a wrong number of results",
						ef->signature, ef->endpoint),
				 errdetail_plural("Sent %d record, got %d results.",
								  "Sent %d records, got %d results.",
								  num_records, num_records, n)));
	return results;
}

JsonbContainer *
lambda_request_results(ExternalFunction *ef, StringInfo body, int num_records)
{
	HttpResult	res;
	Jsonb	   *reply;

	call_endpoint(ef, body, &res);
	reply = reply_object(ef, &res);
	check_success(ef, reply);
	check_num_records(ef, reply, num_records);
	return results_array(ef, reply, num_records);
}

/* What a result being cast is, for the context line of its error. */
typedef struct CastingResult
{
	ExternalFunction *ef;
	int			index;
} CastingResult;

static void
casting_result_context(void *arg)
{
	CastingResult *casting = (CastingResult *) arg;

	errcontext("result %d of external function %s at \"%s\", read as %s",
			   casting->index + 1, casting->ef->signature, casting->ef->endpoint,
			   casting->ef->return_type_name);
}

Datum
lambda_cast_result(ExternalFunction *ef, JsonbValue *result, int index,
				   bool *isnull)
{
	CastingResult casting = {ef, index};
	ErrorContextCallback callback;
	Datum		value;

	callback.callback = casting_result_context;
	callback.arg = &casting;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	value = jsonb_value_to_datum(&ef->ret, result, isnull);
	error_context_stack = callback.previous;
	return value;
}
