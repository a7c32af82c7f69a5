/*-------------------------------------------------------------------------
 * define.h
 *	  Defining a managed view: validation and the one path that creates or
 *	  redefines it.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DEFINE_H
#define PIPELINE_DEFINE_H

#include "model/dpl.h"

/*
 * Creates the view a definition describes, or redefines it when it exists,
 * and records it in the catalogs.  Returns the relation's OID.  Needs a
 * transaction; DDL runs as the calling user, who becomes the owner.
 */
extern Oid	define_view(MatviewDefinition *def);

#endif
