/*-------------------------------------------------------------------------
 * relation_name.h
 *	  A relation's name as messages and generated SQL spell it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_RELATION_NAME_H
#define PIPELINE_RELATION_NAME_H

/* schema.name of relation relid, each quoted where it must be */
extern char *relation_qualified_name(Oid relid);

#endif
