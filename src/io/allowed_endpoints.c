/*-------------------------------------------------------------------------
 * allowed_endpoints.c
 *	  pipeline.allowed_endpoints: the list of URL prefixes external
 *	  functions may call, parsed once per change of the setting.
 *
 * The assign hook only counts changes; the list is parsed again on first
 * use after one (the hook may not allocate or throw).  The check hook
 * refuses, with the reason, an entry that is not a plain
 * http(s)://host[:port][/path] URL when the value comes from SET or ALTER
 * ROLE/DATABASE ... SET; from the configuration file such an entry is
 * accepted and then matches nothing, so a typo there closes the list
 * rather than opening it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "io/allowed_endpoints.h"
#include "io/http.h"

char	   *pipeline_allowed_endpoints = NULL;

/* One entry of the setting, parsed. */
typedef struct AllowedPrefix
{
	const char *written;		/* the entry as written */
	bool		valid;
	HttpUrl		url;
} AllowedPrefix;

static uint64 allow_list_generation = 1;
static uint64 allow_list_parsed = 0;	/* generation allow_list is of */
static bool allow_list_set = false; /* false: any http or https URL */
static List *allow_list = NIL;	/* of AllowedPrefix, in allow_list_context */
static MemoryContext allow_list_context = NULL;

/* Strips the blanks around tok in place; returns where it now starts. */
static char *
trim_blanks(char *tok)
{
	char	   *end;

	while (*tok == ' ' || *tok == '\t')
		tok++;
	end = tok + strlen(tok);
	while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return tok;
}

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

		tok = trim_blanks(tok);
		if (*tok == '\0')
			continue;
		entry = palloc0(sizeof(AllowedPrefix));
		entry->written = tok;
		entry->valid = http_url_parse(tok, &entry->url, &error) &&
			!entry->url.has_userinfo && !entry->url.has_query &&
			!entry->url.has_fragment && !entry->url.ambiguous_path;
		entries = lappend(entries, entry);
	}
	return entries;
}

/*
 * Says, through GUC_check_errdetail, why the first invalid entry of setting
 * is refused; false when every entry is valid.
 */
static bool
report_invalid_entry(const char *setting)
{
	ListCell   *lc;

	foreach(lc, parse_allow_list(setting))
	{
		AllowedPrefix *entry = lfirst(lc);
		const char *error = NULL;
		HttpUrl		url;

		if (entry->valid)
			continue;
		if (!http_url_parse(entry->written, &url, &error))
			GUC_check_errdetail("Entry \"%s\": %s.", entry->written, error);
		else if (url.ambiguous_path)
			GUC_check_errdetail("Entry \"%s\" is not of the form http(s)://host[:port][/path] (its path holds an encoded '/' or '\\', a '\\', or a dot segment followed by ';').",
								entry->written);
		else
			GUC_check_errdetail("Entry \"%s\" is not of the form http(s)://host[:port][/path].",
								entry->written);
		GUC_check_errhint("List URL prefixes separated by commas, for example \"https://api.example.com/lambda/, http://127.0.0.1:9000\".");
		return true;
	}
	return false;
}

static bool
check_allowed_endpoints(char **newval, void **extra, GucSource source)
{
	MemoryContext cxt;
	MemoryContext old;
	bool		invalid;

	if (*newval == NULL || source < PGC_S_INTERACTIVE)
		return true;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pipeline allowed_endpoints check",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	invalid = report_invalid_entry(*newval);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return !invalid;
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

uint64
allowed_endpoints_generation(void)
{
	return allow_list_generation;
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
bool
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
int
endpoint_refused_detail(const HttpUrl *url)
{
	if (url->ambiguous_path)
		return errdetail("Its path \"%s\" may be read differently by the server (it holds an encoded '/', '\\' or '%%', a '\\', a dot segment followed by ';', a segment of nothing but dots (fullwidth ones too), blanks and control characters, or escapes that are not UTF-8), so no prefix of pipeline.allowed_endpoints (\"%s\") admits it.",
						 url->path, pipeline_allowed_endpoints);
	return errdetail("It resolves to \"%s\", which matches no prefix of pipeline.allowed_endpoints (\"%s\").",
					 url->url, pipeline_allowed_endpoints);
}
