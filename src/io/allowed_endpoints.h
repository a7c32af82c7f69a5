/*-------------------------------------------------------------------------
 * allowed_endpoints.h
 *	  The setting pipeline.allowed_endpoints: which URLs external functions
 *	  may call.
 *
 * The list is judged in the normal form libcurl will request
 * (http_url_parse()), before every request, not only when a function is
 * created, so narrowing the setting stops existing functions at their next
 * call.  Every change of the setting bumps a generation counter; callers
 * keep a verdict with the generation it was reached under, so a call costs
 * one comparison of two counters.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ALLOWED_ENDPOINTS_H
#define PIPELINE_ALLOWED_ENDPOINTS_H

#include "io/http.h"

/* GUC pipeline.allowed_endpoints: comma-separated URL prefixes, or empty. */
extern char *pipeline_allowed_endpoints;

/* Defines the GUCs of external functions; called from _PG_init. */
extern void external_define_settings(void);

/*
 * The generation of the setting: changes whenever the setting does (SET,
 * RESET, a reload, the end of a transaction that SET it locally).
 */
extern uint64 allowed_endpoints_generation(void);

/*
 * Does the setting, as it is now, admit url (the normal form of an
 * endpoint)?  An empty setting admits any http or https URL.  Any memory
 * context; the parsed list is kept in a context of its own.
 */
extern bool endpoint_allowed(const HttpUrl *url);

/*
 * The errdetail() of an endpoint the setting does not admit, saying why;
 * for use inside ereport().
 */
extern int	endpoint_refused_detail(const HttpUrl *url);

#endif
