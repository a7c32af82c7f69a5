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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"

#include "http.h"

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

void
http_post(const char *url, const char *body, size_t body_len,
		  long timeout_ms, HttpResult *result)
{
	CURL	   *easy;
	CURLcode	code = CURLE_OK;
	bool		done = false;

	memset(result, 0, sizeof(HttpResult));
	ensure_handles();
	easy = easy_handle;

	response_len = 0;
	response_too_large = false;
	if (response_buf != NULL)
		response_buf[0] = '\0';

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

	if (curl_multi_add_handle(multi_handle, easy) != CURLM_OK)
	{
		discard_easy_handle();
		elog(ERROR, "could not start an HTTP transfer");
	}
	easy_attached = true;

	/*
	 * An interrupt thrown by CHECK_FOR_INTERRUPTS leaves easy_attached set;
	 * the next call (or nothing, at backend exit) cleans up, so the wait
	 * loop needs no PG_TRY of its own.
	 */
	while (!done)
	{
		int			running = 0;
		int			numfds;
		CURLMsg    *msg;
		int			queued;
		CURLMcode	mc;

		mc = curl_multi_perform(multi_handle, &running);
		if (mc != CURLM_OK)
		{
			discard_easy_handle();
			elog(ERROR, "libcurl multi error: %s", curl_multi_strerror(mc));
		}
		while ((msg = curl_multi_info_read(multi_handle, &queued)) != NULL)
		{
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
			{
				code = msg->data.result;
				done = true;
			}
		}
		if (done)
			break;
		if (running > 0)
		{
			mc = curl_multi_poll(multi_handle, NULL, 0, HTTP_SLICE_MS, &numfds);
			if (mc != CURLM_OK)
			{
				discard_easy_handle();
				elog(ERROR, "libcurl multi error: %s", curl_multi_strerror(mc));
			}
		}
		CHECK_FOR_INTERRUPTS();
	}

	curl_multi_remove_handle(multi_handle, easy);
	easy_attached = false;

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
	/* after a failure start over with a fresh handle and connection */
	discard_easy_handle();
}
