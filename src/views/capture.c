/*-------------------------------------------------------------------------
 * capture.c
 *	  Change capture's catalog: which views consume which columns of which
 *	  tables, starting, widening and stopping capture, pruning the logs
 *	  (capture.h).  The triggers and logs themselves are made in
 *	  capture_ddl.c; the writer's side is capture_write.c.
 *
 * pipeline.capture_sources and pipeline.capture_consumers are written only
 * here, as the catalog owner with search_path pinned (spi_rows()).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include "model/catalog.h"
#include "util/lock_tries.h"
#include "util/spi_rows.h"
#include "util/xid_horizon.h"
#include "util/subxact.h"
#include "views/capture.h"
#include "views/capture_ddl.h"
#include "util/relation_name.h"

/* the object sub-id of a source's hold on its log (capture_hold_log()) */
#define CAPTURE_HOLD_SUBID	1

/* Whether the installed SQL has change capture (1.3 on). */
static bool
sql_has_capture(void)
{
	return OidIsValid(catalog_table("capture_sources"));
}

static Datum
attnums_to_array(const Bitmapset *attnums)
{
	int			n = bms_num_members(attnums);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			attnum = -1;
	int			i = 0;

	while ((attnum = bms_next_member(attnums, attnum)) >= 0)
		elems[i++] = Int16GetDatum((int16) attnum);
	return PointerGetDatum(construct_array(elems, n, INT2OID, sizeof(int16), true,
										   TYPALIGN_SHORT));
}

static Bitmapset *
array_to_attnums(Datum array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	Bitmapset  *attnums = NULL;

	deconstruct_array(DatumGetArrayTypeP(array), INT2OID, sizeof(int16), true,
					  TYPALIGN_SHORT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			attnums = bms_add_member(attnums, DatumGetInt16(elems[i]));
	return attnums;
}

/*
 * The capture_sources row of source: its log (InvalidOid: none), captured
 * columns and capture_xid.  Read with a new snapshot under READ COMMITTED,
 * so after the caller's lock on source.
 */
static Oid
read_source(Oid source, Bitmapset **columns, FullTransactionId *capture_xid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(source)};
	SpiRows    *rows;
	bool		isnull;

	if (columns != NULL)
		*columns = NULL;
	if (capture_xid != NULL)
		*capture_xid = InvalidFullTransactionId;
	if (!sql_has_capture())
		return InvalidOid;
	rows = spi_rows(catalog_owner(),
					"SELECT s.log_table::pg_catalog.oid, s.columns, s.capture_xid "
					"  FROM pipeline.capture_sources s "
					" WHERE s.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					1, argtypes, values, NULL, false, SPI_OK_SELECT);
	if (rows->count == 0)
		return InvalidOid;
	if (columns != NULL)
		*columns = array_to_attnums(spi_rows_value(rows, 0, 1, &isnull));
	if (capture_xid != NULL)
		*capture_xid = DatumGetFullTransactionId(spi_rows_value(rows, 0, 2, &isnull));
	return DatumGetObjectId(spi_rows_value(rows, 0, 0, &isnull));
}

/*
 * Only an ordinary table that is in no inheritance tree can be captured:
 * a write through a parent fires the parent's statement triggers, not the
 * child's.
 */
static void
check_capturable(Relation rel, const Bitmapset *attnums)
{
	Oid			relid = RelationGetRelid(rel);
	int			attnum = -1;

	if (rel->rd_rel->relkind != RELKIND_RELATION || relid < FirstNormalObjectId ||
		rel->rd_rel->relispartition || rel->rd_rel->relhassubclass ||
		has_superclass(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot capture changes of %s", relation_qualified_name(relid)),
				 errdetail("Only ordinary tables outside inheritance trees and partitioning can be captured.")));
	while ((attnum = bms_next_member(attnums, attnum)) >= 0)
		if (attnum < 1 || attnum > RelationGetNumberOfAttributes(rel) ||
			TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attisdropped)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column %d of %s does not exist", attnum, relation_qualified_name(relid))));
}

static void
upsert_consumer(Oid matview, Oid source, const Bitmapset *attnums)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, INT2ARRAYOID};
	Datum		values[3] = {ObjectIdGetDatum(matview), ObjectIdGetDatum(source),
	attnums_to_array(attnums)};

	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.capture_consumers (matview, source, columns) "
					"VALUES ($1::pg_catalog.regclass, $2::pg_catalog.regclass, $3) "
					"ON CONFLICT (matview, source) DO UPDATE SET columns = excluded.columns",
					3, argtypes, values, NULL, false, SPI_OK_INSERT);
}

/* Records that capture of source (re)started in this transaction. */
static void
upsert_source(Oid source, Oid log, const Bitmapset *attnums)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, INT2ARRAYOID};
	Datum		values[3] = {ObjectIdGetDatum(source), ObjectIdGetDatum(log),
	attnums_to_array(attnums)};

	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.capture_sources (source, log_table, columns, capture_xid) "
					"VALUES ($1::pg_catalog.regclass, $2::pg_catalog.regclass, $3, "
					"        pg_catalog.pg_current_xact_id()) "
					"ON CONFLICT (source) DO UPDATE SET log_table = excluded.log_table, "
					"       columns = excluded.columns, capture_xid = excluded.capture_xid",
					3, argtypes, values, NULL, false, SPI_OK_INSERT);
}

/*
 * Whether the consumer row is there with exactly attnums, the table
 * captures them all and has its triggers, all committed: then nothing
 * needs the lock that makes writers wait.  Any writer from now on logs
 * (the registration that made all this waited for the writers before it).
 */
static bool
registered_already(Oid matview, Oid source, const Bitmapset *attnums)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(matview), ObjectIdGetDatum(source)};
	SpiRows    *rows;
	bool		isnull;

	rows = spi_rows(catalog_owner(),
					"SELECT c.columns, s.columns FROM pipeline.capture_consumers c "
					"  JOIN pipeline.capture_sources s ON s.source OPERATOR(pg_catalog.=) c.source "
					" WHERE c.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"   AND c.source OPERATOR(pg_catalog.=) $2::pg_catalog.regclass",
					2, argtypes, values, NULL, false, SPI_OK_SELECT);
	return rows->count == 1 &&
		bms_equal(array_to_attnums(spi_rows_value(rows, 0, 0, &isnull)), attnums) &&
		bms_is_subset(attnums, array_to_attnums(spi_rows_value(rows, 0, 1, &isnull))) &&
		capture_has_triggers(source);
}

bool
capture_consumes_any(Oid matview)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(matview)};

	return spi_rows(catalog_owner(),
					"SELECT 1 FROM pipeline.capture_consumers c "
					" WHERE c.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass LIMIT 1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT)->count > 0;
}

bool
capture_serves(Oid matview, Oid source, Bitmapset *attnums)
{
	return registered_already(matview, source, attnums);
}

void
capture_register(Oid matview, Oid source, Bitmapset *attnums)
{
	Relation	rel;
	Bitmapset  *captured;
	Bitmapset  *missing;
	Oid			log;
	bool		changed = false;

	if (registered_already(matview, source, attnums))
		return;

	/*
	 * writers in progress finish first; new ones wait for our commit (in a
	 * refresh worker not without limit: lock_tries.h)
	 */
	lock_unless_held_long(source, ShareRowExclusiveLock);
	rel = table_open(source, NoLock);
	check_capturable(rel, attnums);
	upsert_consumer(matview, source, attnums);

	log = read_source(source, &captured, NULL);
	missing = bms_difference(attnums, captured);
	if (!OidIsValid(log))
	{
		log = capture_create_log(rel, attnums);
		changed = true;
	}
	else
	{
		/* a column retyped while no view read it is logged anew */
		Bitmapset  *stale = capture_drop_stale_log_columns(log, rel,
														   bms_intersect(attnums, captured));

		missing = bms_union(missing, stale);
		if (!bms_is_empty(missing))
		{
			capture_add_log_columns(log, rel, missing);
			changed = true;
		}
	}
	table_close(rel, NoLock);
	/* triggers missing or altered: writes may have gone unlogged */
	if (capture_ensure_triggers(source))
		changed = true;
	if (changed)
	{
		upsert_source(source, log, bms_union(captured, attnums));
		/* writers' caches (capture_write.c) load the new log */
		CacheInvalidateRelcacheByRelid(source);
	}
}

/*
 * Stops capture of source if nobody consumes it: its triggers, its log
 * and its row go.  Locks source as capture_register() does, then looks;
 * when wait is false, takes the locks DROP TRIGGER and DROP TABLE will
 * want only if they are free, and leaves source alone otherwise.
 */
static void
stop_capture_if_unused(Oid source, bool wait)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(source)};
	bool		exists = SearchSysCacheExists1(RELOID, ObjectIdGetDatum(source));
	Oid			log;

	if (exists)
	{
		if (wait)
			LockRelationOid(source, ShareRowExclusiveLock);
		else if (!ConditionalLockRelationOid(source, AccessExclusiveLock))
			return;
	}
	log = read_source(source, NULL, NULL);
	if (spi_rows(catalog_owner(),
				 "SELECT 1 FROM pipeline.capture_consumers c "
				 " WHERE c.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
				 1, argtypes, values, NULL, false, SPI_OK_SELECT)->count > 0 ||
		(!wait && OidIsValid(log) && !ConditionalLockRelationOid(log, AccessExclusiveLock)))
	{
		/* a view defined meanwhile consumes it, or a refresh reads the log */
		if (!wait && exists)
			UnlockRelationOid(source, AccessExclusiveLock);
		return;
	}
	if (exists)
	{
		capture_drop_triggers(source);
		CacheInvalidateRelcacheByRelid(source);
	}
	if (OidIsValid(log))
		capture_drop_log(log);
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.capture_sources s "
					" WHERE s.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					1, argtypes, values, NULL, false, SPI_OK_DELETE);
}

/* stop_capture_if_unused() of every captured table nobody consumes */
static void
stop_unconsumed_captures(bool wait)
{
	ListCell   *lc;

	/* also those whose consumers went with a forgotten view's rows */
	foreach(lc, spi_rows_oids(spi_rows(catalog_owner(),
									   "SELECT s.source::pg_catalog.oid FROM pipeline.capture_sources s "
									   " WHERE NOT EXISTS (SELECT 1 FROM pipeline.capture_consumers c "
									   "                    WHERE c.source OPERATOR(pg_catalog.=) s.source) "
									   " ORDER BY 1",
									   0, NULL, NULL, NULL, false, SPI_OK_SELECT), 0))
	{
		CHECK_FOR_INTERRUPTS();
		stop_capture_if_unused(lfirst_oid(lc), wait);
	}
}

void
capture_stop_unconsumed(void)
{
	if (sql_has_capture())
		stop_unconsumed_captures(false);
}

List *
capture_sources_stopping(List *matviews)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];

	if (!sql_has_capture() || matviews == NIL)
		return NIL;
	values[0] = spi_oid_array(matviews);
	/* not read-only: a fresh snapshot, to see consumers committed meanwhile */
	return spi_rows_oids(spi_rows(catalog_owner(),
								  "SELECT DISTINCT c.source::pg_catalog.oid FROM pipeline.capture_consumers c "
								  " WHERE c.matview::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
								  "   AND NOT EXISTS (SELECT 1 FROM pipeline.capture_consumers o "
								  "                    WHERE o.source OPERATOR(pg_catalog.=) c.source "
								  "                      AND o.matview::pg_catalog.oid OPERATOR(pg_catalog.<>) ALL ($1)) "
								  " ORDER BY 1",
								  1, argtypes, values, NULL, false, SPI_OK_SELECT), 0);
}

void
capture_unregister(Oid matview)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(matview)};

	if (!sql_has_capture())
		return;
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.capture_consumers c "
					" WHERE c.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					1, argtypes, values, NULL, false, SPI_OK_DELETE);
	stop_unconsumed_captures(true);
}

Oid
capture_log(Oid source, int *ncolumns, AttrNumber **attnums)
{
	Bitmapset  *columns;
	Oid			log = read_source(source, &columns, NULL);
	int			attnum = -1;
	int			i = 0;

	*ncolumns = bms_num_members(columns);
	*attnums = palloc(sizeof(AttrNumber) * Max(*ncolumns, 1));
	while ((attnum = bms_next_member(columns, attnum)) >= 0)
		(*attnums)[i++] = (AttrNumber) attnum;
	return log;
}

FullTransactionId
capture_started_xid(Oid source)
{
	FullTransactionId xid;

	(void) read_source(source, NULL, &xid);
	return xid;
}

/*
 * Deletes the rows of source's change log every consumer has consumed
 * (run by prune_without_waiting()).
 */
static void
prune_log(Oid source, Oid log)
{
	Oid			argtypes[2] = {OIDOID, XID8OID};
	Datum		values[2] = {ObjectIdGetDatum(source), (Datum) 0};
	Relation	rel;
	FullTransactionId horizon;

	/*
	 * A position saved but not yet committed holds the log (see
	 * capture_hold_log()): its refresh's snapshot may miss a writer the
	 * committed positions and the horizon no longer cover.  Tested, not held:
	 * pruning must not make the next refresh wait.
	 */
	if (!ConditionalLockDatabaseObject(RelationRelationId, source, CAPTURE_HOLD_SUBID, ExclusiveLock))
		return;
	UnlockDatabaseObject(RelationRelationId, source, CAPTURE_HOLD_SUBID, ExclusiveLock);

	rel = try_table_open(log, RowExclusiveLock);
	if (rel == NULL)
		return;					/* dropped meanwhile */

	/*
	 * a log without a page (never written, or emptied and vacuumed) holds
	 * nothing
	 */
	horizon = RelationGetNumberOfBlocks(rel) == 0 ? InvalidFullTransactionId :
		oldest_open_xid(rel);
	table_close(rel, NoLock);
	if (!FullTransactionIdIsValid(horizon))
		return;
	values[1] = FullTransactionIdGetDatum(horizon);
	(void) spi_rows(catalog_owner(),
					psprintf("DELETE FROM %s l WHERE l.xid OPERATOR(pg_catalog.<) "
							 "LEAST($2, (SELECT pg_catalog.min(pg_catalog.pg_snapshot_xmin(p.snapshot)) "
							 "   FROM pipeline.capture_consumers c "
							 "   JOIN pipeline.differential_positions p "
							 "     ON p.matview OPERATOR(pg_catalog.=) c.matview "
							 "  WHERE c.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass))",
							 relation_qualified_name(log)),
					2, argtypes, values, NULL, false, SPI_OK_DELETE);
}

void
capture_forget_positions(Oid source)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(source)};

	if (!sql_has_capture())
		return;
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.differential_positions p USING pipeline.capture_consumers c "
					" WHERE c.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"   AND p.matview OPERATOR(pg_catalog.=) c.matview",
					1, argtypes, values, NULL, false, SPI_OK_DELETE);
}

void
capture_hold_log(Oid source)
{
	LockDatabaseObject(RelationRelationId, source, CAPTURE_HOLD_SUBID, ShareLock);
}

typedef struct PruneWork
{
	Oid			source;
	Oid			log;
} PruneWork;

static void
prune_work(void *arg)
{
	PruneWork  *work = (PruneWork *) arg;

	prune_log(work->source, work->log);
}

/*
 * prune_log() that waits for no lock, neither the log's nor its rows': two
 * refreshes of views of one source prune the same rows, and the second
 * waited for the first's transaction, which deadlocked when that one went
 * on to refresh the view the second held.  What it leaves goes with a
 * later prune.
 */
static void
prune_without_waiting(Oid source, Oid log)
{
	PruneWork	work = {source, log};
	ErrorData  *error = subxact_try_without_waiting(prune_work, &work);

	/* a row another prune deleted first, seen from a transaction snapshot */
	if (error != NULL && error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
		error->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE &&
		error->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED)
		ReThrowError(error);
}

void
capture_prune(Oid source)
{
	Oid			log = read_source(source, NULL, NULL);

	if (OidIsValid(log))
		prune_without_waiting(source, log);
}

void
capture_prune_all(void)
{
	SpiRows    *rows;

	if (!sql_has_capture())
		return;
	rows = spi_rows(catalog_owner(),
					"SELECT s.source::pg_catalog.oid, s.log_table::pg_catalog.oid "
					"  FROM pipeline.capture_sources s ORDER BY 1",
					0, NULL, NULL, NULL, false, SPI_OK_SELECT);
	for (uint64 row = 0; row < rows->count; row++)
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		prune_without_waiting(DatumGetObjectId(spi_rows_value(rows, row, 0, &isnull)),
							  DatumGetObjectId(spi_rows_value(rows, row, 1, &isnull)));
	}
}

bool
capture_table_in_use(Oid table)
{
	return OidIsValid(read_source(table, NULL, NULL));
}

List *
capture_column_consumers(Oid table, AttrNumber attnum)
{
	Oid			argtypes[2] = {OIDOID, INT2OID};
	Datum		values[2] = {ObjectIdGetDatum(table), Int16GetDatum(attnum)};

	if (!sql_has_capture())
		return NIL;
	return spi_rows_oids(spi_rows(catalog_owner(),
								  "SELECT c.matview::pg_catalog.oid FROM pipeline.capture_consumers c "
								  " WHERE c.source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
								  "   AND $2 OPERATOR(pg_catalog.=) ANY (c.columns) "
								  " ORDER BY c.matview::pg_catalog.text",
								  2, argtypes, values, NULL, false, SPI_OK_SELECT), 0);
}

PG_FUNCTION_INFO_V1(pipeline_capture_register);

/*
 * capture_register(matview regclass, source regclass, columns int2[])
 * RETURNS void: internal, for tests (not executable by PUBLIC).
 */
Datum
pipeline_capture_register(PG_FUNCTION_ARGS)
{
	Oid			matview = PG_GETARG_OID(0);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		elog(ERROR, "arguments of pipeline.capture_register() must not be null");
	if (!catalog_is_managed(matview))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is not a managed view", relation_qualified_name(matview))));
	capture_register(matview, PG_GETARG_OID(1), array_to_attnums(PG_GETARG_DATUM(2)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pipeline_capture_unregister);

/* capture_unregister(matview regclass) RETURNS void: internal, for tests. */
Datum
pipeline_capture_unregister(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		elog(ERROR, "argument of pipeline.capture_unregister() must not be null");
	capture_unregister(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pipeline_capture_prune);

/* capture_prune(source regclass) RETURNS void: internal, for tests. */
Datum
pipeline_capture_prune(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		elog(ERROR, "argument of pipeline.capture_prune() must not be null");
	capture_prune(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pipeline_capture_forget_dropped);

/*
 * capture_forget_dropped() RETURNS event_trigger, on sql_drop: a dropped
 * table's triggers went with it; its log, its row and its consumers' rows
 * go now (its OID may be reused).
 */
Datum
pipeline_capture_forget_dropped(PG_FUNCTION_ARGS)
{
	SpiRows    *rows;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	rows = spi_rows(catalog_owner(),
					"SELECT s.source::pg_catalog.oid, s.log_table::pg_catalog.oid "
					"  FROM pipeline.capture_sources s, "
					"       pg_catalog.pg_event_trigger_dropped_objects() o "
					" WHERE o.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass "
					"   AND o.objsubid OPERATOR(pg_catalog.=) 0 "
					"   AND o.objid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid",
					0, NULL, NULL, NULL, false, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
	{
		Oid			argtypes[1] = {OIDOID};
		bool		isnull;
		Datum		values[1] = {spi_rows_value(rows, i, 0, &isnull)};

		(void) spi_rows(catalog_owner(),
						"DELETE FROM pipeline.capture_consumers c "
						" WHERE c.source::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
						1, argtypes, values, NULL, false, SPI_OK_DELETE);
		(void) spi_rows(catalog_owner(),
						"DELETE FROM pipeline.capture_sources s "
						" WHERE s.source::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
						1, argtypes, values, NULL, false, SPI_OK_DELETE);
		capture_drop_log(DatumGetObjectId(spi_rows_value(rows, i, 1, &isnull)));
	}
	PG_RETURN_VOID();
}
