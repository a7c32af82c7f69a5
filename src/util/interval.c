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

int64
interval_usecs(const Interval *interval)
{
	return interval->time + (int64) interval->day * USECS_PER_DAY +
		(int64) interval->month * DAYS_PER_MONTH * USECS_PER_DAY;
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
