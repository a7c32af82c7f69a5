/*-------------------------------------------------------------------------
 * capture_ddl.c
 *	  The DDL of change capture: the five triggers on a captured table and
 *	  its log (capture.h), made as pipeline makes them and recognized when
 *	  a restored dump makes them again.
 *
 * All of it runs through runas_ddl() as the catalog owner, search_path
 * pinned, every name qualified, flagged as pipeline's own DDL so the guard
 * lets it through.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "model/catalog.h"
#include "util/extension_member.h"
#include "util/grants.h"
#include "util/analyze.h"
#include "util/runas.h"
#include "util/settings.h"
#include "util/spi_rows.h"
#include "views/capture_ddl.h"
#include "util/relation_name.h"

/* One capture trigger as pipeline makes it */
typedef struct CaptureTrigger
{
	const char *name;
	int16		type;			/* pg_trigger.tgtype */
	const char *events;			/* as CREATE TRIGGER writes them */
	bool		old_table;		/* REFERENCING OLD TABLE AS pipeline_old */
	bool		new_table;		/* REFERENCING NEW TABLE AS pipeline_new */
	char		mode;			/* TRIGGER_FIRES_* */
} CaptureTrigger;

static const CaptureTrigger capture_triggers[] = {
	{CAPTURE_INSERT_TRIGGER, TRIGGER_TYPE_AFTER | TRIGGER_TYPE_INSERT, "INSERT",
	false, true, TRIGGER_FIRES_ALWAYS},
	{CAPTURE_UPDATE_TRIGGER, TRIGGER_TYPE_AFTER | TRIGGER_TYPE_UPDATE, "UPDATE",
	true, true, TRIGGER_FIRES_ALWAYS},
	{CAPTURE_DELETE_TRIGGER, TRIGGER_TYPE_AFTER | TRIGGER_TYPE_DELETE, "DELETE",
	true, false, TRIGGER_FIRES_ALWAYS},
	{CAPTURE_TRUNCATE_TRIGGER, TRIGGER_TYPE_AFTER | TRIGGER_TYPE_TRUNCATE, "TRUNCATE",
	false, false, TRIGGER_FIRES_ALWAYS},
	{CAPTURE_REPLICA_TRIGGER,
		TRIGGER_TYPE_ROW | TRIGGER_TYPE_AFTER | TRIGGER_TYPE_INSERT |
		TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE,
	"INSERT OR UPDATE OR DELETE", false, false, TRIGGER_FIRES_ON_REPLICA},
};

static const CaptureTrigger *
capture_trigger(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < lengthof(capture_triggers); i++)
		if (strcmp(capture_triggers[i].name, name) == 0)
			return &capture_triggers[i];
	return NULL;
}

Oid
capture_function_oid(void)
{
	return LookupFuncName(list_make2(makeString(PIPELINE_SCHEMA), makeString("capture_change")),
						  0, NULL, true);
}

char
capture_trigger_mode(const char *trigger_name)
{
	const CaptureTrigger *spec = capture_trigger(trigger_name);

	return spec == NULL ? 0 : spec->mode;
}

/* Whether transitionRels names exactly the transition tables of spec. */
static bool
transitions_as_made(List *transitions, const CaptureTrigger *spec)
{
	ListCell   *lc;

	if (list_length(transitions) != (int) spec->old_table + (int) spec->new_table)
		return false;
	foreach(lc, transitions)
	{
		TriggerTransition *tt = lfirst_node(TriggerTransition, lc);

		if (!tt->isTable ||
			!(tt->isNew ? spec->new_table : spec->old_table) ||
			strcmp(tt->name, tt->isNew ? CAPTURE_NEW_TABLE : CAPTURE_OLD_TABLE) != 0)
			return false;
	}
	return true;
}

bool
capture_trigger_as_made(CreateTrigStmt *stmt)
{
	const CaptureTrigger *spec = capture_trigger(stmt->trigname);
	Oid			fn = capture_function_oid();

	return spec != NULL && OidIsValid(fn) && !stmt->replace && !stmt->isconstraint &&
		LookupFuncName(stmt->funcname, 0, NULL, true) == fn &&
		stmt->args == NIL && stmt->timing == TRIGGER_TYPE_AFTER &&
		stmt->columns == NIL && stmt->whenClause == NULL &&
		stmt->row == ((spec->type & TRIGGER_TYPE_ROW) != 0) &&
		stmt->events == (spec->type & TRIGGER_TYPE_EVENT_MASK) &&
		transitions_as_made(stmt->transitionRels, spec);
}

/* Whether a trigger of the relcache is spec, as pipeline made it. */
static bool
trigger_as_made(const Trigger *t, const CaptureTrigger *spec, Oid fn)
{
	return strcmp(t->tgname, spec->name) == 0 && t->tgenabled == spec->mode &&
		t->tgfoid == fn && t->tgtype == spec->type && t->tgnargs == 0 &&
		t->tgnattr == 0 && t->tgqual == NULL && !t->tgisinternal &&
		!OidIsValid(t->tgconstraint) &&
		(spec->old_table ? t->tgoldtable != NULL &&
		 strcmp(t->tgoldtable, CAPTURE_OLD_TABLE) == 0 : t->tgoldtable == NULL) &&
		(spec->new_table ? t->tgnewtable != NULL &&
		 strcmp(t->tgnewtable, CAPTURE_NEW_TABLE) == 0 : t->tgnewtable == NULL);
}

static bool
has_trigger_as_made(Oid source, const CaptureTrigger *spec, Oid fn)
{
	Relation	rel = table_open(source, NoLock);
	bool		found = false;

	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers && !found; i++)
		found = trigger_as_made(&rel->trigdesc->triggers[i], spec, fn);
	table_close(rel, NoLock);
	return found;
}

static void
create_trigger(const char *table, const CaptureTrigger *spec)
{
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TRIGGER %s AFTER %s ON %s",
					 quote_identifier(spec->name), spec->events, table);
	if (spec->old_table || spec->new_table)
		appendStringInfoString(&sql, " REFERENCING");
	if (spec->old_table)
		appendStringInfoString(&sql, " OLD TABLE AS " CAPTURE_OLD_TABLE);
	if (spec->new_table)
		appendStringInfoString(&sql, " NEW TABLE AS " CAPTURE_NEW_TABLE);
	appendStringInfo(&sql, " FOR EACH %s EXECUTE FUNCTION pipeline.capture_change()",
					 (spec->type & TRIGGER_TYPE_ROW) ? "ROW" : "STATEMENT");
	runas_ddl(catalog_owner(), sql.data);
	runas_ddl(catalog_owner(),
			  psprintf("ALTER TABLE %s ENABLE %s TRIGGER %s", table,
					   spec->mode == TRIGGER_FIRES_ALWAYS ? "ALWAYS" : "REPLICA",
					   quote_identifier(spec->name)));
}

bool
capture_has_triggers(Oid source)
{
	Oid			fn = capture_function_oid();
	Relation	rel = table_open(source, AccessShareLock);
	int			found = 0;

	for (size_t i = 0; i < lengthof(capture_triggers); i++)
		for (int t = 0; rel->trigdesc != NULL && t < rel->trigdesc->numtriggers; t++)
			if (trigger_as_made(&rel->trigdesc->triggers[t], &capture_triggers[i], fn))
			{
				found++;
				break;
			}
	table_close(rel, NoLock);
	return found == lengthof(capture_triggers);
}

bool
capture_ensure_triggers(Oid source)
{
	Oid			fn = capture_function_oid();
	char	   *table = relation_qualified_name(source);
	bool		created = false;

	for (size_t i = 0; i < lengthof(capture_triggers); i++)
	{
		const CaptureTrigger *spec = &capture_triggers[i];

		if (has_trigger_as_made(source, spec, fn))
			continue;
		/* a trigger of that name someone altered (or a dump made) */
		if (OidIsValid(get_trigger_oid(source, spec->name, true)))
			runas_ddl(catalog_owner(), psprintf("DROP TRIGGER %s ON %s",
												quote_identifier(spec->name), table));
		create_trigger(table, spec);
		created = true;
	}
	return created;
}

void
capture_drop_triggers(Oid source)
{
	char	   *table = relation_qualified_name(source);

	for (size_t i = 0; i < lengthof(capture_triggers); i++)
		if (OidIsValid(get_trigger_oid(source, capture_triggers[i].name, true)))
			runas_ddl(catalog_owner(), psprintf("DROP TRIGGER %s ON %s",
												quote_identifier(capture_triggers[i].name),
												table));
}

/*
 * "clause a<N> type COLLATE collation" for each attnum, into sql, separated
 * by commas (and preceded by one when after_column).  A domain's column is
 * logged as its base type: adding a column of a domain to a log holding
 * rows would check the domain's constraints (and compute its default) on
 * each of them, as the catalog owner, running whatever functions the
 * domain's owner put there.  The values are the source's, checked when
 * they were written; the log's reader gives them their domain back
 * (views/differential.c).
 */
static void
append_log_columns(StringInfo sql, bool after_column, const char *clause,
				   Relation source, const Bitmapset *attnums)
{
	TupleDesc	desc = RelationGetDescr(source);
	int			attnum = -1;

	while ((attnum = bms_next_member(attnums, attnum)) >= 0)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, attnum - 1);
		int32		typmod = attr->atttypmod;
		Oid			type = getBaseTypeAndTypmod(attr->atttypid, &typmod);

		appendStringInfo(sql, "%s%sa%d %s", after_column ? ", " : " ", clause, attnum,
						 format_type_extended(type, typmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN |
											  FORMAT_TYPE_FORCE_QUALIFY));
		if (OidIsValid(attr->attcollation))
			appendStringInfo(sql, " COLLATE %s", collation_name_sql(attr->attcollation));
		after_column = true;
	}
}

Oid
capture_create_log(Relation source, const Bitmapset *attnums)
{
	SpiRows    *rows;
	bool		isnull;
	char	   *relname;
	char	   *name;
	StringInfoData sql;
	Oid			log;

	rows = spi_rows(catalog_owner(),
					"SELECT pg_catalog.nextval('pipeline.capture_log_seq'::pg_catalog.regclass)",
					0, NULL, NULL, NULL, false, SPI_OK_SELECT);
	relname = psprintf("capture_log_" INT64_FORMAT,
					   DatumGetInt64(spi_rows_value(rows, 0, 0, &isnull)));
	name = quote_qualified_identifier(PIPELINE_SCHEMA, relname);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE %s (xid pg_catalog.xid8 NOT NULL, "
					 "cid pg_catalog.int8 NOT NULL, sign pg_catalog.int2 NOT NULL", name);
	append_log_columns(&sql, true, "", source, attnums);
	appendStringInfoChar(&sql, ')');
	runas_ddl(catalog_owner(), sql.data);
	/* a publication of all tables publishes it too: deletes need an identity */
	runas_ddl(catalog_owner(), psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", name));
	log = get_relname_relid(relname, get_namespace_oid(PIPELINE_SCHEMA, false));
	/* a member: pg_dump leaves it out, DROP EXTENSION takes it */
	extension_member_add("pipeline", log);
	/* nobody but the owner may touch a log */
	revoke_granted(catalog_owner(), log, name);
	runas_ddl(catalog_owner(),
			  psprintf("COMMENT ON TABLE %s IS %s", name,
					   quote_literal_cstr(psprintf("Change log of %s for differential refresh (pipeline.capture_sources)",
												   relation_qualified_name(RelationGetRelid(source))))));
	return log;
}

void
capture_add_log_columns(Oid log, Relation source, const Bitmapset *attnums)
{
	StringInfoData sql;

	if (bms_is_empty(attnums))
		return;
	initStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s", relation_qualified_name(log));
	append_log_columns(&sql, false, "ADD COLUMN ", source, attnums);
	runas_ddl(catalog_owner(), sql.data);
}

Bitmapset *
capture_drop_stale_log_columns(Oid log, Relation source, const Bitmapset *attnums)
{
	TupleDesc	desc = RelationGetDescr(source);
	Bitmapset  *stale = NULL;
	StringInfoData sql;
	int			attnum = -1;

	initStringInfo(&sql);
	while ((attnum = bms_next_member(attnums, attnum)) >= 0)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, attnum - 1);
		char	   *column = psprintf("a%d", attnum);
		AttrNumber	logattnum = get_attnum(log, column);
		int32		typmod = attr->atttypmod;
		Oid			type = getBaseTypeAndTypmod(attr->atttypid, &typmod);
		Oid			logtype;
		int32		logtypmod;
		Oid			logcollation;

		if (logattnum == InvalidAttrNumber)
			continue;
		get_atttypetypmodcoll(log, logattnum, &logtype, &logtypmod, &logcollation);
		if (logtype == type && logtypmod == typmod && logcollation == attr->attcollation)
			continue;
		stale = bms_add_member(stale, attnum);
		appendStringInfo(&sql, "%sDROP COLUMN %s", sql.len ? ", " : "", column);
	}
	if (stale != NULL)
		runas_ddl(catalog_owner(), psprintf("ALTER TABLE %s %s", relation_qualified_name(log), sql.data));
	return stale;
}

void
capture_drop_log(Oid log)
{
	char	   *name;

	if (get_rel_name(log) == NULL)
		return;
	name = relation_qualified_name(log);
	extension_member_drop("pipeline", log);
	runas_ddl(catalog_owner(), psprintf("DROP TABLE %s", name));
}
