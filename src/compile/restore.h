/*-------------------------------------------------------------------------
 * restore.h
 *	  Making again what a rebuilt view's relation had.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_RESTORE_H
#define PIPELINE_RESTORE_H

/*
 * Runs statement as role (as runas_create_index() when index, else
 * runas_ddl()), making again something of a rebuilt view's: an error's
 * context says what (what "name") and to drop it or change it.
 */
extern void restore_as(Oid role, const char *statement, const char *what, const char *name,
					   bool index);

#endif
