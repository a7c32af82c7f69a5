/*-------------------------------------------------------------------------
 * extension_member.c
 *	  Extension membership of relations made at run time
 *	  (extension_member.h), as ALTER EXTENSION ... ADD / DROP records it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/acl.h"

#include "util/extension_member.h"

/* extname's address, locked against DROP EXTENSION to the transaction's end */
static ObjectAddress
locked_extension(const char *extname)
{
	ObjectAddress extension = {ExtensionRelationId, get_extension_oid(extname, false), 0};

	LockDatabaseObject(ExtensionRelationId, extension.objectId, 0, AccessShareLock);
	return extension;
}

void
extension_member_add(const char *extname, Oid relid)
{
	ObjectAddress extension = locked_extension(extname);
	ObjectAddress relation = {RelationRelationId, relid, 0};

	recordDependencyOn(&relation, &extension, DEPENDENCY_EXTENSION);
	/* what pg_dump compares its grants with, as ALTER EXTENSION ADD keeps */
	recordExtObjInitPriv(relid, RelationRelationId);
	CommandCounterIncrement();
}

void
extension_member_drop(const char *extname, Oid relid)
{
	ObjectAddress extension = locked_extension(extname);

	if (deleteDependencyRecordsForSpecific(RelationRelationId, relid, DEPENDENCY_EXTENSION,
										   ExtensionRelationId, extension.objectId) != 1)
		elog(ERROR, "relation %u is not a member of extension \"%s\"", relid, extname);
	removeExtObjInitPriv(relid, RelationRelationId);
	CommandCounterIncrement();
}
