/*-------------------------------------------------------------------------
 * external_function.c
 *	  External functions: SQL functions whose body is an HTTP endpoint.
 *
 * create_external_function() creates an ordinary LANGUAGE C function whose
 * symbol is pipeline_external_call, the one handler for every external
 * function, and records its endpoint and settings in
 * pipeline.external_function_definitions.  The handler finds them by the
 * function's OID (cached per backend, flushed on any pg_proc change), sends
 * one Redshift Lambda UDF request per call and casts the reply's result to
 * the function's return type.  invoke() sends many rows, max_batch_rows per
 * request.
 *
 * The endpoint is judged against pipeline.allowed_endpoints before every
 * request, not only at creation, in the normal form libcurl will request
 * (http_url_parse): narrowing the setting stops existing functions at their
 * next call.  The normal form of each function's endpoint is kept in its
 * cache entry with the verdict and the generation of the setting it was
 * reached under, so a call costs one comparison of two counters.
 *
 * Values travel as JSON: arguments are encoded by type (numbers, booleans,
 * strings, dates as ISO strings, json/jsonb as is, arrays as JSON arrays,
 * NULL as null); replies are parsed with PostgreSQL's JSON parser and each
 * result goes through the return type's input function.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/interval.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "model/catalog.h"
#include "io/external_function.h"
#include "util/runas.h"
#include "io/http.h"

char	   *pipeline_allowed_endpoints = NULL;

/*
 * pipeline.allowed_endpoints, parsed.  The assign hook counts every change
 * of the setting (SET, RESET, reload, the end of a transaction that SET it
 * locally); the list is parsed again on first use after one.
 */
typedef struct AllowedPrefix
{
	const char *text;			/* the entry as written */
	bool		valid;
	HttpUrl		url;
} AllowedPrefix;

static uint64 allow_list_generation = 1;
static uint64 allow_list_parsed = 0;	/* generation allow_list is of */
static bool allow_list_set = false; /* false: any http or https URL */
static List *allow_list = NIL;	/* of AllowedPrefix, in allow_list_context */
static MemoryContext allow_list_context = NULL;

/* How a value of one SQL type is written to and read from JSON. */
typedef enum JsonKind
{
	JK_BOOL,
	JK_NUMBER,
	JK_STRING,
	JK_DATETIME,
	JK_JSON,
	JK_JSONB,
	JK_ARRAY
} JsonKind;

typedef struct TypeIO
{
	Oid			typid;
	JsonKind	kind;
	FmgrInfo	out;
	FmgrInfo	in;
	Oid			ioparam;
	/* arrays: the element type */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	struct TypeIO *elem;
} TypeIO;

/* One external function as the handler needs it; a hash entry. */
typedef struct ExternalFunction
{
	Oid			fn;				/* hash key */
	bool		valid;
	MemoryContext mcxt;			/* holds everything below */
	char	   *signature;		/* for messages */
	char	   *qualified_name; /* sent as external_function */
	char	   *endpoint;		/* as created; for messages */
	HttpUrl		url;			/* its normal form; url.url is requested */
	const char *url_error;		/* why endpoint does not parse, or NULL */
	uint64		verdict_generation; /* allow_list_generation of allowed */
	bool		allowed;
	int			max_batch_rows;
	long		timeout_ms;
	int			retries;
	int			nargs;
	TypeIO	   *args;
	TypeIO		ret;
} ExternalFunction;

static HTAB *function_cache = NULL;

/* Reset at the start of every request: request body, parsed reply. */
static MemoryContext request_context = NULL;

static char *database_name = NULL;

/* ---------------------------------------------------------------------
 * Settings
 * ---------------------------------------------------------------------
 */

/*
 * Splits the setting into entries, parsing each; returns a List of
 * AllowedPrefix in the current memory context.
 */
static List *
parse_allow_list(const char *setting)
{
	List	   *entries = NIL;
	char	   *list = pstrdup(setting);
	char	   *save = NULL;

	for (char *tok = strtok_r(list, ",", &save); tok != NULL;
		 tok = strtok_r(NULL, ",", &save))
	{
		AllowedPrefix *entry;
		const char *error;
		char	   *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		entry = palloc0(sizeof(AllowedPrefix));
		entry->text = tok;
		entry->valid = http_url_parse(tok, &entry->url, &error) &&
			!entry->url.has_userinfo && !entry->url.has_query &&
			!entry->url.has_fragment && !entry->url.ambiguous_path;
		entries = lappend(entries, entry);
	}
	return entries;
}

/*
 * A SET (or ALTER ROLE/DATABASE ... SET) with an entry that is not a plain
 * http(s)://host[:port][/path] URL is refused with the reason.  From the
 * configuration file such an entry is accepted and then matches nothing, so
 * a typo there closes the list rather than opening it.
 */
static bool
check_allowed_endpoints(char **newval, void **extra, GucSource source)
{
	MemoryContext cxt;
	MemoryContext old;
	bool		ok = true;

	if (*newval == NULL || source < PGC_S_INTERACTIVE)
		return true;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pipeline allowed_endpoints check",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	{
		ListCell   *lc;

		foreach(lc, parse_allow_list(*newval))
		{
			AllowedPrefix *entry = lfirst(lc);
			const char *error = NULL;
			HttpUrl		url;

			if (entry->valid)
				continue;
			if (!http_url_parse(entry->text, &url, &error))
				GUC_check_errdetail("Entry \"%s\": %s.", entry->text, error);
			else
				GUC_check_errdetail("Entry \"%s\" is not of the form http(s)://host[:port][/path]%s.",
									entry->text,
									url.ambiguous_path ?
									" (its path holds an encoded '/' or '\\', a '\\', or a dot segment followed by ';')" : "");
			GUC_check_errhint("List URL prefixes separated by commas, for example \"https://api.example.com/lambda/, http://127.0.0.1:9000\".");
			ok = false;
			break;
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return ok;
}

static void
assign_allowed_endpoints(const char *newval, void *extra)
{
	allow_list_generation++;
}

void
external_define_settings(void)
{
	DefineCustomStringVariable("pipeline.allowed_endpoints",
							   "Comma-separated URL prefixes external functions may call (empty: any http or https URL).",
							   "Checked against the normalised URL at every call.",
							   &pipeline_allowed_endpoints, "",
							   PGC_SUSET, 0, check_allowed_endpoints,
							   assign_allowed_endpoints, NULL);
}

/* Brings allow_list up to date with the setting. */
static void
load_allow_list(void)
{
	MemoryContext old;

	if (allow_list_parsed == allow_list_generation)
		return;
	if (allow_list_context == NULL)
		allow_list_context = AllocSetContextCreate(TopMemoryContext,
												   "pipeline allowed_endpoints",
												   ALLOCSET_SMALL_SIZES);
	MemoryContextReset(allow_list_context);
	allow_list = NIL;
	allow_list_parsed = 0;
	allow_list_set = pipeline_allowed_endpoints != NULL &&
		pipeline_allowed_endpoints[0] != '\0';
	if (allow_list_set)
	{
		old = MemoryContextSwitchTo(allow_list_context);
		allow_list = parse_allow_list(pipeline_allowed_endpoints);
		MemoryContextSwitchTo(old);
	}
	allow_list_parsed = allow_list_generation;
}

/* Does the setting admit url (the normal form of an endpoint)? */
static bool
endpoint_allowed(const HttpUrl *url)
{
	ListCell   *lc;

	load_allow_list();
	if (!allow_list_set)
		return true;
	foreach(lc, allow_list)
	{
		AllowedPrefix *entry = lfirst(lc);

		if (entry->valid && http_url_under(url, &entry->url))
			return true;
	}
	return false;
}

/* The DETAIL of an endpoint the setting does not admit. */
static int
endpoint_refused_detail(const HttpUrl *url)
{
	if (url->ambiguous_path)
		return errdetail("Its path \"%s\" may be read differently by the server (it holds an encoded '/' or '\\', a '\\', or a dot segment followed by ';'), so no prefix of pipeline.allowed_endpoints (\"%s\") admits it.",
						 url->path, pipeline_allowed_endpoints);
	return errdetail("It resolves to \"%s\", which matches no prefix of pipeline.allowed_endpoints (\"%s\").",
					 url->url, pipeline_allowed_endpoints);
}

/* ---------------------------------------------------------------------
 * Types
 * ---------------------------------------------------------------------
 */

/* Fills io for typid, or returns false when the type does not map to JSON. */
static bool
type_io_init(TypeIO *io, Oid typid, MemoryContext mcxt)
{
	char		category;
	bool		preferred;
	Oid			func;
	bool		isvarlena;

	memset(io, 0, sizeof(TypeIO));
	io->typid = typid;
	if (typid == JSONOID)
		io->kind = JK_JSON;
	else if (typid == JSONBOID)
		io->kind = JK_JSONB;
	else
	{
		get_type_category_preferred(typid, &category, &preferred);
		switch (category)
		{
			case TYPCATEGORY_BOOLEAN:
				io->kind = JK_BOOL;
				break;
			case TYPCATEGORY_NUMERIC:
				io->kind = JK_NUMBER;
				break;
			case TYPCATEGORY_STRING:
				io->kind = JK_STRING;
				break;
			case TYPCATEGORY_DATETIME:
				io->kind = JK_DATETIME;
				break;
			case TYPCATEGORY_ARRAY:
				{
					Oid			elemtype = get_element_type(typid);

					if (!OidIsValid(elemtype) || type_is_array(elemtype))
						return false;
					io->kind = JK_ARRAY;
					io->elem = MemoryContextAlloc(mcxt, sizeof(TypeIO));
					if (!type_io_init(io->elem, elemtype, mcxt))
						return false;
					get_typlenbyvalalign(elemtype, &io->elmlen, &io->elmbyval,
										 &io->elmalign);
					break;
				}
			default:
				return false;
		}
	}
	getTypeOutputInfo(typid, &func, &isvarlena);
	fmgr_info_cxt(func, &io->out, mcxt);
	getTypeInputInfo(typid, &func, &io->ioparam);
	fmgr_info_cxt(func, &io->in, mcxt);
	return true;
}

static bool
type_supported(Oid typid)
{
	TypeIO		io;

	return type_io_init(&io, typid, CurrentMemoryContext);
}

/* Appends value (not null) as JSON. */
static void
append_json_value(StringInfo buf, TypeIO *io, Datum value)
{
	char	   *s;

	switch (io->kind)
	{
		case JK_BOOL:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			return;
		case JK_ARRAY:
			{
				text	   *t = DatumGetTextPP(DirectFunctionCall1(array_to_json, value));

				appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				return;
			}
		case JK_DATETIME:
			if (io->typid == DATEOID || io->typid == TIMEOID ||
				io->typid == TIMETZOID || io->typid == TIMESTAMPOID ||
				io->typid == TIMESTAMPTZOID)
			{
				char		dt[MAXDATELEN + 1];

				JsonEncodeDateTime(dt, value, io->typid, NULL);
				appendStringInfoChar(buf, '"');
				appendStringInfoString(buf, dt);
				appendStringInfoChar(buf, '"');
				return;
			}
			break;
		default:
			break;
	}

	s = OutputFunctionCall(&io->out, value);
	switch (io->kind)
	{
		case JK_NUMBER:
			/* NaN and infinities are not JSON numbers: send them as strings */
			if (isdigit((unsigned char) s[0]) ||
				(s[0] == '-' && isdigit((unsigned char) s[1])))
				appendStringInfoString(buf, s);
			else
				escape_json(buf, s);
			break;
		case JK_JSON:
		case JK_JSONB:
			appendStringInfoString(buf, s);
			break;
		default:
			escape_json(buf, s);
			break;
	}
	pfree(s);
}

/*
 * The text a scalar JSON value gives to an input function; NULL when the
 * value is an object or array (which only json, jsonb and arrays accept).
 */
static char *
json_scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

/*
 * Converts one JSON value to a Datum of io's type in the current memory
 * context.  Throws the input function's own error, or a generic one, when
 * the value does not fit; the caller turns it into a message naming the
 * function.
 */
static Datum
jsonb_value_to_datum(TypeIO *io, JsonbValue *v, bool *isnull)
{
	char	   *s;

	*isnull = false;
	if (v->type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (io->kind == JK_JSONB)
		return JsonbPGetDatum(JsonbValueToJsonb(v));
	if (io->kind == JK_JSON)
	{
		Jsonb	   *jb = JsonbValueToJsonb(v);

		s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		return InputFunctionCall(&io->in, s, io->ioparam, -1);
	}
	if (io->kind == JK_ARRAY && v->type == jbvBinary &&
		JsonContainerIsArray(v->val.binary.data))
	{
		JsonbContainer *c = v->val.binary.data;
		int			n = JsonContainerSize(c);
		Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
		bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
		int			dims[1];
		int			lbs[1] = {1};

		for (int i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(c, i);

			elems[i] = jsonb_value_to_datum(io->elem, e, &nulls[i]);
		}
		if (n == 0)
			return PointerGetDatum(construct_empty_array(io->elem->typid));
		dims[0] = n;
		return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
												  io->elem->typid, io->elmlen,
												  io->elmbyval, io->elmalign));
	}

	s = json_scalar_text(v);
	if (s == NULL)
	{
		if (io->kind != JK_STRING)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("a JSON object or array is not a %s",
							format_type_be(io->typid))));
		/* a string type takes the JSON text of an object or array */
		{
			Jsonb	   *jb = JsonbValueToJsonb(v);

			s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
		}
	}
	return InputFunctionCall(&io->in, s, io->ioparam, -1);
}

/* ---------------------------------------------------------------------
 * The per-backend cache of external functions
 * ---------------------------------------------------------------------
 */
static void
invalidate_function_cache(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	ExternalFunction *ef;

	if (function_cache == NULL)
		return;
	hash_seq_init(&status, function_cache);
	while ((ef = hash_seq_search(&status)) != NULL)
		ef->valid = false;
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (function_cache != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ExternalFunction);
	ctl.hcxt = CacheMemoryContext;
	function_cache = hash_create("pipeline external functions", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterSyscacheCallback(PROCOID, invalidate_function_cache, (Datum) 0);
	request_context = AllocSetContextCreate(TopMemoryContext,
											"pipeline external call",
											ALLOCSET_DEFAULT_SIZES);
}

/* Reads the settings of fn from the catalog into ef (in ef->mcxt). */
static void
load_function(ExternalFunction *ef, Oid fn)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(fn)};
	MemoryContext oldcxt;
	Oid		   *fnargs;
	int			nargs;
	Oid			rettype;
	bool		isnull;
	char	   *endpoint;
	int			max_batch_rows;
	int64		timeout_ms;
	int			retries;

	SPI_connect();
	runas_spi(InvalidOid,
			  "SELECT endpoint, max_batch_rows, "
			  "       (extract(epoch FROM timeout) * 1000)::int8, retries "
			  "  FROM pipeline.external_function_definitions WHERE fn = $1",
			  1, argtypes, values, NULL, true, 1, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s is not an external function",
						format_procedure(fn)),
				 errhint("Create external functions with pipeline.create_external_function().")));
	endpoint = MemoryContextStrdup(ef->mcxt,
								   TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc,
																	 1, &isnull)));
	max_batch_rows = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 2, &isnull));
	timeout_ms = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 3, &isnull));
	retries = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 4, &isnull));
	SPI_finish();

	rettype = get_func_signature(fn, &fnargs, &nargs);

	oldcxt = MemoryContextSwitchTo(ef->mcxt);
	ef->endpoint = endpoint;
	ef->url_error = NULL;
	if (!http_url_parse(endpoint, &ef->url, &ef->url_error))
		Assert(ef->url_error != NULL);
	ef->verdict_generation = 0;
	ef->allowed = false;
	ef->max_batch_rows = max_batch_rows;
	ef->timeout_ms = (long) Max(timeout_ms, 1);
	ef->retries = retries;
	ef->signature = format_procedure(fn);
	ef->qualified_name = quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
													get_func_name(fn));
	ef->nargs = nargs;
	ef->args = palloc0(sizeof(TypeIO) * Max(nargs, 1));
	for (int i = 0; i < nargs; i++)
		if (!type_io_init(&ef->args[i], fnargs[i], ef->mcxt))
			elog(ERROR, "external function %s has an unsupported argument type",
				 ef->signature);
	if (!type_io_init(&ef->ret, rettype, ef->mcxt))
		elog(ERROR, "external function %s has an unsupported return type",
			 ef->signature);
	MemoryContextSwitchTo(oldcxt);
}

/* The cached external function fn; errors when fn is not one. */
static ExternalFunction *
lookup_function(Oid fn)
{
	ExternalFunction *ef;
	bool		found;

	ensure_cache();
	ef = hash_search(function_cache, &fn, HASH_ENTER, &found);
	if (found && ef->valid)
		return ef;
	if (found && ef->mcxt != NULL)
		MemoryContextDelete(ef->mcxt);
	ef->valid = false;
	ef->mcxt = AllocSetContextCreate(CacheMemoryContext, "pipeline external function",
									 ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		load_function(ef, fn);
	}
	PG_CATCH();
	{
		MemoryContextDelete(ef->mcxt);
		hash_search(function_cache, &fn, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ef->valid = true;
	return ef;
}

/* ---------------------------------------------------------------------
 * Requests and replies
 * ---------------------------------------------------------------------
 */

/* Starts a request body, up to and including "arguments":[ */
static void
begin_request(StringInfo buf, ExternalFunction *ef, int num_records)
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

static void
end_request(StringInfo buf)
{
	appendStringInfoString(buf, "]}");
}

static bool
retryable(HttpResult *res)
{
	if (res->outcome == HTTP_OK)
		return res->status >= 500;
	return res->outcome != HTTP_TOO_LARGE;
}

/*
 * Refuses a request to ef's endpoint unless pipeline.allowed_endpoints, as it
 * is now, admits it.  The verdict is kept until the setting changes.
 */
static void
require_allowed(ExternalFunction *ef)
{
	if (ef->url_error != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("external function %s has an invalid endpoint \"%s\"",
						ef->signature, ef->endpoint),
				 errdetail("%s.", ef->url_error),
				 errhint("Recreate the function with pipeline.create_external_function().")));
	if (ef->verdict_generation != allow_list_generation)
	{
		ef->allowed = endpoint_allowed(&ef->url);
		ef->verdict_generation = allow_list_generation;
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
 * POSTs body to ef's endpoint, retrying connection failures, timeouts and
 * 5xx replies with a doubling, interruptible backoff; throws when the last
 * attempt failed.  On return res holds a reply with a status below 400.
 */
static void
call_endpoint(ExternalFunction *ef, StringInfo body, HttpResult *res)
{
	int			attempt;

	for (attempt = 0;; attempt++)
	{
		long		backoff_ms;

		require_allowed(ef);
		http_post(ef->url.url, body->data, body->len, ef->timeout_ms, res);
		if (!retryable(res) || attempt >= ef->retries)
			break;
		backoff_ms = Min(100L << Min(attempt, 10), 5000L);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	switch (res->outcome)
	{
		case HTTP_OK:
			if (res->status >= 400)
				ereport(ERROR,
						(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
						 errmsg("external function %s at \"%s\" returned HTTP status %ld",
								ef->signature, ef->endpoint, res->status),
						 errdetail_plural("Reply: %.200s%s (%d attempt).",
										  "Reply: %.200s%s (%d attempts).",
										  attempt + 1,
										  res->body, res->body_len > 200 ? "..." : "",
										  attempt + 1)));
			return;
		case HTTP_CONNECT_FAILED:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not connect to external function %s at \"%s\": %s",
							ef->signature, ef->endpoint, res->error),
					 errdetail_plural("Tried %d time.", "Tried %d times.",
									  attempt + 1, attempt + 1)));
			break;
		case HTTP_TIMED_OUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("external function %s at \"%s\" timed out after %ld ms",
							ef->signature, ef->endpoint, ef->timeout_ms),
					 errdetail_plural("Tried %d time: %s.", "Tried %d times: %s.",
									  attempt + 1, attempt + 1, res->error)));
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
									  attempt + 1, attempt + 1)));
			break;
	}
}

static void
protocol_error(ExternalFunction *ef, const char *what, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
			 errmsg("external function %s at \"%s\" %s",
					ef->signature, ef->endpoint, what),
			 detail ? errdetail("%s", detail) : 0));
}

/* Parses JSON text that pg_parse_json accepted first; errors name ef. */
static Jsonb *
parse_json_reply(ExternalFunction *ef, char *text, size_t len)
{
	JsonLexContext *lex;
	JsonParseErrorType rc;

	lex = makeJsonLexContextCstringLen(text, len, GetDatabaseEncoding(), true);
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc != JSON_SUCCESS)
		protocol_error(ef, "returned invalid JSON", json_errdetail(rc, lex));
	if (strlen(text) != len)
		protocol_error(ef, "returned invalid JSON", "The reply contains a NUL byte.");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/*
 * Sends the request in body and checks the reply; returns the container of
 * the "results" array, which has exactly num_records elements.  Allocates
 * in the current memory context.
 */
static JsonbContainer *
request_results(ExternalFunction *ef, StringInfo body, int num_records)
{
	HttpResult	res;
	Jsonb	   *reply;
	JsonbValue *v;
	JsonbValue	scalar;
	JsonbContainer *results;
	int			n;

	call_endpoint(ef, body, &res);
	reply = parse_json_reply(ef, pnstrdup(res.body, res.body_len), res.body_len);

	/* a Lambda handler returns json.dumps(...): a JSON string holding JSON */
	if (JB_ROOT_IS_SCALAR(reply) &&
		JsonbExtractScalar(&reply->root, &scalar) && scalar.type == jbvString)
		reply = parse_json_reply(ef, pnstrdup(scalar.val.string.val, scalar.val.string.len),
								 scalar.val.string.len);
	if (!JB_ROOT_IS_OBJECT(reply))
		protocol_error(ef, "returned a reply that is not a JSON object", NULL);

	v = getKeyJsonValueFromContainer(&reply->root, "success", 7, NULL);
	if (v == NULL || v->type != jbvBool)
		protocol_error(ef, "returned a reply without a boolean \"success\"", NULL);
	if (!v->val.boolean)
	{
		JsonbValue *msg = getKeyJsonValueFromContainer(&reply->root, "error_msg", 9, NULL);
		char	   *text = NULL;

		if (msg != NULL)
			text = json_scalar_text(msg);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("external function %s at \"%s\" failed: %s",
						ef->signature, ef->endpoint,
						text ? text : "(no error_msg)")));
	}

	v = getKeyJsonValueFromContainer(&reply->root, "num_records", 11, NULL);
	if (v != NULL && v->type != jbvNull)
	{
		char	   *s = json_scalar_text(v);

		if (v->type != jbvNumeric || strcmp(s, psprintf("%d", num_records)) != 0)
			protocol_error(ef, "returned a wrong num_records",
						   psprintf("Sent %d records, the reply says %s.",
									num_records, s ? s : "(not a number)"));
	}

	v = getKeyJsonValueFromContainer(&reply->root, "results", 7, NULL);
	if (v == NULL || v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		protocol_error(ef, "returned a reply without a \"results\" array", NULL);
	results = v->val.binary.data;
	n = JsonContainerSize(results);
	if (n != num_records)
		protocol_error(ef, "returned a wrong number of results",
					   psprintf("Sent %d records, got %d results.", num_records, n));
	return results;
}

/*
 * Casts results[index] to ef's return type in the current memory context;
 * a value that does not fit becomes an error naming ef.
 */
static Datum
cast_result(ExternalFunction *ef, JsonbContainer *results, int index, bool *isnull)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile Datum value = (Datum) 0;

	PG_TRY();
	{
		JsonbValue *v = getIthJsonbValueFromContainer(results, index);

		value = jsonb_value_to_datum(&ef->ret, v, isnull);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("external function %s at \"%s\" returned a result that is not a valid %s",
						ef->signature, ef->endpoint, format_type_be(ef->ret.typid)),
				 errdetail("Result %d: %s", index + 1, edata->message)));
	}
	PG_END_TRY();
	return value;
}

static void
check_execute(Oid fn)
{
	AclResult	aclresult = pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(fn));
}

/* ---------------------------------------------------------------------
 * The handler behind every external function
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(pipeline_external_call);

Datum
pipeline_external_call(PG_FUNCTION_ARGS)
{
	ExternalFunction *ef = lookup_function(fcinfo->flinfo->fn_oid);
	MemoryContext caller = CurrentMemoryContext;
	StringInfoData body;
	JsonbContainer *results;
	JsonbValue *v;
	Datum		result;
	bool		isnull;

	MemoryContextReset(request_context);
	MemoryContextSwitchTo(request_context);

	initStringInfo(&body);
	begin_request(&body, ef, 1);
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
	end_request(&body);

	results = request_results(ef, &body, 1);

	MemoryContextSwitchTo(caller);
	v = getIthJsonbValueFromContainer(results, 0);
	if (v->type == jbvNull)
		PG_RETURN_NULL();
	result = cast_result(ef, results, 0, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	return result;
}

/* ---------------------------------------------------------------------
 * invoke(fn regprocedure, arguments jsonb)
 *	 RETURNS TABLE(ordinality bigint, result jsonb)
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(pipeline_invoke);

Datum
pipeline_invoke(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			fn;
	Jsonb	   *arguments;
	ExternalFunction *ef;
	int			nrows;
	MemoryContext caller = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fn and arguments must not be null")));
	fn = PG_GETARG_OID(0);
	arguments = PG_GETARG_JSONB_P(1);
	check_execute(fn);
	ef = lookup_function(fn);

	if (!JB_ROOT_IS_ARRAY(arguments) || JB_ROOT_IS_SCALAR(arguments))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("arguments must be a JSON array of argument arrays"),
				 errhint("Pass [[a1, a2, ...], ...], one inner array per call.")));
	nrows = JsonContainerSize(&arguments->root);

	/* check every row before sending anything */
	for (int i = 0; i < nrows; i++)
	{
		JsonbValue *row = getIthJsonbValueFromContainer(&arguments->root, i);

		if (row->type != jbvBinary || !JsonContainerIsArray(row->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument row %d is not a JSON array", i + 1)));
		if ((int) JsonContainerSize(row->val.binary.data) != ef->nargs)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument row %d has %d values, but %s takes %d",
							i + 1, (int) JsonContainerSize(row->val.binary.data),
							ef->signature, ef->nargs)));
		pfree(row);
	}

	InitMaterializedSRF(fcinfo, 0);

	for (int start = 0; start < nrows; start += ef->max_batch_rows)
	{
		int			count = Min(ef->max_batch_rows, nrows - start);
		StringInfoData body;
		JsonbContainer *results;

		MemoryContextReset(request_context);
		MemoryContextSwitchTo(request_context);

		initStringInfo(&body);
		begin_request(&body, ef, count);
		for (int i = 0; i < count; i++)
		{
			JsonbValue *row = getIthJsonbValueFromContainer(&arguments->root, start + i);

			if (i > 0)
				appendStringInfoChar(&body, ',');
			(void) JsonbToCString(&body, row->val.binary.data, 16);
		}
		end_request(&body);

		results = request_results(ef, &body, count);
		for (int i = 0; i < count; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(results, i);
			Datum		values[2];
			bool		nulls[2] = {false, false};
			bool		isnull;

			/* the result must fit the return type, though it stays JSON */
			(void) cast_result(ef, results, i, &isnull);
			values[0] = Int64GetDatum((int64) start + i + 1);
			if (v->type == jbvNull)
				nulls[1] = true;
			else
				values[1] = JsonbPGetDatum(JsonbValueToJsonb(v));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
		MemoryContextSwitchTo(caller);
	}
	MemoryContextSwitchTo(caller);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Creating and dropping
 * ---------------------------------------------------------------------
 */
static void
check_admin(const char *action)
{
	Oid			admin = get_role_oid("pipeline_admin", true);

	if (superuser() || (OidIsValid(admin) && is_member_of_role(GetUserId(), admin)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s external functions", action),
			 errdetail("Only superusers and members of pipeline_admin may %s external functions.",
					   action)));
}

/*
 * Refuses an endpoint that is not an http or https URL, or that
 * pipeline.allowed_endpoints does not admit.
 */
static void
check_endpoint(const char *endpoint)
{
	HttpUrl		url;
	const char *error;

	if (!http_url_parse(endpoint, &url, &error))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid endpoint \"%s\"", endpoint),
				 errdetail("%s.", error)));
	if (!endpoint_allowed(&url))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("endpoint \"%s\" is not allowed", endpoint),
				 endpoint_refused_detail(&url),
				 errhint("A superuser may add a prefix of the endpoint to pipeline.allowed_endpoints.")));
}

static void
check_type(Oid typid, const char *what)
{
	if (!type_supported(typid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("external functions do not support %s type %s",
						what, format_type_be(typid)),
				 errdetail("Supported: text and other string types, numeric types, boolean, date and time types, json, jsonb, and one-dimensional arrays of these.")));
}

/*
 * Parses signature ("schema.name(arg type, ...)") with PostgreSQL's own
 * grammar; returns the name list and fills argument names and types.
 */
static List *
parse_signature(const char *signature, List **argnames, List **argtypes,
				List **argtypmods)
{
	char	   *sql = psprintf("CREATE FUNCTION %s\nRETURNS void LANGUAGE c AS 'x'", signature);
	List	   *stmts = NIL;
	CreateFunctionStmt *stmt;
	ListCell   *lc;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid external function signature \"%s\"", signature),
				 errdetail("%s", edata->message),
				 errhint("Write it as name(argument type, ...), for example public.delete_partition(path text).")));
	}
	PG_END_TRY();

	if (list_length(stmts) != 1 ||
		!IsA(((RawStmt *) linitial(stmts))->stmt, CreateFunctionStmt))
		goto bad;
	stmt = (CreateFunctionStmt *) ((RawStmt *) linitial(stmts))->stmt;
	if (stmt->is_procedure || stmt->replace || stmt->sql_body != NULL ||
		stmt->returnType == NULL || list_length(stmt->options) != 2)
		goto bad;

	*argnames = NIL;
	*argtypes = NIL;
	*argtypmods = NIL;
	foreach(lc, stmt->parameters)
	{
		FunctionParameter *p = lfirst_node(FunctionParameter, lc);
		Oid			typid;
		int32		typmod;

		if ((p->mode != FUNC_PARAM_IN && p->mode != FUNC_PARAM_DEFAULT) ||
			p->defexpr != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("invalid external function signature \"%s\"", signature),
					 errdetail("Arguments must be plain input arguments without defaults.")));
		typenameTypeIdAndMod(NULL, p->argType, &typid, &typmod);
		check_type(typid, "argument");
		*argnames = lappend(*argnames, p->name);
		*argtypes = lappend_oid(*argtypes, typid);
		*argtypmods = lappend_int(*argtypmods, typmod);
	}
	if (list_length(*argtypes) > FUNC_MAX_ARGS)
		goto bad;
	return stmt->funcname;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid external function signature \"%s\"", signature),
			 errhint("Write it as name(argument type, ...), for example public.delete_partition(path text).")));
	return NIL;					/* keep compiler quiet */
}

/* Milliseconds in an interval, for the timeout check. */
static int64
interval_ms(Interval *iv)
{
	return interval_usecs(iv) / 1000;
}

/* Runs a utility statement, as the current user or as the catalog owner. */
static void
exec_ddl(const char *sql, bool as_owner)
{
	if (as_owner)
		catalog_exec_as_owner(sql, 0, NULL, NULL, NULL);
	else
		runas_spi(InvalidOid, sql, 0, NULL, NULL, NULL, false, 0, -1);
}

PG_FUNCTION_INFO_V1(pipeline_create_external_function);

/*
 * create_external_function(signature text, returns regtype, endpoint text,
 *		volatility text, max_batch_rows int, timeout interval, retries int)
 *	 RETURNS regprocedure
 *
 * A LANGUAGE C function needs a superuser to create it: for a member of
 * pipeline_admin the function is created as the catalog owner (the
 * superuser who installed the extension) and then given to the caller,
 * after checking the caller may create objects in the target schema.
 */
Datum
pipeline_create_external_function(PG_FUNCTION_ARGS)
{
	char	   *signature;
	Oid			rettype;
	char	   *endpoint;
	char	   *volatility;
	int			max_batch_rows;
	Interval   *timeout;
	int			retries;
	List	   *funcname;
	List	   *argnames;
	List	   *argtypes;
	List	   *argtypmods;
	char	   *objname;
	Oid			nsp;
	AclResult	aclresult;
	StringInfoData sql;
	StringInfoData args;
	Oid		   *argoids;
	int			nargs;
	Oid			fn;
	HeapTuple	self;
	Datum		probin;
	bool		isnull;
	bool		as_owner = !superuser();
	char	   *qualified;
	Oid			ins_types[5] = {OIDOID, TEXTOID, INT4OID, INTERVALOID, INT4OID};
	Datum		ins_values[5];

	check_admin("create");
	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("arguments of create_external_function must not be null")));
	signature = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rettype = PG_GETARG_OID(1);
	endpoint = text_to_cstring(PG_GETARG_TEXT_PP(2));
	volatility = text_to_cstring(PG_GETARG_TEXT_PP(3));
	max_batch_rows = PG_GETARG_INT32(4);
	timeout = PG_GETARG_INTERVAL_P(5);
	retries = PG_GETARG_INT32(6);

	check_endpoint(endpoint);
	if (pg_strcasecmp(volatility, "volatile") == 0)
		volatility = "VOLATILE";
	else if (pg_strcasecmp(volatility, "stable") == 0)
		volatility = "STABLE";
	else if (pg_strcasecmp(volatility, "immutable") == 0)
		volatility = "IMMUTABLE";
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid volatility \"%s\"", volatility),
				 errhint("Use volatile, stable or immutable.")));
	if (max_batch_rows < 1 || max_batch_rows > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_batch_rows must be between 1 and 100000")));
	if (retries < 0 || retries > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retries must be between 0 and 100")));
	if (interval_ms(timeout) < 1 || interval_ms(timeout) > 86400 * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be between 1 millisecond and 1 day")));
	check_type(rettype, "return");

	funcname = parse_signature(signature, &argnames, &argtypes, &argtypmods);
	nsp = QualifiedNameGetCreationNamespace(funcname, &objname);
	aclresult = pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_SCHEMA, get_namespace_name(nsp));

	/* the C library of this very function */
	self = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(self))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	probin = SysCacheGetAttr(PROCOID, self, Anum_pg_proc_probin, &isnull);
	if (isnull)
		elog(ERROR, "function %u has no library", fcinfo->flinfo->fn_oid);
	probin = PointerGetDatum(TextDatumGetCString(probin));
	ReleaseSysCache(self);

	nargs = list_length(argtypes);
	argoids = palloc(sizeof(Oid) * Max(nargs, 1));
	initStringInfo(&args);
	for (int i = 0; i < nargs; i++)
	{
		char	   *name = (char *) list_nth(argnames, i);

		argoids[i] = list_nth_oid(argtypes, i);
		if (i > 0)
			appendStringInfoString(&args, ", ");
		if (name != NULL)
			appendStringInfo(&args, "%s ", quote_identifier(name));
		appendStringInfoString(&args,
							   format_type_extended(argoids[i], list_nth_int(argtypmods, i),
													FORMAT_TYPE_TYPEMOD_GIVEN |
													FORMAT_TYPE_FORCE_QUALIFY));
	}
	qualified = quote_qualified_identifier(get_namespace_name(nsp), objname);

	SPI_connect();
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE c %s AS %s, %s",
					 qualified, args.data,
					 format_type_extended(rettype, -1, FORMAT_TYPE_FORCE_QUALIFY),
					 volatility, quote_literal_cstr(DatumGetCString(probin)),
					 quote_literal_cstr("pipeline_external_call"));
	exec_ddl(sql.data, as_owner);

	fn = LookupFuncName(list_make2(makeString(get_namespace_name(nsp)), makeString(objname)),
						nargs, argoids, false);
	resetStringInfo(&sql);
	appendStringInfo(&sql, "REVOKE ALL ON FUNCTION %s FROM PUBLIC",
					 format_procedure_qualified(fn));
	exec_ddl(sql.data, as_owner);
	resetStringInfo(&sql);
	appendStringInfo(&sql, "COMMENT ON FUNCTION %s IS %s",
					 format_procedure_qualified(fn),
					 quote_literal_cstr(psprintf("external function at %s", endpoint)));
	exec_ddl(sql.data, as_owner);
	if (as_owner)
	{
		resetStringInfo(&sql);
		appendStringInfo(&sql, "ALTER FUNCTION %s OWNER TO %s",
						 format_procedure_qualified(fn),
						 quote_identifier(GetUserNameFromId(GetUserId(), false)));
		exec_ddl(sql.data, true);
	}

	ins_values[0] = ObjectIdGetDatum(fn);
	ins_values[1] = CStringGetTextDatum(endpoint);
	ins_values[2] = Int32GetDatum(max_batch_rows);
	ins_values[3] = IntervalPGetDatum(timeout);
	ins_values[4] = Int32GetDatum(retries);
	/* a row left by a function dropped with plain DROP FUNCTION */
	catalog_exec_as_owner("DELETE FROM pipeline.external_function_definitions WHERE fn = $1",
						  1, ins_types, ins_values, NULL);
	catalog_exec_as_owner("INSERT INTO pipeline.external_function_definitions "
						  "(fn, endpoint, max_batch_rows, timeout, retries) "
						  "VALUES ($1, $2, $3, $4, $5)",
						  5, ins_types, ins_values, NULL);
	SPI_finish();

	PG_RETURN_OID(fn);
}

PG_FUNCTION_INFO_V1(pipeline_drop_external_function);

/*
 * drop_external_function(fn regprocedure) RETURNS void
 *
 * DROP FUNCTION runs as the caller, so the caller must also own fn.
 */
Datum
pipeline_drop_external_function(PG_FUNCTION_ARGS)
{
	Oid			fn = PG_GETARG_OID(0);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(fn)};
	bool		found;

	check_admin("drop");
	SPI_connect();
	runas_spi(InvalidOid, "SELECT 1 FROM pipeline.external_function_definitions WHERE fn = $1",
			  1, argtypes, values, NULL, true, 1, SPI_OK_SELECT);
	found = SPI_processed > 0;
	if (!found || !SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s is not an external function", format_procedure(fn))));
	exec_ddl(psprintf("DROP FUNCTION %s", format_procedure_qualified(fn)), false);
	catalog_exec_as_owner("DELETE FROM pipeline.external_function_definitions WHERE fn = $1",
						  1, argtypes, values, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}
