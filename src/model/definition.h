/*-------------------------------------------------------------------------
 * definition.h
 *	  Checking a view's definition before anything is created.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DEFINITION_H
#define PIPELINE_DEFINITION_H

#include "model/dpl.h"

/* "mv_<name>": the relation name of a view called name. */
extern char *matview_relation_name(const char *name);

/*
 * Errors unless the definition can be created: the schema exists, the names
 * are not empty and fit, the interval is at least a second, and the type
 * and key agree.  Returns the schema's OID and sets *relname.
 */
extern Oid	definition_validate(MatviewDefinition *def, char **relname);

/*
 * Errors unless the definition's type and incremental key agree: an
 * incremental view needs a key, a regular one must not have one.
 */
extern void definition_validate_type(const MatviewDefinition *def);

#endif
