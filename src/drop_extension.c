/*-------------------------------------------------------------------------
 * drop_extension.c
 *	  DROP EXTENSION pipeline: the managed views stay, as plain materialized
 *	  views and tables, and nothing waits for or trips over a refresh.
 *
 * The change-tracking triggers on source tables (src/schedule/change_tracking.c) call
 * pipeline.record_change(), so PostgreSQL records that they depend on it
 * and would refuse a plain DROP EXTENSION once any view has run.  The
 * ddl_command_start event trigger pipeline_drop_extension sees the statement
 * before PostgreSQL looks at dependencies, and, when it drops pipeline:
 *
 *	1. tells this database's pipeline processes to stand aside until the
 *	   DROP's transaction ends (launcher_extension_drop_begin): running
 *	   refreshes are cancelled, no new one starts, the scheduler idles;
 *	2. takes the extension's AccessExclusiveLock, which DROP EXTENSION takes
 *	   next anyway, so it waits for the cancelled refreshes to finish their
 *	   transactions and no pipeline process reads a catalog table as it goes
 *	   (the scheduler and the refresh workers take AccessShareLock on the
 *	   extension around their catalog work);
 *	3. removes the tracking triggers through PostgreSQL's dependency code,
 *	   as DROP TRIGGER would (and so without the DDL guard's event triggers),
 *	   and the change-capture triggers (src/views/capture.h), which call
 *	   pipeline.capture_change(), the same way.  The change logs are
 *	   extension members and go with the extension.
 *
 * All of it in the DROP's transaction: a drop that fails after this leaves
 * the triggers in place.  DROP EXTENSION pipeline CASCADE goes the same way;
 * what else depends on the extension (a view whose query calls
 * pipeline.window_start(), say) is PostgreSQL's business as usual.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "schedule/change_tracking.h"
#include "views/capture.h"
#include "views/differential.h"
#include "bgw/launcher.h"

/* Does the DROP EXTENSION statement name pipeline? */
static bool
drops_pipeline(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "pipeline") == 0)
			return true;
	return false;
}

/* Is the trigger trigger_oid a change-tracking or change-capture one? */
static bool
is_tracking_trigger(Oid trigger_oid)
{
	Relation	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		tracking = false;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigger_oid));
	scan = systable_beginscan(rel, TriggerOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		const char *name = NameStr(((Form_pg_trigger) GETSTRUCT(tuple))->tgname);

		tracking = change_tracking_trigger_mode(name) != 0 || capture_trigger_mode(name) != 0 ||
			strcmp(name, VIEW_GUARD_TRIGGER) == 0;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tracking;
}

/*
 * Adds to triggers those that depend on function fn (pg_depend's index on
 * the referenced object finds them) and carry one of pipeline's trigger
 * names.  Another trigger a user made on the function stays, and keeps
 * blocking a plain DROP EXTENSION as any dependency does.
 */
static void
add_pipeline_triggers(ObjectAddresses *triggers, Oid fn)
{
	Relation	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tuple;

	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ProcedureRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(fn));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);
		ObjectAddress trigger;

		if (dep->classid != TriggerRelationId || dep->deptype != DEPENDENCY_NORMAL ||
			!is_tracking_trigger(dep->objid))
			continue;
		ObjectAddressSet(trigger, TriggerRelationId, dep->objid);
		add_exact_object_address(&trigger, triggers);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Removes every tracking, capture and view-guard trigger; each table is locked as DROP
 * TRIGGER locks it.
 */
static void
drop_tracking_triggers(void)
{
	Oid			record_change;
	Oid			capture_change = capture_function_oid();
	Oid			view_guard;
	ObjectAddresses *triggers = new_object_addresses();

	record_change = LookupFuncName(list_make2(makeString("pipeline"),
											  makeString("record_change")),
								   0, NULL, true);
	if (OidIsValid(record_change))
		add_pipeline_triggers(triggers, record_change);
	if (OidIsValid(capture_change))
		add_pipeline_triggers(triggers, capture_change);
	/* the differential views' write guards: their tables stay, writable */
	view_guard = LookupFuncName(list_make2(makeString("pipeline"), makeString("view_guard")),
								0, NULL, true);
	if (OidIsValid(view_guard))
		add_pipeline_triggers(triggers, view_guard);
	performMultipleDeletions(triggers, DROP_RESTRICT,
							 PERFORM_DELETION_INTERNAL | PERFORM_DELETION_QUIETLY);
	free_object_addresses(triggers);
}

PG_FUNCTION_INFO_V1(pipeline_before_drop_extension);

/* before_drop_extension() RETURNS event_trigger, on ddl_command_start */
Datum
pipeline_before_drop_extension(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			extension;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt) ||
		!drops_pipeline((DropStmt *) trigdata->parsetree))
		PG_RETURN_VOID();
	extension = get_extension_oid("pipeline", true);
	if (!OidIsValid(extension))
		PG_RETURN_VOID();

	/*
	 * PostgreSQL checks ownership after this trigger; check it first, so that
	 * a role that may not drop the extension cannot cancel refreshes or
	 * remove triggers either.
	 */
	if (!pg_extension_ownercheck(extension, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_EXTENSION, "pipeline");

	launcher_extension_drop_begin();
	LockDatabaseObject(ExtensionRelationId, extension, 0, AccessExclusiveLock);
	drop_tracking_triggers();
	PG_RETURN_VOID();
}
