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
 * all with jsonb_populate_record).  Only when that fails on bad data does
 * it fall back to one subtransaction per message, to find and reject the
 * bad ones with their error text; a rejected message claims nothing, so a
 * corrected resend with the same id is accepted.
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
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "model/catalog.h"
#include "io/ingest.h"
#include "util/runas.h"
#include "util/subxact.h"

typedef struct Message
{
	int			ordinal;		/* place in the input array */
	Datum		message;		/* jsonb */
	char	   *id;				/* dedup id */
	bool		claimed;
} Message;

static int
message_cmp_id(const void *a, const void *b)
{
	const Message *x = a;
	const Message *y = b;
	int			c = strcmp(x->id, y->id);

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

/* errors that mean "this message is bad", as opposed to "this call is bad" */
static bool
is_data_error(ErrorData *edata)
{
	int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION;
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
	uint64		claimed;

	for (int i = 0; i < n; i++)
	{
		ids[i] = msgs[i].id;
		msgs[i].claimed = false;
	}
	values[0] = ObjectIdGetDatum(target);
	values[1] = text_array(ids, n);
	claimed = catalog_exec_as_owner(sql, 2, argtypes, values, NULL);
	for (uint64 r = 0; r < claimed; r++)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		Message		key;
		Message    *found;

		key.id = id;
		key.ordinal = -1;
		/* ids are distinct: compare by id only */
		found = bsearch(&key, msgs, n, sizeof(Message), message_cmp_id_only);
		if (found == NULL)
			elog(ERROR, "ingest claimed an unknown id \"%s\"", id);
		found->claimed = true;
	}
	return (int) claimed;
}

/*
 * Inserts msgs (all claimed) into target as the calling user; "insert_sql"
 * takes a jsonb[] parameter.
 */
static void
insert_messages(const char *insert_sql, Message *msgs, int n)
{
	Datum	   *items = palloc(sizeof(Datum) * Max(n, 1));
	Oid			argtypes[1] = {JSONBARRAYOID};
	Datum		values[1];

	for (int i = 0; i < n; i++)
		items[i] = msgs[i].message;
	values[0] = jsonb_array(items, n);
	/* the target's own triggers are the caller's code, with its names */
	if (SPI_execute_plan(runas_spi_prepare(InvalidOid, insert_sql, 1, argtypes),
						 values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "ingest insert failed");
}

/* A batch of messages for claim_and_insert() */
typedef struct Batch
{
	Oid			target;
	const char *insert_sql;
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
		insert_messages(batch->insert_sql, todo, k);
	}
}

/*
 * Runs claim + insert of msgs in a subtransaction.  Returns true on
 * success; on a data error rolls back, stores the error text in *error
 * and returns false; other errors propagate.
 */
static bool
try_claim_and_insert(Oid target, const char *insert_sql, Message *msgs, int n,
					 int *claimed, char **error)
{
	Batch		batch = {target, insert_sql, msgs, n, 0};
	ErrorData  *edata = subxact_try(claim_and_insert, &batch, false);

	if (edata == NULL)
	{
		*claimed = batch.claimed;
		return true;
	}
	if (!is_data_error(edata))
		ReThrowError(edata);
	*error = edata->message;
	*claimed = 0;
	for (int i = 0; i < n; i++)
		msgs[i].claimed = false;
	return false;
}

IngestCounts
ingest_messages(Oid target_relid, Jsonb *messages, const char *dedup_key)
{
	Relation	target;
	char	   *target_name;
	char	   *target_sql;
	StringInfoData cols;
	StringInfoData insert_sql;
	IngestCounts counts = {0, 0, 0};
	Message    *msgs;
	int			nmsgs = 0;
	Datum	   *rejected_msgs;
	char	  **rejected_errors;
	int			nrejected = 0;
	AclResult	aclresult;
	bool		first;
	char	   *error = NULL;
	int			claimed;
	int			ncand;

	target = table_open(target_relid, AccessShareLock);
	target_name = DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(target_relid)));
	if (target->rd_rel->relkind != RELKIND_RELATION &&
		target->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ingest target \"%s\" is not a table", target_name)));
	/* a missing privilege must fail the call, not reject every message */
	aclresult = pg_class_aclcheck(target_relid, GetUserId(), ACL_INSERT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(target));
	if (!JB_ROOT_IS_ARRAY(messages) || JB_ROOT_IS_SCALAR(messages))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("messages for \"%s\" must be a JSON array", target_name),
				 errhint("Pass the messages as a JSON array of objects, such as '[{\"%s\": \"1\", ...}]'.",
						 dedup_key)));

	target_sql = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(target)),
											RelationGetRelationName(target));
	initStringInfo(&cols);
	first = true;
	for (int i = 0; i < RelationGetDescr(target)->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(target), i);

		if (att->attisdropped || att->attgenerated)
			continue;
		appendStringInfo(&cols, "%s%s", first ? "" : ", ", quote_identifier(NameStr(att->attname)));
		first = false;
	}
	table_close(target, NoLock);
	if (first)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ingest target \"%s\" has no columns to insert into", target_name)));

	initStringInfo(&insert_sql);
	appendStringInfo(&insert_sql,
					 "INSERT INTO %s (%s) SELECT %s FROM unnest($1::jsonb[]) m, "
					 "LATERAL jsonb_populate_record(NULL::%s, m) r",
					 target_sql, cols.data, cols.data, target_sql);

	SPI_connect();

	/* split the array: non-objects and id-less messages are rejected */
	{
		Oid			argtypes[2] = {JSONBOID, TEXTOID};
		Datum		values[2] = {JsonbPGetDatum(messages), CStringGetTextDatum(dedup_key)};
		MemoryContext caller;
		uint64		n;

		runas_spi(InvalidOid,
				  "SELECT m, jsonb_typeof(m) = 'object', "
				  "       CASE WHEN jsonb_typeof(m) = 'object' THEN m->>$2 END "
				  "  FROM jsonb_array_elements($1) WITH ORDINALITY a(m, o) ORDER BY o",
				  2, argtypes, values, NULL, true, 0, SPI_OK_SELECT);
		n = SPI_processed;
		caller = MemoryContextSwitchTo(TopTransactionContext);
		msgs = palloc(sizeof(Message) * Max(n, 1));
		rejected_msgs = palloc(sizeof(Datum) * Max(n, 1));
		rejected_errors = palloc(sizeof(char *) * Max(n, 1));
		for (uint64 r = 0; r < n; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			Datum		m = SPI_getbinval(tup, desc, 1, &isnull);
			bool		is_object = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
			char	   *id = SPI_getvalue(tup, desc, 3);

			m = PointerGetDatum(PG_DETOAST_DATUM_COPY(m));
			if (!is_object)
			{
				rejected_msgs[nrejected] = m;
				rejected_errors[nrejected++] = pstrdup("message is not a JSON object");
			}
			else if (id == NULL)
			{
				rejected_msgs[nrejected] = m;
				rejected_errors[nrejected++] =
					psprintf("message has no \"%s\" (the dedup key)", dedup_key);
			}
			else
			{
				msgs[nmsgs].ordinal = (int) r;
				msgs[nmsgs].message = m;
				msgs[nmsgs].id = pstrdup(id);
				msgs[nmsgs].claimed = false;
				nmsgs++;
			}
		}
		MemoryContextSwitchTo(caller);
	}

	/* duplicates within the batch: keep the first of each id */
	qsort(msgs, nmsgs, sizeof(Message), message_cmp_id);
	ncand = 0;
	for (int i = 0; i < nmsgs; i++)
	{
		if (ncand > 0 && strcmp(msgs[ncand - 1].id, msgs[i].id) == 0)
		{
			counts.duplicates++;
			continue;
		}
		msgs[ncand++] = msgs[i];
	}

	/* fast path: the whole batch at once */
	if (ncand > 0 &&
		try_claim_and_insert(target_relid, insert_sql.data, msgs, ncand, &claimed, &error))
	{
		counts.accepted += claimed;
		counts.duplicates += ncand - claimed;
	}
	else
	{
		/* slow path: one message at a time, in id order */
		for (int i = 0; i < ncand; i++)
		{
			CHECK_FOR_INTERRUPTS();
			if (try_claim_and_insert(target_relid, insert_sql.data, &msgs[i], 1, &claimed, &error))
			{
				if (claimed == 1)
					counts.accepted++;
				else
					counts.duplicates++;
			}
			else
			{
				rejected_msgs[nrejected] = msgs[i].message;
				rejected_errors[nrejected++] = MemoryContextStrdup(TopTransactionContext, error);
			}
		}
	}

	if (nrejected > 0)
	{
		Oid			argtypes[3] = {OIDOID, JSONBARRAYOID, TEXTARRAYOID};
		Datum		values[3];

		values[0] = ObjectIdGetDatum(target_relid);
		values[1] = jsonb_array(rejected_msgs, nrejected);
		values[2] = text_array(rejected_errors, nrejected);
		catalog_exec_as_owner("INSERT INTO pipeline.rejected (target, message, error) "
							  "SELECT $1, m, e FROM unnest($2::jsonb[], $3::text[]) u(m, e)",
							  3, argtypes, values, NULL);
	}
	counts.rejected = nrejected;
	SPI_finish();
	return counts;
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
