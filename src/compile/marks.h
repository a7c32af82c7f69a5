/*-------------------------------------------------------------------------
 * marks.h
 *	  Keeping a stream's or mirror's mark readable when a statement changes
 *	  how its key's values are written.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_MARKS_H
#define PIPELINE_MARKS_H

#include "nodes/pg_list.h"

/*
 * Before a utility statement: when it renames an enum's label or adds
 * attributes to a row type that a stream's or mirror's key holds, those
 * views' marks, read as values under the lock a refresh of the view takes
 * first, and the deleted keys apply_changes() remembers whose keys or
 * sequences hold it (remembered_keys.h), prepared for marks_after(); else
 * NULL.  Needs a transaction.
 */
typedef struct NotedMarks
{
	List	   *marks;
	List	   *remembered_keys;	/* compile/remembered_keys.c's */
} NotedMarks;

extern NotedMarks *marks_before(Node *stmt);

/* After the statement: writes each of them as text again. */
extern void marks_after(NotedMarks *noted);

#endif
