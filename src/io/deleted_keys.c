/*-------------------------------------------------------------------------
 * deleted_keys.c
 *	  apply_changes()'s deleted-key memory: collecting the keys the MERGE
 *	  deletes, probing pipeline.deleted_keys before an insert of an absent
 *	  key, and writing the new keys after the MERGE.
 *
 * The memory rides on the MERGE's sorted stream: the row check sees each
 * key's winning change first, so it hands the winning deletes here (a
 * "fact": key and sequence) at no extra scan.  After the MERGE they are
 * written straight into the heap (one multi-insert per thousand rows) and
 * its indexes, not through an INSERT statement.  The check is a function
 * in the MERGE's WHEN NOT MATCHED clause, so only changes that would insert
 * probe the memory (an index lookup), and only when the target has
 * remembered keys at all.  Keys are stored as text (the key's output, a row
 * literal for several columns) under fixed output settings, sequences as
 * text too, compared after parsing with the sequence type's ordering.
 * Expired keys (pipeline.deleted_keys_retention) are pruned by an apply
 * into the target before it starts, when the last pruning
 * (pipeline.deleted_keys_targets) is an eighth of the retention old: with
 * no index on deleted_at to keep up for every key, pruning reads all the
 * target's keys.  A dropped target's keys go by an event trigger.
 *
 * Visibility: the probes read the memory under the MERGE's snapshot, and
 * the write decides what to replace under a fresh one taken after the
 * MERGE.  In READ COMMITTED both are taken after the apply's lock on the
 * target was granted, so both see what an earlier apply into the target
 * committed; under a transaction snapshot taken before that, such an apply
 * surfaces as an error (a serialization failure, or a unique violation on
 * the memory's primary key), never as a lost key.  The lock also makes the
 * running apply the only writer of its target's keys.
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
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "io/deleted_keys.h"
#include "model/catalog.h"
#include "util/analyze.h"
#include "util/runas.h"
#include "util/settings.h"
#include "util/relation_name.h"
#include "util/spi_rows.h"

/* Columns of pipeline.deleted_keys */
#define DK_TARGET		1
#define DK_KEY			2
#define DK_SEQUENCE		3
#define DK_DELETED_AT	4
#define DK_SEQUENCE_TYPE 5		/* 1.25 */
#define DK_NATTS		5

/* The unique index of (target, key, sequence_type), 1.25 */
#define DK_TYPED_INDEX	"deleted_keys_target_key_sequence_type_key"

/*
 * A remembered key read whole, with its sequence parsed and its row (none
 * for a key remembered before 1.25: replaceable_row())
 */
typedef struct LoadedKey
{
	char	   *key;
	Datum		sequence;
	ItemPointerData tid;
} LoadedKey;

/*
 * The memory as the running apply sees it; NULL outside apply_changes().
 * Values are the change table's: index 0 is the sequence, 1.. the keys.
 */
typedef struct DeleteMemory
{
	Oid			target;
	MemoryContext cxt;			/* this struct, the facts, the key texts */
	int			nvalues;		/* 1 + number of keys */
	uint64		generation;		/* which apply: memory_check_call()'s mark */
	Oid		   *base_type;		/* domain-free types, as calls must pass them */
	int16	   *typlen;
	bool	   *typbyval;
	FmgrInfo   *output;			/* output functions */
	PGFunction *canonical;		/* per key: to one spelling of equal values,
								 * or NULL (canonical_form_of()) */
	bool		any_canonical;
	Oid			seq_ioparam;	/* parsing a remembered sequence ... */
	FmgrInfo	seq_input;
	FmgrInfo	seq_cmp;		/* ... and comparing it */
	Oid			seq_collation;
	bool		pin_settings;	/* an output depends on DateStyle and co. */

	/*
	 * Facts: a key a winning delete removed, and a sequence it is at least as
	 * new as (unknown for a null-sequence delete of a key with no other
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
	Oid			targets_relid;	/* pipeline.deleted_keys_targets, or
								 * InvalidOid before 1.8 */
	bool		targets_typed;	/* ... with the types remembered (1.28) */
	Oid			seq_type;		/* the sequence's domain-free type */
	int			natts;			/* pipeline.deleted_keys' columns: DK_NATTS,
								 * one fewer before 1.25 (no types) */
	bool		remembered;		/* the target had keys remembered */
	double		changes;		/* changes expected (an estimate, 0: unknown) */
	int64		nremembered;	/* how many (pipeline.deleted_keys_targets) */

	/*
	 * The target's remembered keys read whole, sorted by key, when they are
	 * fewer than the changes: lookups then search them instead of probing the
	 * index once per insert and per delete.  NULL when not read.
	 */
	LoadedKey  *loaded;
	Size		nloaded;

	Relation	heap;			/* pipeline.deleted_keys, for probes */
	Relation	index;			/* its index of (target, key[, sequence_type]) */
	IndexScanDesc scan;
	TupleTableSlot *slot;
	text	   *probe_key;		/* the scan's key, until the next probe */
} DeleteMemory;

static DeleteMemory *memory = NULL;

/* applies begun in this process, so a call site's check names its apply */
static uint64 memory_generation = 0;

/*
 * The running MERGE's query memory, where its executor set up the calls of
 * its own expressions (deleted_keys_merge_call()); NULL when none runs:
 * only then do its helper functions act.
 */
static MemoryContext merge_query_context = NULL;

static void memory_load(void);

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
 * The settings type output depends on, fixed while keys and sequences are
 * written as text, so a key reads the same whoever wrote it (and a pg_dump
 * restores what it dumped).
 */
static const RunAsSetting output_settings[] = {
	{"datestyle", "ISO, MDY"},
	{"intervalstyle", "postgres"},
	{"timezone", "UTC"},
	{"extra_float_digits", "1"},
	{"bytea_output", "hex"},
};

static int
pin_output_settings(void)
{
	return runas_pin_settings(output_settings, lengthof(output_settings));
}

int
deleted_keys_pin_output_settings(void)
{
	return pin_output_settings();
}

/* float8's 0 for -0, which = takes for it */
static Datum
float8_without_minus_zero(PG_FUNCTION_ARGS)
{
	float8		value = PG_GETARG_FLOAT8(0);

	PG_RETURN_FLOAT8(value == 0 ? 0 : value);
}

static Datum
float4_without_minus_zero(PG_FUNCTION_ARGS)
{
	float4		value = PG_GETARG_FLOAT4(0);

	PG_RETURN_FLOAT4(value == 0 ? 0 : value);
}

/*
 * For a key type whose = takes values that print differently for one key
 * (numeric 1.0 and 1, float -0 and 0, interval 1 day and 24 hours), the
 * function that gives each such value one spelling, so the memory's text
 * is the same for all; NULL for other types.  Keys of other types whose =
 * is not the identity of their text (a nondeterministic collation, citext)
 * are remembered as they are spelled (README).
 */
static PGFunction
canonical_form_of(Oid type)
{
	switch (getBaseType(type))
	{
		case NUMERICOID:
			return numeric_trim_scale;
		case FLOAT8OID:
			return float8_without_minus_zero;
		case FLOAT4OID:
			return float4_without_minus_zero;
		case INTERVALOID:
			return interval_justify_interval;
		default:
			return NULL;
	}
}

/*
 * type_holds_matching() walking a key's or sequence's type, locking each
 * enum and row type in it (as objects, as compile/remembered_keys.c locks
 * the types a statement changes how their values are written), so that
 * such a statement waits for the apply and the apply for it: no key is
 * remembered in a text the statement has rewritten.  Walks everything.
 */
static bool
lock_written_type(Oid type, void *arg)
{
	char		typtype = get_typtype(type);

	if (typtype == TYPTYPE_ENUM || typtype == TYPTYPE_COMPOSITE)
		LockDatabaseObject(TypeRelationId, type, 0, AccessShareLock);
	return false;
}

void
deleted_keys_begin(Oid target, TupleDesc cdesc, AttrNumber seq_attno, List *key_attnos,
				   double changes)
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

	/*
	 * the memory names the sequence's type (regtype), which a restore must
	 * have made before it loads the memory: pg_dump leaves such a row type
	 * out
	 */
	if (catalog_type_holds_runtime_row(seq_base))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the sequence column's type %s holds the row type of a table pipeline makes as it runs",
						format_type_be(seq_att->atttypid)),
				 errdetail("pg_dump leaves such tables out, and the deleted-key memory names the sequence's type.")));
	m->target = target;
	m->cxt = cxt;
	m->changes = changes;
	/* a library newer than the installed SQL applies as 1.1 did */
	m->relid = get_relname_relid("deleted_keys", get_namespace_oid(PIPELINE_SCHEMA, false));
	m->targets_relid = get_relname_relid("deleted_keys_targets",
										 get_namespace_oid(PIPELINE_SCHEMA, false));
	m->targets_typed = OidIsValid(m->targets_relid) &&
		catalog_has_column("deleted_keys_targets", "key_types");
	m->nvalues = 1 + list_length(key_attnos);
	m->generation = ++memory_generation;
	m->base_type = MemoryContextAlloc(cxt, sizeof(Oid) * m->nvalues);
	m->typlen = MemoryContextAlloc(cxt, sizeof(int16) * m->nvalues);
	m->typbyval = MemoryContextAlloc(cxt, sizeof(bool) * m->nvalues);
	m->output = MemoryContextAllocZero(cxt, sizeof(FmgrInfo) * m->nvalues);
	m->canonical = MemoryContextAllocZero(cxt, sizeof(PGFunction) * m->nvalues);
	m->pending = -1;
	for (int i = 0; i < m->nvalues; i++)
	{
		AttrNumber	attno = i == 0 ? seq_attno : (AttrNumber) list_nth_int(key_attnos, i - 1);
		Oid			type = TupleDescAttr(cdesc, attno - 1)->atttypid;

		m->base_type[i] = getBaseType(type);
		if (m->targets_typed)
			(void) type_holds_matching(m->base_type[i], lock_written_type, NULL);
		get_typlenbyval(type, &m->typlen[i], &m->typbyval[i]);
		getTypeOutputInfo(type, &func, &isvarlena);
		fmgr_info_cxt(func, &m->output[i], cxt);
		if (!output_is_stable(type))
			m->pin_settings = true;
		if (i > 0 && (m->canonical[i] = canonical_form_of(type)) != NULL)
			m->any_canonical = true;
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
	m->seq_type = seq_base;
	m->natts = OidIsValid(m->relid) && catalog_has_column("deleted_keys", "sequence_type") ?
		DK_NATTS : DK_NATTS - 1;
	memory = m;
}

Oid
deleted_keys_target(void)
{
	return memory != NULL ? memory->target : InvalidOid;
}

bool
deleted_keys_installed(void)
{
	return OidIsValid(memory->relid);
}

/* Forgets the target's keys ($1) deleted longer ago than $2 */
static void
delete_expired_keys(Datum *values, Oid *argtypes)
{
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.deleted_keys"
					" WHERE target OPERATOR(pg_catalog.=) $1"
					"   AND deleted_at OPERATOR(pg_catalog.<)"
					"       (pg_catalog.now() OPERATOR(pg_catalog.-) $2)",
					2, argtypes, values, NULL, false, SPI_OK_DELETE);
}

/*
 * The xmin of the target's row in pipeline.deleted_keys_targets as
 * snapshot sees it, or InvalidTransactionId.
 */
static TransactionId
targets_row_xmin(Snapshot snapshot)
{
	Relation	targets = table_open(memory->targets_relid, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	TransactionId xmin = InvalidTransactionId;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(memory->target));
	scan = systable_beginscan(targets, RelationGetPrimaryKeyIndex(targets), true, snapshot, 1, &key);
	if (HeapTupleIsValid(tuple = systable_getnext(scan)))
		xmin = HeapTupleHeaderGetXmin(tuple->t_data);
	systable_endscan(scan);
	table_close(targets, AccessShareLock);
	return xmin;
}

/*
 * Under a transaction snapshot, the memory this apply reads must be all
 * that applies before its lock committed: one that remembered keys after
 * the snapshot was taken (its count in the target's row changed) would go
 * unseen, and a change older than its delete would bring the row back.
 * The same serialization failure PostgreSQL raises for a row updated since.
 */
static void
refuse_unseen_memory(void)
{
	TransactionId latest;

	if (!IsolationUsesXactSnapshot() || !OidIsValid(memory->targets_relid))
		return;
	latest = targets_row_xmin(GetLatestSnapshot());
	if (TransactionIdIsValid(latest) && latest != targets_row_xmin(GetTransactionSnapshot()))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to a concurrent apply_changes() into %s",
						relation_qualified_name(memory->target)),
				 errdetail("Deleted keys of it were remembered, or rewritten by a statement that changed how they are written, after this transaction's snapshot was taken."),
				 errhint("Retry the transaction, or apply under READ COMMITTED.")));
}

/*
 * The 1.2-1.7 memory (no pipeline.deleted_keys_targets): every apply prunes
 * through the expiry index, then looks for a remembered key.
 */
static bool
prune_every_apply(Datum *values, Oid *argtypes)
{
	delete_expired_keys(values, argtypes);
	return spi_rows(catalog_owner(),
					"SELECT FROM pipeline.deleted_keys"
					" WHERE target OPERATOR(pg_catalog.=) $1 LIMIT 1",
					1, argtypes, values, NULL, false, SPI_OK_SELECT)->count > 0;
}

bool
deleted_keys_prune(void)
{
	Oid			argtypes[3] = {REGCLASSOID, INTERVALOID, INTERVALOID};
	Datum		values[3];
	Interval   *retention = palloc0(sizeof(Interval));
	Interval   *prune_every = palloc0(sizeof(Interval));
	SpiRows    *target;
	bool		due;

	if (!OidIsValid(memory->relid))
		return false;
	retention->time = (int64) pipeline_deleted_keys_retention_min * USECS_PER_MINUTE;
	prune_every->time = retention->time / 8;
	values[0] = ObjectIdGetDatum(memory->target);
	values[1] = IntervalPGetDatum(retention);
	values[2] = IntervalPGetDatum(prune_every);

	/*
	 * Statements that are not read-only: a snapshot taken now, after the
	 * apply's lock, sees what an apply that held the lock before us
	 * committed.
	 */
	if (!OidIsValid(memory->targets_relid))
		return memory->remembered = prune_every_apply(values, argtypes);
	refuse_unseen_memory();
	target = spi_rows(catalog_owner(),
					  "SELECT pruned_at OPERATOR(pg_catalog.<)"
					  "       (pg_catalog.now() OPERATOR(pg_catalog.-) $3), keys"
					  "  FROM pipeline.deleted_keys_targets"
					  " WHERE target OPERATOR(pg_catalog.=) $1",
					  3, argtypes, values, NULL, false, SPI_OK_SELECT);
	if (target->count > 0)
	{
		memory->nremembered = DatumGetInt64(target->values[1]);
		due = DatumGetBool(target->values[0]);
	}
	else
	{
		/*
		 * Keys without their target's row: restored from a dump of 1.2-1.7
		 * (pg_dump's CREATE EXTENSION makes this version, so 1.8's update
		 * that counted them never ran).  Counted below, as pruning does.
		 */
		if (spi_rows(catalog_owner(),
					 "SELECT FROM pipeline.deleted_keys"
					 " WHERE target OPERATOR(pg_catalog.=) $1 LIMIT 1",
					 1, argtypes, values, NULL, false, SPI_OK_SELECT)->count == 0)
			return memory->remembered = false;
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.deleted_keys_targets (target, pruned_at, keys)"
						" VALUES ($1, '-infinity', 0)",
						1, argtypes, values, NULL, false, SPI_OK_INSERT);
		due = true;
	}
	memory->remembered = true;
	if (due)
	{
		/* due: the target's keys are read through the primary key */
		delete_expired_keys(values, argtypes);
		memory->nremembered =
			DatumGetInt64(spi_rows(catalog_owner(),
								   "SELECT pg_catalog.count(*) FROM pipeline.deleted_keys"
								   " WHERE target OPERATOR(pg_catalog.=) $1",
								   1, argtypes, values, NULL, false, SPI_OK_SELECT)->values[0]);
		memory->remembered = memory->nremembered > 0;
		values[1] = Int64GetDatum(memory->nremembered);
		argtypes[1] = INT8OID;
		if (memory->remembered)
			(void) spi_rows(catalog_owner(),
							"UPDATE pipeline.deleted_keys_targets"
							"   SET pruned_at = pg_catalog.now(), keys = $2"
							" WHERE target OPERATOR(pg_catalog.=) $1",
							2, argtypes, values, NULL, false, SPI_OK_UPDATE);
		else
			(void) spi_rows(catalog_owner(),
							"DELETE FROM pipeline.deleted_keys_targets"
							" WHERE target OPERATOR(pg_catalog.=) $1",
							1, argtypes, values, NULL, false, SPI_OK_DELETE);
	}
	if (memory->remembered && memory->nremembered <= memory->changes)
		memory_load();
	return memory->remembered;
}

/*
 * Opens pipeline.deleted_keys and its primary key for probes, and starts an
 * index scan with nkeys keys (the target; and the key) under the given
 * snapshot, which must stay valid until memory_end_scan().
 */
static void
memory_begin_scan(Snapshot snapshot, int nkeys)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(memory->cxt);
	Oid			index;

	if (memory->heap == NULL)
	{
		memory->heap = table_open(memory->relid, AccessShareLock);
		index = memory->natts == DK_NATTS ?
			get_relname_relid(DK_TYPED_INDEX, RelationGetNamespace(memory->heap)) :
			RelationGetPrimaryKeyIndex(memory->heap);
		if (!OidIsValid(index))
			elog(ERROR, "pipeline.deleted_keys has no index of its keys");
		memory->index = index_open(index, AccessShareLock);
		memory->slot = table_slot_create(memory->heap, NULL);
	}
	memory->scan = index_beginscan(memory->heap, memory->index, snapshot, nkeys, 0);
	MemoryContextSwitchTo(oldcxt);
}

static void
memory_end_scan(void)
{
	if (memory->scan != NULL)
		index_endscan(memory->scan);
	memory->scan = NULL;
}

void
deleted_keys_merge_started(MemoryContext query_context)
{
	merge_query_context = query_context;
}

bool
deleted_keys_merge_call(FunctionCallInfo fcinfo)
{
	return merge_query_context != NULL && fcinfo->flinfo->fn_mcxt == merge_query_context;
}

void
deleted_keys_merge_end(void)
{
	merge_query_context = NULL;
	memory_end_scan();
}

void
deleted_keys_end(void)
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

void
deleted_keys_forget(void)
{
	memory = NULL;
	merge_query_context = NULL;
}

/* Key column i's value as text, in its one spelling when canonical. */
static char *
key_value_text(const Datum *keys, int i, bool canonical)
{
	Datum		value = keys[i];

	if (canonical && memory->canonical[i + 1] != NULL)
		value = DirectFunctionCall1(memory->canonical[i + 1], value);
	return OutputFunctionCall(&memory->output[i + 1], value);
}

/* One field of a row literal, quoted as record_out() quotes it */
static void
append_key_field(StringInfo buf, const char *value)
{
	bool		quote = value[0] == '\0';

	for (const char *p = value; *p && !quote; p++)
		quote = *p == '"' || *p == '\\' || *p == '(' || *p == ')' ||
			*p == ',' || isspace((unsigned char) *p);
	if (!quote)
	{
		appendStringInfoString(buf, value);
		return;
	}
	appendStringInfoChar(buf, '"');
	for (const char *p = value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			appendStringInfoChar(buf, *p);
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

/*
 * The key's text: the key column's output, or for several columns a row
 * literal ('(1,"a b")', as ROW(k1, k2)::text gives); each value in its one
 * spelling when canonical.  Needs the output settings pinned when
 * memory->pin_settings.
 */
static char *
key_text(Datum *keys, bool canonical)
{
	List	   *fields = NIL;
	int			nkeys = memory->nvalues - 1;

	if (nkeys == 1)
		return key_value_text(keys, 0, canonical);
	for (int i = 0; i < nkeys; i++)
		fields = lappend(fields, key_value_text(keys, i, canonical));
	return deleted_keys_key_of_fields(fields);
}

char *
deleted_keys_key_of_fields(List *fields)
{
	StringInfoData buf;
	ListCell   *lc;

	if (list_length(fields) == 1)
		return pstrdup(linitial(fields));
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '(');
	foreach(lc, fields)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		append_key_field(&buf, lfirst(lc));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

List *
deleted_keys_key_fields(const char *key, int nkeys)
{
	List	   *fields = NIL;
	const char *p = key;

	if (nkeys == 1)
		return list_make1(pstrdup(key));
	if (*p++ != '(')
		return NIL;
	for (;;)
	{
		StringInfoData field;

		/* append_key_field() quotes every field, even an empty one */
		initStringInfo(&field);
		if (*p == '"')
		{
			for (p++;; p++)
			{
				if (*p == '\0')
					return NIL;
				if ((*p == '"' || *p == '\\') && p[1] == *p)
					p++;
				else if (*p == '"')
					break;
				appendStringInfoChar(&field, *p);
			}
			p++;
		}
		else
			while (*p != ',' && *p != ')' && *p != '\0')
				appendStringInfoChar(&field, *p++);
		fields = lappend(fields, field.data);
		if (*p == ')')
			break;
		if (*p++ != ',')
			return NIL;
	}
	return p[1] == '\0' && list_length(fields) == nkeys ? fields : NIL;
}

/* The key as remembered. */
static char *
memory_key_text(Datum *keys)
{
	return key_text(keys, true);
}

/*
 * The key as remembered before equal keys had one spelling (1.11's
 * library), for keys remembered then; NULL when it is key, the text as
 * remembered now.
 */
static char *
spelled_differently(const char *key, Datum *keys)
{
	char	   *spelled;

	if (!memory->any_canonical)
		return NULL;
	spelled = key_text(keys, false);
	return strcmp(spelled, key) == 0 ? NULL : spelled;
}

static int
loaded_key_cmp(const void *a, const void *b)
{
	return strcmp(((const LoadedKey *) a)->key, ((const LoadedKey *) b)->key);
}

/*
 * The remembered sequence text parsed with this apply's sequence type.
 * Since 1.25 a sequence of another type is never parsed (its type is
 * stored beside it); one remembered before, by an apply whose sequence had
 * another type, says so when it does not parse.
 */
static void
remembered_sequence_context(void *arg)
{
	errcontext("reading the sequence \"%s\" remembered for a deleted key of %s in pipeline.deleted_keys (remembered before 1.25 by an apply whose sequence had another type, or before a statement changed how values of its type are written and did not rewrite it; forgotten after pipeline.deleted_keys_retention)",
			   (const char *) arg, relation_qualified_name(memory->target));
}

/*
 * Whether the remembered key in slot has a sequence of another type than
 * this apply's: another memory, which this apply neither reads nor writes
 * (a role that may delete from the target wrote it with a change table of
 * its own, or the feed's sequence type changed).  A key remembered before
 * 1.25 has no type and is read in this apply's; a key's row of this type
 * comes before it in the index (NULLs last), and is the one read.
 */
static bool
remembered_in_other_type(TupleTableSlot *slot)
{
	bool		isnull;
	Datum		type;

	if (memory->natts < DK_NATTS)
		return false;
	type = slot_getattr(slot, DK_SEQUENCE_TYPE, &isnull);
	return !isnull && DatumGetObjectId(type) != memory->seq_type;
}

/*
 * The row in slot as one an apply may replace: not a key remembered before
 * 1.25 (in a typed memory), whose type is unknown, so that another role's
 * apply with a sequence of another type would erase the feed's delete
 * there.  A newer delete is written beside it; it expires in its time.
 */
static void
replaceable_row(TupleTableSlot *slot, ItemPointer tid)
{
	bool		isnull = false;

	if (memory->natts == DK_NATTS)
		(void) slot_getattr(slot, DK_SEQUENCE_TYPE, &isnull);
	if (isnull)
		ItemPointerSetInvalid(tid);
	else
		*tid = slot->tts_tid;
}

static Datum
parse_remembered_sequence(char *spelled)
{
	ErrorContextCallback callback;
	Datum		sequence;

	callback.callback = remembered_sequence_context;
	callback.arg = spelled;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	sequence = InputFunctionCall(&memory->seq_input, spelled, memory->seq_ioparam, -1);
	error_context_stack = callback.previous;
	return sequence;
}

/*
 * Reads all the target's remembered keys, with their sequences parsed, into
 * memory->loaded, sorted by key.  Needs the apply's lock on the target,
 * which keeps other applies from changing them until the end.
 */
static void
memory_load(void)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(memory->cxt);
	int			level = memory->pin_settings ? pin_output_settings() : -1;
	Size		capacity = Max(memory->nremembered, 64);
	ScanKeyData skey;

	memory->loaded = palloc_extended(sizeof(LoadedKey) * capacity, MCXT_ALLOC_HUGE);
	memory->nloaded = 0;
	CommandCounterIncrement();	/* see the pruning */
	PushActiveSnapshot(GetTransactionSnapshot());
	memory_begin_scan(GetActiveSnapshot(), 1);
	ScanKeyInit(&skey, DK_TARGET, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(memory->target));
	index_rescan(memory->scan, &skey, 1, NULL, 0);
	while (index_getnext_slot(memory->scan, ForwardScanDirection, memory->slot))
	{
		LoadedKey  *entry;
		char	   *key;
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (memory->nloaded == capacity)
		{
			capacity *= 2;
			memory->loaded = repalloc_huge(memory->loaded, sizeof(LoadedKey) * capacity);
		}
		if (remembered_in_other_type(memory->slot))
			continue;
		key = TextDatumGetCString(slot_getattr(memory->slot, DK_KEY, &isnull));
		if (memory->nloaded > 0 && strcmp(memory->loaded[memory->nloaded - 1].key, key) == 0)
			continue;			/* untyped, after this type's */
		entry = &memory->loaded[memory->nloaded++];
		entry->key = key;
		entry->sequence =
			parse_remembered_sequence(TextDatumGetCString(slot_getattr(memory->slot, DK_SEQUENCE, &isnull)));
		replaceable_row(memory->slot, &entry->tid);
	}
	memory_end_scan();
	PopActiveSnapshot();
	if (level >= 0)
		runas_unpin_settings(level);
	/* in the index's order already ("C" is strcmp's): qsort sees that */
	qsort(memory->loaded, memory->nloaded, sizeof(LoadedKey), loaded_key_cmp);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * The remembered sequence of a key, parsed, or false when the key is not
 * remembered (in this apply's sequence type, or untyped from before 1.25).
 * Needs the keys loaded or memory_begin_scan() and, when
 * memory->pin_settings, the output settings pinned.
 */
static bool
memory_lookup(const char *key, Datum *sequence, ItemPointer tid)
{
	ScanKeyData skey[2];
	MemoryContext oldcxt;
	bool		found;

	if (memory->loaded != NULL)
	{
		LoadedKey	probe = {.key = (char *) key};
		LoadedKey  *hit = bsearch(&probe, memory->loaded, memory->nloaded,
								  sizeof(LoadedKey), loaded_key_cmp);

		if (hit == NULL)
			return false;
		*sequence = hit->sequence;
		if (tid != NULL)
			*tid = hit->tid;
		return true;
	}

	/*
	 * The merge probes in its per-row memory; what the scan keeps between
	 * probes (its key, the dead items it will mark at the next rescan or at
	 * its end) must outlive that, as it would in an executor's scan.
	 */
	oldcxt = MemoryContextSwitchTo(memory->cxt);
	if (memory->probe_key != NULL)
		pfree(memory->probe_key);
	memory->probe_key = cstring_to_text(key);
	ScanKeyInit(&skey[0], DK_TARGET, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(memory->target));
	ScanKeyInit(&skey[1], DK_KEY, BTEqualStrategyNumber, F_TEXTEQ,
				PointerGetDatum(memory->probe_key));
	skey[1].sk_collation = C_COLLATION_OID;
	index_rescan(memory->scan, skey, 2, NULL, 0);
	while ((found = index_getnext_slot(memory->scan, ForwardScanDirection, memory->slot)) &&
		   remembered_in_other_type(memory->slot))
		;
	MemoryContextSwitchTo(oldcxt);
	if (found)
	{
		bool		isnull;
		Datum		stored = slot_getattr(memory->slot, DK_SEQUENCE, &isnull);

		if (isnull)
			found = false;
		else
			*sequence = parse_remembered_sequence(TextDatumGetCString(stored));
		if (found && tid != NULL)
			replaceable_row(memory->slot, tid);
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
	char	   *spelled;		/* spelled_differently(), or NULL */
	Datum		sequence;
	ItemPointerData old;		/* the row it replaces, or invalid */
} KeyFact;

/* Rows memory_write() hands to heap_multi_insert() at a time */
#define WRITE_BATCH		1000

/*
 * Whether memory_write() may write pipeline.deleted_keys itself: only its
 * four columns, plain indexes that are ready and checked at once, no
 * triggers, no forced row security (as installed; a column, index or
 * trigger added by hand falls back to SQL).  Opens the indexes into *indexes when it may.
 */
static bool
memory_direct_ok(Relation rel, CatalogIndexState *indexes)
{
	CatalogIndexState state;

	if (rel->trigdesc != NULL || rel->rd_rel->relforcerowsecurity ||
		RelationGetDescr(rel)->natts != memory->natts)
		return false;
	state = CatalogOpenIndexes(rel);
	for (int i = 0; i < state->ri_NumIndices; i++)
	{
		IndexInfo  *info = state->ri_IndexRelationInfo[i];

		/* no expressions: every index column is a column of the table */
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
 * memory_write() through an INSERT statement, as the catalog owner, for a
 * table that has more than its installed shape.  Needs SPI connected.
 */
static void
memory_write_by_statement(KeyFact *kf, Datum *sequences, int n)
{
	Oid			argtypes[4] = {REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID, REGTYPEOID};
	Datum		values[4];
	Datum	   *keys = palloc_extended(sizeof(Datum) * n, MCXT_ALLOC_HUGE);

	for (int f = 0; f < n; f++)
		keys[f] = CStringGetTextDatum(kf[f].key);
	values[0] = ObjectIdGetDatum(memory->target);
	values[1] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(sequences, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[3] = ObjectIdGetDatum(memory->seq_type);

	/*
	 * The arrays are unnested in the target list, which streams them (ROWS
	 * FROM would store both in tuplestores first).
	 */
	(void) spi_rows(catalog_owner(),
					memory->natts == DK_NATTS ?
					"INSERT INTO pipeline.deleted_keys (target, key, sequence, deleted_at, sequence_type)"
					" SELECT $1, pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.now(), $4"
					" ON CONFLICT (target, key, sequence_type) DO UPDATE"
					" SET sequence = excluded.sequence, deleted_at = excluded.deleted_at" :
					"INSERT INTO pipeline.deleted_keys (target, key, sequence, deleted_at)"
					" SELECT $1, pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.now()"
					" ON CONFLICT (target, key) DO UPDATE"
					" SET sequence = excluded.sequence, deleted_at = excluded.deleted_at",
					memory->natts == DK_NATTS ? 4 : 3, argtypes, values, NULL, false, SPI_OK_INSERT);
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
	TupleDesc	desc;
	TupleTableSlot **slots;
	CommandId	cid;
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	Datum	   *keys;

	if (!memory_direct_ok(rel, &indexes))
	{
		table_close(rel, NoLock);
		memory_write_by_statement(kf, sequences, n);
		return;
	}

	/*
	 * No bulk-insert state: its ring of buffers would make this backend write
	 * (and flush WAL for) pages of a large batch itself.  The slots share a
	 * copy of the descriptor that is not reference-counted: pinning the
	 * relation's own in each slot costs a resource owner entry apiece.
	 */
	cid = GetCurrentCommandId(true);
	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	slots = palloc(sizeof(TupleTableSlot *) * Min(n, WRITE_BATCH));
	keys = palloc(sizeof(Datum) * Min(n, WRITE_BATCH));
	for (int i = 0; i < Min(n, WRITE_BATCH); i++)
		slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
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
			keys[i] = CStringGetTextDatum(fact->key);
			slot->tts_values[DK_KEY - 1] = keys[i];
			slot->tts_values[DK_SEQUENCE - 1] = sequences[first + i];
			slot->tts_values[DK_DELETED_AT - 1] = now;
			if (memory->natts == DK_NATTS)
				slot->tts_values[DK_SEQUENCE_TYPE - 1] = ObjectIdGetDatum(memory->seq_type);
			ExecStoreVirtualTuple(slot);
			/* the older row goes first, so the new one is unique */
			if (ItemPointerIsValid(&fact->old))
				simple_heap_delete(rel, &fact->old);
		}
		heap_multi_insert(rel, slots, count, cid, 0, NULL);
		for (int i = 0; i < count; i++)
		{
			/* the row as stored: the slot's values went into the tuple */
			const Datum row[DK_NATTS] = {
				ObjectIdGetDatum(memory->target), keys[i], sequences[first + i], now,
				ObjectIdGetDatum(memory->seq_type)
			};

			for (int x = 0; x < indexes->ri_NumIndices; x++)
			{
				Relation	index = indexes->ri_IndexRelationDescs[x];
				IndexInfo  *info = indexes->ri_IndexRelationInfo[x];
				Datum		values[INDEX_MAX_KEYS];
				bool		isnull[INDEX_MAX_KEYS] = {0};

				/* FormIndexDatum() without deforming the stored tuple again */
				for (int k = 0; k < info->ii_NumIndexAttrs; k++)
					values[k] = row[info->ii_IndexAttrNumbers[k] - 1];
				index_insert(index, values, isnull, &slots[i]->tts_tid, rel,
							 index->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							 false, info);
			}
		}
	}
	for (int i = 0; i < Min(n, WRITE_BATCH); i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	FreeTupleDesc(desc);
	CatalogCloseIndexes(indexes);
	table_close(rel, NoLock);
	CommandCounterIncrement();
}

/*
 * The key columns' types as pipeline.deleted_keys_targets.key_types records
 * them, or NULL (unknown) when one holds the row type of a table pipeline
 * makes as it runs, which a restore of the memory could not name.
 */
static Datum
key_types_array(void)
{
	int			nkeys = memory->nvalues - 1;
	Datum	   *types = palloc(sizeof(Datum) * nkeys);

	for (int i = 0; i < nkeys; i++)
	{
		if (catalog_type_holds_runtime_row(memory->base_type[i + 1]))
			return (Datum) 0;
		types[i] = ObjectIdGetDatum(memory->base_type[i + 1]);
	}
	return PointerGetDatum(construct_array(types, nkeys, REGTYPEOID, sizeof(Oid), true,
										   TYPALIGN_INT));
}

/*
 * Adds keys newly remembered to the target's count in
 * pipeline.deleted_keys_targets (its row made by the target's first keys:
 * later applies probe and prune them), with the types they and their
 * sequences are written from (1.28), so that a change of how such values
 * are written can rewrite them.  Keys remembered before 1.28 (no types)
 * are taken for this apply's, as it reads them; applies whose key types
 * differ (other key columns, or a column's type changed) leave them
 * unknown for good ('{}'), and so does a type no restore could name, as
 * no one reading the memory could tell which keys are of which types.
 * Needs SPI connected.
 */
static void
count_remembered(int64 added)
{
	Oid			argtypes[4] = {REGCLASSOID, INT8OID, REGTYPEARRAYOID, REGTYPEOID};
	Datum		values[4] = {ObjectIdGetDatum(memory->target), Int64GetDatum(added),
	key_types_array(), ObjectIdGetDatum(memory->seq_type)};
	char		nulls[4] = {' ', ' ', values[2] == (Datum) 0 ? 'n' : ' ', ' '};

	if (!memory->targets_typed)
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.deleted_keys_targets AS d (target, pruned_at, keys)"
						" VALUES ($1, pg_catalog.now(), $2) ON CONFLICT (target)"
						" DO UPDATE SET keys = d.keys OPERATOR(pg_catalog.+) $2",
						2, argtypes, values, NULL, false, SPI_OK_INSERT);
	else
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.deleted_keys_targets AS d"
						"  (target, pruned_at, keys, key_types, sequence_types)"
						" VALUES ($1, pg_catalog.now(), $2, COALESCE($3, '{}'), ARRAY[$4]) ON CONFLICT (target)"
						" DO UPDATE SET keys = d.keys OPERATOR(pg_catalog.+) $2,"
						"  key_types = CASE WHEN d.key_types IS NULL AND $3 IS NOT NULL"
						"                     OR d.key_types OPERATOR(pg_catalog.=) $3 THEN $3"
						"                   ELSE '{}' END,"
						"  sequence_types = CASE WHEN $4 OPERATOR(pg_catalog.=) ANY (d.sequence_types)"
						"   THEN d.sequence_types ELSE pg_catalog.array_append(d.sequence_types, $4) END",
						4, argtypes, values, nulls, false, SPI_OK_INSERT);
}

static inline int
keyfact_cmp(const KeyFact *a, const KeyFact *b)
{
	int			c = strcmp(a->key, b->key);

	if (c != 0)
		return c;
	/* newest first */
	return -memory_compare(a->sequence, b->sequence);
}

/*
 * keyfact_sort(KeyFact *, size_t): a sort of its own, with the comparison
 * and the swaps inlined; pg_qsort's generic ones were most of its cost.
 */
#define ST_SORT keyfact_sort
#define ST_ELEMENT_TYPE KeyFact
#define ST_COMPARE(a, b) keyfact_cmp(a, b)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

void
deleted_keys_record(void)
{
	MemoryContext oldcxt;
	KeyFact    *kf;
	int			n = 0;
	int			kept = 0;
	int			level = -1;
	int			replaced = 0;
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
		kf[n].spelled = spelled_differently(kf[n].key, &fact[1]);
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
		keyfact_sort(kf, n);
		for (int f = 0; f < n; f++)
			if (kept == 0 || strcmp(kf[kept - 1].key, kf[f].key) != 0)
				kf[kept++] = kf[f];
		n = kept;
	}

	/*
	 * Never replace a newer remembered sequence.  Unless the keys were read
	 * whole, a fresh snapshot, as the statements' own: it sees what an apply
	 * we waited for committed.
	 */
	if (memory->remembered && n > 0)
	{
		bool		probe = memory->loaded == NULL;

		if (probe)
		{
			CommandCounterIncrement();
			PushActiveSnapshot(GetTransactionSnapshot());
			memory_begin_scan(GetActiveSnapshot(), 2);
		}
		kept = 0;
		for (int f = 0; f < n; f++)
		{
			Datum		remembered;
			ItemPointerData old;

			/* a newer delete remembered as the key was spelled before */
			if (kf[f].spelled != NULL && memory_lookup(kf[f].spelled, &remembered, NULL) &&
				memory_compare(remembered, kf[f].sequence) > 0)
				continue;
			if (!memory_lookup(kf[f].key, &remembered, &old))
				kf[kept++] = kf[f];
			else if (memory_compare(remembered, kf[f].sequence) <= 0)
			{
				kf[f].old = old;
				kf[kept++] = kf[f];
				if (ItemPointerIsValid(&old))
					replaced++;
			}
		}
		if (probe)
		{
			memory_end_scan();
			PopActiveSnapshot();
		}
		n = kept;
	}

	sequences = palloc_extended(sizeof(Datum) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int f = 0; f < n; f++)
		sequences[f] = CStringGetTextDatum(OutputFunctionCall(&memory->output[0],
															  kf[f].sequence));
	if (level >= 0)
		runas_unpin_settings(level);
	MemoryContextSwitchTo(oldcxt);
	if (n == 0)
		return;
	memory_write(kf, sequences, n);

	/*
	 * replaced keys too: an apply under a transaction snapshot sees the row
	 * change
	 */
	if (OidIsValid(memory->targets_relid))
		count_remembered(n - replaced);
}

/*
 * Whether a change at sequence seq (not null) of an absent key may insert
 * it: not when the key's remembered delete is as new or newer.  Called by
 * the merge; needs the keys loaded or memory_begin_scan().
 */
static bool
memory_allows_insert(Datum seq, Datum *keys)
{
	int			level = memory->pin_settings ? pin_output_settings() : -1;
	Datum		remembered;
	char	   *key = memory_key_text(keys);
	char	   *spelled = spelled_differently(key, keys);
	bool		allowed;

	allowed = !memory_lookup(key, &remembered, NULL) ||
		memory_compare(remembered, seq) < 0;
	if (allowed && spelled != NULL)
		allowed = !memory_lookup(spelled, &remembered, NULL) ||
			memory_compare(remembered, seq) < 0;
	if (level >= 0)
		runas_unpin_settings(level);
	return allowed;
}

/*
 * Refuses a call whose arguments from first on are not the memory's
 * sequence and keys: besides its own calls, the MERGE evaluates what its
 * target brings (a CHECK constraint), which may call the MERGE's functions
 * with values of other types, which the memory would copy and compare as
 * its own.  Checked once per call site and apply (*checked: the apply's
 * generation once checked).
 */
static void
memory_check_call(FunctionCallInfo fcinfo, int first, uint64 *checked)
{
	bool		same = PG_NARGS() == first + memory->nvalues;

	if (*checked == memory->generation)
		return;
	for (int i = 0; same && i < memory->nvalues; i++)
	{
		Oid			type = get_fn_expr_argtype(fcinfo->flinfo, first + i);

		same = OidIsValid(type) && getBaseType(type) == memory->base_type[i];
	}
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s() is for apply_changes()'s own MERGE", get_func_name(fcinfo->flinfo->fn_oid)),
				 errdetail("It was called with other values than the change table's sequence and key columns.")));
	*checked = memory->generation;
}

/* The mark of memory_check_call() kept in fn_extra of a call site */
static uint64 *
call_site_mark(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(uint64));
	return fcinfo->flinfo->fn_extra;
}

/*
 * A null-sequence delete takes its key's newest sequence in the batch, the
 * first non-null one after it.
 */
bool
deleted_keys_note(FunctionCallInfo fcinfo, uint64 *checked, bool same_key, bool is_delete)
{
	memory_check_call(fcinfo, 2, checked);
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
	return memory->pending >= 0;
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
	if (memory == NULL || !deleted_keys_merge_call(fcinfo))
		PG_RETURN_BOOL(true);
	memory_check_call(fcinfo, 0, call_site_mark(fcinfo));
	for (int i = 0; i < PG_NARGS(); i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_BOOL(true);
	memory_add_fact(fcinfo, 0, true);
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

	if (memory == NULL || !deleted_keys_merge_call(fcinfo))
		PG_RETURN_BOOL(true);
	memory_check_call(fcinfo, 0, call_site_mark(fcinfo));
	if (!memory->remembered || PG_ARGISNULL(0))
		PG_RETURN_BOOL(true);
	keys = palloc(sizeof(Datum) * (PG_NARGS() - 1));
	for (int i = 1; i < PG_NARGS(); i++)
	{
		if (PG_ARGISNULL(i))
			PG_RETURN_BOOL(true);
		keys[i - 1] = PG_GETARG_DATUM(i);
	}
	if (memory->loaded == NULL && memory->scan == NULL)
		memory_begin_scan(GetActiveSnapshot(), 2);
	PG_RETURN_BOOL(memory_allows_insert(PG_GETARG_DATUM(0), keys));
}
