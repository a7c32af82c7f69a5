/*-------------------------------------------------------------------------
 * ingest.c
 *	  pipeline.ingest(): exactly-once insertion of JSON messages.
 *
 * A message is claimed by inserting (target, dedup id) into
 * pipeline.ingested with ON CONFLICT DO NOTHING: the unique index makes a
 * concurrent claim of the same id wait for the first claimer's outcome, so
 * each id is inserted into the target exactly once, however many sessions
 * race.  Claims are taken in dedup-id order so racing batches cannot
 * deadlock.  The claim and the insert are in the same transaction, so a
 * failure forgets both.
 *
 * The whole batch is first tried in one subtransaction (claim all, insert
 * all with jsonb_populate_record, one INSERT per run of messages with the
 * same fields: a field a message leaves out takes its default).  Only when
 * that fails on bad data does it fall back to one subtransaction per
 * message, to find and reject the bad ones with their error text; a
 * rejected message claims nothing, so a corrected resend with the same id
 * is accepted, and marks its rejection accepted
 * (pipeline.rejected.accepted_at).
 *
 * Ids older than pipeline.ingested_retention are forgotten by the next
 * ingest into the same target.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "model/catalog.h"
#include "io/ingest.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/settings.h"
#include "util/spi_rows.h"
#include "util/subxact.h"

typedef struct Message
{
	int			ordinal;		/* place in the input array */
	Datum		message;		/* jsonb */
	char	   *id;				/* dedup id */
	char	   *shape;			/* per insertable column: '1' if a key of it */
	bool		claimed;
} Message;

/*
 * The target's insertable columns and the INSERT for each message shape (the
 * columns a message has keys for): a column it has no key for takes its
 * default, as in an INSERT that leaves it out.
 */
typedef struct InsertTarget
{
	char	   *target_sql;		/* qualified, quoted name */
	int			ncols;
	char	  **names;			/* column names */
	List	   *shapes;			/* pairs: shape, prepared INSERT taking
								 * jsonb[] $1 */
	MemoryContext cxt;			/* the call's, for shapes: outlives the
								 * subtransactions */
} InsertTarget;

static int
message_cmp_id(const void *a, const void *b)
{
	static uint32 compared = 0;
	const Message *x = a;
	const Message *y = b;
	int			c;

	/* a sort of millions of messages takes seconds: it can be cancelled */
	if (++compared % 65536 == 0)
		CHECK_FOR_INTERRUPTS();
	c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->ordinal - y->ordinal;
}

static int
message_cmp_id_only(const void *a, const void *b)
{
	return strcmp(((const Message *) a)->id, ((const Message *) b)->id);
}

static int
message_cmp_ordinal(const void *a, const void *b)
{
	return ((const Message *) a)->ordinal - ((const Message *) b)->ordinal;
}

static Datum
text_array(char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

static Datum
jsonb_array(Datum *items, int n)
{
	return PointerGetDatum(construct_array(items, n, JSONBOID, -1, false, TYPALIGN_INT));
}

/* Claims ids (sorted, distinct) as the catalog owner; marks msgs[i].claimed. */
static int
claim(Oid target, Message *msgs, int n)
{
	static const char *sql =
	"INSERT INTO pipeline.ingested (target, dedup_id) "
	"SELECT $1, u FROM unnest($2::text[]) u ORDER BY u COLLATE \"C\" "
	"ON CONFLICT DO NOTHING RETURNING dedup_id";
	char	  **ids = palloc(sizeof(char *) * Max(n, 1));
	Oid			argtypes[2] = {OIDOID, TEXTARRAYOID};
	Datum		values[2];
	SpiRows    *claimed;

	for (int i = 0; i < n; i++)
	{
		ids[i] = msgs[i].id;
		msgs[i].claimed = false;
	}
	values[0] = ObjectIdGetDatum(target);
	values[1] = text_array(ids, n);
	claimed = spi_rows(catalog_owner(), sql, 2, argtypes, values, NULL, false,
					   SPI_OK_INSERT_RETURNING);
	for (uint64 r = 0; r < claimed->count; r++)
	{
		char	   *id = spi_rows_text(claimed, r, 0);
		Message		key = {.ordinal = -1,.id = id};
		Message    *found;

		/* ids are distinct: compare by id only */
		found = bsearch(&key, msgs, n, sizeof(Message), message_cmp_id_only);
		if (found == NULL)
			elog(ERROR, "ingest claimed an unknown id \"%s\"", id);
		found->claimed = true;
	}
	return (int) claimed->count;
}

/*
 * The INSERT of messages of one shape, prepared once a call: the columns
 * they have keys for, filled by jsonb_populate_record, the others left to
 * their defaults.  Every name qualified: prepared with the pinned path,
 * the statement is analyzed again under the caller's (whose target
 * triggers run with it), where an exact match such as
 * public.unnest(jsonb[]) would beat pg_catalog's polymorphic functions.
 */
static SPIPlanPtr
shape_insert(InsertTarget *t, const char *shape)
{
	Oid			argtypes[1] = {JSONBARRAYOID};
	StringInfoData cols;
	StringInfoData values;
	ListCell   *lc;
	char	   *sql;
	MemoryContext oldcxt;

	for (lc = list_head(t->shapes); lc != NULL; lc = lnext(t->shapes, lnext(t->shapes, lc)))
		if (strcmp(lfirst(lc), shape) == 0)
			return lfirst(lnext(t->shapes, lc));
	initStringInfo(&cols);
	initStringInfo(&values);
	for (int i = 0; i < t->ncols; i++)
	{
		const char *col = quote_identifier(t->names[i]);

		if (shape[i] != '1')
			continue;
		appendStringInfo(&cols, "%s%s", cols.len == 0 ? "" : ", ", col);
		appendStringInfo(&values, "%sr.%s", values.len == 0 ? "" : ", ", col);
	}
	oldcxt = MemoryContextSwitchTo(t->cxt);
	sql = psprintf("INSERT INTO %s %s%s%s SELECT %s FROM pg_catalog.unnest($1::pg_catalog.jsonb[]) m, "
				   "LATERAL pg_catalog.jsonb_populate_record(NULL::%s, m) r",
				   t->target_sql, cols.len ? "(" : "", cols.data, cols.len ? ")" : "",
				   values.data, t->target_sql);
	/* prepared once a call: in SPI's memory, which outlives subtransactions */
	t->shapes = lappend(lappend(t->shapes, pstrdup(shape)),
						runas_spi_prepare(InvalidOid, sql, 1, argtypes));
	MemoryContextSwitchTo(oldcxt);
	return llast(t->shapes);
}

/*
 * Inserts msgs (all claimed, in order) into the target as the calling user,
 * one INSERT per run of messages of the same shape.
 */
static void
insert_messages(InsertTarget *t, Message *msgs, int n)
{
	Datum	   *items = palloc(sizeof(Datum) * Max(n, 1));

	for (int start = 0, end; start < n; start = end)
	{
		Datum		values[1];
		SPIPlanPtr	plan = shape_insert(t, msgs[start].shape);

		for (end = start; end < n && strcmp(msgs[end].shape, msgs[start].shape) == 0; end++)
			items[end - start] = msgs[end].message;
		values[0] = jsonb_array(items, end - start);
		/* the target's own triggers are the caller's code, with its names */
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "ingest insert failed");
	}
}

/* A batch of messages for claim_and_insert() */
typedef struct Batch
{
	Oid			target;
	InsertTarget *insert;
	Message    *msgs;
	int			n;
	int			claimed;
} Batch;

/* Claims the batch's new dedup ids and inserts their messages. */
static void
claim_and_insert(void *arg)
{
	Batch	   *batch = (Batch *) arg;

	batch->claimed = claim(batch->target, batch->msgs, batch->n);
	if (batch->claimed > 0)
	{
		Message    *todo = palloc(sizeof(Message) * batch->claimed);
		int			k = 0;

		for (int i = 0; i < batch->n; i++)
			if (batch->msgs[i].claimed)
				todo[k++] = batch->msgs[i];
		/* insert in the order the messages came */
		qsort(todo, k, sizeof(Message), message_cmp_ordinal);
		insert_messages(batch->insert, todo, k);
	}
}

/*
 * Runs claim + insert of msgs in a subtransaction.  Returns true on
 * success; on a data error rolls back, stores the error text in *error
 * and returns false; other errors propagate.
 */
static bool
try_claim_and_insert(Oid target, InsertTarget *insert, Message *msgs, int n,
					 int *claimed, char **error)
{
	Batch		batch = {target, insert, msgs, n, 0};
	ErrorData  *edata = subxact_try(claim_and_insert, &batch, false);

	if (edata == NULL)
	{
		*claimed = batch.claimed;
		return true;
	}
	if (!subxact_is_data_error(edata))
		ReThrowError(edata);
	*error = edata->message;
	*claimed = 0;
	for (int i = 0; i < n; i++)
		msgs[i].claimed = false;
	return false;
}

/* One call of ingest_messages(): its messages and what became of them */
typedef struct IngestState
{
	Oid			target;
	InsertTarget *insert;		/* the target's columns and INSERTs */
	MemoryContext cxt;			/* the call's: outlives the subtransactions */
	Message    *msgs;			/* messages with a dedup id */
	int			nmsgs;
	Datum	   *rejected_msgs;	/* and the error text and id of each */
	char	  **rejected_errors;
	char	  **rejected_ids;	/* NULL for a message without an id */
	int			nrejected;
	IngestCounts counts;
	int		   *repeats_end;	/* slow path: per first message i, its later
								 * copies are msgs[repeats_end[i - 1] or
								 * nfirst .. repeats_end[i] - 1] */
	int			nfirst;
	MemoryContext attempt_cxt;	/* slow path: one attempt's, reset after it */
} IngestState;

/*
 * Checks the target (a table the caller may insert into) and the messages
 * (an array), and returns the target's insertable columns: not generated,
 * not an identity GENERATED ALWAYS (which a message cannot set, as an
 * INSERT cannot).
 */
static InsertTarget *
ingest_target(Oid target_relid, Jsonb *messages, const char *dedup_key)
{
	Relation	target;
	TupleDesc	desc;
	char	   *target_name = DatumGetCString(DirectFunctionCall1(regclassout,
																  ObjectIdGetDatum(target_relid)));
	InsertTarget *t = palloc0(sizeof(InsertTarget));
	AclResult	aclresult;

	catalog_require_lasting_table(target_relid, "ingest target");
	target = table_open(target_relid, AccessShareLock);
	desc = RelationGetDescr(target);
	t->cxt = CurrentMemoryContext;

	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ingest target \"%s\" is not a table", target_name)));
	catalog_refuse_own_table(target_relid, "ingest target", target_name);
	/* the guard would refuse each insert; say so before any is rejected */
	if (catalog_is_managed(target_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("managed view %s is written only by its refresh",
						relation_qualified_name(target_relid)),
				 errhint("Ingest into the table its query reads.")));

	/*
	 * a missing privilege must fail the call, not reject every message:
	 * INSERT on the table, or on some of its columns (the INSERTs, run as the
	 * caller, check the columns each message names, as a plain INSERT does)
	 */
	aclresult = pg_class_aclcheck(target_relid, GetUserId(), ACL_INSERT);
	if (aclresult != ACLCHECK_OK)
		aclresult = pg_attribute_aclcheck_all(target_relid, GetUserId(), ACL_INSERT, ACLMASK_ANY);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(target));
	if (!JB_ROOT_IS_ARRAY(messages) || JB_ROOT_IS_SCALAR(messages))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages for \"%s\" must be a JSON array", target_name),
				 errhint("Pass the messages as a JSON array of objects, such as '[{\"%s\": \"1\", ...}]'.",
						 dedup_key)));

	t->target_sql = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(target)),
											   RelationGetRelationName(target));
	t->names = palloc(sizeof(char *) * Max(desc->natts, 1));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || att->attgenerated ||
			att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			continue;
		t->names[t->ncols++] = pstrdup(NameStr(att->attname));
	}
	table_close(target, NoLock);
	if (t->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ingest target \"%s\" has no columns to insert into", target_name)));
	return t;
}

/* Which of the target's insertable columns message m has a key for */
static char *
message_shape(InsertTarget *t, Jsonb *m)
{
	char	   *shape = palloc(t->ncols + 1);

	for (int i = 0; i < t->ncols; i++)
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = t->names[i];
		key.val.string.len = strlen(t->names[i]);
		shape[i] = findJsonbValueFromContainer(&m->root, JB_FOBJECT, &key) ? '1' : '0';
	}
	shape[t->ncols] = '\0';
	return shape;
}

/*
 * The longest dedup id: pipeline.ingested's btree holds each one (an entry
 * must fit a third of a page); a longer one is rejected, not the batch.
 */
#define MAX_DEDUP_ID_BYTES 2000

/* Sets a message aside for pipeline.rejected, with its error and id */
static void
reject(IngestState *st, Datum message, const char *error, char *id)
{
	st->rejected_msgs[st->nrejected] = message;
	st->rejected_ids[st->nrejected] = id;
	st->rejected_errors[st->nrejected++] = MemoryContextStrdup(st->cxt, error);
}

/*
 * Splits the array into messages with a dedup id, in input order, and
 * rejected ones: non-objects and messages without the id or with one that
 * is no string or number (an object's or a boolean's text is no id).
 */
static void
split_messages(IngestState *st, Jsonb *messages, const char *dedup_key)
{
	Oid			argtypes[2] = {JSONBOID, TEXTOID};
	Datum		values[2] = {JsonbPGetDatum(messages), CStringGetTextDatum(dedup_key)};
	SpiRows    *rows = spi_rows(InvalidOid,
								"SELECT m, jsonb_typeof(m) = 'object', "
								"       CASE WHEN jsonb_typeof(m) = 'object' THEN m->>$2 END, "
								"       CASE WHEN jsonb_typeof(m) = 'object' THEN jsonb_typeof(m->$2) END "
								"  FROM jsonb_array_elements($1) WITH ORDINALITY a(m, o) ORDER BY o",
								2, argtypes, values, NULL, true, SPI_OK_SELECT);
	uint64		n = rows->count;

	st->msgs = palloc(sizeof(Message) * Max(n, 1));
	st->rejected_msgs = palloc(sizeof(Datum) * Max(n, 1));
	st->rejected_errors = palloc(sizeof(char *) * Max(n, 1));
	st->rejected_ids = palloc(sizeof(char *) * Max(n, 1));
	for (uint64 r = 0; r < n; r++)
	{
		bool		isnull;
		Datum		m = PointerGetDatum(PG_DETOAST_DATUM(spi_rows_value(rows, r, 0, &isnull)));
		bool		is_object = DatumGetBool(spi_rows_value(rows, r, 1, &isnull));
		char	   *id = spi_rows_text(rows, r, 2);
		char	   *id_type = spi_rows_text(rows, r, 3);

		CHECK_FOR_INTERRUPTS();
		if (!is_object)
			reject(st, m, "message is not a JSON object", NULL);
		else if (id == NULL)
			reject(st, m, psprintf("message has no \"%s\" (the dedup key)", dedup_key), NULL);
		else if (strcmp(id_type, "string") != 0 && strcmp(id_type, "number") != 0)
			reject(st, m, psprintf("message's \"%s\" (the dedup key) is a JSON %s, not a string or a number",
								   dedup_key, id_type), NULL);
		else if (strlen(id) > MAX_DEDUP_ID_BYTES)
			reject(st, m, psprintf("message's \"%s\" (the dedup key) is longer than %d bytes",
								   dedup_key, MAX_DEDUP_ID_BYTES), NULL);
		else
		{
			st->msgs[st->nmsgs].ordinal = (int) r;
			st->msgs[st->nmsgs].message = m;
			st->msgs[st->nmsgs].id = id;
			st->msgs[st->nmsgs].shape = message_shape(st->insert, DatumGetJsonbP(m));
			st->msgs[st->nmsgs].claimed = false;
			st->nmsgs++;
		}
	}
}

/*
 * Sorts the messages by dedup id, the first of each id in the batch first
 * and the later ones with the same id (repeats, in id and batch order)
 * after them; returns how many come first.
 */
static int
split_batch_repeats(IngestState *st)
{
	Message    *repeats = palloc(sizeof(Message) * Max(st->nmsgs, 1));
	int			nfirst = 0;
	int			nrepeats = 0;

	qsort(st->msgs, st->nmsgs, sizeof(Message), message_cmp_id);
	for (int i = 0; i < st->nmsgs; i++)
	{
		if (nfirst > 0 && strcmp(st->msgs[nfirst - 1].id, st->msgs[i].id) == 0)
			repeats[nrepeats++] = st->msgs[i];
		else
			st->msgs[nfirst++] = st->msgs[i];
	}
	memcpy(st->msgs + nfirst, repeats, sizeof(Message) * nrepeats);
	pfree(repeats);
	return nfirst;
}

/*
 * try_claim_and_insert() of msgs[0..n-1] in the attempt's memory, reset
 * after it (the error's text, of a failure, copied into the call's).
 */
static bool
attempt(IngestState *st, Message *msgs, int n, int *claimed, char **error)
{
	MemoryContext caller = MemoryContextSwitchTo(st->attempt_cxt);
	bool		inserted;

	CHECK_FOR_INTERRUPTS();
	inserted = try_claim_and_insert(st->target, st->insert, msgs, n, claimed, error);
	MemoryContextSwitchTo(caller);
	if (!inserted)
		*error = MemoryContextStrdup(st->cxt, *error);
	MemoryContextReset(st->attempt_cxt);
	return inserted;
}

/* One message claimed and inserted alone: false when it was rejected. */
static bool
ingest_one(IngestState *st, Message *msg)
{
	char	   *error = NULL;
	int			claimed;

	if (!attempt(st, msg, 1, &claimed, &error))
	{
		reject(st, msg->message, error, msg->id);
		return false;
	}
	if (claimed == 1)
		st->counts.accepted++;
	else
		st->counts.duplicates++;
	return true;
}

/* Where the later copies of first message i begin */
static inline int
repeats_start(IngestState *st, int i)
{
	return i == 0 ? st->nfirst : st->repeats_end[i - 1];
}

/*
 * First message i alone and, while it and the copies before are rejected,
 * the later copies of its id in the batch, as a resend in a later batch
 * would be tried; the copies after one that was not rejected are
 * duplicates.  In id order, as one message at a time: before any higher id
 * is claimed, which keeps racing calls from deadlocking.  Whether the first
 * was not rejected.
 */
static bool
ingest_id(IngestState *st, int i)
{
	bool		first = ingest_one(st, &st->msgs[i]);
	bool		done = first;

	for (int r = repeats_start(st, i); r < st->repeats_end[i]; r++)
	{
		if (done)
			st->counts.duplicates++;
		else
			done = ingest_one(st, &st->msgs[r]);
	}
	return first;
}

/*
 * First messages lo..hi-1 claimed and inserted at once (their later copies
 * then duplicates): false when they failed.
 */
static bool
ingest_range(IngestState *st, int lo, int hi)
{
	char	   *error = NULL;
	int			claimed;

	if (!attempt(st, st->msgs + lo, hi - lo, &claimed, &error))
		return false;
	st->counts.accepted += claimed;
	st->counts.duplicates += hi - lo - claimed + st->repeats_end[hi - 1] - repeats_start(st, lo);
	return true;
}

/*
 * When more than one message in INGEST_DENSE_BAD of the first
 * INGEST_DENSE_AFTER or more was rejected, runs stay at one message: at
 * such a density a run rarely passes, and its failed attempts cost more
 * than one message at a time.
 */
#define INGEST_DENSE_BAD 32
#define INGEST_DENSE_AFTER 64

/*
 * The first messages, in id order, in runs that grow while they pass and
 * shrink when they fail (an exponential search for the next bad message):
 * a run of one that fails is rejected.  One bad message among n costs
 * about 4 log2(n) subtransactions (and transaction ids), not n, and rows
 * written again a few times its distance from the previous bad one; when
 * bad messages are dense, one message at a time.  In id order throughout:
 * the outcome of one message at a time.
 */
static void
ingest_in_runs(IngestState *st)
{
	int			run = 1;
	int			rejected_before = st->nrejected;

	for (int i = 0; i < st->nfirst;)
	{
		int			len = Min(run, st->nfirst - i);
		bool		dense = i >= INGEST_DENSE_AFTER &&
		(int64) (st->nrejected - rejected_before) * INGEST_DENSE_BAD > i;

		if (len == 1)
		{
			run = ingest_id(st, i) && !dense ? 2 : 1;
			i++;
		}
		else if (ingest_range(st, i, i + len))
		{
			i += len;
			run = dense ? 1 : len * 2;	/* a jsonb array holds under 2^28 */
		}
		else
			run = len / 2;
	}
}

/*
 * The slow path, after the first message of each id (the first nfirst, in
 * id order; their later copies after them, in id and batch order) failed
 * together on bad data: in runs, rejecting the ones that fail.
 */
static void
ingest_after_failure(IngestState *st, int nfirst)
{
	int			r = nfirst;

	if (nfirst == 0)
		return;
	st->nfirst = nfirst;
	st->repeats_end = palloc(sizeof(int) * nfirst);
	for (int i = 0; i < nfirst; i++)
	{
		while (r < st->nmsgs && strcmp(st->msgs[r].id, st->msgs[i].id) == 0)
			r++;
		st->repeats_end[i] = r;
	}
	st->attempt_cxt = AllocSetContextCreate(CurrentMemoryContext, "ingest attempt",
											ALLOCSET_DEFAULT_SIZES);
	ingest_in_runs(st);
	MemoryContextDelete(st->attempt_cxt);
}

/*
 * Records the rejected messages in pipeline.rejected, with their dedup ids
 * under SQL 1.5 on.  Needs SPI connected.
 */
static void
record_rejected(IngestState *st, bool with_ids)
{
	Oid			argtypes[4] = {OIDOID, JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	Datum	   *ids = palloc(sizeof(Datum) * st->nrejected);
	bool	   *idnulls = palloc(sizeof(bool) * st->nrejected);
	int			dims[1] = {st->nrejected};
	int			lbs[1] = {1};

	for (int i = 0; i < st->nrejected; i++)
	{
		idnulls[i] = st->rejected_ids[i] == NULL;
		ids[i] = idnulls[i] ? (Datum) 0 : CStringGetTextDatum(st->rejected_ids[i]);
	}
	values[0] = ObjectIdGetDatum(st->target);
	values[1] = jsonb_array(st->rejected_msgs, st->nrejected);
	values[2] = text_array(st->rejected_errors, st->nrejected);
	values[3] = PointerGetDatum(construct_md_array(ids, idnulls, 1, dims, lbs, TEXTOID,
												   -1, false, TYPALIGN_INT));
	/* an id accepted already, by this batch or another, is not open */
	if (with_ids)
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.rejected (target, message, error, dedup_id, accepted_at) "
						"SELECT $1, m, e, i, (SELECT g.ingested_at FROM pipeline.ingested g "
						"                      WHERE g.target = $1 AND g.dedup_id = i) "
						"  FROM unnest($2::jsonb[], $3::text[], $4::text[]) u(m, e, i)",
						4, argtypes, values, NULL, false, SPI_OK_INSERT);
	else
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.rejected (target, message, error) "
						"SELECT $1, m, e FROM unnest($2::jsonb[], $3::text[]) u(m, e)",
						3, argtypes, values, NULL, false, SPI_OK_INSERT);
}

/*
 * Marks the open rejections of the batch's ids that are accepted now, by
 * this call or before it (a duplicate: a rejection still uncommitted when
 * another session accepted its id was seen by neither, and the resend
 * marks it).  One probe of the partial index of open rejections when there
 * are none, the common case; else one probe per id.  Needs SPI connected.
 */
static void
mark_rejections_accepted(IngestState *st)
{
	Oid			argtypes[2] = {OIDOID, TEXTARRAYOID};
	Datum		values[2];
	char	  **ids = palloc(sizeof(char *) * Max(st->nmsgs, 1));

	values[0] = ObjectIdGetDatum(st->target);
	if (st->nmsgs == 0 ||
		spi_rows(catalog_owner(),
				 "SELECT 1 FROM pipeline.rejected WHERE target = $1 "
				 "AND dedup_id IS NOT NULL AND accepted_at IS NULL LIMIT 1",
				 1, argtypes, values, NULL, false, SPI_OK_SELECT)->count == 0)
		return;
	for (int i = 0; i < st->nmsgs; i++)
		ids[i] = st->msgs[i].id;
	values[1] = text_array(ids, st->nmsgs);
	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.rejected r SET accepted_at = g.ingested_at "
					"  FROM pipeline.ingested g "
					" WHERE r.target = $1 AND r.dedup_id = ANY ($2) AND r.accepted_at IS NULL "
					"   AND g.target = r.target AND g.dedup_id = r.dedup_id",
					2, argtypes, values, NULL, false, SPI_OK_UPDATE);
}

/* Deletes the target's rows of a table older than minutes (sql: $1 target, $2 age) */
static void
prune_older(Oid target, int minutes, const char *sql)
{
	Oid			argtypes[2] = {OIDOID, INTERVALOID};
	Datum		values[2];
	Interval   *retention = palloc0(sizeof(Interval));

	retention->time = (int64) minutes * USECS_PER_MINUTE;
	values[0] = ObjectIdGetDatum(target);
	values[1] = IntervalPGetDatum(retention);
	(void) spi_rows(catalog_owner(), sql, 2, argtypes, values, NULL, false, SPI_OK_DELETE);
}

/*
 * Forgets the target's ids ingested longer than pipeline.ingested_retention
 * ago and its messages rejected longer than pipeline.rejected_retention ago
 * (index ranges of (target, ingested_at) and (target, rejected_at)).  Rows
 * a quarantining view set aside are not ingest's: they have a source.
 * Needs SPI connected.
 */
static void
prune_ingested(Oid target)
{
	prune_older(target, pipeline_ingested_retention_min,
				"DELETE FROM pipeline.ingested WHERE target = $1 AND ingested_at < now() - $2");
	prune_older(target, pipeline_rejected_retention_min,
				"DELETE FROM pipeline.rejected WHERE target = $1 AND rejected_at < now() - $2 "
				"AND source IS NULL");
}

IngestCounts
ingest_messages(Oid target_relid, Jsonb *messages, const char *dedup_key)
{
	IngestState st = {0};
	char	   *error = NULL;
	int			claimed;
	int			nfirst;
	bool		new_sql;

	st.target = target_relid;
	st.cxt = CurrentMemoryContext;
	st.insert = ingest_target(target_relid, messages, dedup_key);
	split_messages(&st, messages, dedup_key);
	nfirst = split_batch_repeats(&st);

	SPI_connect();
	new_sql = catalog_has_column("rejected", "accepted_at");
	if (new_sql)
		prune_ingested(target_relid);
	/* fast path: the first message of each id, all at once */
	if (nfirst > 0 &&
		try_claim_and_insert(target_relid, st.insert, st.msgs, nfirst, &claimed, &error))
	{
		st.counts.accepted += claimed;
		st.counts.duplicates += st.nmsgs - claimed;
	}
	else
		ingest_after_failure(&st, nfirst);
	/* rejections first: one this batch accepted a resend of is marked too */
	if (st.nrejected > 0)
		record_rejected(&st, new_sql);
	if (new_sql)
		mark_rejections_accepted(&st);
	st.counts.rejected = st.nrejected;
	SPI_finish();
	return st.counts;
}

PG_FUNCTION_INFO_V1(pipeline_ingest);

/*
 * ingest(target regclass, messages jsonb, dedup_key text)
 *	 RETURNS TABLE(accepted int, duplicates int, rejected int)
 */
Datum
pipeline_ingest(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	IngestCounts counts;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	PreventCommandDuringRecovery("pipeline.ingest()");

	PreventCommandIfReadOnly("pipeline.ingest()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("messages must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dedup_key must not be null")));

	InitMaterializedSRF(fcinfo, 0);
	counts = ingest_messages(PG_GETARG_OID(0), PG_GETARG_JSONB_P(1),
							 text_to_cstring(PG_GETARG_TEXT_PP(2)));
	values[0] = Int32GetDatum(counts.accepted);
	values[1] = Int32GetDatum(counts.duplicates);
	values[2] = Int32GetDatum(counts.rejected);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
