/*-------------------------------------------------------------------------
 * lambda_protocol.h
 *	  The Redshift Lambda UDF protocol: one request carries num_records
 *	  argument arrays, the reply a "results" array of as many values.
 *
 * Request:  {"request_id", "cluster", "user", "database",
 *			  "external_function", "query_id", "num_records",
 *			  "arguments": [[a1, a2, ...], ...]}
 * Reply:	 {"success": true, "num_records": n, "results": [r1, ...]}
 *			 or {"success": false, "error_msg": "..."}; a reply that is a
 *			 JSON string holding such an object (what a Lambda handler
 *			 returning json.dumps(...) sends) is read too.
 *
 * A request is built between lambda_begin_request() and
 * lambda_end_request(), the caller appending the argument arrays, each one
 * JSON array, separated by commas.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LAMBDA_PROTOCOL_H
#define PIPELINE_LAMBDA_PROTOCOL_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#include "io/external_function_cache.h"

/* Starts a request body, up to and including "arguments":[ */
extern void lambda_begin_request(StringInfo buf, ExternalFunction *ef,
								 int num_records);

/* Ends a request body begun by lambda_begin_request(). */
extern void lambda_end_request(StringInfo buf);

/*
 * Sends the request in body to ef's endpoint and checks the reply; returns
 * the container of the "results" array, which has exactly num_records
 * elements.  The endpoint is judged against pipeline.allowed_endpoints
 * before every attempt; connection failures, timeouts and 5xx replies are
 * retried ef->retries times with an interruptible backoff.  Throws when the
 * call fails or the reply breaks the protocol, naming ef and its endpoint.
 * Allocates in the current memory context.
 */
extern JsonbContainer *lambda_request_results(ExternalFunction *ef, StringInfo body,
											  int num_records);

/*
 * Casts result, the result at index in its reply, to ef's return type in
 * the current memory context.  A value that does not fit raises the type's
 * own error, with a context line naming the result, ef and its endpoint.
 */
extern Datum lambda_cast_result(ExternalFunction *ef, JsonbValue *result,
								int index, bool *isnull);

#endif
