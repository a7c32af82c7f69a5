/*-------------------------------------------------------------------------
 * rebind.h
 *	  Keeping stored bound queries current when objects they name are
 *	  renamed or moved to another schema.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REBIND_H
#define PIPELINE_REBIND_H

#include "nodes/pg_list.h"

/* What rebind_before() prepares for rebind_after() */
typedef struct Rebinding Rebinding;

/*
 * Before a utility statement: when it may rename something a managed
 * view's bound query names (ALTER ... RENAME, SET SCHEMA), the views it
 * may change, prepared for rebind_after(); else NULL.  Needs a transaction.
 */
extern Rebinding *rebind_before(Node *stmt);

/*
 * After the statement: stores the new bound form of each view, also of a
 * view defined while the statement waited for a relation it renames.
 */
extern void rebind_after(Rebinding *rebinding);

#endif
