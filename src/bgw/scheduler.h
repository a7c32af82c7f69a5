/*-------------------------------------------------------------------------
 * scheduler.h
 *	  The per-database scheduler: a background worker that the launcher
 *	  keeps running in each database, which starts a refresh worker for
 *	  every view that schedule_decide() finds due.
 *
 * Its only public face is its entry point, which the launcher names in
 * bgw_function_name, and the SQL function pipeline.wake().
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_SCHEDULER_H
#define PIPELINE_SCHEDULER_H

/*
 * The scheduler's entry point (bgw_function_name
 * "pipeline_scheduler_main"); main_arg is the database's OID.  Never
 * returns: it exits when its database leaves pipeline.databases, on
 * SIGTERM, or with the postmaster.
 */
PGDLLEXPORT void pipeline_scheduler_main(Datum main_arg);

#endif
