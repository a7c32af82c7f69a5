/*-------------------------------------------------------------------------
 * relation_name.c
 *	  A relation's name as messages and generated SQL spell it
 *	  (relation_name.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "util/relation_name.h"

char *
relation_qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}
