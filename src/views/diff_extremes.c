/*-------------------------------------------------------------------------
 * diff_extremes.c
 *	  The extremes a grouped view's state keeps for each min() and max()
 *	  (1.7): the best few values of the group, so that deleting the
 *	  current extreme moves to the next one instead of searching the
 *	  sources.  pipeline.extremes_after() is the whole rule; the SQL that
 *	  calls it is diff_sql_group.c's.
 *
 * What is kept, best first (smallest for min, largest for max), is always
 * a prefix of the group's values in that order, duplicates included: the
 * m values kept are the group's m best, and every value not kept is no
 * better than the last one kept.  A refresh's changes keep it so:
 *
 * - a deleted value better than the last kept is one of them, removed
 *   once per row deleted, or else one that came and went inside the
 *   window, taken from the inserted values (else the state is not what it
 *   claims: unknown);
 *   a deleted value equal to the last kept removes it, one worse changes
 *   nothing kept;
 * - of the inserted values only the best is known, and how many rows came;
 *   when it is no worse than the last kept it is added, and unless it is
 *   the only row that came, the kept values worse than it are dropped
 *   (another inserted value may lie between);
 * - when every kept value went while the group still had others (or a
 *   value went when none was kept), the next ones are unknown: the
 *   refresh reads them from the sources.
 *
 * Deletes are applied before inserts, so a row one delta term of a join
 * brings and another takes back (an insert and a delete of one value)
 * leaves what is kept as it was or unknown, never wrong.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupmacs.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/sortsupport.h"
#include "utils/typcache.h"

#include "views/diff_sql.h"

/*
 * What one call needs to compare and rebuild values of the element type.
 * Compared by the type's sort support, as a sort does: a comparison
 * through the function manager cost more than the comparison itself.
 */
typedef struct ExtremesType
{
	SortSupportData compare;
	Oid			collation;
	bool		descending;
	Oid			argtype;		/* the argument it was looked up for */
	Oid			elemtype;
	int16		typlen;
	bool		typbyval;
	char		typalign;
} ExtremesType;

/* a is better than b: it comes first in the kept order */
static bool
better(ExtremesType *t, Datum a, Datum b)
{
	int			cmp = ApplySortComparator(a, false, b, false, &t->compare);

	return t->descending ? cmp > 0 : cmp < 0;
}

static bool
same(ExtremesType *t, Datum a, Datum b)
{
	return ApplySortComparator(a, false, b, false, &t->compare) == 0;
}

/* The elements of array (never NULL: only values are kept or counted). */
static int
array_values(ExtremesType *t, ArrayType *array, Datum **values)
{
	bool	   *nulls;
	int			n;

	deconstruct_array(array, t->elemtype, t->typlen, t->typbyval, t->typalign,
					  values, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("pipeline.extremes_after() takes no NULL among its values")));
	return n;
}

/*
 * Removes one copy of value from values[0..*n): one written as value is
 * (5.0, not 5) when written_alike, else any equal one; false when there is
 * none.
 */
static bool
remove_value(ExtremesType *t, Datum *values, int *n, Datum value, bool written_alike)
{
	for (int j = *n - 1; j >= 0; j--)
		if (same(t, values[j], value) &&
			(!written_alike || datum_image_eq(values[j], value, t->typbyval, t->typlen)))
		{
			memmove(&values[j], &values[j + 1], sizeof(Datum) * (*n - j - 1));
			(*n)--;
			return true;
		}
	return false;
}

/*
 * Removes one copy of each deleted value (deleted_counts[i] copies of
 * deleted[i]) from kept[0..*nkept); false when a deleted value better than
 * the last kept is not among them, or nothing is kept to compare with.
 * Such a value not kept came and went again inside the window (a window
 * read as logged has both images): it is taken from the best that came,
 * inserted[0..*ninserted) of *came rows, when it is among them.
 */
static bool
remove_deleted(ExtremesType *t, Datum *kept, int *nkept, Datum *inserted, int *ninserted,
			   int64 *came, Datum *deleted, Datum *deleted_counts, int ndeleted)
{
	for (int i = 0; i < ndeleted; i++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int64 copies = deleted_counts ? DatumGetInt64(deleted_counts[i]) : 1; copies > 0; copies--)
		{
			/* all kept went: whether this one was among them is unknown */
			if (*nkept == 0)
				return false;
			if (better(t, kept[*nkept - 1], deleted[i]))
				break;			/* not kept: nothing to remove */

			/*
			 * Of equal values, kept or come, one written as the deleted one
			 * is goes first, so the values left read as the rows left do.
			 */
			if (remove_value(t, kept, nkept, deleted[i], true))
				continue;
			if (!remove_value(t, inserted, ninserted, deleted[i], true))
			{
				if (remove_value(t, kept, nkept, deleted[i], false))
					continue;
				if (!remove_value(t, inserted, ninserted, deleted[i], false))
					return false;
			}
			if (*came > 0)
				(*came)--;
			/* what else came is unknown without a last value to bound it */
			if (*ninserted == 0 && *came != 0)
				return false;
		}
	}
	return true;
}

/*
 * t for values of elemtype under collation: its btree ordering's sort
 * support (in context) and its storage.
 */
static void
extremes_type_init(ExtremesType *t, Oid elemtype, Oid collation, MemoryContext context)
{
	TypeCacheEntry *typcache = lookup_type_cache(elemtype, TYPECACHE_LT_OPR);

	if (!OidIsValid(typcache->lt_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify a comparison function for type %s",
						format_type_be(elemtype))));
	memset(&t->compare, 0, sizeof(SortSupportData));
	t->compare.ssup_cxt = context;
	t->compare.ssup_collation = collation;
	PrepareSortSupportFromOrderingOp(typcache->lt_opr, &t->compare);
	t->collation = collation;
	t->elemtype = elemtype;
	get_typlenbyvalalign(elemtype, &t->typlen, &t->typbyval, &t->typalign);
}

/*
 * What comparing and rebuilding the values of argument value_arg (of its
 * elements: array_arg) needs, looked up once per call site (the MERGE
 * calls the function for every group).
 */
static ExtremesType *
extremes_type(FunctionCallInfo fcinfo, int value_arg, bool array_arg, bool descending)
{
	ExtremesType *t = fcinfo->flinfo->fn_extra;
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, value_arg);

	if (t == NULL || t->argtype != argtype || t->collation != PG_GET_COLLATION())
	{
		Oid			elemtype = array_arg ? get_element_type(argtype) : argtype;

		if (!OidIsValid(elemtype))
			elog(ERROR, "pipeline.extremes_after() could not determine its element type");
		t = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(ExtremesType));
		extremes_type_init(t, elemtype, PG_GET_COLLATION(), fcinfo->flinfo->fn_mcxt);
		t->argtype = argtype;
		fcinfo->flinfo->fn_extra = t;
	}
	t->descending = descending;
	return t;
}

/* The element after the one at p, in an array's data without NULLs */
static char *
next_element(ExtremesType *t, char *p)
{
	p = att_addlength_pointer(p, t->typlen, p);
	return (char *) att_align_nominal(p, t->typalign);
}

/* The first element of a one-dimensional array without a NULL bitmap (only) */
static char *
first_element(ArrayType *array)
{
	return (char *) array + ARR_OVERHEAD_NONULLS(1);
}

/*
 * The first (or last) element of a one-dimensional array without NULLs,
 * or false.  Read in place: the arrays are a few values long.
 */
static bool
end_element(ExtremesType *t, ArrayType *array, bool last, Datum *element)
{
	int			n;
	char	   *p;

	if (ARR_NDIM(array) != 1 || (n = ARR_DIMS(array)[0]) < 1)
		return false;
	if (ARR_HASNULL(array))
	{
		int			index = ARR_LBOUND(array)[0] + (last ? n - 1 : 0);
		bool		isnull;

		*element = array_get_element(PointerGetDatum(array), 1, &index, -1, t->typlen, t->typbyval,
									 t->typalign, &isnull);
		return !isnull;
	}
	p = first_element(array);
	for (int i = 1; last && i < n; i++)
		p = next_element(t, p);
	*element = fetch_att(p, t->typbyval, t->typlen);
	return true;
}

/*
 * The values kept after a refresh's changes (see the file's header), or
 * NULL when they are unknown: fcinfo's arguments are those of
 * pipeline.extremes_after() but the inserted values, here the best of the
 * rows that came (when any_inserted) and all those known, best first
 * (NULL: the best alone).
 */
static Datum
extremes_after(FunctionCallInfo fcinfo, ExtremesType *t, bool any_inserted, Datum best_inserted,
			   ArrayType *inserted_array)
{
	Datum	   *inserted = &best_inserted;
	int			ninserted = any_inserted ? 1 : 0;
	int64		old_count = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	ArrayType  *kept_array;
	int64		came;			/* rows that came: net change plus those gone */
	Datum	   *kept = NULL;
	int			nkept = 0;
	Datum	   *result;
	int			nresult = 0;
	int			k = 0;
	int			i = 0;

	if (PG_ARGISNULL(0) && old_count > 0)
		PG_RETURN_NULL();		/* unknown, until read from the sources */
	kept_array = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	if (pg_sub_s64_overflow(PG_ARGISNULL(5) ? 0 : PG_GETARG_INT64(5), old_count, &came))
		came = -1;

	/* the common case: rows came, none better than the last kept */
	if (kept_array != NULL && PG_ARGISNULL(2))
	{
		Datum		last;

		if (!end_element(t, kept_array, true, &last))
			PG_RETURN_NULL();
		if (!any_inserted || better(t, last, best_inserted))
			PG_RETURN_ARRAYTYPE_P(kept_array);
	}

	/*
	 * Each a prefix of the best values: a longer one (never a refresh's) is
	 * cut to what is kept, so that removing deleted values one by one from it
	 * stays a few comparisons each.
	 */
	if (inserted_array != NULL)
		ninserted = Min(array_values(t, inserted_array, &inserted), DIFF_EXTREMES_KEPT);

	if (kept_array != NULL)
		nkept = Min(array_values(t, kept_array, &kept), DIFF_EXTREMES_KEPT);
	if (nkept == 0 && old_count > 0)
		PG_RETURN_NULL();

	if (!PG_ARGISNULL(2))
	{
		Datum	   *deleted;
		int			ndeleted = array_values(t, PG_GETARG_ARRAYTYPE_P(2), &deleted);
		Datum	   *counts = NULL;

		if (!PG_ARGISNULL(3))
		{
			bool	   *count_nulls;
			int			ncounts;

			deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &counts, &count_nulls, &ncounts);
			if (ncounts != ndeleted)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("pipeline.extremes_after() takes one count per deleted value")));
		}
		for (int d = 0; d < ndeleted; d++)
			if (pg_add_s64_overflow(came, counts ? DatumGetInt64(counts[d]) : 1, &came))
				came = -1;		/* not one row, whatever it is */
		if (!remove_deleted(t, kept, &nkept, inserted, &ninserted, &came, deleted, counts, ndeleted))
			PG_RETURN_NULL();
		if (nkept == 0 && old_count > 0)
			PG_RETURN_NULL();
	}

	/*
	 * The kept and the inserted values merged, as far as both are known to
	 * hold every value before: a value not kept is no better than the last
	 * kept, and unless every row that came is among the inserted, one not
	 * among them no better than the last of them.
	 */
	result = palloc(sizeof(Datum) * (nkept + ninserted));
	while (k < nkept || i < ninserted)
	{
		bool		take_kept = i == ninserted ||
		(k < nkept && !better(t, inserted[i], kept[k]));
		Datum		next = take_kept ? kept[k] : inserted[i];

		if (nkept > 0 && better(t, kept[nkept - 1], next))
			break;
		if (ninserted > 0 && ninserted != came && better(t, inserted[ninserted - 1], next))
			break;
		result[nresult++] = next;
		if (take_kept)
			k++;
		else
			i++;
	}
	if (nresult == 0)
		PG_RETURN_NULL();
	nresult = Min(nresult, DIFF_EXTREMES_KEPT);
	PG_RETURN_ARRAYTYPE_P(construct_array(result, nresult, t->elemtype, t->typlen, t->typbyval,
										  t->typalign));
}

/*
 * pipeline.extremes_after(kept anyarray, old_count bigint, deleted
 * anyarray, deleted_counts bigint[], inserted anyelement, new_count
 * bigint, descending boolean) RETURNS anyarray: the values kept after a
 * refresh's changes, or NULL when they are unknown.  old_count and
 * new_count are how many non-NULL values the group had before and has
 * after; deleted the values of rows that went (deleted_counts how many
 * rows each), inserted the best value of the rows that came.
 */
PG_FUNCTION_INFO_V1(pipeline_extremes_after);
Datum
pipeline_extremes_after(PG_FUNCTION_ARGS)
{
	ExtremesType *t = extremes_type(fcinfo, 4, false, PG_GETARG_BOOL(6));

	return extremes_after(fcinfo, t, !PG_ARGISNULL(4), PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4),
						  NULL);
}

/*
 * For a group with deletes, a refresh's MERGE asks for its kept values
 * three times (for the extreme, the kept values, whether they are
 * unknown), the other min() and max() in between: the last few answers
 * are kept, found by the bytes of their arguments (the function is
 * immutable).  They are looked up first: comparing bytes costs less than
 * even the common answer, kept values left as they are (a delete seldom
 * takes one of the best eight), which reads every argument.
 */
#define ANSWERS_KEPT 4

/*
 * Questions kept at most this long (a few values each way): the answers
 * live as long as the process, and a question with many values that went
 * is asked by one group only anyway.
 */
#define QUESTION_BYTES_KEPT 8192

typedef struct KeptAnswer
{
	StringInfoData arguments;
	bool		isnull;
	bool		unchanged;		/* the answer is the kept values given */
	Datum		answer;			/* else a flat array, in answers_context */
} KeptAnswer;

static KeptAnswer answers[ANSWERS_KEPT];
static int	answers_next;
static MemoryContext answers_context;

/*
 * A question's fixed part, compared first: most answers kept are for
 * another aggregate or group, whose type, order or counts differ.
 */
typedef struct QuestionHead
{
	Oid			elemtype;
	Oid			collation;
	int64		old_count;
	int64		new_count;
	int32		nulls;			/* a bit per argument that is NULL */
	int32		descending;
} QuestionHead;

/* The arguments of pipeline.extremes_merged() that are arrays */
static const int array_args[] = {0, 2, 3, 4};

/* fcinfo's fixed part (and t's type and collation), padding zeroed */
static void
question_head(FunctionCallInfo fcinfo, ExtremesType *t, QuestionHead *head)
{
	memset(head, 0, sizeof(QuestionHead));
	head->elemtype = t->elemtype;
	head->collation = t->collation;
	for (int arg = 0; arg < PG_NARGS(); arg++)
		if (PG_ARGISNULL(arg))
			head->nulls |= 1 << arg;
	head->old_count = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	head->new_count = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT64(5);
	head->descending = t->descending;
}

/* The bytes of array argument i (*length of them), in place, or NULL */
static const char *
array_bytes(FunctionCallInfo fcinfo, int i, int32 *length)
{
	struct varlena *value;

	if (PG_ARGISNULL(array_args[i]))
		return NULL;
	value = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(array_args[i]));
	*length = VARSIZE_ANY_EXHDR(value);
	return VARDATA_ANY(value);
}

/*
 * The question as bytes, into buf (when buf is not NULL): its head, then
 * each array's length and bytes.  Returns how many bytes.
 */
static Size
question_bytes(FunctionCallInfo fcinfo, const QuestionHead *head, StringInfo buf)
{
	Size		size = sizeof(QuestionHead);

	if (buf != NULL)
	{
		resetStringInfo(buf);
		appendBinaryStringInfo(buf, (const char *) head, sizeof(QuestionHead));
	}
	for (int i = 0; i < (int) lengthof(array_args); i++)
	{
		int32		length;
		const char *bytes = array_bytes(fcinfo, i, &length);

		if (bytes == NULL)
			continue;
		size += sizeof(int32) + length;
		if (buf == NULL)
			continue;
		appendBinaryStringInfo(buf, (const char *) &length, sizeof(int32));
		appendBinaryStringInfo(buf, bytes, length);
	}
	return size;
}

/* Whether fcinfo asks, with head, what question_bytes() wrote into known. */
static bool
question_matches(FunctionCallInfo fcinfo, const QuestionHead *head, StringInfo known)
{
	const char *at = known->data + sizeof(QuestionHead);
	const char *end = known->data + known->len;

	if (known->len < (int) sizeof(QuestionHead) ||
		memcmp(known->data, head, sizeof(QuestionHead)) != 0)
		return false;
	for (int i = 0; i < (int) lengthof(array_args); i++)
	{
		int32		length;
		const char *bytes = array_bytes(fcinfo, i, &length);

		if (bytes == NULL)
			continue;
		if (end - at < (long) sizeof(int32) + length ||
			memcmp(at, &length, sizeof(int32)) != 0 || memcmp(at + sizeof(int32), bytes, length) != 0)
			return false;
		at += sizeof(int32) + length;
	}
	return at == end;
}

/*
 * The kept values, when they stay as they are after deletes: they are
 * known, and every value that went and the best that came are worse than
 * the last kept (one equal to it would take its place, or join it); else
 * NULL.
 */
static ArrayType *
kept_unchanged(FunctionCallInfo fcinfo, ExtremesType *t, bool any_inserted, Datum best_inserted)
{
	ArrayType  *kept = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *counts = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	ArrayType  *deleted = PG_GETARG_ARRAYTYPE_P(2);
	char	   *p;
	Datum		last;
	int			ndeleted;

	if (kept == NULL || !end_element(t, kept, true, &last) ||
		(any_inserted && !better(t, last, best_inserted)))
		return NULL;

	/*
	 * read in place only in one dimension; NULLs and counts that do not match
	 * are extremes_after()'s errors
	 */
	if (ARR_NDIM(deleted) > 1 || ARR_HASNULL(deleted))
		return NULL;
	ndeleted = ArrayGetNItems(ARR_NDIM(deleted), ARR_DIMS(deleted));
	if (counts == NULL || ArrayGetNItems(ARR_NDIM(counts), ARR_DIMS(counts)) != ndeleted)
		return NULL;
	p = first_element(deleted);
	for (int i = 0; i < ndeleted; i++, p = next_element(t, p))
		if (!better(t, last, fetch_att(p, t->typbyval, t->typlen)))
			return NULL;
	return kept;
}

/*
 * pipeline.extremes_merged(kept anyarray, old_count bigint, deleted
 * anyarray, deleted_counts bigint[], inserted anyarray, new_count bigint,
 * descending boolean) RETURNS anyarray (1.9): as extremes_after(), with
 * the best values of the rows that came (pipeline.kept_extremes() of
 * them) rather than the best alone, so that an append of several rows
 * keeps eight values known where it kept one.
 */
PG_FUNCTION_INFO_V1(pipeline_extremes_merged);
Datum
pipeline_extremes_merged(PG_FUNCTION_ARGS)
{
	ExtremesType *t = extremes_type(fcinfo, 0, true, PG_GETARG_BOOL(6));
	ArrayType  *inserted;
	Datum		best = (Datum) 0;
	bool		any;
	QuestionHead head;
	KeptAnswer *slot;
	bool		unchanged;
	bool		keep;
	Datum		answer;
	MemoryContext old;

	/* without deletes it is asked once, and mostly answered at once */
	if (PG_ARGISNULL(2))
	{
		inserted = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
		any = inserted != NULL && end_element(t, inserted, false, &best);
		return extremes_after(fcinfo, t, any, best, any ? inserted : NULL);
	}
	if (answers_context == NULL)
	{
		answers_context = AllocSetContextCreate(TopMemoryContext, "pipeline kept extremes",
												ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(answers_context);
		for (int i = 0; i < ANSWERS_KEPT; i++)
			initStringInfo(&answers[i].arguments);
		MemoryContextSwitchTo(old);
	}

	/*
	 * compared in place, the latest first: most calls are answered, and copy
	 * nothing
	 */
	question_head(fcinfo, t, &head);
	keep = question_bytes(fcinfo, &head, NULL) <= QUESTION_BYTES_KEPT;
	for (int i = 1; keep && i <= ANSWERS_KEPT; i++)
	{
		KeptAnswer *known = &answers[(answers_next + ANSWERS_KEPT - i) % ANSWERS_KEPT];

		if (!question_matches(fcinfo, &head, &known->arguments))
			continue;
		if (known->isnull)
			PG_RETURN_NULL();
		if (known->unchanged)
			PG_RETURN_DATUM(PointerGetDatum(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0))));
		PG_RETURN_DATUM(datumCopy(known->answer, false, -1));
	}

	/* mostly: a delete seldom takes one of the best eight */
	inserted = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	any = inserted != NULL && end_element(t, inserted, false, &best);
	unchanged = kept_unchanged(fcinfo, t, any, best) != NULL;
	answer = unchanged ? PointerGetDatum(PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(0))) :
		extremes_after(fcinfo, t, any, best, any ? inserted : NULL);
	if (!keep)
		return answer;

	/* kept once answered: an error above leaves the slot as it was */
	slot = &answers[answers_next];
	answers_next = (answers_next + 1) % ANSWERS_KEPT;
	if (!slot->isnull && !slot->unchanged && DatumGetPointer(slot->answer) != NULL)
		pfree(DatumGetPointer(slot->answer));
	question_bytes(fcinfo, &head, &slot->arguments);
	slot->isnull = fcinfo->isnull;
	slot->unchanged = unchanged;
	slot->answer = (Datum) 0;
	if (!fcinfo->isnull && !unchanged)
	{
		old = MemoryContextSwitchTo(answers_context);
		slot->answer = datumCopy(answer, false, -1);
		MemoryContextSwitchTo(old);
	}
	return answer;
}

/*
 * pipeline.kept_extremes()'s state: the best values so far, best first.  A
 * delta's group mostly gets a value or two, and the delta's hash table holds
 * a state per group and column: so a state points at its call site's type
 * and starts with room for two values.
 */
typedef struct KeptExtremes
{
	ExtremesType *type;
	int16		n;
	int16		room;
	bool		descending;		/* the group's, where the call site's may vary */
	Datum		values[FLEXIBLE_ARRAY_MEMBER];
} KeptExtremes;

#define KEPT_EXTREMES_SIZE(room) (offsetof(KeptExtremes, values) + (room) * sizeof(Datum))

/*
 * pipeline.kept_extremes(value anyelement, descending boolean) aggregate,
 * step: keeps the group's DIFF_EXTREMES_KEPT best values (duplicates
 * included), copied into the aggregate's context.  One comparison per
 * value that is not among them, as min() and max() make.  The 1.9 form
 * kept_extremes(value, descending, copies bigint) counts a value copies
 * times: a refresh's delta row stands for that many rows.
 */
PG_FUNCTION_INFO_V1(pipeline_kept_extremes_step);
Datum
pipeline_kept_extremes_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	KeptExtremes *state = PG_ARGISNULL(0) ? NULL : (KeptExtremes *) PG_GETARG_POINTER(0);
	int64		copies = PG_NARGS() > 3 && !PG_ARGISNULL(3) ? PG_GETARG_INT64(3) : 1;
	Datum		value;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "pipeline.kept_extremes_step() called in a non-aggregate context");
	if (PG_ARGISNULL(1) || copies < 1)
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	if (state == NULL)
	{
		state = MemoryContextAlloc(aggcontext, KEPT_EXTREMES_SIZE(2));
		/* looked up once per call site, not per group */
		state->type = extremes_type(fcinfo, 1, false, PG_GETARG_BOOL(2));
		state->descending = PG_GETARG_BOOL(2);
		state->n = 0;
		state->room = 2;
	}
	state->type->descending = state->descending;
	value = PG_GETARG_DATUM(1);
	for (int64 copy = 0; copy < Min(copies, DIFF_EXTREMES_KEPT); copy++)
	{
		int			position;
		MemoryContext old;

		if (state->n == DIFF_EXTREMES_KEPT &&
			!better(state->type, value, state->values[DIFF_EXTREMES_KEPT - 1]))
			break;

		/* after the values no worse than it, the worst dropped when full */
		if (state->n == DIFF_EXTREMES_KEPT)
		{
			if (!state->type->typbyval)
				pfree(DatumGetPointer(state->values[DIFF_EXTREMES_KEPT - 1]));
			state->n--;
		}
		if (state->n == state->room)
		{
			state->room = Min(state->room * 2, DIFF_EXTREMES_KEPT);
			state = repalloc(state, KEPT_EXTREMES_SIZE(state->room));
		}
		for (position = state->n; position > 0 && better(state->type, value, state->values[position - 1]);
			 position--)
			state->values[position] = state->values[position - 1];
		old = MemoryContextSwitchTo(aggcontext);
		state->values[position] = datumCopy(value, state->type->typbyval, state->type->typlen);
		MemoryContextSwitchTo(old);
		state->n++;
	}
	PG_RETURN_POINTER(state);
}

/* The kept values as an array, best first; NULL when there were none. */
PG_FUNCTION_INFO_V1(pipeline_kept_extremes_final);
Datum
pipeline_kept_extremes_final(PG_FUNCTION_ARGS)
{
	KeptExtremes *state = PG_ARGISNULL(0) ? NULL : (KeptExtremes *) PG_GETARG_POINTER(0);

	if (state == NULL || state->n == 0)
		PG_RETURN_NULL();
	PG_RETURN_ARRAYTYPE_P(construct_array(state->values, state->n, state->type->elemtype,
										  state->type->typlen, state->type->typbyval,
										  state->type->typalign));
}
