/*-------------------------------------------------------------------------
 * rebind.h
 *	  Keeping stored bound queries current when objects they name are
 *	  renamed or moved to another schema.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REBIND_H
#define PIPELINE_REBIND_H

#include "nodes/pg_list.h"

/*
 * Before a utility statement: when it may rename something a managed
 * view's bound query names (ALTER ... RENAME, SET SCHEMA), the views it
 * may change, prepared for rebind_after(); else NIL.  Needs a transaction.
 */
extern List *rebind_before(Node *stmt);

/* After the statement: stores the new bound form of each of views. */
extern void rebind_after(List *views);

#endif
