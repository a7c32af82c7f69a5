/*-------------------------------------------------------------------------
 * diff_scale.c
 *	  The display scale of a numeric sum (1.9): a grouped view's state keeps,
 *	  per sum() and avg() of a numeric, the largest scale of the group's
 *	  values and how many values have it, since the sum a recompute makes
 *	  shows that scale.  A refresh's delta needs the same of the rows that
 *	  came and of those that went, per group: the aggregates
 *	  pipeline.max_scale(value, copies) and pipeline.max_scale_rows(value,
 *	  copies) give it in one pass (they share their state), where 1.7 and
 *	  1.8 computed the largest scale first in a window over the delta.
 *
 * NULLs, NaN and the infinities have no scale and are passed over, as
 * scale() passes them over; the SQL tells them apart itself.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

/* The largest scale among the values so far, and of how many rows. */
typedef struct ScaleCensus
{
	int32		scale;
	int64		rows;
} ScaleCensus;

/*
 * Step of both aggregates: value counts copies times (a delta row stands
 * for that many rows).
 */
PG_FUNCTION_INFO_V1(pipeline_scale_census_step);
Datum
pipeline_scale_census_step(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	ScaleCensus *census = PG_ARGISNULL(0) ? NULL : (ScaleCensus *) PG_GETARG_POINTER(0);
	Numeric		value = PG_ARGISNULL(1) ? NULL : PG_GETARG_NUMERIC(1);
	int64		copies = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	int32		scale;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "pipeline.scale_census_step() called in a non-aggregate context");
	if (value == NULL || numeric_is_nan(value) || numeric_is_inf(value) || copies <= 0)
	{
		if (census == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(census);
	}
	scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, NumericGetDatum(value)));
	if (census == NULL)
	{
		census = MemoryContextAlloc(aggcontext, sizeof(ScaleCensus));
		census->scale = scale;
		census->rows = 0;
	}
	if (scale > census->scale)
	{
		census->scale = scale;
		census->rows = 0;
	}
	if (scale == census->scale && pg_add_s64_overflow(census->rows, copies, &census->rows))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	PG_RETURN_POINTER(census);
}

/* pipeline.max_scale(): the largest scale, NULL when no value had one. */
PG_FUNCTION_INFO_V1(pipeline_scale_census_scale);
Datum
pipeline_scale_census_scale(PG_FUNCTION_ARGS)
{
	ScaleCensus *census = PG_ARGISNULL(0) ? NULL : (ScaleCensus *) PG_GETARG_POINTER(0);

	if (census == NULL)
		PG_RETURN_NULL();
	PG_RETURN_INT32(census->scale);
}

/* pipeline.max_scale_rows(): how many rows have the largest scale. */
PG_FUNCTION_INFO_V1(pipeline_scale_census_rows);
Datum
pipeline_scale_census_rows(PG_FUNCTION_ARGS)
{
	ScaleCensus *census = PG_ARGISNULL(0) ? NULL : (ScaleCensus *) PG_GETARG_POINTER(0);

	PG_RETURN_INT64(census == NULL ? 0 : census->rows);
}
