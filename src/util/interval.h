/*-------------------------------------------------------------------------
 * interval.h
 *	  Refresh intervals as microseconds, and the time labels they cut.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_INTERVAL_H
#define PIPELINE_INTERVAL_H

#include "datatype/timestamp.h"

/*
 * An interval as microseconds, the one conversion every schedule uses: a
 * month is 30 days (as interval comparison counts it), so a year is 360.
 * Fails with "interval out of range" beyond int64.
 */
extern int64 interval_usecs(const Interval *interval);

/*
 * The same, but PG_INT64_MAX beyond int64: a definition's interval, which
 * its check then refuses as longer than MAX_REFRESH_INTERVAL_US.
 */
extern int64 interval_usecs_capped(const Interval *interval);

/*
 * The longest refresh interval, 1,000 years of interval_usecs(): a view's
 * next label stays far inside the timestamp range.
 */
#define MAX_REFRESH_INTERVAL_US ((int64) 1000 * MONTHS_PER_YEAR * DAYS_PER_MONTH * USECS_PER_DAY)

/* Floor of at to a multiple of interval_us counted from the Unix epoch. */
extern TimestampTz time_label_of(int64 interval_us, TimestampTz at);

#endif
