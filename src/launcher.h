/*-------------------------------------------------------------------------
 * launcher.h
 *	  The postmaster-started launcher, which keeps a scheduler running in
 *	  every database, and the shared registry of pipeline's processes.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LAUNCHER_H
#define PIPELINE_LAUNCHER_H

#include "postmaster/bgworker.h"

/* Registers the launcher and shared memory; only while preloading. */
extern void launcher_register(void);

/* Adds this process to the registry until it exits. */
extern void launcher_register_process(Oid dboid, bool is_scheduler);

/* Sets the latch of the scheduler of dboid (if any) and the launcher's. */
extern void launcher_wake(Oid dboid);

/* Starts a dynamic worker of this library; false if no slot was free. */
extern bool launcher_start_worker(const char *function, const char *type,
								  Datum main_arg, const void *extra,
								  Size extra_size, BackgroundWorkerHandle **handle);

/* Is dboid among pipeline.databases (or is that setting empty)? */
extern bool launcher_database_allowed(const char *dbname);

#endif
