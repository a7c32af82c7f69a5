/*-------------------------------------------------------------------------
 * json_values.h
 *	  SQL values to and from JSON, as external functions send arguments and
 *	  read results.
 *
 * Arguments are encoded by type: numbers as JSON numbers (NaN and the
 * infinities as strings; floats in their shortest exact form), booleans,
 * strings, dates and times as ISO strings, json/jsonb as they are,
 * one-dimensional arrays as JSON arrays, NULL as null; the same whatever
 * the session's DateStyle, extra_float_digits or lc_monetary, and for a
 * domain as for its base type.  A result goes through the return type's input function
 * (json/jsonb and arrays are built from the JSON value itself).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_JSON_VALUES_H
#define PIPELINE_JSON_VALUES_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* How a value of one SQL type is written to and read from JSON. */
typedef enum JsonKind
{
	JK_BOOL,
	JK_NUMBER,
	JK_STRING,
	JK_DATETIME,
	JK_JSON,
	JK_JSONB,
	JK_ARRAY
} JsonKind;

/* One SQL type's JSON mapping, with its I/O functions looked up. */
typedef struct TypeIO
{
	Oid			typid;
	Oid			basetype;		/* typid, or a domain's base type */
	bool		pin_settings;	/* its output depends on settings (money,
								 * arrays of floats): written under fixed ones */
	JsonKind	kind;
	FmgrInfo	out;
	FmgrInfo	in;
	Oid			ioparam;
	/* arrays: the element type */
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	struct TypeIO *elem;
} TypeIO;

/*
 * Fills io for typid, its FmgrInfos and element type allocated in mcxt;
 * false when the type does not map to JSON.  Needs a transaction (catalog
 * lookups).
 */
extern bool type_io_init(TypeIO *io, Oid typid, MemoryContext mcxt);

/* Does typid map to JSON?  Needs a transaction. */
extern bool type_supported(Oid typid);

/* Appends value (not null) to buf as JSON. */
extern void append_json_value(StringInfo buf, TypeIO *io, Datum value);

/*
 * The text a scalar JSON value gives to an input function, palloc'd; NULL
 * for null, an object or an array.
 */
extern char *json_scalar_text(JsonbValue *v);
extern char *jsonb_value_text(JsonbValue *v);

/*
 * Converts one JSON value to a Datum of io's type in the current memory
 * context.  Throws the input function's own error, or one saying that an
 * object or array does not fit the type; the caller adds context naming
 * the function.
 */
extern Datum jsonb_value_to_datum(TypeIO *io, JsonbValue *v, bool *isnull);

#endif
