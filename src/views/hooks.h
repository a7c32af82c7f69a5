/*-------------------------------------------------------------------------
 * hooks.h
 *	  Hooks called after each successful refresh of a managed view.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_HOOKS_H
#define PIPELINE_HOOKS_H

#include "datatype/timestamp.h"

/*
 * Calls the hook set for matview, if any, as fn(matview, time_label),
 * inside the current transaction, as the view's owner (in a restricted
 * security context, like REFRESH itself).  Its error propagates, failing the
 * run.  Needs a transaction and an active snapshot; connects to SPI itself.
 */
extern void after_refresh_run(Oid matview, TimestampTz time_label);

#endif
