/*-------------------------------------------------------------------------
 * change_tracking.c
 *	  Skip-unchanged: which upstreams changed since a view's last success.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "optimizer/optimizer.h"
#include "rewrite/prs2lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "catalog.h"
#include "change_tracking.h"
#include "matview.h"
#include "runas.h"

#define TRACKING_TRIGGER "pipeline_record_change"

/* True when the materialized view's query calls a volatile function. */
static bool
query_is_volatile(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		volatile_found = true;

	if (rel->rd_rel->relkind == RELKIND_MATVIEW && rel->rd_rules != NULL &&
		rel->rd_rules->numLocks == 1)
	{
		RewriteRule *rule = rel->rd_rules->rules[0];

		volatile_found = contain_volatile_functions((Node *) rule->actions);
	}
	table_close(rel, AccessShareLock);
	return volatile_found;
}

/*
 * Whether the table has the tracking trigger, as committed by now: locks it
 * with ShareRowExclusiveLock (the lock CREATE TRIGGER takes, which conflicts
 * with itself) to the end of the transaction, and reads the relation cache,
 * which is brought up to date when a lock is acquired.
 */
static bool
has_tracking_trigger(Oid table)
{
	Relation	rel = table_open(table, ShareRowExclusiveLock);
	bool		found = false;

	if (rel->trigdesc != NULL)
		for (int i = 0; i < rel->trigdesc->numtriggers && !found; i++)
			found = strcmp(rel->trigdesc->triggers[i].tgname, TRACKING_TRIGGER) == 0;
	table_close(rel, NoLock);
	return found;
}

/*
 * Adds the statement trigger to upstream tables lacking it; true if any
 * lacked it (changes before it was added were not recorded).
 */
static bool
install_missing_triggers(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	List	   *tables = NIL;
	ListCell   *lc;

	catalog_exec_as_owner("SELECT c.oid FROM pipeline.edges e "
						  "  JOIN pg_catalog.pg_class c ON c.oid = e.upstream "
						  " WHERE e.downstream = $1::regclass AND c.relkind = 'r' "
						  "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t "
						  "                    WHERE t.tgrelid = c.oid AND t.tgname = '" TRACKING_TRIGGER "')",
						  1, argtypes, values, NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		tables = lappend_oid(tables, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull)));
	}
	foreach(lc, tables)
	{
		Oid			table = lfirst_oid(lc);

		/*
		 * Another session's first run may be adding it right now: wait with
		 * the lock CREATE TRIGGER takes, then look again.
		 */
		if (has_tracking_trigger(table))
			continue;
		runas_ddl(catalog_owner(),
				  psprintf("CREATE TRIGGER " TRACKING_TRIGGER
						   " AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s"
						   " FOR EACH STATEMENT EXECUTE FUNCTION pipeline.record_change()",
						   quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
													  get_rel_name(table))));
	}
	return tables != NIL;
}

bool
change_tracking_unchanged(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		unchanged;
	bool		isnull;

	if (query_is_volatile(relid))
		return false;

	SPI_connect();
	if (install_missing_triggers(relid))
	{
		SPI_finish();
		return false;
	}

	/*
	 * Changed if: no saved snapshot; an upstream we cannot track (foreign or
	 * partitioned table, unmanaged matview); or a change row the saved
	 * snapshot could not see.  Plain views are covered by their own sources,
	 * which are edges too.
	 */
	catalog_exec_as_owner("SELECT EXISTS (SELECT 1 FROM pipeline.refresh_snapshots s "
						  "                WHERE s.matview = $1::regclass) "
						  "   AND NOT EXISTS ( "
						  "       SELECT 1 FROM pipeline.edges e "
						  "         JOIN pg_catalog.pg_class c ON c.oid = e.upstream "
						  "        WHERE e.downstream = $1::regclass "
						  "          AND (c.relkind NOT IN ('r', 'm', 'v') "
						  "               OR (c.relkind = 'm' AND NOT EXISTS "
						  "                   (SELECT 1 FROM pipeline.matview_definitions d "
						  "                     WHERE d.matview = c.oid)) "
						  "               OR EXISTS (SELECT 1 FROM pipeline.changes ch, pipeline.refresh_snapshots s "
						  "                           WHERE ch.relation = c.oid AND s.matview = $1::regclass "
						  "                             AND NOT pg_catalog.pg_visible_in_snapshot(ch.xid, s.snapshot))))",
						  1, argtypes, values, NULL);
	unchanged = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return unchanged;
}

void
change_tracking_refreshed(Oid relid, bool rewritten)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	SPI_connect();
	if (rewritten)
		catalog_exec_as_owner("INSERT INTO pipeline.changes (relation) VALUES ($1)",
							  1, argtypes, values, NULL);
	/* the active snapshot is the one the refresh read its upstreams in */
	catalog_exec_as_owner("INSERT INTO pipeline.refresh_snapshots (matview, snapshot) "
						  "VALUES ($1::regclass, pg_catalog.pg_current_snapshot()) "
						  "ON CONFLICT (matview) DO UPDATE SET snapshot = excluded.snapshot",
						  1, argtypes, values, NULL);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(pipeline_record_change);

/*
 * Statement trigger on source tables: one pipeline.changes row per table
 * and transaction.  The existence check sees rows of rolled-back
 * subtransactions as gone, so a table written again after a rollback is
 * recorded again.
 */
Datum
pipeline_record_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pipeline.record_change() must be called as a trigger");
	values[0] = ObjectIdGetDatum(RelationGetRelid(trigdata->tg_relation));

	SPI_connect();
	catalog_exec_as_owner("INSERT INTO pipeline.changes (relation) "
						  "SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM pipeline.changes "
						  " WHERE relation = $1 AND xid = pg_catalog.pg_current_xact_id())",
						  1, argtypes, values, NULL);
	SPI_finish();
	return PointerGetDatum(NULL);
}
