/*-------------------------------------------------------------------------
 * external_function_cache.c
 *	  The per-backend cache of external functions.
 *
 * An entry is loaded into a memory context of its own, made a child of the
 * caller's context while loading, so an error (a dropped function, a
 * catalog that cannot be read) frees it with the caller's memory and leaves
 * the hash table as it was; only a complete entry is moved under
 * CacheMemoryContext and stored.
 *
 * The hash table points to the current version of each function.  A call
 * pins the version it looked up; when a stale entry is read again while
 * its old version is pinned (the function called again from its own
 * result's domain check, after DDL), the old version is not freed under
 * the call still using it (its FmgrInfos, the domain check's state in
 * their memory) but retired: moved under TopTransactionContext and freed
 * at its last release, or with the transaction when an error skipped that.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "io/external_function_cache.h"
#include "io/http.h"
#include "io/json_values.h"
#include "model/catalog.h"
#include "util/spi_rows.h"

/* A hash entry: the current version of one function */
typedef struct CachedFunction
{
	Oid			fn;				/* hash key */
	ExternalFunction *current;
} CachedFunction;

static HTAB *function_cache = NULL;

/* Counts invalidations, so a load that one overtook is not taken as valid */
static uint64 invalidations = 0;

static void
invalidate_function_cache(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS status;
	CachedFunction *entry;

	invalidations++;
	if (function_cache == NULL)
		return;
	hash_seq_init(&status, function_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->current != NULL)
			entry->current->valid = false;
}

/*
 * At the end of a transaction no call is running: pins an error left are
 * dropped (retired versions go with TopTransactionContext).
 */
static void
unpin_at_transaction_end(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	CachedFunction *entry;

	if (function_cache == NULL ||
		(event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		 event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		 event != XACT_EVENT_PREPARE))
		return;
	hash_seq_init(&status, function_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->current != NULL)
			entry->current->pins = 0;
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (function_cache != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(CachedFunction);
	ctl.hcxt = CacheMemoryContext;
	function_cache = hash_create("pipeline external functions", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	CacheRegisterSyscacheCallback(PROCOID, invalidate_function_cache, (Datum) 0);
	RegisterXactCallback(unpin_at_transaction_end, NULL);
}

bool
external_function_is_handled(Oid fn)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	bool		handled = false;

	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		prosrc = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_prosrc, &isnull);

		handled = ((Form_pg_proc) GETSTRUCT(tuple))->prolang == ClanguageId && !isnull &&
			strcmp(TextDatumGetCString(prosrc), "pipeline_external_call") == 0;
		ReleaseSysCache(tuple);
	}
	return handled;
}

/*
 * Reads fn's row of pipeline.external_function_definitions into ef.  A row
 * whose function is not one (a plain DROP FUNCTION leaves the row, and
 * its OID may come back as another function's) is not taken for one.
 */
static void
load_definition(ExternalFunction *ef, Oid fn)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(fn)};
	SpiRows    *rows;
	bool		isnull;

	/* its definition went with DROP EXTENSION; the function is the user's */
	if (!OidIsValid(catalog_table("external_function_definitions")))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("external function %s needs the extension pipeline, which is not installed in this database",
						format_procedure(fn)),
				 errhint("Drop the function; after CREATE EXTENSION pipeline, create it again with pipeline.create_external_function().")));
	rows = spi_rows(InvalidOid,
					"SELECT endpoint, max_batch_rows, "
					"       (extract(epoch FROM timeout) * 1000)::int8, retries "
					"  FROM pipeline.external_function_definitions WHERE fn = $1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (rows->count == 0 || !external_function_is_handled(fn))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function %s is not an external function",
						format_procedure(fn)),
				 errhint("Create external functions with pipeline.create_external_function().")));
	ef->endpoint = MemoryContextStrdup(ef->mcxt, spi_rows_text(rows, 0, 0));
	ef->max_batch_rows = DatumGetInt32(spi_rows_value(rows, 0, 1, &isnull));
	ef->timeout_ms = (long) Max(DatumGetInt64(spi_rows_value(rows, 0, 2, &isnull)), 1);
	ef->retries = DatumGetInt32(spi_rows_value(rows, 0, 3, &isnull));
}

/*
 * Fills ef from the catalog: its definition, then names and the JSON
 * mapping of its argument and return types (in ef->mcxt).
 */
static void
load_function(ExternalFunction *ef, Oid fn)
{
	MemoryContext oldcxt;
	Oid		   *fnargs;
	int			nargs;
	Oid			rettype;

	load_definition(ef, fn);
	rettype = get_func_signature(fn, &fnargs, &nargs);

	oldcxt = MemoryContextSwitchTo(ef->mcxt);
	ef->url_error = NULL;
	if (!http_url_parse(ef->endpoint, &ef->url, &ef->url_error))
		Assert(ef->url_error != NULL);
	ef->verdict_generation = 0;
	ef->allowed = false;
	ef->signature = format_procedure(fn);
	ef->qualified_name = quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
													get_func_name(fn));
	ef->nargs = nargs;
	ef->args = palloc0(sizeof(TypeIO) * Max(nargs, 1));
	for (int i = 0; i < nargs; i++)
		if (!type_io_init(&ef->args[i], fnargs[i], ef->mcxt))
			elog(ERROR, "external function %s has an unsupported argument type",
				 ef->signature);
	if (!type_io_init(&ef->ret, rettype, ef->mcxt))
		elog(ERROR, "external function %s has an unsupported return type",
			 ef->signature);
	ef->return_type_name = format_type_be(rettype);
	MemoryContextSwitchTo(oldcxt);
}

/* Lets go of a replaced version: now, or when its last call releases it. */
static void
retire(ExternalFunction *ef)
{
	if (ef->pins == 0)
	{
		MemoryContextDelete(ef->mcxt);
		return;
	}
	ef->retired = true;
	MemoryContextSetParent(ef->mcxt, TopTransactionContext);
}

ExternalFunction *
external_function_lookup(Oid fn)
{
	CachedFunction *entry;
	ExternalFunction *ef;
	MemoryContext mcxt;
	uint64		seen = invalidations;
	bool		found;

	ensure_cache();
	entry = hash_search(function_cache, &fn, HASH_FIND, NULL);
	if (entry != NULL && entry->current != NULL && entry->current->valid)
	{
		entry->current->pins++;
		return entry->current;
	}

	mcxt = AllocSetContextCreate(CurrentMemoryContext, "pipeline external function",
								 ALLOCSET_SMALL_SIZES);
	ef = MemoryContextAllocZero(mcxt, sizeof(ExternalFunction));
	ef->mcxt = mcxt;
	ef->fn = fn;
	load_function(ef, fn);
	/* an invalidation while loading (its SPI read) may predate what it read */
	ef->valid = seen == invalidations;

	entry = hash_search(function_cache, &fn, HASH_ENTER, &found);
	if (!found)
		entry->current = NULL;
	MemoryContextSetParent(mcxt, CacheMemoryContext);
	if (entry->current != NULL)
		retire(entry->current);
	entry->current = ef;
	ef->pins = 1;
	return ef;
}

void
external_function_release(ExternalFunction *ef)
{
	if (ef->pins > 0)
		ef->pins--;
	if (ef->pins == 0 && ef->retired)
		MemoryContextDelete(ef->mcxt);
}
