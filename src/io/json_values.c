/*-------------------------------------------------------------------------
 * json_values.c
 *	  SQL values to and from JSON for external functions.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "io/json_values.h"
#include "util/runas.h"

/* What a value is written under when its output depends on settings */
static const RunAsSetting wire_settings[] = {
	{"DateStyle", "ISO"},
	{"extra_float_digits", "1"},
	{"lc_monetary", "C"},
	{"search_path", "pg_catalog, pg_temp"},
};

/* Whether typid's output names an object as the caller's search_path sees it */
static bool
output_follows_search_path(Oid typid)
{
	switch (typid)
	{
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGOPERATOROID:
		case REGOPEROID:
		case REGPROCEDUREOID:
		case REGPROCOID:
		case REGROLEOID:
		case REGTYPEOID:
			return true;
		default:
			return false;
	}
}

/*
 * Fills io's element type for an array type; false if it is unsupported.
 * Only the true array type of its element: int2vector and oidvector are of
 * category array too, but a value built as an array (lower bound 1, nulls)
 * is no valid one of theirs (stored, it could not be output or dumped).
 */
static bool
array_io_init(TypeIO *io, Oid typid, MemoryContext mcxt)
{
	Oid			elemtype = get_element_type(typid);

	if (!OidIsValid(elemtype) || type_is_array(elemtype) ||
		get_array_type(elemtype) != typid)
		return false;
	io->kind = JK_ARRAY;
	io->elem = MemoryContextAlloc(mcxt, sizeof(TypeIO));
	if (!type_io_init(io->elem, elemtype, mcxt))
		return false;
	get_typlenbyvalalign(elemtype, &io->elmlen, &io->elmbyval, &io->elmalign);
	return true;
}

/* Sets io->kind from typid's category; false if it maps to no JSON kind. */
static bool
choose_kind(TypeIO *io, Oid typid, MemoryContext mcxt)
{
	char		category;
	bool		preferred;

	if (typid == JSONOID)
		io->kind = JK_JSON;
	else if (typid == JSONBOID)
		io->kind = JK_JSONB;
	else
	{
		get_type_category_preferred(typid, &category, &preferred);
		switch (category)
		{
			case TYPCATEGORY_BOOLEAN:
				io->kind = JK_BOOL;
				break;
			case TYPCATEGORY_NUMERIC:
				io->kind = JK_NUMBER;
				break;
			case TYPCATEGORY_STRING:
				io->kind = JK_STRING;
				break;
			case TYPCATEGORY_DATETIME:
				io->kind = JK_DATETIME;
				break;
			case TYPCATEGORY_ARRAY:
				return array_io_init(io, typid, mcxt);
			default:
				return false;
		}
	}
	return true;
}

bool
type_io_init(TypeIO *io, Oid typid, MemoryContext mcxt)
{
	Oid			func;
	bool		isvarlena;

	memset(io, 0, sizeof(TypeIO));
	io->typid = typid;
	io->basetype = getBaseType(typid);
	if (!choose_kind(io, typid, mcxt))
		return false;
	io->pin_settings = io->basetype == CASHOID || output_follows_search_path(io->basetype) ||
		(io->kind == JK_ARRAY && (io->elem->pin_settings || io->elem->basetype == FLOAT4OID ||
								  io->elem->basetype == FLOAT8OID));
	getTypeOutputInfo(typid, &func, &isvarlena);
	fmgr_info_cxt(func, &io->out, mcxt);
	getTypeInputInfo(typid, &func, &io->ioparam);
	fmgr_info_cxt(func, &io->in, mcxt);
	return true;
}

bool
type_supported(Oid typid)
{
	TypeIO		io;

	return type_io_init(&io, typid, CurrentMemoryContext);
}

/*
 * Appends the values that JSON spells without the output function (a
 * boolean, an array, a date or time in ISO form); false for the others.
 */
static bool
append_json_native(StringInfo buf, TypeIO *io, Datum value)
{
	switch (io->kind)
	{
		case JK_BOOL:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			return true;
		case JK_ARRAY:
			{
				text	   *t = DatumGetTextPP(DirectFunctionCall1(array_to_json, value));

				appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				return true;
			}
		case JK_NUMBER:
			/* the shortest text that reads back exactly, as JSON numbers */
			if (io->basetype == FLOAT8OID || io->basetype == FLOAT4OID)
			{
				double		d = io->basetype == FLOAT8OID ? DatumGetFloat8(value) :
				(double) DatumGetFloat4(value);
				char		num[DOUBLE_SHORTEST_DECIMAL_LEN];

				if (isnan(d))
					escape_json(buf, "NaN");
				else if (isinf(d))
					escape_json(buf, d > 0 ? "Infinity" : "-Infinity");
				else
				{
					if (io->basetype == FLOAT8OID)
						double_to_shortest_decimal_buf(d, num);
					else
						float_to_shortest_decimal_buf(DatumGetFloat4(value), num);
					appendStringInfoString(buf, num);
				}
				return true;
			}
			return false;
		case JK_DATETIME:
			if (io->basetype == DATEOID || io->basetype == TIMEOID ||
				io->basetype == TIMETZOID || io->basetype == TIMESTAMPOID ||
				io->basetype == TIMESTAMPTZOID)
			{
				char		dt[MAXDATELEN + 1];

				JsonEncodeDateTime(dt, value, io->basetype, NULL);
				appendStringInfoChar(buf, '"');
				appendStringInfoString(buf, dt);
				appendStringInfoChar(buf, '"');
				return true;
			}
			return false;
		default:
			return false;
	}
}

void
append_json_value(StringInfo buf, TypeIO *io, Datum value)
{
	char	   *s;
	int			nestlevel = -1;

	if (io->pin_settings)
		nestlevel = runas_pin_settings(wire_settings, lengthof(wire_settings));
	if (append_json_native(buf, io, value))
	{
		if (nestlevel >= 0)
			runas_unpin_settings(nestlevel);
		return;
	}
	s = OutputFunctionCall(&io->out, value);
	if (nestlevel >= 0)
		runas_unpin_settings(nestlevel);
	switch (io->kind)
	{
		case JK_NUMBER:
			/* NaN and infinities are not JSON numbers: send them as strings */
			if (isdigit((unsigned char) s[0]) ||
				(s[0] == '-' && isdigit((unsigned char) s[1])))
				appendStringInfoString(buf, s);
			else
				escape_json(buf, s);
			break;
		case JK_JSON:
		case JK_JSONB:
			appendStringInfoString(buf, s);
			break;
		default:
			escape_json(buf, s);
			break;
	}
	pfree(s);
}

char *
json_scalar_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			return NULL;
	}
}

/* The JSON text of any value, objects and arrays included. */
char *
jsonb_value_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * A JSON array (v, of jbvBinary) as an array of io's element type.  Each
 * element is read in memory reset after it, keeping only its value: the
 * text a number gives its input function can be thousands of times its
 * JSON ("1e131071" is 131,072 digits), so what an endpoint's small reply
 * makes this allocate is bounded by the array's own size, which may not
 * exceed what construct_md_array() accepts.
 */
static Datum
jsonb_array_to_datum(TypeIO *io, JsonbValue *v)
{
	JsonbContainer *c = v->val.binary.data;
	int			n = JsonContainerSize(c);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1];
	int			lbs[1] = {1};
	Size		total = 0;
	MemoryContext element_cxt = AllocSetContextCreate(CurrentMemoryContext,
													  "external function array element",
													  ALLOCSET_DEFAULT_SIZES);

	for (int i = 0; i < n; i++)
	{
		MemoryContext caller = MemoryContextSwitchTo(element_cxt);
		Datum		value = jsonb_value_to_datum(io->elem,
												 getIthJsonbValueFromContainer(c, i),
												 &nulls[i]);

		MemoryContextSwitchTo(caller);
		elems[i] = nulls[i] ? (Datum) 0 : datumCopy(value, io->elmbyval, io->elmlen);
		MemoryContextReset(element_cxt);
		if (!nulls[i] && !io->elmbyval)
			total += datumGetSize(elems[i], io->elmbyval, io->elmlen);
		if (total > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("array size exceeds the maximum allowed (%d)",
							(int) MaxAllocSize)));
	}
	MemoryContextDelete(element_cxt);
	if (n == 0)
		return PointerGetDatum(construct_empty_array(io->elem->typid));
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  io->elem->typid, io->elmlen,
											  io->elmbyval, io->elmalign));
}

Datum
jsonb_value_to_datum(TypeIO *io, JsonbValue *v, bool *isnull)
{
	char	   *s;

	*isnull = false;
	if (v->type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (io->kind == JK_JSONB)
		return JsonbPGetDatum(JsonbValueToJsonb(v));
	if (io->kind == JK_JSON)
		return InputFunctionCall(&io->in, jsonb_value_text(v), io->ioparam, -1);
	if (io->kind == JK_ARRAY && v->type == jbvBinary &&
		JsonContainerIsArray(v->val.binary.data))
		return jsonb_array_to_datum(io, v);

	s = json_scalar_text(v);
	if (s == NULL)
	{
		if (io->kind != JK_STRING)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("a JSON object or array cannot be read as type %s",
							format_type_be(io->typid))));
		/* a string type takes the JSON text of an object or array */
		s = jsonb_value_text(v);
	}
	return InputFunctionCall(&io->in, s, io->ioparam, -1);
}
