/*-------------------------------------------------------------------------
 * dpl.c
 *	  Parsing of Datacoral DPL documents, and the keys they (and
 *	  create_matview()'s options) may set.
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
 * errors and the stored query are the same whatever the editor; no-break
 * spaces (a document copied from a web page) are spaces in the header and
 * outside the query's quotes.
 *
 * What each key means, which types of view take it and which
 * create_matview() parameter carries it is one table (dpl_keys); a header
 * line and an entry of create_matview()'s options are applied by the same
 * apply_key(), so the two accept exactly the same keys and values.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "util/analyze.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/utility.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/varlena.h"

#include "model/dpl.h"
#include "util/interval.h"

static void report_no_query(const char *argname) pg_attribute_noreturn();
static void report_statements(const char *argname, const char *query_text, List *stmts) pg_attribute_noreturn();
static void report_not_select(const char *argname, RawStmt *raw, bool of_view) pg_attribute_noreturn();

/* A key given so far, and where (its line; 0 in options). */
typedef struct GivenKey
{
	const char *name;
	int			line;
} GivenKey;

/*
 * The keys a header or options have set so far, for duplicate, conflict
 * and type checks.
 */
typedef struct KeyState
{
	int			type_line;		/* line that set the view type, 0 if none */
	const char *type_key;
	List	   *given;			/* GivenKey */
} KeyState;

const char *
matview_type_name(MatviewType type)
{
	switch (type)
	{
		case MATVIEW_REGULAR:
			break;
		case MATVIEW_INCREMENTAL:
			return "incremental";
		case MATVIEW_MIRROR:
			return "mirror";
		case MATVIEW_UNLOAD:
			return "unload";
	}
	return "regular";
}

MatviewType
matview_type_from_name(const char *name)
{
	for (int type = MATVIEW_REGULAR; type <= MATVIEW_TYPE_LAST; type++)
		if (pg_strcasecmp(name, matview_type_name((MatviewType) type)) == 0)
			return (MatviewType) type;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid matview type \"%s\"", name),
			 errhint("Use \"regular\", \"incremental\", \"mirror\" or \"unload\".")));
	pg_unreachable();
}

const char *
refresh_mode_name(RefreshMode mode)
{
	switch (mode)
	{
		case REFRESH_MODE_AUTO:
			return "auto";
		case REFRESH_MODE_DIFFERENTIAL:
			return "differential";
		case REFRESH_MODE_FULL:
			return "full";
		case REFRESH_MODE_NONE:
			break;
	}
	return NULL;
}

RefreshMode
refresh_mode_from_name(const char *name)
{
	if (pg_strcasecmp(name, "auto") == 0)
		return REFRESH_MODE_AUTO;
	if (pg_strcasecmp(name, "differential") == 0)
		return REFRESH_MODE_DIFFERENTIAL;
	if (pg_strcasecmp(name, "full") == 0)
		return REFRESH_MODE_FULL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid refresh mode \"%s\"", name),
			 errhint("Use \"auto\", \"differential\" or \"full\".")));
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

/* p past white space and SQL comments, up to end: at a statement's first token */
static const char *
past_comments(const char *p, const char *end)
{
	for (;;)
	{
		while (p < end && isspace((unsigned char) *p))
			p++;
		if (p + 1 < end && strncmp(p, "--", 2) == 0)
			p += strcspn(p, "\r\n");
		else if (p + 1 < end && strncmp(p, "/*", 2) == 0)
		{
			const char *close = strstr(p + 2, "*/");

			p = close != NULL ? close + 2 : end;
		}
		else
			return Min(p, end);
	}
}

/* Refuses query text that holds more than one statement, showing where the second begins. */
static void
report_statements(const char *argname, const char *query_text, List *stmts)
{
	int			count = list_length(stmts);
	RawStmt    *raw = lsecond_node(RawStmt, stmts);
	const char *second = query_text + Max(raw->stmt_location, 0);
	const char *end = raw->stmt_len > 0 ? second + raw->stmt_len : second + strlen(second);
	int			shown;
	char	   *begins;

	second = past_comments(second, end);
	shown = pg_mbcliplen(second, end - second, 40);
	begins = pnstrdup(second, shown);
	for (char *c = begins; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 argname ?
			 errmsg_plural("argument \"%s\" has %d statement, expected one SELECT",
						   "argument \"%s\" has %d statements, expected one SELECT",
						   count, argname, count) :
			 errmsg_plural("DPL document has %d statement, expected one SELECT",
						   "DPL document has %d statements, expected one SELECT",
						   count, count),
			 errdetail("The second statement begins \"%s%s\".", begins,
					   second + shown < end ? "..." : "")));
}

/* Refuses a statement other than a plain SELECT: another kind, or SELECT INTO. */
static void
report_not_select(const char *argname, RawStmt *raw, bool of_view)
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
			 of_view ? errhint("A materialized view is defined by one SELECT statement.") : 0));
}

/* Whether p starts a UTF-8 no-break space (U+00A0), in a UTF-8 database */
static inline bool
is_no_break_space(const char *p, bool utf8)
{
	return utf8 && (unsigned char) p[0] == 0xC2 && (unsigned char) p[1] == 0xA0;
}

/* Whether a dollar-quote tag ($tag$ or $$) starts at p; its length if so */
static int
dollar_tag_length(const char *p)
{
	int			n = 1;

	if (p[0] != '$')
		return 0;
	while (IS_HIGHBIT_SET(p[n]) || isalnum((unsigned char) p[n]) || p[n] == '_')
		n++;
	return p[n] == '$' && !isdigit((unsigned char) p[1]) ? n + 1 : 0;
}

/*
 * A palloc'd copy of SQL text with each no-break space (U+00A0) outside its
 * string literals and quoted identifiers turned into a plain space.  Text
 * copied from a web page or a word processor (the Datacoral documents the
 * product was born from) is indented with them; PostgreSQL's scanner would
 * read one as part of an identifier.  Inside quotes it is data, and stays.
 */
static char *
without_no_break_spaces(const char *sql)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	char	   *out = palloc(strlen(sql) + 1);
	char	   *dst = out;
	const char *p = sql;

	if (!utf8 || strstr(sql, "\xC2\xA0") == NULL)
		return strcpy(out, sql);
	while (*p)
	{
		int			tag;

		/* what precedes a quote is read from out, its no-break spaces spaces */
		if (is_no_break_space(p, utf8))
		{
			*dst++ = ' ';
			p += 2;
		}
		else if (p[0] == '-' && p[1] == '-')
		{
			/* a comment to the end of the line: its quotes start nothing */
			while (*p && *p != '\n')
			{
				if (is_no_break_space(p, utf8))
				{
					*dst++ = ' ';
					p += 2;
				}
				else
					*dst++ = *p++;
			}
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			/* a block comment, nested as the scanner nests them */
			int			depth = 0;

			do
			{
				if (p[0] == '/' && p[1] == '*')
					depth++;
				else if (p[0] == '*' && p[1] == '/')
					depth--;
				if (is_no_break_space(p, utf8))
				{
					*dst++ = ' ';
					p += 2;
				}
				else if ((p[0] == '/' && p[1] == '*') || (p[0] == '*' && p[1] == '/'))
				{
					*dst++ = *p++;
					*dst++ = *p++;
				}
				else
					*dst++ = *p++;
			} while (*p && depth > 0);
		}
		else if (*p == '\'' || *p == '"')
		{
			/* a literal or quoted identifier; a doubled quote stays inside */
			char		quote = *p;

			/* E'...' only when the E is a token of its own (not date'...') */
			bool		backslashes = quote == '\'' && dst > out &&
			(dst[-1] == 'E' || dst[-1] == 'e') &&
			(dst - 1 == out || !(IS_HIGHBIT_SET(dst[-2]) || isalnum((unsigned char) dst[-2]) ||
								 dst[-2] == '_' || dst[-2] == '$'));

			*dst++ = *p++;
			while (*p)
			{
				if (backslashes && *p == '\\' && p[1])
					*dst++ = *p++;
				else if (*p == quote && p[1] == quote)
					*dst++ = *p++;
				else if (*p == quote)
					break;
				*dst++ = *p++;
			}
			if (*p)
				*dst++ = *p++;
		}
		else if ((tag = dollar_tag_length(p)) > 0 &&
				 (dst == out || !(IS_HIGHBIT_SET(dst[-1]) || isalnum((unsigned char) dst[-1]) ||
								  dst[-1] == '_' || dst[-1] == '$')))
		{
			/* a dollar-quoted string, copied up to its closing tag */
			const char *end = strstr(p + tag, pnstrdup(p, tag));
			size_t		len = end ? (size_t) (end - p) + tag : strlen(p);

			memcpy(dst, p, len);
			dst += len;
			p += len;
		}
		else
			*dst++ = *p++;
	}
	*dst = '\0';
	return out;
}

static char *
normalize_query(const char *query, const char *argname, bool of_view, RawStmt **statement)
{
	char	   *query_text = trim(without_no_break_spaces(query));
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
		report_statements(argname, query_text, stmts);

	raw = linitial_node(RawStmt, stmts);
	if (!IsA(raw->stmt, SelectStmt) || ((SelectStmt *) raw->stmt)->intoClause != NULL)
		report_not_select(argname, raw, of_view);
	*statement = raw;
	return query_text;
}

char *
dpl_normalize_query(const char *query, const char *argname)
{
	RawStmt    *statement;

	return normalize_query(query, argname, true, &statement);
}

char *
dpl_normalize_select(const char *query, const char *argname)
{
	RawStmt    *statement;
	char	   *text = normalize_query(query, argname, false, &statement);

	/* the statement alone: no empty one before it, no comment after it */
	text	  +=statement->stmt_location;
	return statement->stmt_len > 0 ? pnstrdup(text, statement->stmt_len) : text;
}

/*
 * The keys.  A key comes from a DPL header line (line > 0) or from
 * create_matview()'s options (line 0); both go through apply_key(), so DPL
 * and create_matview() accept exactly the same keys with the same values.
 */

/* Which views a key applies to: a set of (1 << MatviewType). */
#define FOR_TYPE(type) (1u << (type))
#define FOR_ALL_TYPES (FOR_TYPE(MATVIEW_REGULAR) | FOR_TYPE(MATVIEW_INCREMENTAL) | \
					   FOR_TYPE(MATVIEW_MIRROR) | FOR_TYPE(MATVIEW_UNLOAD))

typedef void (*ApplyValue) (MatviewDefinition *def, KeyState *state,
							const char *key, char *value, int line);

typedef struct DplKey
{
	const char *name;			/* without '@' */
	const char *parameter;		/* create_matview()'s parameter that carries
								 * it, or NULL: given in options */
	unsigned	types;			/* FOR_TYPE() of each type it applies to */
	bool		repeatable;		/* may be given more than once */
	ApplyValue	apply;
} DplKey;

static void apply_schema(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_name(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_interval(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_matview_type(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_incremental_key(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_refresh_mode(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_datacoral(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_table_type(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_update_mode(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_mirror_keys(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_mirror_name(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_on_error(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_unload(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_expect(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_expect_unique(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_expect_rows(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);
static void apply_sla(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line);

/* In the order error hints list them. */
static const DplKey dpl_keys[] = {
	{"matview-schema", "target_schema", FOR_ALL_TYPES, false, apply_schema},
	{"matview-name", "name", FOR_ALL_TYPES, false, apply_name},
	{"interval-in-minutes", "refresh_interval", FOR_ALL_TYPES, false, apply_interval},
	{"matview-type", "matview_type", FOR_ALL_TYPES, false, apply_matview_type},
	/* whether the type needs or refuses it is definition_validate()'s call */
	{"incremental-key", "incremental_key", FOR_ALL_TYPES, false, apply_incremental_key},
	{"refresh-mode", "refresh_mode", FOR_TYPE(MATVIEW_REGULAR), false, apply_refresh_mode},
	{"datacoral", NULL, FOR_ALL_TYPES, false, apply_datacoral},
	{"mirror-keys", NULL, FOR_TYPE(MATVIEW_MIRROR), false, apply_mirror_keys},
	{"mirror-sequence", NULL, FOR_TYPE(MATVIEW_MIRROR), false, apply_mirror_name},
	{"mirror-operation", NULL, FOR_TYPE(MATVIEW_MIRROR), false, apply_mirror_name},
	{"mirror-delete-value", NULL, FOR_TYPE(MATVIEW_MIRROR), false, apply_mirror_name},
	{"on-error", NULL, FOR_TYPE(MATVIEW_INCREMENTAL) | FOR_TYPE(MATVIEW_MIRROR), false, apply_on_error},
	{"unload-destination", NULL, FOR_TYPE(MATVIEW_UNLOAD), false, apply_unload},
	{"unload-partition-by", NULL, FOR_TYPE(MATVIEW_UNLOAD), false, apply_unload},
	{"unload-delete-function", NULL, FOR_TYPE(MATVIEW_UNLOAD), false, apply_unload},
	{"expect", NULL, FOR_ALL_TYPES, true, apply_expect},
	{"expect-unique", NULL, FOR_ALL_TYPES, false, apply_expect_unique},
	{"expect-rows", NULL, FOR_ALL_TYPES, false, apply_expect_rows},
	{"freshness-sla-minutes", NULL, FOR_ALL_TYPES, false, apply_sla},
	/* Datacoral's other spellings of the type */
	{"table-type", "matview_type", FOR_ALL_TYPES, false, apply_table_type},
	{"update-mode", "matview_type", FOR_ALL_TYPES, false, apply_update_mode},
};

static const DplKey *
find_key(const char *name)
{
	for (int i = 0; i < (int) lengthof(dpl_keys); i++)
		if (strcmp(dpl_keys[i].name, name) == 0)
			return &dpl_keys[i];
	return NULL;
}

/* "@a, @b" for a header, "a, b" for options: the keys each one takes. */
static char *
known_keys(bool in_options)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < (int) lengthof(dpl_keys); i++)
		if (!in_options || dpl_keys[i].parameter == NULL)
			appendStringInfo(&buf, "%s%s%s", buf.len ? ", " : "",
							 in_options ? "" : "@", dpl_keys[i].name);
	return buf.data;
}

static void report_bad_value(const char *key, const char *value, int line,
							 const char *allowed) pg_attribute_noreturn();

static void
report_bad_value(const char *key, const char *value, int line, const char *allowed)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 line ?
			 errmsg("invalid @%s \"%s\" on line %d", key, value, line) :
			 errmsg("invalid value \"%s\" for option \"%s\"", value, key),
			 errhint("Allowed: %s.", allowed)));
}

static void
apply_schema(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	def->schema_name = value;
}

static void
apply_name(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	def->name = value;
}

static void
apply_interval(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	/* beyond the longest interval, the definition's check says how long */
	const int64 too_many = MAX_REFRESH_INTERVAL_US / USECS_PER_MINUTE + 1;
	int64		minutes = 0;
	const char *p;

	for (p = value; isdigit((unsigned char) *p); p++)
		minutes = Min(minutes * 10 + (*p - '0'), too_many);
	if (p == value || *p != '\0' || minutes <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid @interval-in-minutes \"%s\" on line %d", value, line),
				 errdetail("The interval must be a positive whole number of minutes.")));
	def->interval_us = minutes * USECS_PER_MINUTE;
	def->interval.time = def->interval_us;
}

/* Sets the view type, refusing a second key that says something else. */
static void
set_type(MatviewDefinition *def, KeyState *state, const char *key,
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

/*
 * Key values are matched ignoring case, as create_matview() matches its
 * arguments (matview_type_from_name(), refresh_mode_from_name()).
 */
static void
apply_matview_type(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (pg_strcasecmp(value, "regular") == 0)
		set_type(def, state, key, MATVIEW_REGULAR, line);
	else if (pg_strcasecmp(value, "incremental") == 0)
		set_type(def, state, key, MATVIEW_INCREMENTAL, line);
	else if (pg_strcasecmp(value, "mirror") == 0)
		set_type(def, state, key, MATVIEW_MIRROR, line);
	else if (pg_strcasecmp(value, "unload") == 0)
		set_type(def, state, key, MATVIEW_UNLOAD, line);
	else
		report_bad_value(key, value, line, "regular, incremental, mirror, unload");
}

static void
apply_table_type(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (pg_strcasecmp(value, "regular") != 0)
		report_bad_value(key, value, line, "regular");
	set_type(def, state, key, MATVIEW_REGULAR, line);
}

static void
apply_update_mode(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (pg_strcasecmp(value, "replace") == 0)
		set_type(def, state, key, MATVIEW_REGULAR, line);
	else if (pg_strcasecmp(value, "append") == 0)
		set_type(def, state, key, MATVIEW_INCREMENTAL, line);
	else
		report_bad_value(key, value, line, "replace, append");
}

static void
apply_incremental_key(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	def->incremental_key = value;
}

static void
apply_refresh_mode(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (pg_strcasecmp(value, "auto") == 0)
		def->requested_mode = REFRESH_MODE_AUTO;
	else if (pg_strcasecmp(value, "differential") == 0)
		def->requested_mode = REFRESH_MODE_DIFFERENTIAL;
	else if (pg_strcasecmp(value, "full") == 0)
		def->requested_mode = REFRESH_MODE_FULL;
	else
		report_bad_value(key, value, line, "auto, differential, full");
}

static void
apply_datacoral(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	def->datacoral_version = value;
}

/*
 * Column names separated by commas, each as written (no case folding: they
 * name the query's output columns); none twice.
 */
static List *
column_list(const char *key, char *value, int line)
{
	char	   *copy = pstrdup(value);
	char	   *next;
	List	   *names = NIL;

	for (char *name = copy; name != NULL; name = next)
	{
		next = strchr(name, ',');
		if (next)
			*next++ = '\0';
		name = trim(name);
		if (*name == '\0')
			report_bad_value(key, value, line, "column names separated by commas");
		for (ListCell *lc = list_head(names); lc; lc = lnext(names, lc))
			if (strcmp((char *) lfirst(lc), name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 line ?
						 errmsg("@%s on line %d names column \"%s\" twice", key, line, name) :
						 errmsg("option \"%s\" names column \"%s\" twice", key, name)));
		names = lappend(names, name);
	}
	return names;
}

/* The mirror's keys. */
static void
apply_mirror_keys(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	def->mirror_keys = column_list(key, value, line);
}

/* unload-destination, unload-partition-by, unload-delete-function */
static void
apply_unload(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (strcmp(key, "unload-destination") == 0)
		def->unload_destination = value;
	else if (strcmp(key, "unload-partition-by") == 0)
		def->unload_partition_by = column_list(key, value, line);
	else
	{
		List	   *names;

		/* a name's syntax here, so its error names key and line */
		if (strchr(value, '(') == NULL && !SplitIdentifierString(pstrdup(value), '.', &names))
			report_bad_value(key, value, line,
							 "a function's name, optionally schema-qualified, or its signature");
		def->unload_delete_function = value;
	}
}

/* mirror-sequence, mirror-operation and mirror-delete-value: one word */
static void
apply_mirror_name(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (strcmp(key, "mirror-sequence") == 0)
		def->mirror_sequence = value;
	else if (strcmp(key, "mirror-operation") == 0)
		def->mirror_operation = value;
	else
		def->mirror_delete_value = value;
}

static void
apply_on_error(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	if (strcmp(value, "stop") == 0)
		def->quarantine = false;
	else if (strcmp(value, "quarantine") == 0)
		def->quarantine = true;
	else
		report_bad_value(key, value, line, "stop, quarantine");
}

bool
dpl_split_expectation(const char *value, char **name, char **expression)
{
	const char *colon = strchr(value, ':');

	if (colon == NULL)
		return false;
	*name = trim(pnstrdup(value, colon - value));
	*expression = trim(pstrdup(colon + 1));
	return **name != '\0' && **expression != '\0';
}

/* "name: expression"; names are unique among a view's expectations */
static void
apply_expect(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	char	   *name;
	char	   *expression;
	ListCell   *lc;

	if (!dpl_split_expectation(value, &name, &expression))
		report_bad_value(key, value, line, "<name>: <boolean expression over a row of the view>");
	for (const char *c = name; *c; c++)
		if (!(isalnum((unsigned char) *c) || *c == '_' || *c == '-' || IS_HIGHBIT_SET(*c)))
			report_bad_value(key, value, line,
							 "a name of letters, digits, \"_\" and \"-\", a colon, then a boolean expression");
	foreach(lc, def->expectations)
	{
		char	   *other;
		char	   *ignored;

		(void) dpl_split_expectation(lfirst(lc), &other, &ignored);
		if (strcmp(other, name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 line ?
					 errmsg("@%s on line %d names expectation \"%s\" a second time", key, line, name) :
					 errmsg("option \"%s\" names expectation \"%s\" twice", key, name)));
	}
	def->expectations = lappend(def->expectations, psprintf("%s: %s", name, expression));
}

static void
apply_expect_unique(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	def->expect_unique = column_list(key, value, line);
}

/* A whole number of at least 0 (of at least 1 when positive), or -1. */
static int64
parse_count(const char *text, bool positive)
{
	char	   *end;
	long long	n;

	if (!isdigit((unsigned char) *text))
		return -1;
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || (positive && n < 1))
		return -1;
	return (int64) n;
}

/* "<min>" or "<min>..<max>", min <= max */
static void
apply_expect_rows(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	const char *allowed = "<min>, <min>.. or <min>..<max>, whole numbers";
	char	   *dots = strstr(value, "..");

	def->has_expect_rows = true;
	def->expect_rows_max = -1;
	if (dots == NULL)
		def->expect_rows_min = parse_count(value, false);
	else
	{
		char	   *max = trim(pstrdup(dots + 2));

		def->expect_rows_min = parse_count(trim(pnstrdup(value, dots - value)), false);
		/* "<min>.." has no upper bound */
		if (*max != '\0')
		{
			def->expect_rows_max = parse_count(max, false);
			if (def->expect_rows_max < 0)
				report_bad_value(key, value, line, allowed);
		}
	}
	if (def->expect_rows_min < 0)
		report_bad_value(key, value, line, allowed);
	if (def->expect_rows_max >= 0 && def->expect_rows_max < def->expect_rows_min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 line ?
				 errmsg("@%s on line %d has its bounds reversed: %s", key, line, value) :
				 errmsg("option \"%s\" has its bounds reversed: %s", key, value),
				 errhint("Write the least number of rows first: <min>..<max>.")));
}

/* at least the view's interval: definition_validate() checks that */
static void
apply_sla(MatviewDefinition *def, KeyState *state, const char *key, char *value, int line)
{
	int64		minutes = parse_count(value, true);

	if (minutes < 1 || minutes > INT_MAX)
		report_bad_value(key, value, line, "a whole number of minutes, at least 1");
	def->sla_minutes = (int) minutes;
}

/*
 * Adds a key with no parameter nor column of its own to the definition's
 * options_json, as a JSON string.
 */
static void
remember_option(MatviewDefinition *def, const DplKey *known, const char *value)
{
	StringInfoData buf;

	/* a repeatable key's values are one array (dpl_set_expectations()) */
	if (known->parameter != NULL || strcmp(known->name, "datacoral") == 0 ||
		known->repeatable)
		return;
	initStringInfo(&buf);
	if (def->options_json == NULL || strcmp(def->options_json, "{}") == 0)
		appendStringInfoChar(&buf, '{');
	else
	{
		appendStringInfoString(&buf, def->options_json);
		buf.data[--buf.len] = '\0'; /* the closing brace */
		appendStringInfoString(&buf, ", ");
	}
	escape_json(&buf, known->name);
	appendStringInfoString(&buf, ": ");
	escape_json(&buf, value);
	appendStringInfoChar(&buf, '}');
	def->options_json = buf.data;
}

/* Refuses a key that is unknown, or in options has a parameter of its own. */
static const DplKey *
lookup_key(const char *key, int line)
{
	const DplKey *known = find_key(key);

	if (known == NULL && line)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown key @%s on line %d", key, line),
				 errhint("Known keys: %s.", known_keys(false))));
	if (known == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown option \"%s\"", key),
				 errhint("Options are DPL keys without \"@\" that have no parameter of their own: %s.",
						 known_keys(true))));
	if (line == 0 && known->parameter != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" has a parameter of its own", key),
				 errhint("Pass it as create_matview()'s %s parameter.", known->parameter)));
	return known;
}

/* Refuses a second value for a key that is not repeatable. */
static void
check_not_given(const KeyState *state, const char *key, int line)
{
	const DplKey *known = find_key(key);
	ListCell   *lc;

	if (known != NULL && known->repeatable)
		return;
	foreach(lc, state->given)
	{
		GivenKey   *given = lfirst(lc);

		if (strcmp(given->name, key) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 line ?
					 errmsg("duplicate key @%s on line %d", key, line) :
					 errmsg("duplicate option \"%s\"", key)));
	}
}

/*
 * Applies one key and its value to def, from header line line (0: from
 * create_matview()'s options); a key may appear once unless repeatable.
 */
static void
apply_key(MatviewDefinition *def, KeyState *state, const char *key,
		  char *value, int line)
{
	const DplKey *known;
	GivenKey   *given;

	check_not_given(state, key, line);
	if (*value == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 line ?
				 errmsg("@%s on line %d has no value", key, line) :
				 errmsg("option \"%s\" has no value", key)));
	known = lookup_key(key, line);
	known->apply(def, state, known->name, value, line);
	remember_option(def, known, value);

	given = palloc(sizeof(GivenKey));
	given->name = known->name;
	given->line = line;
	state->given = lappend(state->given, given);
}

/* The names of the types a key applies to, for messages: "regular". */
static char *
type_names(unsigned types)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int type = MATVIEW_REGULAR; type <= MATVIEW_TYPE_LAST; type++)
		if (types & FOR_TYPE(type))
			appendStringInfo(&buf, "%s%s", buf.len ? ", " : "",
							 matview_type_name((MatviewType) type));
	return buf.data;
}

/* Refuses a key given for a type of view it does not apply to. */
static void
check_keys_fit_type(const MatviewDefinition *def, const KeyState *state)
{
	ListCell   *lc;

	foreach(lc, state->given)
	{
		GivenKey   *given = lfirst(lc);
		const DplKey *known = find_key(given->name);

		if (known->types & FOR_TYPE(def->type))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 given->line ?
				 errmsg("@%s on line %d does not apply to %s views",
						given->name, given->line, matview_type_name(def->type)) :
				 errmsg("option \"%s\" does not apply to %s views",
						given->name, matview_type_name(def->type)),
				 errdetail("It applies to views of type: %s.", type_names(known->types))));
	}
}

/*
 * A palloc'd copy of a document without a leading UTF-8 byte-order mark
 * and with LF line endings: a document with any LF has each CRLF turned
 * into LF, a document with no LF has each CR turned into LF (old Mac
 * files).  So a document saved with CRLF or CR endings is parsed, and its
 * query stored, exactly as its LF version; an LF document is not changed,
 * not even a lone CR inside one of its string literals.  No-break spaces
 * in the header are spaces (dpl_normalize_query() sees to the query's).
 */
static char *
normalize_document(const char *document)
{
	const char *src = document;
	char	   *out;
	char	   *dst;
	bool		cr_only;
	const char *header_end;
	int			encoding = GetDatabaseEncoding();

	if ((encoding == PG_UTF8 || encoding == PG_SQL_ASCII) &&
		strncmp(src, "\xEF\xBB\xBF", 3) == 0)
		src += 3;
	cr_only = strchr(src, '\n') == NULL;
	header_end = strstr(src, "*/");
	out = dst = palloc(strlen(src) + 1);
	for (; *src; src++)
	{
		/* the header's no-break spaces; the query's are the parser's */
		if (header_end && src < header_end && is_no_break_space(src, encoding == PG_UTF8))
		{
			*dst++ = ' ';
			src++;
		}
		else if (*src == '\r' && cr_only)
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
 * value without a trailing SQL comment: from the first "--" that follows
 * white space outside quotes ("@mirror-keys id  -- one or more columns",
 * as API.md writes its examples).  In an @expect expression that is where
 * SQL's own comment would start.
 */
static char *
strip_comment(char *value)
{
	char		quote = '\0';

	for (char *c = value; *c; c++)
	{
		if (quote != '\0')
		{
			if (*c == quote)
				quote = '\0';
		}
		else if (*c == '\'' || *c == '"')
			quote = *c;
		else if (c[0] == '-' && c[1] == '-' && (c == value || isspace((unsigned char) c[-1])))
		{
			*c = '\0';
			break;
		}
	}
	return trim(value);
}

/*
 * Splits one header line (its " * " decoration trimmed) into *key and
 * *value, without a trailing comment; false for a blank line.
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
	*value = strip_comment(v);
	if (**key == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("line %d of the DPL header has an empty key", lineno)));
	return true;
}

/*
 * Applies each "@key value" line of the header's content, whose first line
 * is line number lineno, to def (apply_key()).
 */
static void
parse_header(MatviewDefinition *def, KeyState *state, char *content, int lineno)
{
	char	   *next;

	for (char *line = content; line != NULL; line = next, lineno++)
	{
		char	   *key;
		char	   *value;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (split_header_line(line, lineno, &key, &value))
			apply_key(def, state, key, value, lineno);
	}
}

/* The optional keys of a mirror, as API.md section 9 defaults them. */
static void
fill_defaults(MatviewDefinition *def)
{
	if (def->expectations != NIL)
		dpl_set_expectations(def);
	if (def->type != MATVIEW_MIRROR)
		return;
	if (def->mirror_operation == NULL)
		def->mirror_operation = "op";
	if (def->mirror_delete_value == NULL)
		def->mirror_delete_value = "D";
}

/*
 * The number of a line of header (whose first line is lineno) that holds
 * @key after another key's value ("@matview-schema s @matview-name x", a
 * header written on one line), or 0.  Only to explain a missing key: a
 * value may hold "@key" itself (@expect a: @expect < 100, "@" being
 * PostgreSQL's absolute value).
 */
static int
line_with_key_inside(const char *header, const char *key, int lineno)
{
	size_t		keylen = strlen(key);

	for (const char *line = header; line != NULL; lineno++)
	{
		const char *end = strchr(line, '\n');
		const char *first = strchr(line, '@');

		for (const char *at = first; at != NULL && (end == NULL || at < end); at = strchr(at + 1, '@'))
			if (at != first && isspace((unsigned char) at[-1]) &&
				strncmp(at + 1, key, keylen) == 0 &&
				(at[1 + keylen] == '\0' || isspace((unsigned char) at[1 + keylen])))
				return lineno;
		line = end ? end + 1 : NULL;
	}
	return 0;
}

static void
require_key(bool present, const char *key, const char *header, int lineno)
{
	int			inside;

	if (present)
		return;
	inside = line_with_key_inside(header, key, lineno);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("DPL header is missing required key @%s", key),
			 inside ? errdetail("Line %d has @%s after another key, as part of that key's value.", inside, key) : 0,
			 inside ? errhint("Write each @key value on a line of its own.") : 0));
}

/*
 * Refuses a comment between the header and the query's first token that
 * holds a header key at the start of a line: a second view's header (two
 * documents pasted into one, the second one's query lost), which would
 * otherwise be a comment of the first view's query without a word.  Only
 * before the first token, where no string can hold a comment opener; two documents
 * each with a query are two statements, refused as such.
 */
static void
refuse_second_header(const char *query)
{
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;
	const char *p = query;

	while (*p)
	{
		const char *close;
		bool		line_start = true;

		if (isspace((unsigned char) *p))
			p++;
		else if (is_no_break_space(p, utf8))
			p += 2;
		else if (p[0] == '-' && p[1] == '-')
			p += strcspn(p, "\n");
		else if (p[0] == '/' && p[1] == '*')
		{
			close = strstr(p + 2, "*/");
			for (p += 2; *p && p != close; p++)
			{
				if (*p == '\n')
					line_start = true;
				else if (*p == '@' && line_start)
				{
					size_t		length = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz-");
					char	   *key = pnstrdup(p + 1, length);

					if (find_key(key) != NULL)
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("DPL document has a second header (@%s) after its header", key),
								 errdetail("A document defines one view, with one header and one query."),
								 errhint("Give each view its own document; stage() them and apply_staged() to change them together.")));
					pfree(key);
					line_start = false;
				}
				else if (is_no_break_space(p, utf8))
					p++;		/* a blank of two bytes */
				else if (!isspace((unsigned char) *p) && *p != '*')
					line_start = false;
			}
			if (*p)
				p += 2;
		}
		else
			break;
	}
}

MatviewDefinition *
dpl_parse(const char *document)
{
	MatviewDefinition *def = palloc0(sizeof(MatviewDefinition));
	char	   *normalized = normalize_document(document);
	KeyState	state = {0};
	char	   *header;
	char	   *header_text;
	char	   *query;
	int			lineno = 1;

	def->type = MATVIEW_REGULAR;
	def->requested_mode = REFRESH_MODE_AUTO;
	def->options_json = "{}";
	header = open_header(normalized, &lineno, &query);
	/* parsed in place: kept to explain a missing key */
	header_text = pstrdup(header);
	parse_header(def, &state, header, lineno);
	check_keys_fit_type(def, &state);
	fill_defaults(def);
	require_key(def->schema_name != NULL, "matview-schema", header_text, lineno);
	require_key(def->name != NULL, "matview-name", header_text, lineno);
	require_key(def->interval_us != 0, "interval-in-minutes", header_text, lineno);
	refuse_second_header(query);
	def->query = dpl_normalize_query(query, NULL);
	return def;
}

/* A JSON string's text, palloc'd. */
static char *
json_string(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void report_option_not_string(const char *key, bool repeatable) pg_attribute_noreturn();

static void
report_option_not_string(const char *key, bool repeatable)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 repeatable ?
			 errmsg("option \"%s\" must be a JSON string or an array of strings", key) :
			 errmsg("option \"%s\" must be a JSON string", key),
			 errhint("Write the value as it would follow @%s in a DPL header.", key)));
}

/*
 * Applies one option: a string, or each string of an array for a
 * repeatable key.
 */
static void
apply_option(MatviewDefinition *def, KeyState *state, const char *key,
			 const JsonbValue *value)
{
	const DplKey *known = find_key(key);
	bool		repeatable = known != NULL && known->repeatable;
	JsonbIterator *it;
	JsonbIteratorToken token;
	JsonbValue	elem;

	if (value->type == jbvString)
	{
		apply_key(def, state, key, json_string(value), 0);
		return;
	}
	/* an unknown key or one with a parameter: say that first */
	(void) lookup_key(key, 0);
	if (!repeatable || value->type != jbvBinary ||
		!JsonContainerIsArray(value->val.binary.data))
		report_option_not_string(key, repeatable);
	it = JsonbIteratorInit(value->val.binary.data);
	while ((token = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (token != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			report_option_not_string(key, repeatable);
		apply_key(def, state, key, json_string(&elem), 0);
	}
}

void
dpl_apply_options(MatviewDefinition *def, Jsonb *options)
{
	KeyState	state = {0};
	JsonbIterator *it;
	JsonbIteratorToken token;
	JsonbValue	v;
	char	   *key = NULL;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("Pass DPL keys without \"@\" and their values as strings, e.g. '{\"datacoral\": \"1.0\"}'.")));
	it = JsonbIteratorInit(&options->root);
	while ((token = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (token == WJB_KEY)
			key = json_string(&v);
		else if (token == WJB_VALUE)
			apply_option(def, &state, key, &v);
	}
	check_keys_fit_type(def, &state);
	fill_defaults(def);
}

/* Sets (or replaces) key of def's options_json to a JSON value's text. */
static void
set_option_json(MatviewDefinition *def, const char *key, const char *json)
{
	Datum		path[1] = {CStringGetTextDatum(key)};
	Datum		options;

	options = DirectFunctionCall1(jsonb_in, CStringGetDatum(def->options_json ? def->options_json : "{}"));
	options = DirectFunctionCall4(jsonb_set, options,
								  PointerGetDatum(construct_array(path, 1, TEXTOID, -1, false, TYPALIGN_INT)),
								  DirectFunctionCall1(jsonb_in, CStringGetDatum(json)),
								  BoolGetDatum(true));
	def->options_json = DatumGetCString(DirectFunctionCall1(jsonb_out, options));
}

void
dpl_set_option(MatviewDefinition *def, const char *key, const char *value)
{
	StringInfoData json;

	initStringInfo(&json);
	escape_json(&json, value);
	set_option_json(def, key, json.data);
}

void
dpl_set_expectations(MatviewDefinition *def)
{
	StringInfoData json;
	ListCell   *lc;

	initStringInfo(&json);
	appendStringInfoChar(&json, '[');
	foreach(lc, def->expectations)
	{
		if (lc != list_head(def->expectations))
			appendStringInfoString(&json, ", ");
		escape_json(&json, lfirst(lc));
	}
	appendStringInfoChar(&json, ']');
	set_option_json(def, "expect", json.data);
}

MatviewDefinition *
dpl_stored_options(MatviewType type, const char *options_json)
{
	MatviewDefinition *def = palloc0(sizeof(MatviewDefinition));

	def->type = type;
	def->options_json = "{}";
	if (options_json != NULL)
		dpl_apply_options(def, DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																  CStringGetDatum(options_json))));
	fill_defaults(def);
	return def;
}
