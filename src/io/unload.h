/*-------------------------------------------------------------------------
 * unload.h
 *	  unload(): writing a query's rows as partitioned CSV files.
 *
 * pipeline_unload() (unload.c) is reached through the install script; the
 * launcher calls unload_recover() (unload_journal.h) when the server
 * starts.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_UNLOAD_H
#define PIPELINE_UNLOAD_H

#include "io/unload_journal.h"

#define UNLOAD_FORMAT_CSV "csv"

#endif
