/*-------------------------------------------------------------------------
 * dpl.c
 *	  Parsing of Datacoral DPL documents.
 *
 * A document is a header comment followed by one query:
 *
 *	/ **
 *	 * @matview-schema billingdb
 *	 * @matview-name lifetime_value
 *	 * @interval-in-minutes 120
 *	 * /
 *	SELECT ...;
 *
 * The header is read line by line; the query is judged by PostgreSQL's own
 * raw parser, so "one SELECT" means exactly what the server means by it.
 * A document saved on Windows (CRLF) or an old Mac (CR), or with a UTF-8
 * byte-order mark, is first turned into its LF version, so line numbers in
 * errors and the stored query are the same whatever the editor.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "util/analyze.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/utility.h"

#include "model/dpl.h"

static void report_no_query(const char *argname) pg_attribute_noreturn();
static void report_statements(const char *argname, int count) pg_attribute_noreturn();
static void report_not_select(const char *argname, RawStmt *raw) pg_attribute_noreturn();

/* Which keys a header has set so far, for duplicate and conflict checks. */
typedef struct HeaderState
{
	int			type_line;		/* line that set the view type, 0 if none */
	const char *type_key;
} HeaderState;

const char *
matview_type_name(MatviewType type)
{
	return type == MATVIEW_INCREMENTAL ? "incremental" : "regular";
}

MatviewType
matview_type_from_name(const char *name)
{
	if (pg_strcasecmp(name, "regular") == 0)
		return MATVIEW_REGULAR;
	if (pg_strcasecmp(name, "incremental") == 0)
		return MATVIEW_INCREMENTAL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid matview type \"%s\"", name),
			 errhint("Use \"regular\" or \"incremental\".")));
	pg_unreachable();
}

static char *
trim(char *s)
{
	char	   *end;

	while (isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Refuses query text that holds no statement. */
static void
report_no_query(const char *argname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 argname ?
			 errmsg("argument \"%s\" has no statement", argname) :
			 errmsg("DPL document has no query"),
			 argname ?
			 errhint("Pass one SELECT statement.") :
			 errhint("Write one SELECT statement after the header.")));
}

/* Refuses query text that holds more than one statement. */
static void
report_statements(const char *argname, int count)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 argname ?
			 errmsg_plural("argument \"%s\" has %d statement, expected one SELECT",
						   "argument \"%s\" has %d statements, expected one SELECT",
						   count, argname, count) :
			 errmsg_plural("DPL document has %d statement, expected one SELECT",
						   "DPL document has %d statements, expected one SELECT",
						   count, count)));
}

/* Refuses a statement other than a plain SELECT: another kind, or SELECT INTO. */
static void
report_not_select(const char *argname, RawStmt *raw)
{
	if (IsA(raw->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 argname ?
				 errmsg("argument \"%s\" uses SELECT INTO, not a plain query", argname) :
				 errmsg("DPL document uses SELECT INTO, not a plain query")));
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 argname ?
			 errmsg("argument \"%s\" must be a SELECT query, not %s",
					argname, CreateCommandName(raw->stmt)) :
			 errmsg("DPL document must be a SELECT query, not %s",
					CreateCommandName(raw->stmt)),
			 errhint("A materialized view is defined by one SELECT statement.")));
}

char *
dpl_normalize_query(const char *query, const char *argname)
{
	char	   *query_text = trim(pstrdup(query));
	List	   *stmts;
	RawStmt    *raw;
	size_t		len;
	ErrorContextCallback errcallback;

	/* one trailing semicolon is customary in .dpl files; drop it */
	len = strlen(query_text);
	while (len > 0 && (query_text[len - 1] == ';' || isspace((unsigned char) query_text[len - 1])))
		query_text[--len] = '\0';
	if (len == 0)
		report_no_query(argname);

	errcallback.callback = query_text_error_callback;
	errcallback.arg = query_text;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	stmts = raw_parser(query_text, RAW_PARSE_DEFAULT);
	error_context_stack = errcallback.previous;
	if (list_length(stmts) == 0)
		report_no_query(argname);
	if (list_length(stmts) > 1)
		report_statements(argname, list_length(stmts));

	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, SelectStmt) || ((SelectStmt *) raw->stmt)->intoClause != NULL)
		report_not_select(argname, raw);
	return query_text;
}

static int64
parse_positive_minutes(const char *value, int line)
{
	int64		minutes = 0;
	const char *p;

	for (p = value; isdigit((unsigned char) *p) && minutes <= INT_MAX; p++)
		minutes = minutes * 10 + (*p - '0');
	if (p == value || *p != '\0' || minutes <= 0 || minutes > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid @interval-in-minutes \"%s\" on line %d", value, line),
				 errdetail("The interval must be a positive whole number of minutes.")));
	return minutes;
}

/* Sets the view type, refusing a second key that says something else. */
static void
set_type(MatviewDefinition *def, HeaderState *state, const char *key,
		 MatviewType type, int line)
{
	if (state->type_line != 0 && def->type != type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("@%s on line %d contradicts @%s on line %d",
						key, line, state->type_key, state->type_line)));
	def->type = type;
	state->type_line = line;
	state->type_key = key;
}

static void bad_value(const char *key, const char *value, int line,
					  const char *allowed) pg_attribute_noreturn();

static void
bad_value(const char *key, const char *value, int line, const char *allowed)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid @%s \"%s\" on line %d", key, value, line),
			 errhint("Allowed: %s.", allowed)));
}

static void
apply_key(MatviewDefinition *def, HeaderState *state, const char *key,
		  char *value, int line)
{
	if (*value == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("@%s on line %d has no value", key, line)));

	if (strcmp(key, "matview-schema") == 0)
		def->schema_name = value;
	else if (strcmp(key, "matview-name") == 0)
		def->name = value;
	else if (strcmp(key, "interval-in-minutes") == 0)
	{
		def->interval_us = parse_positive_minutes(value, line) * USECS_PER_MINUTE;
		def->interval.time = def->interval_us;
	}
	else if (strcmp(key, "matview-type") == 0)
	{
		if (strcmp(value, "regular") == 0)
			set_type(def, state, key, MATVIEW_REGULAR, line);
		else if (strcmp(value, "incremental") == 0)
			set_type(def, state, key, MATVIEW_INCREMENTAL, line);
		else
			bad_value(key, value, line, "regular, incremental");
	}
	else if (strcmp(key, "table-type") == 0)
	{
		if (strcmp(value, "regular") != 0)
			bad_value(key, value, line, "regular");
		set_type(def, state, key, MATVIEW_REGULAR, line);
	}
	else if (strcmp(key, "update-mode") == 0)
	{
		if (strcmp(value, "replace") == 0)
			set_type(def, state, key, MATVIEW_REGULAR, line);
		else if (strcmp(value, "append") == 0)
			set_type(def, state, key, MATVIEW_INCREMENTAL, line);
		else
			bad_value(key, value, line, "replace, append");
	}
	else if (strcmp(key, "incremental-key") == 0)
		def->incremental_key = value;
	else if (strcmp(key, "datacoral") == 0)
		def->datacoral_version = value;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown key @%s on line %d", key, line),
				 errhint("Known keys: @matview-schema, @matview-name, @interval-in-minutes, @matview-type, @incremental-key, @datacoral, @table-type, @update-mode.")));
}

/*
 * A palloc'd copy of a document without a leading UTF-8 byte-order mark
 * and with LF line endings: a document with any LF has each CRLF turned
 * into LF, a document with no LF has each CR turned into LF (old Mac
 * files).  So a document saved with CRLF or CR endings is parsed, and its
 * query stored, exactly as its LF version; an LF document is not changed,
 * not even a lone CR inside one of its string literals.
 */
static char *
normalize_document(const char *document)
{
	const char *src = document;
	char	   *out;
	char	   *dst;
	bool		cr_only;
	int			encoding = GetDatabaseEncoding();

	if ((encoding == PG_UTF8 || encoding == PG_SQL_ASCII) &&
		strncmp(src, "\xEF\xBB\xBF", 3) == 0)
		src += 3;
	cr_only = strchr(src, '\n') == NULL;
	out = dst = palloc(strlen(src) + 1);
	for (; *src; src++)
	{
		if (*src == '\r' && cr_only)
			*dst++ = '\n';
		else if (*src == '\r' && src[1] == '\n')
			continue;			/* the LF that follows is copied */
		else
			*dst++ = *src;
	}
	*dst = '\0';
	return out;
}

/*
 * Finds the header comment of text (which it cuts at the closing marker)
 * and returns where its content begins; *lineno counts the lines before
 * it, *rest is where the query begins.
 */
static char *
open_header(char *document, int *lineno, char **rest)
{
	char	   *p = document;
	char	   *header_end;

	/* skip leading blank lines, counting them */
	while (isspace((unsigned char) *p))
	{
		if (*p == '\n')
			(*lineno)++;
		p++;
	}
	if (strncmp(p, "/*", 2) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("DPL document does not start with a /** ... */ header"),
				 errhint("Begin with a comment of @key value lines, e.g. @matview-schema, @matview-name, @interval-in-minutes.")));
	header_end = strstr(p + 2, "*/");
	if (header_end == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("DPL header starting on line %d is not closed with */", *lineno)));
	*header_end = '\0';
	*rest = header_end + 2;
	p += 2;
	while (*p == '*')
		p++;
	return p;
}

/*
 * Splits one header line (its " * " decoration trimmed) into *key and
 * *value; false for a blank line.
 */
static bool
split_header_line(char *line, int lineno, char **key, char **value)
{
	char	   *content = trim(line);
	char	   *v;

	while (*content == '*')
		content++;
	content = trim(content);
	if (*content == '\0')
		return false;
	if (*content != '@')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line %d of the DPL header is not an @key value line: \"%s\"",
						lineno, content)));
	*key = content + 1;
	v = *key;
	while (*v && !isspace((unsigned char) *v))
		v++;
	if (*v)
		*v++ = '\0';
	*value = trim(v);
	if (**key == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line %d of the DPL header has an empty key", lineno)));
	return true;
}

/*
 * Applies each "@key value" line of the header's content, whose first line
 * is line number lineno, to def; a key may appear once.
 */
static void
parse_header(MatviewDefinition *def, char *content, int lineno)
{
	HeaderState state = {0};
	List	   *seen_keys = NIL;
	char	   *next;

	for (char *line = content; line != NULL; line = next, lineno++)
	{
		char	   *key;
		char	   *value;
		ListCell   *lc;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!split_header_line(line, lineno, &key, &value))
			continue;
		foreach(lc, seen_keys)
		{
			if (strcmp(lfirst(lc), key) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("duplicate key @%s on line %d", key, lineno)));
		}
		seen_keys = lappend(seen_keys, key);
		apply_key(def, &state, key, value, lineno);
	}
}

static void
require_key(bool present, const char *key)
{
	if (!present)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("DPL header is missing required key @%s", key)));
}

MatviewDefinition *
dpl_parse(const char *document)
{
	MatviewDefinition *def = palloc0(sizeof(MatviewDefinition));
	char	   *normalized = normalize_document(document);
	char	   *header;
	char	   *query;
	int			lineno = 1;

	def->type = MATVIEW_REGULAR;
	header = open_header(normalized, &lineno, &query);
	parse_header(def, header, lineno);
	require_key(def->schema_name != NULL, "matview-schema");
	require_key(def->name != NULL, "matview-name");
	require_key(def->interval_us != 0, "interval-in-minutes");
	def->query = dpl_normalize_query(query, NULL);
	return def;
}
