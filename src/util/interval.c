/*-------------------------------------------------------------------------
 * interval.c
 *	  Refresh intervals as microseconds, and the time labels they cut.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/timestamp.h"

#include "util/interval.h"

/* microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01) */
#define UNIX_TO_PG_EPOCH_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* The microseconds of interval in *us; false beyond int64 */
static bool
interval_usecs_fit(const Interval *interval, int64 *us)
{
	int64		days = (int64) interval->month * DAYS_PER_MONTH + interval->day;

	return !pg_mul_s64_overflow(days, USECS_PER_DAY, us) &&
		!pg_add_s64_overflow(*us, interval->time, us);
}

int64
interval_usecs(const Interval *interval)
{
	int64		us;

	if (!interval_usecs_fit(interval, &us))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("interval out of range")));
	return us;
}

int64
interval_usecs_capped(const Interval *interval)
{
	int64		us;

	return interval_usecs_fit(interval, &us) ? us : PG_INT64_MAX;
}

TimestampTz
time_label_of(int64 interval_us, TimestampTz at)
{
	/*
	 * How far at is past its label, from remainders, so that no sum comes
	 * near the ends of int64 (at + the epochs' distance overflows in the last
	 * thirty years of PostgreSQL's range); C's remainder takes the dividend's
	 * sign, the label is a floor toward -infinity.
	 */
	int64		past = at % interval_us;
	TimestampTz label;

	if (pg_add_s64_overflow(past, UNIX_TO_PG_EPOCH_US % interval_us, &past))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("interval out of range")));
	past %= interval_us;
	if (past < 0)
		past += interval_us;
	label = at - past;
	if (!IS_VALID_TIMESTAMP(label))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return label;
}
