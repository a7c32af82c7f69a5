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

/*
 * Lets go of the last response's body (result->body) when it is larger than
 * HTTP_KEPT_BODY: the buffer is kept for the next request otherwise, and a
 * 64 MB reply would stay for the backend's life.  The caller copies such a
 * body first if it still needs it.
 */
#define HTTP_KEPT_BODY (1024 * 1024)
extern void http_release_large_body(void);

/*
 * Whether a request is worth sending again: no reply, or a 5xx one (not
 * one too large to read).
 */
extern bool http_retryable(const HttpResult *result);

/*
 * Sleeps the backoff before retry attempt + 1 (doubling from 100 ms, at
 * most 5 s), on the latch: interrupts end it.
 */
extern void http_backoff(int attempt);

/*
 * An http or https URL as libcurl will request it, in the normal form the
 * allow-list compares (RFC 3986 section 6.2.2): scheme and host in lower
 * case, the port explicit, percent-escapes of unreserved characters decoded
 * and the others in upper case, dot segments removed from the path.
 */
typedef struct HttpUrl
{
	char	   *url;			/* the URL to request: the normal form, with
								 * any userinfo and query, without fragment */
	char	   *scheme;			/* "http" or "https" */
	char	   *host;			/* lower case; an IPv6 address in brackets */
	int			port;			/* as given, or the scheme's default */
	char	   *path;			/* normalised; starts with '/' */
	bool		has_userinfo;
	bool		has_query;
	bool		has_fragment;	/* of the text parsed; url has none */

	/*
	 * The path holds something a server may read as a separator or a dot
	 * segment after decoding: an encoded '/' or '\', a raw '\', or a segment
	 * like "..;x" (Tomcat's path parameters).  Such a path never falls under
	 * an allow-list prefix, since where it ends up depends on the server.
	 */
	bool		ambiguous_path;
} HttpUrl;

/*
 * Parses url_text into url (allocated in the current memory context).  Returns
 * false, with *error pointing to a sentence saying why (capitalised, without
 * a final period, as libcurl words its own), when url_text is not an
 * http or https URL libcurl accepts.  Throws only when out of memory; safe
 * in a GUC check hook.
 */
extern bool http_url_parse(const char *url_text, HttpUrl *url, const char **error);

/*
 * Does url fall under prefix: the same scheme, host and port, and prefix's
 * path a prefix of url's path ending at a segment boundary (a prefix path
 * "/ok" admits "/ok" and "/ok/x" but not "/okay"; "/ok/" admits "/ok/x" but
 * not "/ok")?  Query strings play no part; an ambiguous path never matches.
 */
extern bool http_url_under(const HttpUrl *url, const HttpUrl *prefix);

#endif
