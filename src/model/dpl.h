/*-------------------------------------------------------------------------
 * dpl.h
 *	  Parsing of Datacoral DPL documents: a comment header of "@key value"
 *	  lines followed by one SELECT.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DPL_H
#define PIPELINE_DPL_H

#include "datatype/timestamp.h"

typedef enum MatviewType
{
	MATVIEW_REGULAR,
	MATVIEW_INCREMENTAL
} MatviewType;

/* A view definition, whether it came from DPL or from create_matview(). */
typedef struct MatviewDefinition
{
	char	   *schema_name;
	char	   *name;			/* without the mv_ prefix */
	MatviewType type;
	char	   *incremental_key;	/* NULL unless incremental */
	char	   *datacoral_version;	/* NULL when absent */
	Interval	interval;		/* refresh interval as given */
	int64		interval_us;	/* the same in microseconds (a month is 30
								 * days) */
	char	   *query;			/* one SELECT, no trailing semicolon */
	char	   *bound_query;	/* its bound form once analyzed (runas.h) */
} MatviewDefinition;

/*
 * Parses a DPL document into a palloc'd definition in the current memory
 * context.  Any problem is an ERROR naming the line or key at fault.  LF,
 * CRLF and CR line endings and a leading UTF-8 byte-order mark are
 * accepted: a document is read, and its query stored, as its LF version.
 */
extern MatviewDefinition *dpl_parse(const char *document);

/*
 * Checks that query text is exactly one plain SELECT (no INTO) and returns
 * it trimmed and without a trailing semicolon.  Errors name the function
 * argument argname the text came from, or the DPL document when NULL.
 */
extern char *dpl_normalize_query(const char *query, const char *argname);

extern const char *matview_type_name(MatviewType type);
extern MatviewType matview_type_from_name(const char *name);

#endif
