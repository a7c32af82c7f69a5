/*-------------------------------------------------------------------------
 * matview.h
 *	  Creating, redefining and dropping managed materialized views.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_MATVIEW_H
#define PIPELINE_MATVIEW_H

#include "dpl.h"

/* "mv_<name>": the relation name of a view called name. */
extern char *matview_relation_name(const char *name);

/*
 * Creates the view a definition describes, or redefines it when it exists,
 * and records it in the catalogs.  Returns the relation's OID.  Needs a
 * transaction; DDL runs as the calling user, who becomes the owner.
 */
extern Oid	matview_define(MatviewDefinition *def);

/*
 * Errors unless the definition's type and incremental key agree: an
 * incremental view needs a key, a regular one must not have one.
 */
extern void matview_validate_type(const MatviewDefinition *def);

/*
 * Runs one DDL statement through SPI as the current user, with
 * matview_ddl_in_progress set so the DDL guard lets it through.
 */
extern void matview_run_ddl(const char *sql);

/*
 * True while pipeline itself runs DDL on managed views, so the event trigger
 * that guards them lets it through.
 */
extern bool matview_ddl_in_progress;

#endif
