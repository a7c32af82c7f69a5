/*-------------------------------------------------------------------------
 * apply_changes.c
 *	  pipeline.apply_changes(): merging a staging table of CDC change rows
 *	  into a Type-1 mirror table.
 *
 * The change table holds one row per change: the target's columns (matched
 * by name), an operation column ('I', 'U' or the delete op) and a sequence
 * column.  Per key the change with the greatest sequence wins; the delete op
 * deletes, any other op upserts.  A delete whose sequence is NULL (seed 004's
 * delete rows carry only the key) counts as the newest change of its key.
 * The statements that read the change table and write the target run as
 * the calling user.
 *
 * The whole application is one MERGE whose source reads the change table
 * once, sorted by key and descending sequence (NULLs first).  Over that
 * sorted stream apply_changes_row() checks every change (null keys, null
 * sequences of inserts and updates, unknown operations, repeated (key,
 * sequence) pairs); a bad change that is the latest of its key matches no
 * WHEN clause, and any bad change is an error after the MERGE, which undoes
 * it with the rest of the transaction.  Validation so rides on the sort the
 * merge needs anyway instead of costing scans of its own.  Applies into one
 * target are serialized by a self-conflicting lock, since concurrent MERGEs
 * inserting one new key would collide.
 *
 * The deleted-key memory (pipeline.deleted_keys) makes out-of-order batches
 * safe for deletes: the sequence of every key a delete removed is
 * remembered, and a later batch's insert or update of an absent key that is
 * not newer than the remembered delete is not applied.  It rides on the same
 * stream: apply_changes_row() sees each key's winning change first, so it
 * collects the winning deletes in memory (a "fact": key and sequence) at no
 * extra scan; after the MERGE they are written straight into the heap (one
 * multi-insert per thousand rows) and its indexes, not through an INSERT
 * statement.  The check
 * is a function in the MERGE's WHEN NOT MATCHED clause, so only changes that
 * would insert probe the memory (an index lookup), and only when the target
 * has remembered keys at all.  Keys are stored as text (the key's output,
 * a row literal for several columns) under fixed output settings, sequences
 * as text too, compared after parsing with the sequence type's ordering.
 * Expired keys (pipeline.deleted_keys_retention) are pruned by each apply
 * into the target before it starts; a dropped target's keys by an event
 * trigger.
 *
 * MERGE in PostgreSQL 15 reports only its total row count; the split into
 * inserted/updated/deleted is read from the ModifyTable node's own counters
 * (the ones EXPLAIN ANALYZE prints) by a short-lived ExecutorEnd hook.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_coerce.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "model/catalog.h"
#include "io/apply_changes.h"
#include "util/runas.h"
#include "util/settings.h"

/* ExecutorEnd hook state: counts of the last MERGE into capture_relid */
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static bool hook_installed = false;
static Oid	capture_relid = InvalidOid;
static ChangeCounts captured;
static bool captured_any;

/* What apply_changes_row() saw in the MERGE's source, while capturing */
typedef struct ChangeCheck
{
	int64		null_keys;
	int64		null_sequences;
	int64		unknown_ops;
	int64		ties;			/* a (key, sequence) pair repeated */
} ChangeCheck;
static ChangeCheck checked;

static void
changes_ExecutorEnd(QueryDesc *queryDesc)
{
	if (OidIsValid(capture_relid) &&
		queryDesc->operation == CMD_MERGE &&
		queryDesc->planstate != NULL &&
		IsA(queryDesc->planstate, ModifyTableState))
	{
		ModifyTableState *mt = (ModifyTableState *) queryDesc->planstate;

		if (mt->resultRelInfo != NULL &&
			RelationGetRelid(mt->resultRelInfo->ri_RelationDesc) == capture_relid)
		{
			/* nested MERGEs (triggers) end first: the outer one is last */
			captured.inserted = (int64) mt->mt_merge_inserted;
			captured.updated = (int64) mt->mt_merge_updated;
			captured.deleted = (int64) mt->mt_merge_deleted;
			captured_any = true;
		}
	}
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* "schema"."name" of a relation, for SQL text */
static char *
qualified_name(Relation rel)
{
	return quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
									  RelationGetRelationName(rel));
}

/* The relation as the user would name it, for messages */
static char *
display_name(Oid relid)
{
	return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)));
}

/* attribute number of a live column called name, or InvalidAttrNumber */
static AttrNumber
find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

static bool
list_has_string(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
	{
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	}
	return false;
}

/* " AND " joined "prefix.k = prefix2.k" or "prefix.k IS NULL" lists */
static void
append_key_list(StringInfo buf, List *keys, const char *prefix, const char *sep)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		if (lc != list_head(keys))
			appendStringInfoString(buf, sep);
		if (prefix)
			appendStringInfo(buf, "%s.", prefix);
		appendStringInfoString(buf, quote_identifier((char *) lfirst(lc)));
	}
}

/*
 * ---- The deleted-key memory (pipeline.deleted_keys) ----
 */

/* Columns of pipeline.deleted_keys (sql/install/60_changes.sql) */
#define DK_TARGET		1
#define DK_KEY			2
#define DK_SEQUENCE		3
#define DK_DELETED_AT	4

/*
 * The memory as the running apply sees it; NULL outside apply_changes().
 * Values are the change table's: index 0 is the sequence, 1.. the keys.
 */
typedef struct DeleteMemory
{
	Oid			target;
	MemoryContext cxt;			/* this struct, the facts, the key texts */
	int			nvalues;		/* 1 + number of keys */
	int16	   *typlen;
	bool	   *typbyval;
	FmgrInfo   *output;			/* output functions */
	Oid			seq_ioparam;	/* parsing a remembered sequence ... */
	FmgrInfo	seq_input;
	FmgrInfo	seq_cmp;		/* ... and comparing it */
	Oid			seq_collation;
	bool		pin_settings;	/* an output depends on DateStyle and co. */

	/*
	 * Facts: a key a winning delete removed, and a sequence it is at least
	 * as new as (unknown for a null-sequence delete of a key with no other
	 * change in the batch and no sequence in the target).
	 */
	Datum	   *facts;			/* maxfacts x nvalues */
	bool	   *fact_known;
	int			nfacts;
	int			maxfacts;
	int			pending;		/* null-sequence delete awaiting its key's
								 * newest sequence in the batch, or -1 */

	Oid			relid;			/* pipeline.deleted_keys, or InvalidOid when
								 * the installed SQL predates it (1.1) */
	bool		remembered;		/* the target had keys remembered */
	Relation	heap;			/* pipeline.deleted_keys, for probes */
	Relation	index;			/* its primary key (target, key) */
	IndexScanDesc scan;
	TupleTableSlot *slot;
} DeleteMemory;

static DeleteMemory *memory = NULL;

/* Types whose output does not depend on any setting */
static bool
output_is_stable(Oid type)
{
	switch (getBaseType(type))
	{
		case BOOLOID:
		case CHAROID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * Fixes the settings type output depends on, so a key or sequence reads
 * the same whoever wrote it (and a pg_dump restores what it dumped).
 * Returns the GUC nest level to pass to AtEOXact_GUC(true, level).
 */
static int
pin_output_settings(void)
{
	int			level = NewGUCNestLevel();

	set_config_option("datestyle", "ISO, MDY", PGC_USERSET, PGC_S_SESSION,
					  GUC_ACTION_SAVE, true, 0, false);
	set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
					  GUC_ACTION_SAVE, true, 0, false);
	set_config_option("timezone", "UTC", PGC_USERSET, PGC_S_SESSION,
					  GUC_ACTION_SAVE, true, 0, false);
	set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
					  GUC_ACTION_SAVE, true, 0, false);
	set_config_option("bytea_output", "hex", PGC_USERSET, PGC_S_SESSION,
					  GUC_ACTION_SAVE, true, 0, false);
	return level;
}

/*
 * Sets up the memory for an apply into target, whose change table has the
 * given sequence and key columns.  Needs a transaction; allocates in a
 * child of CurrentMemoryContext.
 */
static void
memory_begin(Oid target, TupleDesc cdesc, AttrNumber seq_attno, List *key_attnos)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "apply_changes deleted keys",
											  ALLOCSET_DEFAULT_SIZES);
	DeleteMemory *m = MemoryContextAllocZero(cxt, sizeof(DeleteMemory));
	Form_pg_attribute seq_att = TupleDescAttr(cdesc, seq_attno - 1);
	Oid			seq_base = getBaseType(seq_att->atttypid);
	TypeCacheEntry *entry;
	Oid			func;
	bool		isvarlena;

	m->target = target;
	m->cxt = cxt;
	/* a library newer than the installed SQL applies as 1.1 did */
	m->relid = get_relname_relid("deleted_keys", get_namespace_oid(PIPELINE_SCHEMA, false));
	m->nvalues = 1 + list_length(key_attnos);
	m->typlen = MemoryContextAlloc(cxt, sizeof(int16) * m->nvalues);
	m->typbyval = MemoryContextAlloc(cxt, sizeof(bool) * m->nvalues);
	m->output = MemoryContextAllocZero(cxt, sizeof(FmgrInfo) * m->nvalues);
	m->pending = -1;
	for (int i = 0; i < m->nvalues; i++)
	{
		AttrNumber	attno = i == 0 ? seq_attno : (AttrNumber) list_nth_int(key_attnos, i - 1);
		Oid			type = TupleDescAttr(cdesc, attno - 1)->atttypid;

		get_typlenbyval(type, &m->typlen[i], &m->typbyval[i]);
		getTypeOutputInfo(type, &func, &isvarlena);
		fmgr_info_cxt(func, &m->output[i], cxt);
		if (!output_is_stable(type))
			m->pin_settings = true;
	}

	getTypeInputInfo(seq_base, &func, &m->seq_ioparam);
	fmgr_info_cxt(func, &m->seq_input, cxt);
	entry = lookup_type_cache(seq_base, TYPECACHE_CMP_PROC_FINFO);
	if (!OidIsValid(entry->cmp_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify a comparison function for type %s",
						format_type_be(seq_att->atttypid)),
				 errhint("The sequence column needs a type with a default btree operator class.")));
	fmgr_info_cxt(entry->cmp_proc_finfo.fn_oid, &m->seq_cmp, cxt);
	m->seq_collation = seq_att->attcollation;
	memory = m;
}

/*
 * Forgets the target's keys deleted longer ago than the retention.  Needs
 * SPI connected; runs as the catalog owner.
 */
static void
memory_prune(void)
{
	Oid			argtypes[2] = {REGCLASSOID, INTERVALOID};
	Datum		values[2];
	Interval   *retention = palloc0(sizeof(Interval));

	if (!OidIsValid(memory->relid))
		return;
	retention->time = (int64) pipeline_deleted_keys_retention_min * USECS_PER_MINUTE;
	values[0] = ObjectIdGetDatum(memory->target);
	values[1] = IntervalPGetDatum(retention);
	catalog_exec_as_owner("DELETE FROM pipeline.deleted_keys"
						  " WHERE target OPERATOR(pg_catalog.=) $1"
						  "   AND deleted_at OPERATOR(pg_catalog.<)"
						  "       (pg_catalog.now() OPERATOR(pg_catalog.-) $2)",
						  2, argtypes, values, NULL);
	values[0] = ObjectIdGetDatum(memory->target);
	memory->remembered =
		catalog_exec_as_owner("SELECT FROM pipeline.deleted_keys"
							  " WHERE target OPERATOR(pg_catalog.=) $1 LIMIT 1",
							  1, argtypes, values, NULL) > 0;
}

/*
 * Opens pipeline.deleted_keys and its primary key for probes, and starts an
 * index scan under the given snapshot, which must stay valid until
 * memory_end_scan().
 */
static void
memory_begin_scan(Snapshot snapshot)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(memory->cxt);
	Oid			index;

	if (memory->heap == NULL)
	{
		memory->heap = table_open(memory->relid, AccessShareLock);
		index = RelationGetPrimaryKeyIndex(memory->heap);
		if (!OidIsValid(index))
			elog(ERROR, "pipeline.deleted_keys has no primary key");
		memory->index = index_open(index, AccessShareLock);
		memory->slot = table_slot_create(memory->heap, NULL);
	}
	memory->scan = index_beginscan(memory->heap, memory->index, snapshot, 2, 0);
	MemoryContextSwitchTo(oldcxt);
}

static void
memory_end_scan(void)
{
	if (memory->scan != NULL)
		index_endscan(memory->scan);
	memory->scan = NULL;
}

/* Closes what the probes opened and frees the memory; on success only */
static void
memory_end(void)
{
	memory_end_scan();
	if (memory->slot != NULL)
		ExecDropSingleTupleTableSlot(memory->slot);
	if (memory->index != NULL)
		index_close(memory->index, NoLock);
	if (memory->heap != NULL)
		table_close(memory->heap, NoLock);
	MemoryContextDelete(memory->cxt);
	memory = NULL;
}

/*
 * The key as remembered: the key column's output, or for several columns
 * a row literal ('(1,"a b")', as ROW(k1, k2)::text gives).  Needs the
 * output settings pinned when memory->pin_settings.
 */
static char *
memory_key_text(Datum *keys)
{
	StringInfoData buf;
	int			nkeys = memory->nvalues - 1;

	if (nkeys == 1)
		return OutputFunctionCall(&memory->output[1], keys[0]);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	for (int i = 0; i < nkeys; i++)
	{
		char	   *value = OutputFunctionCall(&memory->output[i + 1], keys[i]);
		bool		quote = value[0] == '\0';

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		for (const char *p = value; *p && !quote; p++)
			quote = *p == '"' || *p == '\\' || *p == '(' || *p == ')' ||
				*p == ',' || isspace((unsigned char) *p);
		if (!quote)
		{
			appendStringInfoString(&buf, value);
			continue;
		}
		appendStringInfoChar(&buf, '"');
		for (const char *p = value; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&buf, *p);
			appendStringInfoChar(&buf, *p);
		}
		appendStringInfoChar(&buf, '"');
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The remembered sequence of a key, parsed, or false when the key is not
 * remembered.  Needs memory_begin_scan() and, when memory->pin_settings,
 * the output settings pinned.
 */
static bool
memory_lookup(const char *key, Datum *sequence, ItemPointer tid)
{
	ScanKeyData skey[2];
	bool		found;

	ScanKeyInit(&skey[0], DK_TARGET, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(memory->target));
	ScanKeyInit(&skey[1], DK_KEY, BTEqualStrategyNumber, F_TEXTEQ,
				CStringGetTextDatum(key));
	skey[1].sk_collation = C_COLLATION_OID;
	index_rescan(memory->scan, skey, 2, NULL, 0);
	found = index_getnext_slot(memory->scan, ForwardScanDirection, memory->slot);
	if (found)
	{
		bool		isnull;
		Datum		stored = slot_getattr(memory->slot, DK_SEQUENCE, &isnull);

		if (isnull)
			found = false;
		else
			*sequence = InputFunctionCall(&memory->seq_input, TextDatumGetCString(stored),
										  memory->seq_ioparam, -1);
		if (found && tid != NULL)
			*tid = memory->slot->tts_tid;
	}
	ExecClearTuple(memory->slot);
	return found;
}

static int
memory_compare(Datum a, Datum b)
{
	return DatumGetInt32(FunctionCall2Coll(&memory->seq_cmp, memory->seq_collation, a, b));
}

/*
 * Adds a fact: the key (the arguments after "first") was deleted by a
 * change at least as new as argument "first" (when known).  Returns its
 * index.  Copies the values.
 */
static int
memory_add_fact(FunctionCallInfo fcinfo, int first, bool known)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(memory->cxt);
	int			n = memory->nvalues;
	Datum	   *fact;

	if (memory->nfacts == memory->maxfacts)
	{
		memory->maxfacts = memory->maxfacts == 0 ? 1024 : memory->maxfacts * 2;
		if (memory->facts == NULL)
		{
			memory->facts = palloc_extended(sizeof(Datum) * n * memory->maxfacts, MCXT_ALLOC_HUGE);
			memory->fact_known = palloc_extended(sizeof(bool) * memory->maxfacts, MCXT_ALLOC_HUGE);
		}
		else
		{
			memory->facts = repalloc_huge(memory->facts, sizeof(Datum) * n * memory->maxfacts);
			memory->fact_known = repalloc_huge(memory->fact_known, sizeof(bool) * memory->maxfacts);
		}
	}
	fact = &memory->facts[(Size) memory->nfacts * n];
	for (int i = 0; i < n; i++)
		fact[i] = (i == 0 && !known) ? (Datum) 0 :
			datumCopy(fcinfo->args[first + i].value, memory->typbyval[i], memory->typlen[i]);
	memory->fact_known[memory->nfacts] = known;
	MemoryContextSwitchTo(oldcxt);
	return memory->nfacts++;
}

/* A remembered key and sequence, on their way to pipeline.deleted_keys */
typedef struct KeyFact
{
	char	   *key;
	Datum		sequence;
	ItemPointerData old;		/* the row it replaces, or invalid */
} KeyFact;

/* Rows memory_write() hands to heap_multi_insert() at a time */
#define WRITE_BATCH		1000

/*
 * Whether memory_write() may write pipeline.deleted_keys itself: only
 * plain indexes that are ready and checked at once, no triggers, no forced
 * row security (as installed; an index or trigger added by hand falls back
 * to SQL).  Opens the indexes into *indexes when it may.
 */
static bool
memory_direct_ok(Relation rel, CatalogIndexState *indexes)
{
	CatalogIndexState state;

	if (rel->trigdesc != NULL || rel->rd_rel->relforcerowsecurity)
		return false;
	state = CatalogOpenIndexes(rel);
	for (int i = 0; i < state->ri_NumIndices; i++)
	{
		IndexInfo  *info = state->ri_IndexRelationInfo[i];

		if (info->ii_Expressions != NIL || info->ii_Predicate != NIL ||
			info->ii_ExclusionOps != NULL || !info->ii_ReadyForInserts ||
			!state->ri_IndexRelationDescs[i]->rd_index->indimmediate)
		{
			CatalogCloseIndexes(state);
			return false;
		}
	}
	*indexes = state;
	return true;
}

/*
 * Writes the rows of pipeline.deleted_keys: kf[f] with its sequence's text
 * sequences[f], replacing the row kf[f].old when valid.  As the statement
 * "INSERT ... SELECT unnest(...)" would, but without the executor: the
 * heap gets one multi-insert (one WAL record per page) per batch of rows,
 * then each index its entries.  The extension's own table, written as the
 * catalog owner would: nothing here checks privileges.  Falls back to the
 * statement when the table has more than the installed shape.  Needs SPI
 * connected.
 */
static void
memory_write(KeyFact *kf, Datum *sequences, int n)
{
	Relation	rel = table_open(memory->relid, RowExclusiveLock);
	CatalogIndexState indexes;
	TupleTableSlot **slots;
	CommandId	cid;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	if (!memory_direct_ok(rel, &indexes))
	{
		Oid			argtypes[3] = {REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[3];
		Datum	   *keys = palloc_extended(sizeof(Datum) * n, MCXT_ALLOC_HUGE);

		table_close(rel, NoLock);
		for (int f = 0; f < n; f++)
			keys[f] = CStringGetTextDatum(kf[f].key);
		values[0] = ObjectIdGetDatum(memory->target);
		values[1] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(sequences, n, TEXTOID, -1, false,
													TYPALIGN_INT));

		/*
		 * The arrays are unnested in the target list, which streams them
		 * (ROWS FROM would store both in tuplestores first).
		 */
		catalog_exec_as_owner("INSERT INTO pipeline.deleted_keys (target, key, sequence, deleted_at)"
							  " SELECT $1, pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.now()"
							  " ON CONFLICT (target, key) DO UPDATE"
							  " SET sequence = excluded.sequence, deleted_at = excluded.deleted_at",
							  3, argtypes, values, NULL);
		return;
	}

	/*
	 * No bulk-insert state: its ring of buffers would make this backend
	 * write (and flush WAL for) pages of a large batch itself.
	 */
	cid = GetCurrentCommandId(true);
	slots = palloc(sizeof(TupleTableSlot *) * Min(n, WRITE_BATCH));
	for (int i = 0; i < Min(n, WRITE_BATCH); i++)
		slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	for (int first = 0; first < n; first += WRITE_BATCH)
	{
		int			count = Min(n - first, WRITE_BATCH);

		for (int i = 0; i < count; i++)
		{
			KeyFact    *fact = &kf[first + i];
			TupleTableSlot *slot = slots[i];

			ExecClearTuple(slot);
			memset(slot->tts_isnull, false, sizeof(bool) * slot->tts_tupleDescriptor->natts);
			slot->tts_values[DK_TARGET - 1] = ObjectIdGetDatum(memory->target);
			slot->tts_values[DK_KEY - 1] = CStringGetTextDatum(fact->key);
			slot->tts_values[DK_SEQUENCE - 1] = sequences[first + i];
			slot->tts_values[DK_DELETED_AT - 1] = now;
			ExecStoreVirtualTuple(slot);
			/* the older row goes first, so the new one is unique */
			if (ItemPointerIsValid(&fact->old))
				simple_heap_delete(rel, &fact->old);
		}
		heap_multi_insert(rel, slots, count, cid, 0, NULL);
		for (int i = 0; i < count; i++)
		{
			for (int x = 0; x < indexes->ri_NumIndices; x++)
			{
				Relation	index = indexes->ri_IndexRelationDescs[x];
				IndexInfo  *info = indexes->ri_IndexRelationInfo[x];
				Datum		values[INDEX_MAX_KEYS];
				bool		isnull[INDEX_MAX_KEYS];

				FormIndexDatum(info, slots[i], NULL, values, isnull);
				index_insert(index, values, isnull, &slots[i]->tts_tid, rel,
							 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							 false, info);
			}
		}
	}
	for (int i = 0; i < Min(n, WRITE_BATCH); i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	CatalogCloseIndexes(indexes);
	table_close(rel, NoLock);
	CommandCounterIncrement();
}

static int
keyfact_cmp(const void *a, const void *b)
{
	const KeyFact *fa = a;
	const KeyFact *fb = b;
	int			c = strcmp(fa->key, fb->key);

	if (c != 0)
		return c;
	/* newest first */
	return -memory_compare(fa->sequence, fb->sequence);
}

/*
 * After the merge: writes the facts to pipeline.deleted_keys, one row per
 * key with its newest sequence, never replacing a newer remembered one.
 * Needs SPI connected; writes as the catalog owner.
 */
static void
memory_record(void)
{
	MemoryContext oldcxt;
	KeyFact    *kf;
	int			n = 0;
	int			kept = 0;
	int			level = -1;
	Datum	   *sequences;

	if (memory->nfacts == 0 || !OidIsValid(memory->relid))
		return;
	oldcxt = MemoryContextSwitchTo(memory->cxt);
	if (memory->pin_settings)
		level = pin_output_settings();
	kf = palloc_extended(sizeof(KeyFact) * memory->nfacts, MCXT_ALLOC_HUGE);
	for (int f = 0; f < memory->nfacts; f++)
	{
		Datum	   *fact = &memory->facts[(Size) f * memory->nvalues];

		if (!memory->fact_known[f])
			continue;			/* a null-sequence delete of nothing known */
		kf[n].key = memory_key_text(&fact[1]);
		kf[n].sequence = fact[0];
		ItemPointerSetInvalid(&kf[n].old);
		n++;
	}

	/*
	 * One row per key, the newest, in key order: inserting in the primary
	 * key's order costs the index much less than in the merge's (numeric,
	 * say) order.
	 */
	if (n > 1)
	{
		qsort(kf, n, sizeof(KeyFact), keyfact_cmp);
		for (int f = 0; f < n; f++)
			if (kept == 0 || strcmp(kf[kept - 1].key, kf[f].key) != 0)
				kf[kept++] = kf[f];
		n = kept;
	}

	/*
	 * Never replace a newer remembered sequence.  A fresh snapshot, as the
	 * statements' own: it sees what an apply we waited for committed.
	 */
	if (memory->remembered && n > 0)
	{
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		memory_begin_scan(GetActiveSnapshot());
		kept = 0;
		for (int f = 0; f < n; f++)
		{
			Datum		remembered;

			ItemPointerData old;

			if (!memory_lookup(kf[f].key, &remembered, &old))
				kf[kept++] = kf[f];
			else if (memory_compare(remembered, kf[f].sequence) <= 0)
			{
				kf[f].old = old;
				kf[kept++] = kf[f];
			}
		}
		memory_end_scan();
		PopActiveSnapshot();
		n = kept;
	}

	sequences = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int f = 0; f < n; f++)
		sequences[f] = CStringGetTextDatum(OutputFunctionCall(&memory->output[0],
															  kf[f].sequence));
	if (level >= 0)
		AtEOXact_GUC(true, level);
	MemoryContextSwitchTo(oldcxt);
	if (n > 0)
		memory_write(kf, sequences, n);
}

/*
 * Whether a change at sequence seq (not null) of an absent key may insert
 * it: not when the key's remembered delete is as new or newer.  Called by
 * the merge; needs memory_begin_scan().
 */
static bool
memory_allows_insert(Datum seq, Datum *keys)
{
	int			level = memory->pin_settings ? pin_output_settings() : -1;
	Datum		remembered;
	bool		allowed;

	allowed = !memory_lookup(memory_key_text(keys), &remembered, NULL) ||
		memory_compare(remembered, seq) < 0;
	if (level >= 0)
		AtEOXact_GUC(true, level);
	return allowed;
}

/*
 * Raises the error for the first kind of bad change apply_changes_row()
 * counted: null keys, null sequences, unknown operations, with the number
 * of such rows and an example, found by a scan that runs only on this error
 * path.  Needs SPI connected.
 */
static void
report_bad_changes(const char *changes_sql, const char *changes_name, List *keys,
				   const char *sequence_by, const char *op_column, const char *delete_op)
{
	StringInfoData bad;			/* SQL condition: the offending rows */
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(delete_op)};
	int			sqlstate;
	const char *what;
	const char *hint;
	int64		seen;
	int64		count;
	char	   *example;
	bool		isnull;

	/* the merge's own counts decide which error this is */
	initStringInfo(&bad);
	if (checked.null_keys > 0)
	{
		append_key_list(&bad, keys, "c", " IS NULL OR ");
		appendStringInfoString(&bad, " IS NULL");
		sqlstate = ERRCODE_NOT_NULL_VIOLATION;
		what = "a null key";
		hint = "Key columns identify the target row; they must not be null.";
		seen = checked.null_keys;
	}
	else if (checked.null_sequences > 0)
	{
		appendStringInfo(&bad, "c.%s IS NULL AND c.%s::pg_catalog.text IS DISTINCT FROM $1",
						 quote_identifier(sequence_by), quote_identifier(op_column));
		sqlstate = ERRCODE_NOT_NULL_VIOLATION;
		what = psprintf("a null sequence \"%s\" on an insert or update", sequence_by);
		hint = "The sequence orders the changes of a key; only a delete may have a null sequence, which makes it the newest change of its key.";
		seen = checked.null_sequences;
	}
	else
	{
		appendStringInfo(&bad, "c.%s IS NULL OR c.%s::pg_catalog.text"
						 " OPERATOR(pg_catalog.<>) ALL (ARRAY['I', 'U', $1])",
						 quote_identifier(op_column), quote_identifier(op_column));
		sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
		what = psprintf("an unknown operation in \"%s\"", op_column);
		hint = psprintf("Operations are 'I' (insert), 'U' (update) and '%s' (delete).", delete_op);
		seen = checked.unknown_ops;
	}

	/*
	 * The scan gives the example, and the count (unless the change relation
	 * is a view whose rows changed since the merge read them).
	 */
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT pg_catalog.count(*), pg_catalog.min(c::pg_catalog.text)"
					 " FROM %s c WHERE %s",
					 changes_sql, bad.data);
	if (runas_spi(InvalidOid, sql.data, 1, argtypes, args, NULL, true, 1, SPI_OK_SELECT) != 1)
		elog(ERROR, "apply_changes check failed: %s", sql.data);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (count == 0)
		count = seen;
	example = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_plural("change table \"%s\" has %lld row with %s",
						   "change table \"%s\" has %lld rows with %s",
						   count, changes_name, (long long) count, what),
			 example ? errdetail("For example: %s", example) : 0,
			 errhint("%s", hint)));
}

/*
 * Changes that repeat a (key, sequence) pair must be identical (a
 * redelivered change); different ones are an error naming how many pairs
 * conflict and an example.  Runs only when apply_changes_row() saw
 * repeats.  Needs SPI connected.
 */
static void
check_repeated_changes(const char *changes_sql, const char *changes_name, List *keys,
					   const char *sequence_by)
{
	StringInfoData sql;
	bool		isnull;
	int64		conflicts;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT pg_catalog.count(*), pg_catalog.min(example) FROM ("
					 " SELECT pg_catalog.min(c::pg_catalog.text) AS example FROM %s c"
					 " WHERE c.%s IS NOT NULL GROUP BY ",
					 changes_sql, quote_identifier(sequence_by));
	append_key_list(&sql, keys, "c", ", ");
	appendStringInfo(&sql, ", c.%s HAVING pg_catalog.count(DISTINCT c::pg_catalog.text)"
					 " OPERATOR(pg_catalog.>) 1) d",
					 quote_identifier(sequence_by));
	if (runas_spi(InvalidOid, sql.data, 0, NULL, NULL, NULL, true, 1, SPI_OK_SELECT) != 1)
		elog(ERROR, "apply_changes duplicate check failed");
	conflicts = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											1, &isnull));
	if (conflicts > 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg_plural("change table \"%s\" has different changes for the same key and \"%s\" in %lld place",
							   "change table \"%s\" has different changes for the same key and \"%s\" in %lld places",
							   conflicts, changes_name, sequence_by, (long long) conflicts),
				 errdetail("For example: %s",
						   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2)),
				 errhint("Changes with the same key and sequence must be identical; give them distinct sequence values.")));
}

/* What changes_apply() found out about its two relations */
typedef struct ApplyPlan
{
	const char *changes_sql;	/* "schema"."name" */
	const char *target_sql;
	const char *changes_name;	/* for messages */
	const char *target_name;
	List	   *keys;
	const char *sequence_by;
	const char *op_column;
	List	   *columns;		/* change columns copied into the target */
	List	   *set_columns;	/* non-key columns of those */
	List	   *key_attnos;		/* the keys' columns in the change table */
	AttrNumber	seq_attno;		/* the sequence's */
	List	   *key_eq;			/* per key: the operator t.k = s.k uses */
	char	   *seq_gt;			/* t.seq > s.seq's, or NULL: no target column */
	char	   *seq_cast;		/* makes t.seq the changes' sequence type; NULL
								 * when it cannot */
} ApplyPlan;

/* "OPERATOR(schema.name)" of an operator, or of pg_catalog's name */
static char *
operator_sql(Oid opno, const char *name)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	char	   *result;

	if (!HeapTupleIsValid(tup))
		return psprintf("OPERATOR(pg_catalog.%s)", name);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(tup))->oprnamespace)),
					  name);
	ReleaseSysCache(tup);
	return result;
}

/*
 * Checks the key, sequence and operation columns and that every other
 * change column has a writable target column; fills in the plan.
 */
static void
plan_columns(ApplyPlan *p, Relation changes, Relation target)
{
	TupleDesc	cdesc = RelationGetDescr(changes);
	TupleDesc	tdesc = RelationGetDescr(target);
	const char *changes_name = p->changes_name;
	const char *target_name = p->target_name;
	AttrNumber	tseq;
	ListCell   *lc;

	/* keys: distinct, in both relations */
	foreach(lc, p->keys)
	{
		char	   *key = lfirst(lc);
		AttrNumber	cattno = find_column(cdesc, key);
		AttrNumber	tattno = find_column(tdesc, key);

		for (ListCell *prev = list_head(p->keys); prev != lc; prev = lnext(p->keys, prev))
			if (strcmp((char *) lfirst(prev), key) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key column \"%s\" is listed twice", key)));
		if (cattno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" has no key column \"%s\"", changes_name, key),
					 errhint("Every key column must be in the change table and in the target.")));
		if (tattno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target \"%s\" has no key column \"%s\"", target_name, key),
					 errhint("Every key column must be in the change table and in the target.")));
		if (strcmp(key, p->op_column) == 0 || strcmp(key, p->sequence_by) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"%s\" cannot also be the operation or sequence column", key)));
		p->key_attnos = lappend_int(p->key_attnos, cattno);
		p->key_eq = lappend(p->key_eq,
							operator_sql(lookup_type_cache(TupleDescAttr(tdesc, tattno - 1)->atttypid,
														   TYPECACHE_EQ_OPR)->eq_opr, "="));
	}
	p->seq_attno = find_column(cdesc, p->sequence_by);
	if (p->seq_attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("change table \"%s\" has no sequence column \"%s\"", changes_name, p->sequence_by)));
	if (find_column(cdesc, p->op_column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("change table \"%s\" has no operation column \"%s\"", changes_name, p->op_column),
				 errhint("Name it with op_column => '...'.")));
	if (strcmp(p->op_column, p->sequence_by) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the operation and sequence columns must differ")));

	/* the target's sequence: compared with the change's, and remembered */
	tseq = find_column(tdesc, p->sequence_by);
	if (tseq != InvalidAttrNumber)
	{
		Oid			ttype = TupleDescAttr(tdesc, tseq - 1)->atttypid;
		Oid			ctype = TupleDescAttr(cdesc, p->seq_attno - 1)->atttypid;

		p->seq_gt = operator_sql(lookup_type_cache(ttype, TYPECACHE_GT_OPR)->gt_opr, ">");
		if (ttype == ctype)
			p->seq_cast = "";
		else if (can_coerce_type(1, &ttype, &ctype, COERCION_EXPLICIT))
			p->seq_cast = psprintf("::%s",
								   format_type_extended(ctype, -1, FORMAT_TYPE_FORCE_QUALIFY));
	}

	/* every other change column must be a writable target column */
	for (int i = 0; i < cdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(cdesc, i);
		char	   *name = NameStr(att->attname);
		AttrNumber	tattno;

		if (att->attisdropped || strcmp(name, p->op_column) == 0)
			continue;
		tattno = find_column(tdesc, name);
		if (tattno == InvalidAttrNumber)
		{
			if (strcmp(name, p->sequence_by) == 0)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" column \"%s\" has no column in target \"%s\"",
							changes_name, name, target_name),
					 errhint("Columns are matched by name; drop the column from the change table or add it to the target.")));
		}
		if (TupleDescAttr(tdesc, tattno - 1)->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("change table \"%s\" column \"%s\" is a generated column of target \"%s\"",
							changes_name, name, target_name)));
		p->columns = lappend(p->columns, pstrdup(name));
		if (!list_has_string(p->keys, name))
			p->set_columns = lappend(p->set_columns, pstrdup(name));
	}
}

/*
 * The merge.  Its source reads the change table sorted by key and
 * descending sequence, NULLs (deletes that carry only the key) first.
 * apply_changes_row() is volatile, so it stays a filter on the sorted
 * subquery and runs on every change in order; it never returns null, so
 * the filter keeps every row (and the planner's estimate for "IS NOT NULL"
 * is nearly all of them).  As a filter rather than an output column it
 * costs no projection: the sorted rows reach DISTINCT ON, which keeps the
 * first, the latest, change of each key without sorting again, as stored
 * tuples.  The WHEN clauses repeat its verdict in SQL, so a bad latest
 * change matches no WHEN clause; the error raised after the merge undoes
 * the rest.
 * A null-sequence delete of a row tells apply_changes_deleting() the row's
 * sequence, to remember; with "probe", an insert first asks
 * apply_changes_insertable() whether a remembered delete is newer.  $1 is
 * the delete op.  Every name is qualified: this runs as the caller, under
 * the caller's search_path.
 */
static char *
build_merge(ApplyPlan *p, bool probe)
{
	StringInfoData sql;
	StringInfoData good;
	const char *seq = quote_identifier(p->sequence_by);
	const char *op = quote_identifier(p->op_column);
	List	   *source_columns = list_copy(p->columns);
	List	   *set = p->set_columns != NIL ? p->set_columns : list_make1(linitial(p->keys));
	ListCell   *lc;
	ListCell   *eq;

	if (!list_has_string(source_columns, p->sequence_by))
		source_columns = lappend(source_columns, (char *) p->sequence_by);
	source_columns = lappend(source_columns, (char *) p->op_column);

	/*
	 * What apply_changes_row() answers for a change, in SQL, for the WHEN
	 * clauses: keys not null, and 'U' or 'I' with a sequence, or the delete
	 * op (never 'I' or 'U'); operations compared bytewise, as the function
	 * does, the commonest first.  Null when the operation is.
	 */
	initStringInfo(&good);
	foreach(lc, p->keys)
		appendStringInfo(&good, "s.%s IS NOT NULL AND ", quote_identifier((char *) lfirst(lc)));
	appendStringInfo(&good, "(s.%s IS NOT NULL"
					 " AND (s.%s::pg_catalog.text COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.=) 'U'"
					 " OR s.%s::pg_catalog.text COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.=) 'I')"
					 " OR s.%s::pg_catalog.text COLLATE pg_catalog.\"C\" OPERATOR(pg_catalog.=) $1)",
					 seq, op, op, op);

	initStringInfo(&sql);
	appendStringInfo(&sql, "MERGE INTO %s t USING (SELECT DISTINCT ON (", p->target_sql);
	append_key_list(&sql, p->keys, NULL, ", ");
	appendStringInfoString(&sql, ") * FROM (SELECT ");
	append_key_list(&sql, source_columns, "c", ", ");
	appendStringInfo(&sql, " FROM %s c ORDER BY ", p->changes_sql);
	append_key_list(&sql, p->keys, "c", ", ");
	/* OFFSET 0 keeps the subquery, and its order, under the filter */
	appendStringInfo(&sql, ", c.%s DESC NULLS FIRST OFFSET 0) w", seq);
	appendStringInfo(&sql, " WHERE pipeline.apply_changes_row(w.%s::pg_catalog.text, $1, w.%s, ",
					 op, seq);
	append_key_list(&sql, p->keys, "w", ", ");
	appendStringInfoString(&sql, ") IS NOT NULL ORDER BY ");
	append_key_list(&sql, p->keys, NULL, ", ");
	appendStringInfo(&sql, ", %s DESC NULLS FIRST) s ON ", seq);
	forboth(lc, p->keys, eq, p->key_eq)
	{
		const char *k = quote_identifier((char *) lfirst(lc));

		if (lc != list_head(p->keys))
			appendStringInfoString(&sql, " AND ");
		appendStringInfo(&sql, "t.%s %s s.%s", k, (char *) lfirst(eq), k);
	}
	appendStringInfo(&sql, " WHEN MATCHED AND (%s) IS NOT TRUE THEN DO NOTHING", good.data);
	if (p->seq_gt)
		appendStringInfo(&sql, " WHEN MATCHED AND t.%s %s s.%s THEN DO NOTHING",
						 seq, p->seq_gt, seq);
	appendStringInfo(&sql, " WHEN MATCHED AND s.%s::pg_catalog.text OPERATOR(pg_catalog.=) $1",
					 op);
	if (p->seq_cast && OidIsValid(memory->relid))
	{
		appendStringInfo(&sql, " AND (s.%s IS NOT NULL OR pipeline.apply_changes_deleting(t.%s%s, ",
						 seq, seq, p->seq_cast);
		append_key_list(&sql, p->keys, "s", ", ");
		appendStringInfoString(&sql, "))");
	}
	appendStringInfoString(&sql, " THEN DELETE WHEN MATCHED THEN UPDATE SET ");
	/* with only key columns, a no-op assignment still counts the update */
	foreach(lc, set)
	{
		const char *c = quote_identifier((char *) lfirst(lc));

		if (lc != list_head(set))
			appendStringInfoString(&sql, ", ");
		appendStringInfo(&sql, "%s = s.%s", c, c);
	}
	appendStringInfo(&sql, " WHEN NOT MATCHED AND %s"
					 " AND s.%s::pg_catalog.text OPERATOR(pg_catalog.<>) $1", good.data, op);
	if (probe)
	{
		appendStringInfo(&sql, " AND pipeline.apply_changes_insertable(s.%s, ", seq);
		append_key_list(&sql, p->keys, "s", ", ");
		appendStringInfoString(&sql, ")");
	}
	appendStringInfoString(&sql, " THEN INSERT (");
	append_key_list(&sql, p->columns, NULL, ", ");
	appendStringInfoString(&sql, ") VALUES (");
	append_key_list(&sql, p->columns, "s", ", ");
	appendStringInfoString(&sql, ")");
	return sql.data;
}

/*
 * Runs the merge, counting what it did and what apply_changes_row() saw,
 * and collecting the deleted keys.  Needs SPI connected and memory set up.
 */
static ChangeCounts
run_merge(ApplyPlan *p, const char *delete_op)
{
	char	   *sql = build_merge(p, memory->remembered);
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(delete_op)};
	int			ret;

	if (!hook_installed)
	{
		prev_ExecutorEnd = ExecutorEnd_hook;
		ExecutorEnd_hook = changes_ExecutorEnd;
		hook_installed = true;
	}
	captured_any = false;
	memset(&checked, 0, sizeof(checked));
	capture_relid = memory->target;
	PG_TRY();
	{
		/* the target's own triggers are the caller's code, with its names */
		ret = SPI_execute_plan(runas_spi_prepare(InvalidOid, sql, 1, argtypes),
							   args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		capture_relid = InvalidOid;
	}
	PG_END_TRY();
	/* the merge's snapshot, which the probes used, is gone */
	memory_end_scan();
	if (ret != SPI_OK_MERGE)
		elog(ERROR, "apply_changes merge failed: %s", SPI_result_code_string(ret));

	/* errors found on the way undo the merge with the transaction */
	if (checked.null_keys > 0 || checked.null_sequences > 0 || checked.unknown_ops > 0)
		report_bad_changes(p->changes_sql, p->changes_name, p->keys, p->sequence_by,
						   p->op_column, delete_op);
	if (checked.ties > 0)
		check_repeated_changes(p->changes_sql, p->changes_name, p->keys, p->sequence_by);
	if (!captured_any)
		elog(ERROR, "apply_changes could not count the merged rows");
	return captured;
}

/* Empties the change table of what was applied.  Needs SPI connected. */
static void
empty_changes(ApplyPlan *p)
{
	StringInfoData sql;

	initStringInfo(&sql);

	/*
	 * TRUNCATE is safe under READ COMMITTED thanks to the lock; with a
	 * transaction snapshot, rows committed before the lock may be invisible
	 * to us, so only delete what we saw.
	 */
	if (IsolationUsesXactSnapshot())
		appendStringInfo(&sql, "DELETE FROM %s", p->changes_sql);
	else
		appendStringInfo(&sql, "TRUNCATE %s", p->changes_sql);
	runas_spi(InvalidOid, sql.data, 0, NULL, NULL, NULL, false, 0, -1);
}

ChangeCounts
changes_apply(Oid changes_relid, Oid target_relid, List *keys,
			  const char *sequence_by, const char *op_column,
			  const char *delete_op, bool truncate_changes)
{
	ApplyPlan	plan = {0};
	Relation	changes;
	Relation	target;
	ChangeCounts result;

	plan.changes_name = display_name(changes_relid);
	plan.target_name = display_name(target_relid);
	plan.keys = keys;
	plan.sequence_by = sequence_by;
	plan.op_column = op_column;
	if (memory != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("apply_changes() cannot run inside another apply_changes()"),
				 errdetail("It was called while applying changes into \"%s\".",
						   display_name(memory->target))));
	if (strcmp(delete_op, "I") == 0 || strcmp(delete_op, "U") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delete_op must not be \"%s\"", delete_op),
				 errdetail("'I' and 'U' are the insert and update operations."),
				 errhint("Use the operation your change feed uses for deletes, such as 'D'.")));
	if (keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("keys must name at least one column")));
	if (changes_relid == target_relid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("change table and target are the same relation \"%s\"", plan.target_name)));

	changes = table_open(changes_relid, AccessShareLock);
	target = table_open(target_relid, AccessShareLock);
	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("target \"%s\" is not a table", plan.target_name)));
	if (truncate_changes &&
		changes->rd_rel->relkind != RELKIND_RELATION &&
		changes->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("change table \"%s\" is not a table", plan.changes_name),
				 errhint("Pass truncate_changes => false to read changes from a view.")));
	plan.changes_sql = qualified_name(changes);
	plan.target_sql = qualified_name(target);
	plan_columns(&plan, changes, target);

	SPI_connect();

	/*
	 * Keep writers of the change table out until commit, so that what we
	 * truncate is exactly what we applied.  In READ COMMITTED every
	 * statement below takes a fresh snapshot after this lock.
	 */
	if (truncate_changes)
	{
		char	   *lock = psprintf("LOCK TABLE %s IN EXCLUSIVE MODE", plan.changes_sql);

		runas_spi(InvalidOid, lock, 0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
	}

	/*
	 * One apply into a target at a time: two MERGEs inserting the same new
	 * key would otherwise fail with a unique violation, since MERGE does not
	 * turn a concurrent insert into an update.  The lock is self-conflicting
	 * but lets readers and other writers of the target through; the MERGE
	 * below takes its snapshot after the wait, so it sees what the previous
	 * apply committed.  It also makes this apply the only writer of the
	 * target's deleted keys (pruning aside).
	 */
	LockRelationOid(target_relid, ShareUpdateExclusiveLock);

	memory_begin(target_relid, RelationGetDescr(changes), plan.seq_attno, plan.key_attnos);
	table_close(target, NoLock);
	table_close(changes, NoLock);
	PG_TRY();
	{
		memory_prune();
		result = run_merge(&plan, delete_op);
		memory_record();
		memory_end();
	}
	PG_FINALLY();
	{
		/* after an error, the (sub)transaction's abort releases the rest */
		memory = NULL;
	}
	PG_END_TRY();

	if (truncate_changes)
		empty_changes(&plan);
	SPI_finish();
	return result;
}

/*
 * apply_changes_row()'s memory between calls of one scan: how to compare
 * the sequence and key values, and those of the previous good change.
 */
typedef struct RowCheckState
{
	int			nvalues;		/* the sequence, then the keys */
	FmgrInfo   *equal;			/* each one's default equality */
	Oid		   *collation;
	int16	   *typlen;
	bool	   *typbyval;
	bool		any_byref;
	bool		have_previous;
	bool		previous_seq_null;
	Datum	   *previous;
	MemoryContext previous_cxt[2];	/* by-reference copies, alternating */
	int			current_cxt;
} RowCheckState;

static RowCheckState *
row_check_state(FunctionCallInfo fcinfo)
{
	FmgrInfo   *flinfo = fcinfo->flinfo;
	RowCheckState *state = flinfo->fn_extra;
	List	   *argexprs;

	if (state != NULL)
		return state;
	if (flinfo->fn_expr == NULL || !IsA(flinfo->fn_expr, FuncExpr))
		elog(ERROR, "apply_changes_row() needs its call expression");
	argexprs = ((FuncExpr *) flinfo->fn_expr)->args;
	state = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(RowCheckState));
	state->nvalues = fcinfo->nargs - 2;
	state->equal = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(FmgrInfo) * state->nvalues);
	state->collation = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(Oid) * state->nvalues);
	state->typlen = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(int16) * state->nvalues);
	state->typbyval = MemoryContextAlloc(flinfo->fn_mcxt, sizeof(bool) * state->nvalues);
	state->previous = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(Datum) * state->nvalues);
	for (int i = 0; i < state->nvalues; i++)
	{
		Oid			type = get_fn_expr_argtype(flinfo, i + 2);
		TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_EQ_OPR_FINFO);

		if (!OidIsValid(entry->eq_opr_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("could not identify an equality operator for type %s",
							format_type_be(type)),
					 errhint("Sequence and key columns need a type with a default btree operator class.")));
		fmgr_info_cxt(entry->eq_opr_finfo.fn_oid, &state->equal[i], flinfo->fn_mcxt);
		state->collation[i] = exprCollation(list_nth(argexprs, i + 2));
		get_typlenbyval(type, &state->typlen[i], &state->typbyval[i]);
		state->any_byref |= !state->typbyval[i];
	}
	if (state->any_byref)
		for (int i = 0; i < 2; i++)
			state->previous_cxt[i] = AllocSetContextCreate(flinfo->fn_mcxt,
														   "apply_changes_row",
														   ALLOCSET_SMALL_SIZES);
	flinfo->fn_extra = state;
	return state;
}

/* Which operation op is: 'I' or 'U' (1), the delete op (2), or none (0) */
static int
operation_kind(text *op, text *delete_op)
{
	size_t		len = VARSIZE_ANY_EXHDR(op);
	const char *p = VARDATA_ANY(op);

	if (len == VARSIZE_ANY_EXHDR(delete_op) && memcmp(p, VARDATA_ANY(delete_op), len) == 0)
		return 2;
	return len == 1 && (p[0] == 'I' || p[0] == 'U') ? 1 : 0;
}

/*
 * Tells the deleted-key memory about a good change in the merge's stream:
 * the first change of a key is its winner, and a winning delete is a fact;
 * a null-sequence delete takes its key's newest sequence in the batch, the
 * first non-null one after it.
 */
static void
note_change(FunctionCallInfo fcinfo, bool same_key, bool is_delete)
{
	if (!same_key)
	{
		memory->pending = -1;
		if (is_delete)
		{
			int			fact = memory_add_fact(fcinfo, 2, !PG_ARGISNULL(2));

			if (PG_ARGISNULL(2))
				memory->pending = fact;
		}
	}
	else if (memory->pending >= 0 && !PG_ARGISNULL(2))
	{
		int			n = memory->pending;
		MemoryContext oldcxt = MemoryContextSwitchTo(memory->cxt);

		memory->facts[(Size) n * memory->nvalues] =
			datumCopy(PG_GETARG_DATUM(2), memory->typbyval[0], memory->typlen[0]);
		MemoryContextSwitchTo(oldcxt);
		memory->fact_known[n] = true;
		memory->pending = -1;
	}
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_row);

/*
 * apply_changes_row(op text, delete_op text, seq "any", VARIADIC keys "any")
 *	 RETURNS boolean
 *
 * apply_changes()'s MERGE calls this on every change, in key and descending
 * sequence order (nulls first).  It returns whether the change may be
 * applied: a change with a null key, an insert or update with a null
 * sequence, or an unknown operation is counted and refused.  A change with
 * the same key and (non-null) sequence as the good change before it is
 * counted as a repeat, whose contents apply_changes() compares afterwards.
 * Counts and deleted keys are kept only while apply_changes() runs, so the
 * function is harmless to anyone else who calls it (it is executable by
 * PUBLIC because the MERGE runs as apply_changes()' caller).
 */
Datum
pipeline_apply_changes_row(PG_FUNCTION_ARGS)
{
	RowCheckState *state = row_check_state(fcinfo);
	bool		counting = OidIsValid(capture_relid) && memory != NULL;
	int			kind;
	bool		seq_null = PG_ARGISNULL(2);
	bool		same_key;
	MemoryContext oldcxt;

	kind = PG_ARGISNULL(0) || PG_ARGISNULL(1) ? 0 :
		operation_kind(PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1));
	if (kind == 0)
	{
		if (counting)
			checked.unknown_ops++;
		PG_RETURN_BOOL(false);
	}
	for (int i = 1; i < state->nvalues; i++)
		if (PG_ARGISNULL(i + 2))
		{
			if (counting)
				checked.null_keys++;
			PG_RETURN_BOOL(false);
		}
	if (seq_null && kind != 2)
	{
		if (counting)
			checked.null_sequences++;
		PG_RETURN_BOOL(false);
	}

	same_key = state->have_previous;
	for (int i = 1; same_key && i < state->nvalues; i++)
		same_key = DatumGetBool(FunctionCall2Coll(&state->equal[i], state->collation[i],
												  state->previous[i], PG_GETARG_DATUM(i + 2)));
	if (counting && same_key && !seq_null && !state->previous_seq_null &&
		DatumGetBool(FunctionCall2Coll(&state->equal[0], state->collation[0],
									   state->previous[0], PG_GETARG_DATUM(2))))
		checked.ties++;
	if (counting)
		note_change(fcinfo, same_key, kind == 2);

	/* remember this change's values for the next call */
	if (state->any_byref)
	{
		state->current_cxt = 1 - state->current_cxt;
		MemoryContextReset(state->previous_cxt[state->current_cxt]);
		oldcxt = MemoryContextSwitchTo(state->previous_cxt[state->current_cxt]);
	}
	else
		oldcxt = CurrentMemoryContext;
	for (int i = seq_null ? 1 : 0; i < state->nvalues; i++)
		state->previous[i] = datumCopy(PG_GETARG_DATUM(i + 2), state->typbyval[i],
									   state->typlen[i]);
	MemoryContextSwitchTo(oldcxt);
	state->previous_seq_null = seq_null;
	state->have_previous = true;
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_deleting);

/*
 * apply_changes_deleting(seq "any", VARIADIC keys "any") RETURNS boolean
 *
 * apply_changes()'s MERGE calls this when a null-sequence delete removes a
 * row, with the row's sequence: the key is remembered as deleted at least
 * that late.  Returns true.  Does nothing outside apply_changes().
 */
Datum
pipeline_apply_changes_deleting(PG_FUNCTION_ARGS)
{
	if (OidIsValid(capture_relid) && memory != NULL && !PG_ARGISNULL(0) &&
		PG_NARGS() == memory->nvalues)
	{
		for (int i = 1; i < PG_NARGS(); i++)
			if (PG_ARGISNULL(i))
				PG_RETURN_BOOL(true);
		memory_add_fact(fcinfo, 0, true);
	}
	PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_insertable);

/*
 * apply_changes_insertable(seq "any", VARIADIC keys "any") RETURNS boolean
 *
 * apply_changes()'s MERGE calls this before a change inserts a key that is
 * not in the target: false when the key's remembered delete is as new as
 * the change or newer (so an old change never brings a deleted row back).
 * Returns true outside apply_changes().
 */
Datum
pipeline_apply_changes_insertable(PG_FUNCTION_ARGS)
{
	Datum	   *keys;

	if (!OidIsValid(capture_relid) || memory == NULL || !memory->remembered ||
		PG_NARGS() != memory->nvalues || PG_ARGISNULL(0))
		PG_RETURN_BOOL(true);
	keys = palloc(sizeof(Datum) * (PG_NARGS() - 1));
	for (int i = 1; i < PG_NARGS(); i++)
	{
		if (PG_ARGISNULL(i))
			PG_RETURN_BOOL(true);
		keys[i - 1] = PG_GETARG_DATUM(i);
	}
	if (memory->scan == NULL)
		memory_begin_scan(GetActiveSnapshot());
	PG_RETURN_BOOL(memory_allows_insert(PG_GETARG_DATUM(0), keys));
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes_tie);

/*
 * Version 1.0's internal tie counter, gone since 1.1.  The symbol stays so
 * that CREATE EXTENSION pipeline VERSION '1.0' (and so the upgrade path)
 * still loads; it does nothing.
 */
Datum
pipeline_apply_changes_tie(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(false);
}

PG_FUNCTION_INFO_V1(pipeline_apply_changes);

/*
 * apply_changes(changes regclass, target regclass, keys text[],
 *				 sequence_by text, op_column text, delete_op text,
 *				 truncate_changes boolean)
 *	 RETURNS TABLE(inserted bigint, updated bigint, deleted bigint)
 */
Datum
pipeline_apply_changes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	static const char *const argnames[] = {"changes", "target", "keys", "sequence_by",
	"op_column", "delete_op", "truncate_changes"};
	ArrayType  *keyarray;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	List	   *keys = NIL;
	ChangeCounts counts;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	for (int i = 0; i < 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", argnames[i])));

	keyarray = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(keyarray, TEXTOID, -1, false, TYPALIGN_INT, &elems, &elemnulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		if (elemnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("keys must not contain null")));
		keys = lappend(keys, TextDatumGetCString(elems[i]));
	}

	InitMaterializedSRF(fcinfo, 0);
	counts = changes_apply(PG_GETARG_OID(0), PG_GETARG_OID(1), keys,
						   text_to_cstring(PG_GETARG_TEXT_PP(3)),
						   text_to_cstring(PG_GETARG_TEXT_PP(4)),
						   text_to_cstring(PG_GETARG_TEXT_PP(5)),
						   PG_GETARG_BOOL(6));
	values[0] = Int64GetDatum(counts.inserted);
	values[1] = Int64GetDatum(counts.updated);
	values[2] = Int64GetDatum(counts.deleted);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
