/*-------------------------------------------------------------------------
 * schedule.h
 *	  Time labels: when each view's micro-batches fall.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_SCHEDULE_H
#define PIPELINE_SCHEDULE_H

#include "datatype/timestamp.h"

/* Floor of at to a multiple of interval_us counted from the Unix epoch. */
extern TimestampTz schedule_time_label(int64 interval_us, TimestampTz at);

#endif
