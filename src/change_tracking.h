/*-------------------------------------------------------------------------
 * change_tracking.h
 *	  Whether a view's upstreams changed since its last successful run.
 *
 * Every writing transaction leaves one row per source table in
 * pipeline.changes (a statement trigger); every refresh that rewrote a view
 * leaves one for the view.  A view is unchanged when none of those rows is
 * invisible to the snapshot its last success ran in.  Visibility, not
 * counters or clocks, so a concurrent commit can never be missed.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CHANGE_TRACKING_H
#define PIPELINE_CHANGE_TRACKING_H

/*
 * True when relid may be skipped.  Installs the trigger on upstream tables
 * that lack it (and then answers false).  Uses the active snapshot, which
 * must be the one the refresh will use.
 */
extern bool change_tracking_unchanged(Oid relid);

/* After a successful refresh: notes the view changed, saves the snapshot. */
extern void change_tracking_refreshed(Oid relid, bool rewritten);

#endif
