/*-------------------------------------------------------------------------
 * remembered_keys.c
 *	  apply_changes()'s deleted-key memory across a change of how its keys'
 *	  or sequences' values are written (1.28): marks.c's counterpart for
 *	  pipeline.deleted_keys.
 *
 * The memory keeps keys and sequences as text (io/deleted_keys.c), and an
 * apply compares a change's key with them as text.  After ALTER TYPE ...
 * RENAME VALUE of an enum a key holds, a late change of a key deleted
 * before would not find it under its new text and bring the row back;
 * after the same of a sequence's enum, every apply would fail reading the
 * old text.  So around such a statement (the statements marks.c follows)
 * the texts of every target whose remembered key or sequence types
 * (pipeline.deleted_keys_targets, recorded since 1.28) hold a changed type
 * are read as values before it and written as text after it.  Keys of a
 * target whose types are unknown (remembered before 1.28 and by no apply
 * since), keys those types do not read, and values of a type holding a
 * domain stay as they are, with a warning.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compile/remembered_keys.h"
#include "io/deleted_keys.h"
#include "model/catalog.h"
#include "model/dpl.h"
#include "util/analyze.h"
#include "util/lock_tries.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"

/* One remembered key whose text the statement changes */
typedef struct NotedKey
{
	char	   *tid;			/* its row's ctid */
	List	   *fields;			/* the key's fields, NIL: key unchanged */
	Datum	   *values;			/* ... and the changed ones as values */
	Oid			sequence_type;	/* InvalidOid: sequence unchanged */
	char	   *sequence;
	Datum		sequence_value;
} NotedKey;

/* One target's remembered keys around the statement */
typedef struct NotedMemory
{
	Oid			target;
	Oid			owner;
	int			nkeys;			/* 0: no key changes */
	Oid		   *key_types;
	bool	   *key_changes;	/* per key field: its type holds a changed one */
	List	   *changing_sequence_types;
	SpiRows    *rows;			/* ctid, key, sequence, sequence_type */
	List	   *keys;			/* NotedKey */
	int			unread;			/* keys that stay as they are */
} NotedMemory;

/* The elements of a regtype[] value */
static List *
type_list(Datum array)
{
	Datum	   *elements;
	bool	   *nulls;
	int			n;
	List	   *types = NIL;

	deconstruct_array(DatumGetArrayTypeP(array), REGTYPEOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elements, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			types = lappend_oid(types, DatumGetObjectId(elements[i]));
	return types;
}

/*
 * A mirror's key types when its memory's were not recorded (remembered
 * before 1.28): its applies write the values of its mirror keys, columns
 * of its table, which has the query's types.  NIL for another target.
 */
static List *
mirror_key_types(Oid target)
{
	ManagedView *view = catalog_get(target);
	List	   *types = NIL;
	ListCell   *lc;

	if (view == NULL || view->type != MATVIEW_MIRROR)
		return NIL;
	foreach(lc, dpl_stored_options(MATVIEW_MIRROR, view->options_json)->mirror_keys)
	{
		AttrNumber	attnum = get_attnum(target, lfirst(lc));

		if (attnum == InvalidAttrNumber)
			return NIL;
		types = lappend_oid(types, getBaseType(get_atttype(target, attnum)));
	}
	return types;
}

/* Whether a column of relid (not dropped) has matches(its type, arg) */
static bool
any_column(Oid relid, bool (*matches) (Oid type, void *arg), void *arg)
{
	for (AttrNumber attnum = 1;; attnum++)
	{
		HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		Form_pg_attribute att;
		bool		found;

		if (!HeapTupleIsValid(tuple))
			return false;
		att = (Form_pg_attribute) GETSTRUCT(tuple);
		found = !att->attisdropped && matches(att->atttypid, arg);
		ReleaseSysCache(tuple);
		if (found)
			return true;
	}
}

/* any_column()'s test: the type, domains left out, is *(Oid *) base */
static bool
has_base_type(Oid type, void *base)
{
	return getBaseType(type) == *(Oid *) base;
}

/* any_column()'s test: the type is or holds one of types */
static bool
holds_one_of(Oid type, void *types)
{
	return type_holds_one_of(type, (List *) types);
}

/*
 * Whether each of the key types recorded for target is the type of one of
 * its columns (domains left out), as an apply's keys are: not when a key
 * column's type changed since, and the recorded type would misread them.
 */
static bool
types_are_columns(Oid target, List *types)
{
	ListCell   *lc;

	foreach(lc, types)
		if (!any_column(target, has_base_type, &lfirst_oid(lc)))
			return false;
	return true;
}

static Datum
parse_value(Oid type, const char *text)
{
	Oid			function;
	Oid			ioparam;

	getTypeInputInfo(type, &function, &ioparam);
	return OidInputFunctionCall(function, (char *) text, ioparam, -1);
}

static char *
value_text(Oid type, Datum value)
{
	Oid			function;
	bool		isvarlena;

	getTypeOutputInfo(type, &function, &isvarlena);
	return OidOutputFunctionCall(function, value);
}

/*
 * Whether remembered values of type may be read and written again: not
 * when it holds a domain, whose checks would run code of whoever made the
 * type (the change table's, which the feed chooses); a warning says so.
 */
static bool
readable_type(Oid target, Oid type)
{
	if (!type_holds_domain(type))
		return true;
	ereport(WARNING,
			(errmsg("the deleted keys remembered for %s do not follow this statement",
					relation_qualified_name(target)),
			 errdetail("They are values of type %s, which holds a domain: reading them would run its checks.",
					   format_type_be(type)),
			 errhint("A late change of a key deleted before may be applied.")));
	return false;
}

/*
 * Locks the changed types, as objects, before the memory is read: an apply
 * that writes values of a type holding one of them locks it first
 * (io/deleted_keys.c), so every apply that wrote such keys in the old text
 * has committed (and is read), and the next writes the new.  Nothing else
 * takes these locks but DROP, so waiting for an apply holds up no reader
 * of a table whose row type changes (its lock comes after this).  Tried
 * before it is queued for (util/lock_tries.h): while one long apply holds
 * a type, the applies that come after it are not held behind the
 * statement waiting for it.
 */
static void
lock_changed_types(List *changed_types)
{
	ListCell   *lc;

	foreach(lc, changed_types)
		lock_trying_first(TypeRelationId, lfirst_oid(lc), AccessExclusiveLock);
}

/*
 * Row r of the memory read as values, appended to noted->keys when the
 * statement changes its text; false when its key is not of the recorded
 * key types (remembered by an apply with other key columns).  Needs the
 * memory's output settings.
 */
static bool
note_key(NotedMemory *noted, uint64 r)
{
	NotedKey   *key = palloc0(sizeof(NotedKey));
	bool		isnull;
	Datum		sequence_type = spi_rows_value(noted->rows, r, 3, &isnull);

	CHECK_FOR_INTERRUPTS();
	key->tid = spi_rows_text(noted->rows, r, 0);
	if (noted->nkeys > 0)
	{
		key->fields = deleted_keys_key_fields(spi_rows_text(noted->rows, r, 1), noted->nkeys);
		if (key->fields == NIL)
			return false;
		key->values = palloc0(sizeof(Datum) * noted->nkeys);
		for (int i = 0; i < noted->nkeys; i++)
			if (noted->key_changes[i])
				key->values[i] = parse_value(noted->key_types[i], list_nth(key->fields, i));
	}
	key->sequence = spi_rows_text(noted->rows, r, 2);
	if (!isnull && list_member_oid(noted->changing_sequence_types, DatumGetObjectId(sequence_type)))
	{
		key->sequence_type = DatumGetObjectId(sequence_type);
		key->sequence_value = parse_value(key->sequence_type, key->sequence);
	}
	if (key->fields != NIL || OidIsValid(key->sequence_type))
		noted->keys = lappend(noted->keys, key);
	return true;
}

/*
 * Rows [first, last) of the memory read as values, for subxact_try(): with
 * the memory's output settings, as the target's owner in a
 * security-restricted operation, although only built-in and C input
 * functions run (no type holding a domain is read: its checks would run
 * code of whoever made the type, which the feed chooses).  note_memory()
 * reads them all at once, and when one does not read, each alone.
 */
typedef struct KeyRange
{
	NotedMemory *noted;
	uint64		first;
	uint64		last;
} KeyRange;

static void
keys_as_values(void *arg)
{
	KeyRange   *range = arg;
	RunAs		ra;
	int			level;

	runas_begin_user_code(&ra, range->noted->owner);
	level = deleted_keys_pin_output_settings();
	for (uint64 r = range->first; r < range->last; r++)
		if (!note_key(range->noted, r))
			range->noted->unread++;
	runas_unpin_settings(level);
	runas_end(&ra);
}

/*
 * Notes one target's memory, as the statement sees it: every apply that
 * writes such values waits for the statement's lock on the changed types
 * (remembered_keys_before()), or committed before.  NULL when nothing
 * remembered changes.  Keys that cannot be read stay as they are, and a
 * warning says how many.
 */
static NotedMemory *
note_memory(Oid target, List *key_types, List *changing_sequence_types, List *changed_types)
{
	NotedMemory *noted = palloc0(sizeof(NotedMemory));
	Oid			argtypes[2] = {REGCLASSOID, OIDARRAYOID};
	Datum		values[2] = {ObjectIdGetDatum(target), spi_oid_array(changing_sequence_types)};
	ErrorData  *error;
	ErrorData  *first_error = NULL;
	KeyRange	all = {noted, 0, 0};
	ListCell   *lc;

	noted->target = target;
	noted->changing_sequence_types = changing_sequence_types;
	noted->nkeys = list_length(key_types);
	noted->key_types = palloc(sizeof(Oid) * Max(noted->nkeys, 1));
	noted->key_changes = palloc(sizeof(bool) * Max(noted->nkeys, 1));
	foreach(lc, key_types)
	{
		int			i = foreach_current_index(lc);

		noted->key_types[i] = lfirst_oid(lc);
		noted->key_changes[i] = type_holds_one_of(lfirst_oid(lc), changed_types);
	}
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(target)))
		return NULL;
	noted->owner = catalog_relation_owner(target);

	/* as the statement sees them: an apply we waited for committed some */
	PushActiveSnapshot(GetLatestSnapshot());
	noted->rows = spi_rows(catalog_owner(),
						   noted->nkeys > 0 ?
						   "SELECT k.ctid::pg_catalog.text, k.key, k.sequence, k.sequence_type FROM pipeline.deleted_keys k "
						   " WHERE k.target OPERATOR(pg_catalog.=) $1" :
						   "SELECT k.ctid::pg_catalog.text, k.key, k.sequence, k.sequence_type FROM pipeline.deleted_keys k "
						   " WHERE k.target OPERATOR(pg_catalog.=) $1 "
						   "   AND k.sequence_type::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($2)",
						   2, argtypes, values, NULL, true, SPI_OK_SELECT);
	PopActiveSnapshot();
	all.last = noted->rows->count;
	error = subxact_try(keys_as_values, &all, false);
	if (error != NULL)
	{
		noted->keys = NIL;
		noted->unread = 0;
		for (uint64 r = 0; r < noted->rows->count; r++)
		{
			KeyRange	one = {noted, r, r + 1};

			error = subxact_try(keys_as_values, &one, false);
			if (error != NULL)
				noted->unread++;
			if (first_error == NULL)
				first_error = error;
		}
	}
	if (noted->unread > 0)
		ereport(WARNING,
				(errmsg_plural("%d deleted key remembered for %s does not follow this statement",
							   "%d of the deleted keys remembered for %s do not follow this statement",
							   noted->unread, noted->unread, relation_qualified_name(target)),
				 first_error ? errdetail("Reading one failed: %s", first_error->message) :
				 errdetail("They were remembered by an apply with other key columns."),
				 errhint("A late change of such a key deleted before may be applied.")));
	return noted->keys != NIL ? noted : NULL;
}

List *
remembered_keys_before(List *changed_types)
{
	List	   *noted = NIL;
	SpiRows    *targets;

	if (!catalog_has_column("deleted_keys_targets", "key_types"))
		return NIL;
	lock_changed_types(changed_types);
	PushActiveSnapshot(GetLatestSnapshot());
	targets = spi_rows(catalog_owner(),
					   "SELECT t.target::pg_catalog.oid, t.key_types, t.sequence_types, t.keys "
					   "  FROM pipeline.deleted_keys_targets t ORDER BY 1",
					   0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	PopActiveSnapshot();
	for (uint64 r = 0; r < targets->count; r++)
	{
		bool		isnull;
		Oid			target = DatumGetObjectId(spi_rows_value(targets, r, 0, &isnull));
		Datum		key_types = spi_rows_value(targets, r, 1, &isnull);
		List	   *keys = isnull ? mirror_key_types(target) : type_list(key_types);
		bool		keys_unknown = keys == NIL;
		bool		keys_mixed = !isnull && keys == NIL;
		Datum		sequence_types = spi_rows_value(targets, r, 2, &isnull);
		List	   *changing_sequence_types = NIL;
		bool		keys_change = false;
		bool		keys_unreadable = false;
		NotedMemory *memory;
		ListCell   *lc;

		foreach(lc, isnull ? NIL : type_list(sequence_types))
			if (type_holds_one_of(lfirst_oid(lc), changed_types) &&
				readable_type(target, lfirst_oid(lc)))
				changing_sequence_types = lappend_oid(changing_sequence_types, lfirst_oid(lc));
		foreach(lc, keys)
			if (type_holds_one_of(lfirst_oid(lc), changed_types))
			{
				keys_change = true;
				keys_unreadable |= !readable_type(target, lfirst_oid(lc));
			}
		if (keys_unreadable)
			keys_change = false;
		else if (keys_change && !types_are_columns(target, keys))
		{
			keys_change = false;
			keys_unknown = keys_mixed = true;
		}
		if (keys_unknown && DatumGetInt64(spi_rows_value(targets, r, 3, &isnull)) > 0 &&
			any_column(target, holds_one_of, changed_types))
			ereport(WARNING,
					(errmsg("the deleted keys remembered for %s do not follow this statement",
							relation_qualified_name(target)),
					 keys_mixed ?
					 errdetail("They were remembered by applies with keys of other types (other key columns, or a key column whose type changed).") :
					 errdetail("They were remembered before version 1.28, which did not record their types."),
					 keys_mixed ?
					 errhint("A late change of a key deleted before may be applied.") :
					 errhint("A late change of a key deleted before may be applied; the next apply_changes() into it that remembers a key records them.")));
		if (!keys_change && changing_sequence_types == NIL)
			continue;
		if (!keys_change)
			keys = NIL;
		memory = note_memory(target, keys, changing_sequence_types, changed_types);
		if (memory != NULL)
			noted = lappend(noted, memory);
	}
	return noted;
}

void
remembered_keys_after(List *noted)
{
	ListCell   *lc;

	foreach(lc, noted)
	{
		NotedMemory *memory = lfirst(lc);
		ListCell   *klc;
		List	   *tids = NIL;
		List	   *keys = NIL;
		List	   *sequences = NIL;
		Oid			argtypes[4] = {REGCLASSOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[4] = {ObjectIdGetDatum(memory->target)};
		RunAs		ra;
		int			level;
		uint64		updated;

		runas_begin_user_code(&ra, memory->owner);
		level = deleted_keys_pin_output_settings();
		foreach(klc, memory->keys)
		{
			NotedKey   *key = lfirst(klc);
			List	   *fields = NIL;
			ListCell   *flc;

			CHECK_FOR_INTERRUPTS();
			foreach(flc, key->fields)
			{
				int			i = foreach_current_index(flc);

				fields = lappend(fields, memory->key_changes[i] ?
								 value_text(memory->key_types[i], key->values[i]) : lfirst(flc));
			}
			tids = lappend(tids, key->tid);
			keys = lappend(keys, fields != NIL ? deleted_keys_key_of_fields(fields) : NULL);
			sequences = lappend(sequences, OidIsValid(key->sequence_type) ?
								value_text(key->sequence_type, key->sequence_value) : key->sequence);
		}
		runas_unpin_settings(level);
		runas_end(&ra);
		values[1] = spi_text_array(tids);
		values[2] = spi_text_array(keys);
		values[3] = spi_text_array(sequences);
		updated = spi_rows(catalog_owner(),
						   "UPDATE pipeline.deleted_keys k"
						   "   SET key = COALESCE(u.key, k.key), sequence = u.sequence"
						   "  FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.tid[]), pg_catalog.unnest($3),"
						   "                  pg_catalog.unnest($4)) u (tid, key, sequence)"
						   " WHERE k.ctid OPERATOR(pg_catalog.=) u.tid AND k.target OPERATOR(pg_catalog.=) $1",
						   4, argtypes, values, NULL, false, SPI_OK_UPDATE)->count;
		if (updated == (uint64) list_length(memory->keys))
		{
			/*
			 * A new version of the target's row, which an apply under an
			 * older transaction snapshot takes for keys remembered since (a
			 * serialization failure): it would read the old texts and write
			 * the new (h120)
			 */
			(void) spi_rows(catalog_owner(),
							"UPDATE pipeline.deleted_keys_targets t SET keys = t.keys"
							" WHERE t.target OPERATOR(pg_catalog.=) $1",
							1, argtypes, values, NULL, false, SPI_OK_UPDATE);
			continue;
		}
		/* read as of now, written as of the transaction's snapshot */
		if (IsolationUsesXactSnapshot())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent apply_changes() into %s",
							relation_qualified_name(memory->target)),
					 errdetail("Deleted keys the statement rewrites were remembered after this transaction's snapshot."),
					 errhint("Retry the transaction.")));
		/* the lock kept applies out, but not this backend's own */
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the deleted keys remembered for %s changed during this statement",
						relation_qualified_name(memory->target)),
				 errdetail("The statement changes how the keys or sequences remembered are written; an apply_changes() into it ran meanwhile."),
				 errhint("Retry the statement.")));
	}
}
