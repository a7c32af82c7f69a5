/*-------------------------------------------------------------------------
 * rebind.h
 *	  Keeping stored bound queries current when objects they name are
 *	  renamed or moved to another schema.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REBIND_H
#define PIPELINE_REBIND_H

/*
 * Installs the ProcessUtility hook that, after a RENAME or SET SCHEMA,
 * takes the bound query again of each managed view it may change (call
 * from _PG_init).
 */
extern void rebind_install_hook(void);

#endif
