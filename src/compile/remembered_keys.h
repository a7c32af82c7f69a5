/*-------------------------------------------------------------------------
 * remembered_keys.h
 *	  Keeping apply_changes()' deleted-key memory readable when a statement
 *	  changes how its keys' or sequences' values are written.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_REMEMBERED_KEYS_H
#define PIPELINE_REMEMBERED_KEYS_H

#include "nodes/pg_list.h"

/*
 * Before a statement that changes how values of changed_types are written
 * (marks.c's statements): the changed types locked as objects, which an
 * apply writing their values takes first, and the remembered keys and
 * sequences holding one of them, read as values, prepared for
 * remembered_keys_after(); else NIL.  Needs a transaction.
 */
extern List *remembered_keys_before(List *changed_types);

/* After the statement: writes each of them as text again. */
extern void remembered_keys_after(List *noted);

#endif
