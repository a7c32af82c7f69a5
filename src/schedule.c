/*-------------------------------------------------------------------------
 * schedule.c
 *	  Time labels and (in the scheduler) the decision of what is due.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/timestamp.h"

#include "schedule.h"

/* microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01) */
#define UNIX_TO_PG_EPOCH_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

TimestampTz
schedule_time_label(int64 interval_us, TimestampTz at)
{
	int64		since_unix = at + UNIX_TO_PG_EPOCH_US;
	int64		floor = since_unix - since_unix % interval_us;

	/* C division truncates toward zero; labels floor toward -infinity */
	if (since_unix % interval_us < 0)
		floor -= interval_us;
	return floor - UNIX_TO_PG_EPOCH_US;
}

PG_FUNCTION_INFO_V1(pipeline_time_label);

/* time_label(refresh_interval interval, at timestamptz) RETURNS timestamptz */
Datum
pipeline_time_label(PG_FUNCTION_ARGS)
{
	Interval   *interval = PG_GETARG_INTERVAL_P(0);
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(1);
	int64		interval_us = interval->time + (int64) interval->day * USECS_PER_DAY +
		(int64) interval->month * DAYS_PER_MONTH * USECS_PER_DAY;

	if (interval_us <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh interval must be positive")));
	if (TIMESTAMP_NOT_FINITE(at))
		PG_RETURN_TIMESTAMPTZ(at);
	PG_RETURN_TIMESTAMPTZ(schedule_time_label(interval_us, at));
}
