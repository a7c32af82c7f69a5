/*-------------------------------------------------------------------------
 * extension_lock.c
 *	  Finding the installed pipeline extension and share-locking it, for
 *	  the scheduler and the refresh workers.  See extension_lock.h.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "bgw/extension_lock.h"

/*
 * The installed pipeline extension's OID (InvalidOid if none) and, into
 * *version, its version (palloc'd).  Needs a transaction.
 */
static Oid
find_extension(char **version)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			extension = InvalidOid;

	*version = NULL;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("pipeline"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		datum = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

		extension = ((Form_pg_extension) GETSTRUCT(tuple))->oid;
		if (!isnull)
			*version = TextDatumGetCString(datum);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return extension;
}

Oid
extension_lock(bool wait, char **version)
{
	Oid			extension = find_extension(version);

	if (!OidIsValid(extension))
		return InvalidOid;
	if (wait)
		LockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
	else if (!ConditionalLockDatabaseObject(ExtensionRelationId, extension, 0,
											AccessShareLock))
		return InvalidOid;
	/* it may have been dropped, or updated, while we waited */
	if (find_extension(version) != extension)
	{
		UnlockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
		return InvalidOid;
	}
	return extension;
}
