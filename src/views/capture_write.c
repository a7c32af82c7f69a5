/*-------------------------------------------------------------------------
 * capture_write.c
 *	  The writer's side of change capture: pipeline.capture_change(), the
 *	  trigger that appends a statement's row images to its table's change
 *	  log (capture.h).
 *
 * What a writer pays: its statement's transition tables (PostgreSQL fills
 * them for every trigger that asks), and here one heap tuple per row image
 * with the captured columns, written with table_multi_insert() in batches,
 * as COPY writes.  No SPI, no executor, no permission check: the writer
 * has no rights on the log and needs none, and nothing of the writer's
 * (search_path, functions, operators) is ever looked up.
 *
 * Which log, per backend: a cache from table to log (and the captured
 * attnums, for the UPDATE skip), filled from pipeline.capture_sources read
 * with the latest snapshot, not the transaction's: a REPEATABLE READ writer
 * whose lock on the table came after a registration committed must see the
 * registration, or it would write unlogged.  A relcache invalidation of
 * the table (its triggers changed) or of the log (a column added) drops the
 * entry.  No row for the table (a restored dump brings the triggers back
 * but not the logs) means nothing is logged.
 *
 * Which columns go where is read from the log's own descriptor at each
 * statement (column a<N> holds source attnum N), so a log widened in an
 * earlier transaction is always written whole.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "replication/logicalworker.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "model/catalog.h"
#include "views/capture.h"

/* Row images per table_multi_insert() call, as COPY batches them */
#define CAPTURE_BATCH 1000

/* pipeline.capture_sources' columns */
#define Anum_capture_sources_source 1
#define Anum_capture_sources_log_table 2

/* The log's columns before the captured ones */
#define LOG_XID_ATTNO 1
#define LOG_CID_ATTNO 2
#define LOG_SIGN_ATTNO 3
#define LOG_FIXED_COLUMNS 3

/* One table's entry in the per-backend cache */
typedef struct CaptureTarget
{
	Oid			source;			/* hash key */
	bool		valid;
	Oid			log;			/* InvalidOid: not captured */
	Bitmapset  *captured;		/* source attnums in the log */
} CaptureTarget;

static HTAB *capture_targets = NULL;

/* A statement's row images on their way into the log */
typedef struct LogWriter
{
	Relation	log;
	int			ncolumns;		/* captured columns */
	AttrNumber *source_attnums; /* per captured column; 0: write NULL */
	AttrNumber	max_source_attnum;
	Datum		xid;
	Datum		cid;
	CommandId	insert_cid;
	BulkInsertState bistate;	/* NULL for a few rows */
	TupleTableSlot *slots[CAPTURE_BATCH];
	int			nslots;			/* slots created */
	int			nfilled;		/* slots holding a row image */
} LogWriter;

static void
invalidate_targets(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	CaptureTarget *target;

	hash_seq_init(&status, capture_targets);
	while ((target = hash_seq_search(&status)) != NULL)
		if (!OidIsValid(relid) || target->source == relid || target->log == relid)
			target->valid = false;
}

/* The source attnum a log column holds: a<N> is N; 0 for anything else. */
static AttrNumber
log_column_source_attnum(Form_pg_attribute attr)
{
	int			attnum;
	char		extra;

	if (attr->attisdropped || attr->attnum <= LOG_FIXED_COLUMNS ||
		sscanf(NameStr(attr->attname), "a%d%c", &attnum, &extra) != 1 ||
		attnum <= 0 || attnum > MaxAttrNumber)
		return 0;
	return (AttrNumber) attnum;
}

/*
 * The log of source from pipeline.capture_sources as of now (see the
 * header), or InvalidOid.
 */
static Oid
registered_log(Oid source)
{
	Oid			sources_oid = catalog_table("capture_sources");
	Relation	sources;
	Snapshot	snapshot;
	TableScanDesc scan;
	HeapTuple	tuple;
	Oid			log = InvalidOid;

	if (!OidIsValid(sources_oid))
		return InvalidOid;		/* SQL older than capture */
	sources = table_open(sources_oid, AccessShareLock);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(sources, snapshot, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, Anum_capture_sources_source,
										 RelationGetDescr(sources), &isnull);

		if (isnull || DatumGetObjectId(value) != source)
			continue;
		value = heap_getattr(tuple, Anum_capture_sources_log_table,
							 RelationGetDescr(sources), &isnull);
		if (!isnull)
			log = DatumGetObjectId(value);
		break;
	}
	table_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(sources, AccessShareLock);
	return log;
}

static void
load_target(CaptureTarget *target)
{
	Relation	log;
	TupleDesc	desc;
	MemoryContext old;

	bms_free(target->captured);
	target->captured = NULL;
	target->log = registered_log(target->source);
	/* valid from here: an invalidation while we read the log clears it */
	target->valid = true;
	if (!OidIsValid(target->log))
		return;
	log = try_table_open(target->log, AccessShareLock);
	if (log == NULL)
		elog(ERROR, "change log %u of relation %u does not exist",
			 target->log, target->source);
	desc = RelationGetDescr(log);
	old = MemoryContextSwitchTo(TopMemoryContext);
	for (int i = 0; i < desc->natts; i++)
	{
		AttrNumber	attnum = log_column_source_attnum(TupleDescAttr(desc, i));

		if (attnum > 0)
			target->captured = bms_add_member(target->captured, attnum);
	}
	MemoryContextSwitchTo(old);
	table_close(log, AccessShareLock);
}

/* The cache entry of source, loaded. */
static CaptureTarget *
capture_target(Oid source)
{
	CaptureTarget *target;
	bool		found;

	if (capture_targets == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CaptureTarget);
		capture_targets = hash_create("pipeline capture targets", 16, &ctl,
									  HASH_ELEM | HASH_BLOBS);
		CacheRegisterRelcacheCallback(invalidate_targets, (Datum) 0);
	}
	target = hash_search(capture_targets, &source, HASH_ENTER, &found);
	if (!found)
	{
		target->valid = false;
		target->log = InvalidOid;
		target->captured = NULL;
	}
	/* an invalidation while loading clears valid again: load again */
	for (int tries = 0; !target->valid && tries < 10; tries++)
		load_target(target);
	return target;
}

/*
 * Whether a row of the statement's transition tables has a captured column
 * whose old and new images differ (not just compare equal).  Each updated
 * row's old and new images are appended together, so the two tables are
 * read in step.
 */
static bool
transition_changes_captured(TriggerData *trigdata, const Bitmapset *captured)
{
	Tuplestorestate *old_rows = trigdata->tg_oldtable;
	Tuplestorestate *new_rows = trigdata->tg_newtable;
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);
	TupleTableSlot *old_slot;
	TupleTableSlot *new_slot;
	bool		changed = false;

	if (old_rows == NULL || new_rows == NULL ||
		tuplestore_tuple_count(old_rows) != tuplestore_tuple_count(new_rows))
		return true;
	old_slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	new_slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	tuplestore_select_read_pointer(old_rows, tuplestore_alloc_read_pointer(old_rows, EXEC_FLAG_REWIND));
	tuplestore_rescan(old_rows);
	tuplestore_select_read_pointer(new_rows, tuplestore_alloc_read_pointer(new_rows, EXEC_FLAG_REWIND));
	tuplestore_rescan(new_rows);
	while (!changed && tuplestore_gettupleslot(old_rows, true, false, old_slot))
	{
		int			attnum = -1;

		if (!tuplestore_gettupleslot(new_rows, true, false, new_slot))
			changed = true;
		while (!changed && (attnum = bms_next_member(captured, attnum)) >= 0)
		{
			Form_pg_attribute attr;
			bool		old_null;
			bool		new_null;
			Datum		old_value;
			Datum		new_value;

			if (attnum > desc->natts)
				continue;
			attr = TupleDescAttr(desc, attnum - 1);
			old_value = slot_getattr(old_slot, attnum, &old_null);
			new_value = slot_getattr(new_slot, attnum, &new_null);
			changed = old_null != new_null ||
				(!old_null && !datumIsEqual(old_value, new_value, attr->attbyval, attr->attlen));
		}
	}
	ExecDropSingleTupleTableSlot(old_slot);
	ExecDropSingleTupleTableSlot(new_slot);
	return changed;
}

/*
 * Whether an UPDATE may have changed a captured column: it set one, or a
 * BEFORE UPDATE row trigger (which may change any column) ran.  A statement
 * that updates the table twice (a data-modifying WITH) fires the statement
 * trigger once, over both updates' rows, with the columns of the last one
 * only: when those miss the captured ones, the rows themselves are looked
 * at.
 */
static bool
update_touches_captured(TriggerData *trigdata, const Bitmapset *captured)
{
	TriggerDesc *trigdesc = trigdata->tg_relation->trigdesc;
	int			col = -1;

	if (trigdata->tg_updatedcols == NULL ||
		(trigdesc != NULL && trigdesc->trig_update_before_row))
		return true;
	while ((col = bms_next_member(trigdata->tg_updatedcols, col)) >= 0)
	{
		AttrNumber	attnum = col + FirstLowInvalidHeapAttributeNumber;

		/* whole-row: every column */
		if (attnum == InvalidAttrNumber || bms_is_member(attnum, captured))
			return true;
	}
	return TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) &&
		transition_changes_captured(trigdata, captured);
}

/*
 * Opens the log and maps its columns to the source's; a column whose
 * source attribute is gone or of another type (the guard refuses both
 * while captured) is written NULL rather than misread.
 */
static void
writer_begin(LogWriter *w, Oid log, Relation source, bool bulk)
{
	TupleDesc	desc;
	TupleDesc	source_desc = RelationGetDescr(source);

	memset(w, 0, sizeof(LogWriter));
	w->log = table_open(log, RowExclusiveLock);
	if (w->log->rd_rel->relhasindex)
		elog(ERROR, "change log \"%s\" has an index", RelationGetRelationName(w->log));
	desc = RelationGetDescr(w->log);
	w->ncolumns = desc->natts - LOG_FIXED_COLUMNS;
	w->source_attnums = palloc0(sizeof(AttrNumber) * Max(w->ncolumns, 1));
	for (int i = 0; i < w->ncolumns; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, LOG_FIXED_COLUMNS + i);
		AttrNumber	attnum = log_column_source_attnum(attr);
		Form_pg_attribute source_attr;

		if (attnum == 0 || attnum > source_desc->natts)
			continue;
		source_attr = TupleDescAttr(source_desc, attnum - 1);
		/* a domain's column is logged as its base type (capture_ddl.c) */
		if (source_attr->attisdropped ||
			(source_attr->atttypid != attr->atttypid &&
			 getBaseType(source_attr->atttypid) != attr->atttypid))
			continue;
		w->source_attnums[i] = attnum;
		w->max_source_attnum = Max(w->max_source_attnum, attnum);
	}
	w->xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	/* an AFTER trigger runs under its statement's command id */
	w->cid = Int64GetDatum((int64) GetCurrentCommandId(false));
	w->insert_cid = GetCurrentCommandId(true);
	w->bistate = bulk ? GetBulkInsertState() : NULL;
}

static void
writer_flush(LogWriter *w)
{
	if (w->nfilled == 0)
		return;
	table_multi_insert(w->log, w->slots, w->nfilled, w->insert_cid, 0, w->bistate);
	for (int i = 0; i < w->nfilled; i++)
		ExecClearTuple(w->slots[i]);
	w->nfilled = 0;
}

/* Adds one row image of source_slot (NULL: a TRUNCATE marker). */
static void
writer_add(LogWriter *w, TupleTableSlot *source_slot, int16 sign)
{
	TupleTableSlot *slot;

	if (w->nfilled == w->nslots)
		w->slots[w->nslots++] = table_slot_create(w->log, NULL);
	slot = w->slots[w->nfilled++];
	ExecClearTuple(slot);
	if (source_slot != NULL && w->max_source_attnum > 0)
		slot_getsomeattrs(source_slot, w->max_source_attnum);
	slot->tts_values[LOG_XID_ATTNO - 1] = w->xid;
	slot->tts_values[LOG_CID_ATTNO - 1] = w->cid;
	slot->tts_values[LOG_SIGN_ATTNO - 1] = Int16GetDatum(sign);
	for (int i = 0; i < LOG_FIXED_COLUMNS; i++)
		slot->tts_isnull[i] = false;
	for (int i = 0; i < w->ncolumns; i++)
	{
		AttrNumber	attnum = w->source_attnums[i];
		int			at = LOG_FIXED_COLUMNS + i;

		slot->tts_isnull[at] = source_slot == NULL || attnum == 0 ||
			source_slot->tts_isnull[attnum - 1];
		slot->tts_values[at] = slot->tts_isnull[at] ? (Datum) 0 :
			source_slot->tts_values[attnum - 1];
	}
	ExecStoreVirtualTuple(slot);
	/* copies the values out of the source slot, which moves on */
	ExecMaterializeSlot(slot);
	if (w->nfilled == CAPTURE_BATCH)
		writer_flush(w);
}

static void
writer_end(LogWriter *w)
{
	writer_flush(w);
	for (int i = 0; i < w->nslots; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	if (w->bistate != NULL)
	{
		FreeBulkInsertState(w->bistate);
		table_finish_bulk_insert(w->log, 0);
	}
	table_close(w->log, NoLock);
}

/*
 * Every row of a transition table.  Its own read pointer, rewound: other
 * triggers of the statement read the same tuplestore.
 */
static void
writer_add_transition(LogWriter *w, Tuplestorestate *rows, TupleTableSlot *slot,
					  int16 sign)
{
	int			reader = tuplestore_alloc_read_pointer(rows, EXEC_FLAG_REWIND);

	tuplestore_select_read_pointer(rows, reader);
	tuplestore_rescan(rows);
	while (tuplestore_gettupleslot(rows, true, false, slot))
		writer_add(w, slot, sign);
	ExecClearTuple(slot);
}

static void
log_statement(TriggerData *trigdata, Oid log)
{
	TriggerEvent event = trigdata->tg_event;
	int64		rows = 0;
	LogWriter	w;
	TupleTableSlot *slot;

	if (trigdata->tg_oldtable != NULL)
		rows += tuplestore_tuple_count(trigdata->tg_oldtable);
	if (trigdata->tg_newtable != NULL)
		rows += tuplestore_tuple_count(trigdata->tg_newtable);
	if (rows == 0 && !TRIGGER_FIRED_BY_TRUNCATE(event))
		return;
	writer_begin(&w, log, trigdata->tg_relation, rows >= CAPTURE_BATCH);
	if (TRIGGER_FIRED_BY_TRUNCATE(event))
		writer_add(&w, NULL, 0);
	else
	{
		slot = MakeSingleTupleTableSlot(RelationGetDescr(trigdata->tg_relation),
										&TTSOpsMinimalTuple);
		if (trigdata->tg_oldtable != NULL)
			writer_add_transition(&w, trigdata->tg_oldtable, slot, -1);
		if (trigdata->tg_newtable != NULL)
			writer_add_transition(&w, trigdata->tg_newtable, slot, 1);
		ExecDropSingleTupleTableSlot(slot);
	}
	writer_end(&w);
}

/* The replica row trigger: one row's images. */
static void
log_row(TriggerData *trigdata, Oid log)
{
	TriggerEvent event = trigdata->tg_event;
	LogWriter	w;

	writer_begin(&w, log, trigdata->tg_relation, false);
	if (TRIGGER_FIRED_BY_INSERT(event))
		writer_add(&w, trigdata->tg_trigslot, 1);
	else
		writer_add(&w, trigdata->tg_trigslot, -1);
	if (TRIGGER_FIRED_BY_UPDATE(event))
		writer_add(&w, trigdata->tg_newslot, 1);
	writer_end(&w);
}

PG_FUNCTION_INFO_V1(pipeline_capture_change);

/*
 * capture_change() RETURNS trigger: the capture triggers (capture.h).
 * The row-level one logs only in a logical replication worker, and there
 * the statement-level INSERT, UPDATE and DELETE ones log nothing: an apply
 * worker fires row triggers only, a table synchronization worker's COPY
 * fires both.  Any other session fires the statement triggers alone, also
 * under session_replication_role = replica (they are ENABLE ALWAYS).
 * TRUNCATE has only the statement trigger, which every session fires.
 */
Datum
pipeline_capture_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	CaptureTarget *target;
	Oid			log;
	bool		row_level;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event))
		elog(ERROR, "pipeline.capture_change() must be called as an AFTER trigger");
	/* in a logical replication worker, rows are logged by the row trigger */
	row_level = TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) != 0;
	if (row_level != IsLogicalWorker() &&
		!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		return PointerGetDatum(NULL);
	target = capture_target(RelationGetRelid(trigdata->tg_relation));
	log = target->log;
	if (!OidIsValid(log))
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) &&
		!update_touches_captured(trigdata, target->captured))
		return PointerGetDatum(NULL);
	/* target may be invalidated from here on: only log is used */
	if (row_level)
		log_row(trigdata, log);
	else
		log_statement(trigdata, log);
	return PointerGetDatum(NULL);
}
