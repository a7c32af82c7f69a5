/*-------------------------------------------------------------------------
 * unload.h
 *	  unload(): writing a query's rows as partitioned CSV files.
 *
 * pipeline_unload() is reached through the install script; the launcher
 * calls unload_recover() when the server starts.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_UNLOAD_H
#define PIPELINE_UNLOAD_H

#define UNLOAD_FORMAT_CSV "csv"

/*
 * Removes the temporary files and directories that unload() calls which
 * died without cleaning up (kill -9, a crash) left in their destinations,
 * as their journals in the data directory list them; calls still running
 * are left alone.  Needs no transaction; never throws (problems are
 * logged).  Run when the server starts and by every unload().
 */
extern void unload_recover(void);

#endif
