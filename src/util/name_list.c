/*-------------------------------------------------------------------------
 * name_list.c
 *	  Lists of names (column names, as C strings).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/name_list.h"

bool
name_list_has(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), name) == 0)
			return true;
	}
	return false;
}
