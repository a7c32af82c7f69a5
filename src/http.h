/*-------------------------------------------------------------------------
 * http.h
 *	  HTTP POST over libcurl, interruptible, with one kept-alive connection
 *	  per backend.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_HTTP_H
#define PIPELINE_HTTP_H

/* How one transfer ended. */
typedef enum HttpOutcome
{
	HTTP_OK,					/* a response arrived; see status */
	HTTP_CONNECT_FAILED,		/* could not connect (refused, unreachable) */
	HTTP_TIMED_OUT,				/* the total or connect timeout expired */
	HTTP_TRANSFER_FAILED,		/* connection closed, bad reply, ... */
	HTTP_TOO_LARGE				/* the response exceeded the size cap */
} HttpOutcome;

typedef struct HttpResult
{
	HttpOutcome outcome;
	long		status;			/* HTTP status when outcome is HTTP_OK */
	const char *body;			/* NUL-terminated; valid until the next call */
	size_t		body_len;
	char		error[256];		/* libcurl's message otherwise */
} HttpResult;

/* Largest response body accepted, in bytes. */
#define HTTP_MAX_RESPONSE (64 * 1024 * 1024)

/*
 * POSTs body (application/json) to url and waits for the reply in short
 * slices, checking for interrupts between them, so a cancel, a statement
 * timeout or a terminate ends the wait promptly (the error is thrown from
 * CHECK_FOR_INTERRUPTS and the handle is rebuilt on the next call).  Only
 * http and https are allowed and redirects are not followed.  Transport
 * failures are reported in result, never thrown.  Any memory context.
 */
extern void http_post(const char *url, const char *body, size_t body_len,
					  long timeout_ms, HttpResult *result);

#endif
