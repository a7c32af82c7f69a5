/*-------------------------------------------------------------------------
 * interval.c
 *	  Refresh intervals as microseconds, and the time labels they cut.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
	int64		since_unix = at + UNIX_TO_PG_EPOCH_US;
	int64		floor = since_unix - since_unix % interval_us;

	/* C division truncates toward zero; labels floor toward -infinity */
	if (since_unix % interval_us < 0)
		floor -= interval_us;
	return floor - UNIX_TO_PG_EPOCH_US;
}
