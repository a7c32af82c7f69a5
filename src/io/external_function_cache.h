/*-------------------------------------------------------------------------
 * external_function_cache.h
 *	  The per-backend cache of external functions: what the handler needs
 *	  to call one, read from pipeline.external_function_definitions and the
 *	  function's own pg_proc row.
 *
 * Entries are found by the function's OID and marked stale on any change
 * to pg_proc (a syscache callback), so a function recreated or altered is
 * read again on its next call.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_EXTERNAL_FUNCTION_CACHE_H
#define PIPELINE_EXTERNAL_FUNCTION_CACHE_H

#include "io/http.h"
#include "io/json_values.h"

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
 * The cached external function fn, read again if stale; errors when fn is
 * not an external function.  The entry lives in CacheMemoryContext until
 * it goes stale and is next looked up.  Needs a transaction.
 */
extern ExternalFunction *external_function_lookup(Oid fn);

#endif
