/*-------------------------------------------------------------------------
 * http.c
 *	  HTTP POST over libcurl's multi interface.
 *
 * One easy handle and one multi handle live for the whole backend, so the
 * connection to an endpoint is kept alive between calls; the easy handle is
 * reset before each request and rebuilt after any error (including an
 * interrupt thrown out of the wait loop).  libcurl allocates with malloc,
 * never palloc, and the response buffer is malloc'd too, since the write
 * callback runs inside libcurl where a longjmp would be unsafe.
 *
 * http_url_parse() and http_url_under() give the allow-list of external
 * functions the URL as it will be requested: libcurl parses it (and removes
 * the dot segments of its path, as it does before a request), then the path
 * is brought to RFC 3986's normal form, the URL is rebuilt from the parts
 * and parsed once more to prove that what is requested is what was judged.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"

#include "io/http.h"

/* Longest single wait on the sockets; bounds the latency of a cancel. */
#define HTTP_SLICE_MS 50

static CURLM *multi_handle = NULL;
static CURL *easy_handle = NULL;
static struct curl_slist *json_headers = NULL;
static bool easy_attached = false;

/* The response body, malloc'd and reused across requests. */
static char *response_buf = NULL;
static size_t response_len = 0;
static size_t response_cap = 0;
static bool response_too_large = false;

static size_t
write_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	size_t		n = size * nmemb;

	if (response_len + n + 1 > HTTP_MAX_RESPONSE)
	{
		response_too_large = true;
		return 0;				/* makes libcurl abort the transfer */
	}
	if (response_len + n + 1 > response_cap)
	{
		size_t		cap = Max(response_cap * 2, 16384);
		char	   *grown;

		while (cap < response_len + n + 1)
			cap *= 2;
		grown = realloc(response_buf, cap);
		if (grown == NULL)
			return 0;
		response_buf = grown;
		response_cap = cap;
	}
	memcpy(response_buf + response_len, data, n);
	response_len += n;
	response_buf[response_len] = '\0';
	return n;
}

/* Frees the easy handle; the next request builds a new one. */
static void
discard_easy_handle(void)
{
	if (easy_handle != NULL)
	{
		if (easy_attached)
			curl_multi_remove_handle(multi_handle, easy_handle);
		curl_easy_cleanup(easy_handle);
	}
	easy_handle = NULL;
	easy_attached = false;
}

static void
ensure_handles(void)
{
	if (multi_handle == NULL)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			elog(ERROR, "could not initialize libcurl");
		multi_handle = curl_multi_init();
		if (multi_handle == NULL)
			elog(ERROR, "could not create a libcurl multi handle");
	}
	if (json_headers == NULL)
	{
		struct curl_slist *h;

		h = curl_slist_append(NULL, "Content-Type: application/json");
		if (h != NULL)
		{
			/* no "Expect: 100-continue" round trip for large bodies */
			struct curl_slist *h2 = curl_slist_append(h, "Expect:");

			if (h2 == NULL)
				curl_slist_free_all(h);
			h = h2;
		}
		if (h == NULL)
			elog(ERROR, "out of memory building HTTP headers");
		json_headers = h;
	}
	if (easy_attached)
		discard_easy_handle();	/* left over from an interrupted call */
	if (easy_handle == NULL)
	{
		easy_handle = curl_easy_init();
		if (easy_handle == NULL)
			elog(ERROR, "could not create a libcurl easy handle");
	}
	else
		curl_easy_reset(easy_handle);
}

/* Sets every option of a POST of body to url on easy (freshly reset). */
static void
set_post_options(CURL *easy, const char *url, const char *body, size_t body_len,
				 long timeout_ms)
{
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, json_headers);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, Min(timeout_ms, 10000L));
	curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) HTTP_MAX_RESPONSE);
	curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "pipeline (PostgreSQL extension)");
#if LIBCURL_VERSION_NUM >= 0x075700

	/*
	 * A transfer that ends (a timeout, a cancel) while the name is being
	 * resolved lets its resolver thread finish alone: libcurl otherwise joins
	 * it, a wait on the system resolver that no interrupt ends.
	 */
	curl_easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
#endif
}

/* Errors on a failure of the multi handle itself, discarding the easy one. */
static void
check_multi(CURLMcode mc)
{
	if (mc == CURLM_OK)
		return;
	discard_easy_handle();
	elog(ERROR, "libcurl multi error: %s", curl_multi_strerror(mc));
}

/*
 * Drives the transfer of easy (attached to the multi handle) to its end in
 * slices of at most HTTP_SLICE_MS, checking for interrupts and postmaster
 * death between them; returns how it ended.
 *
 * An interrupt thrown by CHECK_FOR_INTERRUPTS leaves easy_attached set;
 * the next call (or nothing, at backend exit) cleans up, so the wait loop
 * needs no PG_TRY of its own.
 */
static CURLcode
run_transfer(const CURL *easy)
{
	for (;;)
	{
		int			running = 0;
		int			numfds;
		int			queued;
		CURLMsg    *msg;

		check_multi(curl_multi_perform(multi_handle, &running));
		while ((msg = curl_multi_info_read(multi_handle, &queued)) != NULL)
		{
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
				return msg->data.result;
		}
		if (running > 0)
		{
			CURLMcode	mc;

			/* waiting on the endpoint, as pg_stat_activity should show */
			pgstat_report_wait_start(PG_WAIT_EXTENSION);
			mc = curl_multi_poll(multi_handle, NULL, 0, HTTP_SLICE_MS, &numfds);
			pgstat_report_wait_end();
			check_multi(mc);
		}
		/* as WL_EXIT_ON_PM_DEATH: the next postmaster waits for this one */
		if (!PostmasterIsAlive())
			proc_exit(1);
		CHECK_FOR_INTERRUPTS();
	}
}

void
http_release_large_body(void)
{
	if (response_cap <= HTTP_KEPT_BODY)
		return;
	free(response_buf);
	response_buf = NULL;
	response_cap = 0;
	response_len = 0;
}

/* Fills result from how the transfer on easy ended (code). */
static void
set_outcome(CURL *easy, CURLcode code, HttpResult *result)
{
	result->body = response_buf != NULL ? response_buf : "";
	result->body_len = response_len;
	if (code == CURLE_OK)
	{
		result->outcome = HTTP_OK;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &result->status);
		return;
	}
	strlcpy(result->error, curl_easy_strerror(code), sizeof(result->error));
	if (response_too_large || code == CURLE_FILESIZE_EXCEEDED)
		result->outcome = HTTP_TOO_LARGE;
	else if (code == CURLE_OPERATION_TIMEDOUT)
		result->outcome = HTTP_TIMED_OUT;
	else if (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)
		result->outcome = HTTP_CONNECT_FAILED;
	else
		result->outcome = HTTP_TRANSFER_FAILED;
}

void
http_post(const char *url, const char *body, size_t body_len,
		  long timeout_ms, HttpResult *result)
{
	CURL	   *easy;
	CURLcode	code;

	memset(result, 0, sizeof(HttpResult));
	ensure_handles();
	easy = easy_handle;

	http_release_large_body();
	response_len = 0;
	response_too_large = false;
	if (response_buf != NULL)
		response_buf[0] = '\0';

	set_post_options(easy, url, body, body_len, timeout_ms);
	if (curl_multi_add_handle(multi_handle, easy) != CURLM_OK)
	{
		discard_easy_handle();
		elog(ERROR, "could not start an HTTP transfer");
	}
	easy_attached = true;
	code = run_transfer(easy);
	curl_multi_remove_handle(multi_handle, easy);
	easy_attached = false;

	set_outcome(easy, code, result);
	/* after a failure start over with a fresh handle and connection */
	if (code != CURLE_OK)
		discard_easy_handle();
}

/* ---------------------------------------------------------------------
 * URLs in normal form
 * ---------------------------------------------------------------------
 */

/* The parts of a URL libcurl gives (malloc'd by libcurl), and its handle. */
typedef struct CurlParts
{
	CURLU	   *handle;
	char	   *scheme;
	char	   *host;
	char	   *port;
	char	   *path;
	char	   *user;
	char	   *query;
	char	   *fragment;
	char	   *url;
} CurlParts;

static void
curl_parts_free(CurlParts *parts)
{
	char	   *strings[] = {parts->scheme, parts->host, parts->port, parts->path,
	parts->user, parts->query, parts->fragment, parts->url};

	for (size_t i = 0; i < lengthof(strings); i++)
		if (strings[i] != NULL)
			curl_free(strings[i]);
	if (parts->handle != NULL)
		curl_url_cleanup(parts->handle);
	memset(parts, 0, sizeof(CurlParts));
}

/* Parses url_text with libcurl; false with *error when it refuses it. */
static bool
curl_parts_get(const char *url_text, CurlParts *parts, const char **error)
{
	CURLUcode	rc;

	memset(parts, 0, sizeof(CurlParts));
	parts->handle = curl_url();
	if (parts->handle == NULL)
	{
		*error = "Out of memory";
		return false;
	}
	rc = curl_url_set(parts->handle, CURLUPART_URL, url_text, 0);
	if (rc != CURLUE_OK)
	{
		*error = curl_url_strerror(rc);
		return false;
	}
	if (curl_url_get(parts->handle, CURLUPART_SCHEME, &parts->scheme, 0) != CURLUE_OK ||
		curl_url_get(parts->handle, CURLUPART_HOST, &parts->host, 0) != CURLUE_OK ||
		curl_url_get(parts->handle, CURLUPART_PORT, &parts->port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
		curl_url_get(parts->handle, CURLUPART_PATH, &parts->path, 0) != CURLUE_OK)
	{
		*error = "The URL lacks a scheme, host, port or path";
		return false;
	}

	/*
	 * An IPv6 zone id (fe80::1%eth0) is not part of the host libcurl gives,
	 * so an entry for one interface would admit every other
	 */
	{
		char	   *zone = NULL;

		if (curl_url_get(parts->handle, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK && zone)
		{
			curl_free(zone);
			*error = "An IPv6 address with a zone id is not accepted";
			return false;
		}
	}
	/* absent parts are reported as errors and leave the pointer NULL */
	(void) curl_url_get(parts->handle, CURLUPART_USER, &parts->user, 0);
	(void) curl_url_get(parts->handle, CURLUPART_QUERY, &parts->query, 0);
	(void) curl_url_get(parts->handle, CURLUPART_FRAGMENT, &parts->fragment, 0);
	return true;
}

/* The value of a hex digit, or -1. */
static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * Percent-escapes of unreserved characters decoded, the others' hex digits
 * in upper case (RFC 3986 sections 6.2.2.1 and 6.2.2.2).  False on a '%'
 * not followed by two hex digits.
 */
static bool
normalise_escapes(const char *path, StringInfo out)
{
	for (const char *p = path; *p; p++)
	{
		int			hi;
		int			lo;
		unsigned char c;

		if (*p != '%')
		{
			appendStringInfoChar(out, *p);
			continue;
		}
		hi = hex_digit(p[1]);
		lo = hi < 0 ? -1 : hex_digit(p[2]);
		if (lo < 0)
			return false;
		c = (unsigned char) (hi * 16 + lo);
		if (is_unreserved(c))
			appendStringInfoChar(out, (char) c);
		else
			appendStringInfo(out, "%%%02X", c);
		p += 2;
	}
	return true;
}

/* RFC 3986 section 5.2.4 for an absolute path; returns a new string. */
static char *
remove_dot_segments(const char *path)
{
	List	   *kept = NIL;
	char	   *copy = pstrdup(path[0] == '/' ? path + 1 : path);
	char	   *seg = copy;
	StringInfoData out;
	ListCell   *lc;

	for (;;)
	{
		char	   *slash = strchr(seg, '/');
		bool		last = slash == NULL;

		if (slash != NULL)
			*slash = '\0';
		if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
		{
			if (seg[1] == '.' && kept != NIL)
				kept = list_delete_last(kept);
			if (last)
				kept = lappend(kept, "");
		}
		else
			kept = lappend(kept, seg);
		if (last)
			break;
		seg = slash + 1;
	}

	initStringInfo(&out);
	foreach(lc, kept)
	{
		appendStringInfoChar(&out, '/');
		appendStringInfoString(&out, (char *) lfirst(lc));
	}
	if (out.len == 0)
		appendStringInfoChar(&out, '/');
	list_free(kept);
	return out.data;
}

/*
 * Characters a server may read as dots (NFKC folds these: the leaders of
 * one, two and three dots, small and fullwidth full stops)
 */
static bool
dot_like(pg_wchar c)
{
	return c == '.' || (c >= 0x2024 && c <= 0x2026) || c == 0xFE52 || c == 0xFF0E;
}

/*
 * The bytes the escapes of s stand for, up to stop or the end (into bytes,
 * initialized).
 */
static void
append_decoded(StringInfo bytes, const char *s, char stop)
{
	for (; *s != '\0' && *s != stop; s++)
	{
		if (*s == '%' && hex_digit(s[1]) >= 0 && hex_digit(s[2]) >= 0)
		{
			appendStringInfoChar(bytes, (char) (hex_digit(s[1]) * 16 + hex_digit(s[2])));
			s += 2;
		}
		else
			appendStringInfoChar(bytes, *s);
	}
}

/* Characters a server may trim: blanks and controls, ASCII and Unicode */
static bool
strippable(pg_wchar c)
{
	return c <= ' ' || (c >= 0x7F && c <= 0xA0) || c == 0xAD || c == 0x1680 || c == 0x180E ||
		(c >= 0x2000 && c <= 0x200F) || c == 0x2028 || c == 0x2029 ||
		c == 0x202F || c == 0x205F || c == 0x2060 || c == 0x3000 || c == 0xFEFF;
}

/*
 * Whether the segment at s (up to a '/' or the end) is all dots to a server
 * that decodes it, ends it at a NUL, strips blanks and control characters
 * or folds other dots to '.': "..%00x", "..%20", "..%C2%A0", "..." and
 * "%EF%BC%8E%EF%BC%8E" are.  The path's escapes are valid UTF-8.
 */
static bool
dots_once_stripped(const char *s)
{
	StringInfoData bytes;
	int			dots = 0;
	bool		only_dots = true;

	initStringInfo(&bytes);
	append_decoded(&bytes, s, '/');
	for (const unsigned char *p = (unsigned char *) bytes.data;
		 *p != '\0' && only_dots; p += pg_utf_mblen(p))
	{
		pg_wchar	c = utf8_to_unicode(p);

		if (dot_like(c))
			dots++;
		else if (!strippable(c))
			only_dots = false;
	}
	pfree(bytes.data);
	return only_dots && dots > 0;
}

/*
 * Whether the escapes of path stand for valid UTF-8: "%C0%AE" is an overlong
 * spelling of '.', which old decoders read as one.
 */
static bool
escapes_are_utf8(const char *path)
{
	StringInfoData bytes;
	bool		valid;

	initStringInfo(&bytes);
	append_decoded(&bytes, path, '\0');
	/* a NUL ends the string as pg_verify_mbstr() reads it: invalid too */
	valid = pg_verify_mbstr(PG_UTF8, bytes.data, bytes.len, true);
	pfree(bytes.data);
	return valid;
}

/*
 * Could a server decode or strip this normalised path into other segments
 * than the ones we see?  (An encoded '%' is another escape to a server, or
 * a proxy in front of it, that decodes twice: "%252e%252e" is "..".)
 */
static bool
path_is_ambiguous(const char *path)
{
	if (strchr(path, '\\') != NULL || strstr(path, "%2F") != NULL ||
		strstr(path, "%5C") != NULL || strstr(path, "%25") != NULL ||
		!escapes_are_utf8(path))
		return true;
	for (const char *seg = path; seg != NULL; seg = strchr(seg + 1, '/'))
	{
		const char *s = seg + 1;

		if (dots_once_stripped(s))
			return true;

		/*
		 * ".;x" and "..;x" are dot segments to servers that strip ";x", and
		 * so are ".%3Bx" and "..%3Bx" to those that decode first
		 * (normalise_escapes() wrote the escape in capitals)
		 */
		if (s[0] == '.' && s[1] == '.')
			s++;
		if (s[0] == '.' && (s[1] == ';' || strncmp(s + 1, "%3B", 3) == 0))
			return true;
	}
	return false;
}

static char *
ascii_lower(const char *s)
{
	char	   *r = pstrdup(s);

	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	return r;
}

/* Fills url from parts, normalising; false with *error. */
static bool
url_from_parts(CurlParts *parts, HttpUrl *url, const char **error)
{
	StringInfoData escaped;
	char	   *end;
	long		port;

	memset(url, 0, sizeof(HttpUrl));
	url->scheme = ascii_lower(parts->scheme);
	if (strcmp(url->scheme, "http") != 0 && strcmp(url->scheme, "https") != 0)
	{
		*error = "Only http and https URLs are allowed";
		return false;
	}
	url->host = ascii_lower(parts->host);
	port = strtol(parts->port, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535)
	{
		*error = "The port is not a number between 0 and 65535";
		return false;
	}
	url->port = (int) port;
	initStringInfo(&escaped);
	if (!normalise_escapes(parts->path, &escaped))
	{
		*error = "The path holds a '%' that does not start a percent-escape";
		return false;
	}
	url->path = remove_dot_segments(escaped.data);
	url->ambiguous_path = path_is_ambiguous(url->path);
	url->has_userinfo = parts->user != NULL;
	url->has_query = parts->query != NULL;
	url->has_fragment = parts->fragment != NULL;
	return true;
}

bool
http_url_parse(const char *url_text, HttpUrl *url, const char **error)
{
	CurlParts	parts;
	CurlParts	again;
	HttpUrl		check;
	StringInfoData sent;
	volatile bool ok = false;

	for (const char *p = url_text; *p; p++)
		if ((unsigned char) *p <= ' ' || *p == 0x7f)
		{
			*error = "A URL may not contain spaces or control characters";
			return false;
		}
	if (pg_strncasecmp(url_text, "http://", 7) != 0 && pg_strncasecmp(url_text, "https://", 8) != 0)
	{
		*error = "An endpoint must be an http:// or https:// URL";
		return false;
	}
	/* libcurl reads http:///x as the host x */
	if (strchr("/\\?#", url_text[pg_strncasecmp(url_text, "http://", 7) == 0 ? 7 : 8]) != NULL)
	{
		*error = "The URL lacks a host";
		return false;
	}

	memset(&again, 0, sizeof(CurlParts));
	initStringInfo(&sent);
	if (!curl_parts_get(url_text, &parts, error))
	{
		curl_parts_free(&parts);
		return false;
	}
	PG_TRY();
	{
		ok = url_from_parts(&parts, url, error);
		/* rebuild the URL from the normal form, without the fragment */
		if (ok &&
			(curl_url_set(parts.handle, CURLUPART_SCHEME, url->scheme, 0) != CURLUE_OK ||
			 curl_url_set(parts.handle, CURLUPART_HOST, url->host, 0) != CURLUE_OK ||
			 curl_url_set(parts.handle, CURLUPART_PATH, url->path, 0) != CURLUE_OK ||
			 curl_url_set(parts.handle, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
			 curl_url_get(parts.handle, CURLUPART_URL, &parts.url, 0) != CURLUE_OK))
		{
			*error = "libcurl cannot rebuild the URL in normal form";
			ok = false;
		}
		if (ok)
			url->url = pstrdup(parts.url);

		/*
		 * Requesting the rebuilt URL must reach what was judged: libcurl
		 * reads the same host, port and path from it, and the path it will
		 * send has no dot segment left (libcurl may spell escapes in lower
		 * case).
		 */
		if (ok &&
			(!curl_parts_get(url->url, &again, error) ||
			 !url_from_parts(&again, &check, error) ||
			 strcmp(check.host, url->host) != 0 || check.port != url->port ||
			 strcmp(check.path, url->path) != 0 ||
			 !normalise_escapes(again.path, &sent) || strcmp(sent.data, url->path) != 0))
		{
			*error = "The URL does not keep its meaning when rebuilt in normal form";
			ok = false;
		}
	}
	PG_FINALLY();
	{
		curl_parts_free(&parts);
		curl_parts_free(&again);
	}
	PG_END_TRY();
	return ok;
}

bool
http_url_under(const HttpUrl *url, const HttpUrl *prefix)
{
	size_t		len = strlen(prefix->path);

	if (url->ambiguous_path || prefix->ambiguous_path ||
		strcmp(url->scheme, prefix->scheme) != 0 ||
		strcmp(url->host, prefix->host) != 0 || url->port != prefix->port ||
		strncmp(url->path, prefix->path, len) != 0)
		return false;
	return prefix->path[len - 1] == '/' ||
		url->path[len] == '\0' || url->path[len] == '/';
}

bool
http_retryable(const HttpResult *result)
{
	if (result->outcome == HTTP_OK)
		return result->status >= 500;
	return result->outcome != HTTP_TOO_LARGE;
}

void
http_backoff(int attempt)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 Min(100L << Min(attempt, 10), 5000L), PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}
