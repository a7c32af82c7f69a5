/*-------------------------------------------------------------------------
 * relation_name.h
 *	  A relation's name as messages and generated SQL spell it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_RELATION_NAME_H
#define PIPELINE_RELATION_NAME_H

/* schema.name of relation relid, each quoted where it must be */
extern char *relation_qualified_name(Oid relid);

/*
 * For an error context callback: "<doing> schema.name" while relid is a
 * relation (a dropped one adds nothing).
 */
extern void relation_errcontext(const char *doing, Oid relid);

#endif
