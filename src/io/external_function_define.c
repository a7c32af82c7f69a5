/*-------------------------------------------------------------------------
 * external_function_define.c
 *	  create_external_function() and drop_external_function(): external
 *	  functions as objects, and their rows in
 *	  pipeline.external_function_definitions.
 *
 * An external function is an ordinary LANGUAGE C function of this library
 * whose symbol is pipeline_external_call; its endpoint and settings are a
 * row of the catalog table, keyed by the function's OID.  Creating a C
 * function needs a superuser: for a member of pipeline_admin the function
 * is created as the catalog owner (the superuser who installed the
 * extension) and then given to the caller, after checking the caller may
 * create objects in the target schema.  The signature is parsed with
 * PostgreSQL's own grammar, and the CREATE FUNCTION rebuilt from the parse
 * with every name quoted, so nothing in the signature reaches SQL as text.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parse_type.h"
#include "parser/parser.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "io/allowed_endpoints.h"
#include "io/external_function_cache.h"
#include "io/http.h"
#include "io/json_values.h"
#include "model/catalog.h"
#include "util/arguments.h"
#include "util/interval.h"
#include "util/settings.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"

/* The arguments of create_external_function(), checked. */
typedef struct NewExternalFunction
{
	char	   *signature;
	Oid			rettype;
	char	   *endpoint;
	const char *volatility;		/* VOLATILE, STABLE or IMMUTABLE */
	int			max_batch_rows;
	Interval   *timeout;
	int			retries;
} NewExternalFunction;

/* The function the signature declares, resolved. */
typedef struct ParsedSignature
{
	Oid			nsp;
	char	   *name;
	int			nargs;
	Oid		   *argtypes;
	StringInfoData arguments;	/* the argument list, names quoted, types
								 * qualified */
} ParsedSignature;

/* Errors unless the user may create or drop (creating) external functions. */
static void
check_admin(bool creating)
{
	Oid			admin = get_role_oid("pipeline_admin", true);

	if (superuser() || (OidIsValid(admin) && is_member_of_role(GetUserId(), admin)))
		return;
	if (creating)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create external functions"),
				 errdetail("Only superusers and members of pipeline_admin may create external functions.")));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to drop external functions"),
			 errdetail("Only superusers and members of pipeline_admin may drop external functions.")));
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

	/*
	 * everyone may read pipeline.external_functions, and errors name the
	 * endpoint
	 */
	if (url.has_userinfo)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("endpoint of an external function must not carry a user name or password"),
				 errdetail("Every role may read pipeline.external_functions, and errors name the endpoint."),
				 errhint("Let the endpoint authenticate the caller another way, by network or a proxy.")));
	if (!endpoint_allowed(&url))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("endpoint \"%s\" is not allowed", endpoint),
				 endpoint_refused_detail(&url),
				 errhint("A superuser may add a prefix of the endpoint to pipeline.allowed_endpoints.")));
}

/* Errors unless an argument (or the result, when is_return) can be typid. */
static void
check_type(Oid typid, bool is_return)
{
	/*
	 * the function is made as the catalog owner: the caller's USAGE, as
	 * CREATE FUNCTION checks it
	 */
	AclResult	aclresult = pg_type_aclcheck(typid, GetUserId(), ACL_USAGE);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error_type(aclresult, typid);
	if (type_supported(typid))
		return;
	if (is_return)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("external functions do not support return type %s",
						format_type_be(typid)),
				 errdetail("Supported: text and other string types, numeric types, boolean, date and time types, json, jsonb, and one-dimensional arrays of these.")));
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("external functions do not support argument type %s",
					format_type_be(typid)),
			 errdetail("Supported: text and other string types, numeric types, boolean, date and time types, json, jsonb, and one-dimensional arrays of these.")));
}

/* The keyword of a volatility given in any case. */
static const char *
volatility_keyword(const char *volatility)
{
	if (pg_strcasecmp(volatility, "volatile") == 0)
		return "VOLATILE";
	if (pg_strcasecmp(volatility, "stable") == 0)
		return "STABLE";
	if (pg_strcasecmp(volatility, "immutable") == 0)
		return "IMMUTABLE";
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid volatility \"%s\"", volatility),
			 errhint("Use volatile, stable or immutable.")));
	return NULL;				/* keep compiler quiet */
}

/* Milliseconds in an interval, for the timeout check. */
static int64
interval_ms(Interval *iv)
{
	return interval_usecs(iv) / 1000;
}

/* Reads and checks the arguments of create_external_function(). */
static void
read_arguments(FunctionCallInfo fcinfo, NewExternalFunction *def)
{
	arguments_require_not_null(fcinfo, 7);
	def->signature = text_to_cstring(PG_GETARG_TEXT_PP(0));
	def->rettype = PG_GETARG_OID(1);
	def->endpoint = text_to_cstring(PG_GETARG_TEXT_PP(2));
	def->max_batch_rows = PG_GETARG_INT32(4);
	def->timeout = PG_GETARG_INTERVAL_P(5);
	def->retries = PG_GETARG_INT32(6);

	check_endpoint(def->endpoint);
	def->volatility = volatility_keyword(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	if (def->max_batch_rows < 1 || def->max_batch_rows > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_batch_rows must be between 1 and 100000")));
	if (def->retries < 0 || def->retries > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("retries must be between 0 and 100")));
	if (interval_ms(def->timeout) < 1 || interval_ms(def->timeout) > 86400 * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be between 1 millisecond and 1 day")));
	check_type(def->rettype, true);
}

/*
 * Parses signature ("schema.name(arg type, ...)") with PostgreSQL's own
 * grammar; returns the statement it makes of it.
 */
static CreateFunctionStmt *
parse_signature_statement(const char *signature)
{
	char	   *sql = psprintf("CREATE FUNCTION %s\nRETURNS void LANGUAGE c AS 'x'", signature);
	List	   *stmts = NIL;
	CreateFunctionStmt *stmt;
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
		return NULL;
	stmt = (CreateFunctionStmt *) ((RawStmt *) linitial(stmts))->stmt;
	if (stmt->is_procedure || stmt->replace || stmt->sql_body != NULL ||
		stmt->returnType == NULL || list_length(stmt->options) != 2)
		return NULL;
	return stmt;
}

/* Appends parameter p, the type resolved and checked, to the signature. */
static void
add_parameter(ParsedSignature *sig, FunctionParameter *p, const char *signature)
{
	Oid			typid;
	int32		typmod;

	if ((p->mode != FUNC_PARAM_IN && p->mode != FUNC_PARAM_DEFAULT) ||
		p->defexpr != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("invalid external function signature \"%s\"", signature),
				 errdetail("Arguments must be plain input arguments without defaults.")));
	typenameTypeIdAndMod(NULL, p->argType, &typid, &typmod);
	check_type(typid, false);

	if (sig->nargs > 0)
		appendStringInfoString(&sig->arguments, ", ");
	if (p->name != NULL)
		appendStringInfo(&sig->arguments, "%s ", quote_identifier(p->name));
	appendStringInfoString(&sig->arguments,
						   format_type_extended(typid, typmod,
												FORMAT_TYPE_TYPEMOD_GIVEN |
												FORMAT_TYPE_FORCE_QUALIFY));
	sig->argtypes[sig->nargs++] = typid;
}

/*
 * Fills sig with the function signature declares: its argument types
 * resolved and checked, its schema checked for the caller's CREATE
 * privilege.
 */
static void
parse_signature(const char *signature, ParsedSignature *sig)
{
	CreateFunctionStmt *stmt = parse_signature_statement(signature);
	ListCell   *lc;
	AclResult	aclresult;

	if (stmt != NULL)
	{
		sig->nargs = 0;
		sig->argtypes = palloc(sizeof(Oid) * Max(list_length(stmt->parameters), 1));
		initStringInfo(&sig->arguments);
		foreach(lc, stmt->parameters)
			add_parameter(sig, lfirst_node(FunctionParameter, lc), signature);
	}
	if (stmt == NULL || sig->nargs > FUNC_MAX_ARGS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid external function signature \"%s\"", signature),
				 errhint("Write it as name(argument type, ...), for example public.delete_partition(path text).")));

	sig->nsp = QualifiedNameGetCreationNamespace(stmt->funcname, &sig->name);

	/* its definition row would outlive the session that drops it */
	if (isAnyTempNamespace(sig->nsp))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an external function may not be created in a temporary schema"),
				 errhint("Create it in a permanent schema.")));
	/* a superuser may create in them; pipeline's and PostgreSQL's own */
	if (IsCatalogNamespace(sig->nsp) || IsToastNamespace(sig->nsp) ||
		sig->nsp == get_namespace_oid(PIPELINE_SCHEMA, true))
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("an external function cannot be in schema \"%s\"",
						get_namespace_name(sig->nsp)),
				 errhint("Choose a schema of your own.")));
	aclresult = pg_namespace_aclcheck(sig->nsp, GetUserId(), ACL_CREATE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_SCHEMA, get_namespace_name(sig->nsp));
}

/* The shared library of the running function (this very library). */
static char *
own_library(FunctionCallInfo fcinfo)
{
	Oid			self = fcinfo->flinfo->fn_oid;
	HeapTuple	tuple;
	Datum		probin;
	bool		isnull;
	char	   *library;

	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(self));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", self);
	probin = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_probin, &isnull);
	if (isnull)
		elog(ERROR, "function %u has no library", self);
	library = TextDatumGetCString(probin);
	ReleaseSysCache(tuple);
	return library;
}

/*
 * Runs a utility statement, as the current user or as the catalog owner
 * (pipeline's own DDL: no event trigger of a DBA's runs as the catalog
 * owner in the caller's session).
 */
static void
exec_ddl(const char *sql, bool as_owner)
{
	runas_ddl(as_owner ? catalog_owner() : GetUserId(), sql);
}

/*
 * Creates the function (as the catalog owner when as_owner, then given to
 * the caller), not executable by PUBLIC, with a comment naming its
 * endpoint; returns its OID.
 */
static Oid
create_function(const NewExternalFunction *def, const ParsedSignature *sig,
				const char *library, bool as_owner)
{
	char	   *schema = get_namespace_name(sig->nsp);
	char	   *procedure;
	Oid			fn;

	exec_ddl(psprintf("CREATE FUNCTION %s(%s) RETURNS %s LANGUAGE c %s AS %s, %s",
					  quote_qualified_identifier(schema, sig->name), sig->arguments.data,
					  format_type_extended(def->rettype, -1, FORMAT_TYPE_FORCE_QUALIFY),
					  def->volatility, quote_literal_cstr(library),
					  quote_literal_cstr("pipeline_external_call")),
			 as_owner);
	fn = LookupFuncName(list_make2(makeString(schema), makeString(sig->name)),
						sig->nargs, sig->argtypes, false);
	procedure = format_procedure_qualified(fn);
	exec_ddl(psprintf("REVOKE ALL ON FUNCTION %s FROM PUBLIC", procedure), as_owner);
	exec_ddl(psprintf("COMMENT ON FUNCTION %s IS %s", procedure,
					  quote_literal_cstr(psprintf("external function at %s", def->endpoint))),
			 as_owner);
	if (as_owner)
		exec_ddl(psprintf("ALTER FUNCTION %s OWNER TO %s", procedure,
						  quote_identifier(GetUserNameFromId(GetUserId(), false))),
				 true);
	return fn;
}

/* Records fn's endpoint and settings, replacing any row fn left before. */
static void
record_definition(Oid fn, const NewExternalFunction *def)
{
	Oid			types[5] = {OIDOID, TEXTOID, INT4OID, INTERVALOID, INT4OID};
	Datum		values[5];

	values[0] = ObjectIdGetDatum(fn);
	values[1] = CStringGetTextDatum(def->endpoint);
	values[2] = Int32GetDatum(def->max_batch_rows);
	values[3] = IntervalPGetDatum(def->timeout);
	values[4] = Int32GetDatum(def->retries);
	/* a row left by a function dropped with plain DROP FUNCTION */
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.external_function_definitions WHERE fn = $1",
					1, types, values, NULL, false, -1);
	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.external_function_definitions "
					"(fn, endpoint, max_batch_rows, timeout, retries) "
					"VALUES ($1, $2, $3, $4, $5)",
					5, types, values, NULL, false, -1);
}

PG_FUNCTION_INFO_V1(pipeline_create_external_function);

/*
 * create_external_function(signature text, returns regtype, endpoint text,
 *		volatility text, max_batch_rows int, timeout interval, retries int)
 *	 RETURNS regprocedure
 */
Datum
pipeline_create_external_function(PG_FUNCTION_ARGS)
{
	NewExternalFunction def;
	ParsedSignature sig;
	Oid			fn;

	PreventCommandDuringRecovery("pipeline.create_external_function()");

	PreventCommandIfReadOnly("pipeline.create_external_function()");
	check_admin(true);
	read_arguments(fcinfo, &def);
	parse_signature(def.signature, &sig);
	fn = create_function(&def, &sig, own_library(fcinfo), !superuser());
	record_definition(fn, &def);
	PG_RETURN_OID(fn);
}

static Oid
function_owner(Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", fn);
	owner = ((Form_pg_proc) GETSTRUCT(tuple))->proowner;
	ReleaseSysCache(tuple);
	return owner;
}

/* exec_ddl() as the caller, for call_with_dependents_hint() */
static void
drop_function_as_caller(void *sql)
{
	exec_ddl(sql, false);
}

PG_FUNCTION_INFO_V1(pipeline_drop_external_function);

/*
 * drop_external_function(fn regprocedure) RETURNS void
 *
 * DROP FUNCTION runs as the caller, so the caller must also own fn (as in
 * PostgreSQL, an admin may not drop another's function).
 */
Datum
pipeline_drop_external_function(PG_FUNCTION_ARGS)
{
	Oid			fn;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	SpiRows    *rows;

	PreventCommandDuringRecovery("pipeline.drop_external_function()");

	PreventCommandIfReadOnly("pipeline.drop_external_function()");
	/* STRICT until 1.13, where NULL did nothing without a word */
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("fn must not be null")));
	fn = PG_GETARG_OID(0);
	values[0] = ObjectIdGetDatum(fn);

	check_admin(false);
	rows = spi_rows(InvalidOid, "SELECT 1 FROM pipeline.external_function_definitions WHERE fn = $1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (rows->count == 0 || !external_function_is_handled(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s is not an external function", format_procedure(fn))));
	if (!pg_proc_ownercheck(fn, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to drop external function %s", format_procedure(fn)),
				 errdetail("Only its owner, role \"%s\", a member of that role or a superuser may drop it.",
						   GetUserNameFromId(function_owner(fn), false))));
	call_with_dependents_hint(drop_function_as_caller,
							  psprintf("DROP FUNCTION %s", format_procedure_qualified(fn)),
							  "Drop or redefine what uses it first: managed views with pipeline.drop_matview() or pipeline.define().");
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.external_function_definitions WHERE fn = $1",
					1, argtypes, values, NULL, false, -1);
	PG_RETURN_VOID();
}
