/*-------------------------------------------------------------------------
 * launcher.h
 *	  The postmaster-started process that starts a scheduler per database.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_LAUNCHER_H
#define PIPELINE_LAUNCHER_H

/* Registers the launcher; only valid while preloading (from _PG_init). */
extern void launcher_register(void);

#endif
