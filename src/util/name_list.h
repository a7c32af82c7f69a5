/*-------------------------------------------------------------------------
 * name_list.h
 *	  Lists of names (column names, as C strings).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_NAME_LIST_H
#define PIPELINE_NAME_LIST_H

#include "nodes/pg_list.h"

/* Whether names holds name, compared byte for byte */
extern bool name_list_has(List *names, const char *name);

#endif
