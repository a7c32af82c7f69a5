/*-------------------------------------------------------------------------
 * table_settings.h
 *	  What a rebuilt view's relation keeps of what was set on it by hand,
 *	  besides its indexes, grants, comments, row-level security and
 *	  triggers (apply.c): storage parameters, tablespace, column settings,
 *	  statistics objects, publication membership, replica identity and the
 *	  index it is clustered on.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_TABLE_SETTINGS_H
#define PIPELINE_TABLE_SETTINGS_H

#include "compile/changeset.h"

typedef struct TableSettings TableSettings;

/* v's relation's settings, read before it is dropped */
extern TableSettings *table_settings_save(PendingView *v);

/*
 * On v's new relation, its indexes made again, still empty: storage
 * parameters, tablespace, column settings (a column the changed view no
 * longer has, or has with another type, keeps what it can; a NOTICE says
 * what not), statistics objects, replica identity and publication
 * membership.  A new relation a publication publishes is truncated, so that
 * a subscriber replaces its copy of the old rows with the rows the fill
 * writes.
 */
extern void table_settings_restore_empty(PendingView *v, TableSettings *settings);

/*
 * On v's new relation, filled (its key index made): replica identity and
 * the index it is clustered on.
 */
extern void table_settings_restore_filled(PendingView *v, TableSettings *settings);

#endif
