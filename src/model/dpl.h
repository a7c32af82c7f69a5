/*-------------------------------------------------------------------------
 * dpl.h
 *	  Parsing of Datacoral DPL documents: a comment header of "@key value"
 *	  lines followed by one SELECT; the same keys as create_matview()'s
 *	  options.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DPL_H
#define PIPELINE_DPL_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

typedef enum MatviewType
{
	MATVIEW_REGULAR,
	MATVIEW_INCREMENTAL,
	MATVIEW_MIRROR,				/* latest row per key of a change stream */
	MATVIEW_UNLOAD				/* a partitioned file tree equal to a query */
} MatviewType;

#define MATVIEW_TYPE_LAST MATVIEW_UNLOAD

/*
 * How a regular view is refreshed (API.md section 8).  A definition asks
 * for auto, differential or full; definition_resolve_refresh_mode()
 * (model/definition.h) turns that into differential or full, or none for a
 * view that is not regular (NULL in the catalog).
 */
typedef enum RefreshMode
{
	REFRESH_MODE_AUTO,			/* requested only: differential when possible */
	REFRESH_MODE_DIFFERENTIAL,
	REFRESH_MODE_FULL,
	REFRESH_MODE_NONE			/* resolved only: not a regular view */
} RefreshMode;

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
	RefreshMode requested_mode; /* as given: auto (the default), differential
								 * or full */
	/* resolved by definition_resolve_refresh_mode(); AUTO until then */
	RefreshMode refresh_mode;	/* differential, full or none */
	char	   *full_refresh_reason;	/* why full; NULL unless refresh_mode
										 * is full */
	/* a mirror's (API.md section 9); NIL and NULL for other types */
	List	   *mirror_keys;	/* column names */
	char	   *mirror_sequence;
	char	   *mirror_operation;	/* default "op" */
	char	   *mirror_delete_value;	/* default "D" */
	/* @on-error quarantine (stream views and mirrors): set bad rows aside */
	bool		quarantine;
	/* a lake publication's (@matview-type unload) */
	char	   *unload_destination;
	List	   *unload_partition_by;	/* column names */
	char	   *unload_delete_function; /* as given, or NULL */
	Oid			unload_delete_fn;	/* what it names, by OID, once resolved
									 * (publication_check()); InvalidOid until
									 * then */
	/* audits and freshness (API.md section 10), for every type */
	List	   *expectations;	/* "name: expression" strings, as given or,
								 * once stored, bound (views/audit.h) */
	List	   *expect_unique;	/* column names; NIL when none */
	bool		has_expect_rows;
	int64		expect_rows_min;
	int64		expect_rows_max;	/* -1: no upper bound */
	int			sla_minutes;	/* @freshness-sla-minutes; 0 when none */

	/*
	 * The keys given that have no create_matview() parameter nor catalog
	 * column of their own (mirror-*, ...), as the JSON object
	 * create_matview()'s options take: what pipeline.matview_definitions
	 * stores, and what dpl_apply_options() reads back.  "{}" when none.
	 */
	char	   *options_json;
} MatviewDefinition;

/*
 * Parses a DPL document into a palloc'd definition in the current memory
 * context.  Any problem is an ERROR naming the line or key at fault.  LF,
 * CRLF and CR line endings and a leading UTF-8 byte-order mark are
 * accepted: a document is read, and its query stored, as its LF version.
 */
extern MatviewDefinition *dpl_parse(const char *document);

/*
 * Applies create_matview()'s options to def, whose type is set: a JSON
 * object of DPL keys without '@' and their values as JSON strings (an array
 * of strings for a repeatable key).  The keys are checked and applied
 * exactly as in a DPL header; a key create_matview() has a parameter for is
 * refused, naming the parameter.  NULL is no options.
 */
extern void dpl_apply_options(MatviewDefinition *def, Jsonb *options);

/*
 * Checks that query text is exactly one plain SELECT (no INTO) and returns
 * it trimmed and without a trailing semicolon.  Errors name the function
 * argument argname the text came from, or the DPL document when NULL.
 */
extern char *dpl_normalize_query(const char *query, const char *argname);

/*
 * The same for a query that defines no view (unload()'s): no hint of one,
 * and the statement's own text (without empty statements or comments
 * around it), since it is run inside another.
 */
extern char *dpl_normalize_select(const char *query, const char *argname);

/*
 * A definition of type with the options stored for it (options_json as
 * MatviewDefinition has it), applied as create_matview() applies them, and
 * defaults filled in: how a stored view's mirror settings are read back.
 */
extern MatviewDefinition *dpl_stored_options(MatviewType type, const char *options_json);

/* Sets (or replaces) one key of def's options_json, as a JSON string. */
extern void dpl_set_option(MatviewDefinition *def, const char *key, const char *value);

/* Sets def's "expect" option to the JSON array of def->expectations. */
extern void dpl_set_expectations(MatviewDefinition *def);

/*
 * Splits "name: expression" (an @expect value) at its first colon; false
 * when it has no name or no expression.
 */
extern bool dpl_split_expectation(const char *value, char **name, char **expression);

extern const char *matview_type_name(MatviewType type);
extern MatviewType matview_type_from_name(const char *name);

/* "auto", "differential", "full"; NULL for REFRESH_MODE_NONE. */
extern const char *refresh_mode_name(RefreshMode mode);

/*
 * The mode of a name as stored or passed to create_matview() (any case);
 * an unknown name is an ERROR listing the accepted ones.
 */
extern RefreshMode refresh_mode_from_name(const char *name);

#endif
