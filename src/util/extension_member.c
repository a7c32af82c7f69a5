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
#include "utils/lsyscache.h"

#include "util/extension_member.h"

/*
 * extname's address, locked to the transaction's end in SHARE mode: against
 * DROP EXTENSION, and against ALTER EXTENSION UPDATE, whose script may read
 * every member of a kind, as ALTER EXTENSION ADD is; not against another
 * transaction's membership changes
 */
static ObjectAddress
locked_extension(const char *extname)
{
	ObjectAddress extension = {ExtensionRelationId, get_extension_oid(extname, false), 0};

	LockDatabaseObject(ExtensionRelationId, extension.objectId, 0, ShareLock);
	/* dropped while we waited */
	if (get_extension_name(extension.objectId) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"%s\" does not exist", extname)));
	return extension;
}

void
extension_member_add(const char *extname, Oid relid)
{
	ObjectAddress extension = locked_extension(extname);
	ObjectAddress relation = {RelationRelationId, relid, 0};
	Oid			member_of = getExtensionOfObject(RelationRelationId, relid);

	/* made by this extension's own script: a member already */
	if (member_of == extension.objectId)
		return;

	/*
	 * made by another extension's script (which calls a function making it):
	 * a member of that one, as ALTER EXTENSION ADD would say
	 */
	if (OidIsValid(member_of))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is already a member of extension \"%s\"",
						getObjectDescription(&relation, false), get_extension_name(member_of)),
				 errhint("Define differential views outside extension scripts.")));
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
