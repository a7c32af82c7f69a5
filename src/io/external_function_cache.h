/*-------------------------------------------------------------------------
 * external_function_cache.h
 *	  The per-backend cache of external functions: what the handler needs
 *	  to call one, read from pipeline.external_function_definitions and the
 *	  function's own pg_proc row.
 *
 * Entries are found by the function's OID and marked stale on any change
 * to pg_proc (a syscache callback), so a function recreated or altered is
 * read again on its next call.  A call holds the version it looked up
 * (pinned) until it releases it: reading it again while a call still uses
 * the old one (a result's domain check calling the function after DDL)
 * makes a new version and leaves the old one to its callers.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_EXTERNAL_FUNCTION_CACHE_H
#define PIPELINE_EXTERNAL_FUNCTION_CACHE_H

#include "io/http.h"
#include "io/json_values.h"

/* One version of an external function as the handler needs it. */
typedef struct ExternalFunction
{
	Oid			fn;
	bool		valid;			/* false once pg_proc changed */
	bool		retired;		/* a newer version replaced it */
	int			pins;			/* calls using it (reset at transaction end) */
	MemoryContext mcxt;			/* holds this struct and everything below */
	char	   *signature;		/* for messages */
	char	   *qualified_name; /* sent as external_function */
	char	   *endpoint;		/* as created; for messages */
	HttpUrl		url;			/* its normal form; url.url is requested */
	const char *url_error;		/* why endpoint does not parse, or NULL */
	uint64		verdict_generation; /* allowed_endpoints_generation() of
									 * allowed */
	bool		allowed;
	int			max_batch_rows;
	long		timeout_ms;
	int			retries;
	int			nargs;
	TypeIO	   *args;
	TypeIO		ret;
	char	   *return_type_name;	/* for messages */
} ExternalFunction;

/*
 * The cached external function fn, read again if stale, pinned: it stays
 * as it is until external_function_release(), even if fn is read again
 * meanwhile (a retired version is freed at its release or, when an error
 * skipped that, at the end of the transaction).  Errors when fn is not an
 * external function.  Needs a transaction.
 */
extern ExternalFunction *external_function_lookup(Oid fn);
extern void external_function_release(ExternalFunction *ef);

/*
 * Whether fn is a function whose calls this library's handler answers (a
 * C function of symbol pipeline_external_call), as every external function
 * is; false for a function that does not exist.
 */
extern bool external_function_is_handled(Oid fn);

#endif
