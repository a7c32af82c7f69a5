/*-------------------------------------------------------------------------
 * definition.c
 *	  Checking a view's definition (header or arguments) before anything is
 *	  created: every path to a view, define(), create_matview(), check(),
 *	  stage() and apply_staged(), validates here.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "model/definition.h"
#include "util/interval.h"
#include "util/settings.h"

char *
matview_relation_name(const char *name)
{
	return psprintf("mv_%s", name);
}

static void validate_type(const MatviewDefinition *def);

static void
check_names_not_empty(const MatviewDefinition *def)
{
	size_t		len = strlen(def->name);

	if (def->schema_name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("schema name of view \"%s\" must not be empty", def->name)));
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("view name must not be empty")));
	/* as DPL reads it: a name written with spaces around is a mistake */
	if (isspace((unsigned char) def->name[0]) || isspace((unsigned char) def->name[len - 1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("view name \"%s\" must not begin or end with white space", def->name)));
}

static Oid
lookup_schema(const MatviewDefinition *def)
{
	Oid			nspid = get_namespace_oid(def->schema_name, true);

	/* pg_temp, or a session's pg_temp_N: gone with a session */
	if (strcmp(def->schema_name, "pg_temp") == 0 || (OidIsValid(nspid) && isAnyTempNamespace(nspid)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a managed view cannot be in a temporary schema"),
				 errhint("Choose a permanent schema.")));

	/*
	 * its catalog's: the guard, graph() and pg_dump treat what is there as
	 * pipeline's
	 */
	if (strcmp(def->schema_name, PIPELINE_SCHEMA) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("a managed view cannot be in schema \"%s\", which holds pipeline's catalog",
						PIPELINE_SCHEMA),
				 errhint("Choose another schema.")));
	if (!OidIsValid(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_SCHEMA_NAME),
				 errmsg("schema \"%s\" does not exist", def->schema_name),
				 errhint("Create it first with CREATE SCHEMA %s.",
						 quote_identifier(def->schema_name))));
	return nspid;
}

/* The checks after the schema's: name length, interval, type and key. */
static char *
check_name_interval_type(const MatviewDefinition *def)
{
	char	   *relname = matview_relation_name(def->name);

	if (strlen(relname) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("view name \"%s\" is too long", def->name),
				 errdetail("The relation name \"mv_\" || name must be at most %d bytes.",
						   NAMEDATALEN - 1)));

	if (def->interval_us < USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh interval of \"%s\" must be at least 1 second", def->name)));
	if (def->interval.month < 0 || def->interval.day < 0 || def->interval.time < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh interval of \"%s\" must not have a negative part", def->name),
				 errhint("Write it with positive parts only: '1 day -23 hours' is '1 hour'.")));
	if (def->interval_us > MAX_REFRESH_INTERVAL_US)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh interval of \"%s\" must be at most 1000 years", def->name)));

	validate_type(def);
	return relname;
}

Oid
definition_validate(const MatviewDefinition *def, char **relname)
{
	Oid			nspid;

	check_names_not_empty(def);
	nspid = lookup_schema(def);
	*relname = check_name_interval_type(def);
	return nspid;
}

void
definition_validate_fields(const MatviewDefinition *def)
{
	check_names_not_empty(def);
	(void) check_name_interval_type(def);
}

/*
 * The type and incremental key agree: an incremental view needs a key, a
 * regular one must not have one.
 */
static void
validate_type(const MatviewDefinition *def)
{
	if (def->sla_minutes > 0 && def->sla_minutes * USECS_PER_MINUTE < def->interval_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_plural("freshness SLA of %d minute for \"%s\" is shorter than its refresh interval",
							   "freshness SLA of %d minutes for \"%s\" is shorter than its refresh interval",
							   def->sla_minutes, def->sla_minutes, def->name),
				 errdetail_plural("A view refreshed every %lld minute is up to that old between runs.",
								  "A view refreshed every %lld minutes is up to that old between runs.",
								  (unsigned long) (def->interval_us / USECS_PER_MINUTE),
								  (long long) (def->interval_us / USECS_PER_MINUTE)),
				 errhint("Give @freshness-sla-minutes at least the interval.")));
	if (def->type == MATVIEW_INCREMENTAL && def->incremental_key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("incremental view \"%s\" needs an incremental key", def->name),
				 errhint("Add @incremental-key <column> to the header (incremental_key in create_matview()).")));
	if ((def->type == MATVIEW_REGULAR || def->type == MATVIEW_UNLOAD) &&
		def->incremental_key != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("@incremental-key does not apply to %s views",
						matview_type_name(def->type)),
				 errdetail("It applies to views of type: incremental, mirror."),
				 def->type == MATVIEW_UNLOAD ?
				 errhint("Drop the key: a lake publication publishes its whole query.") :
				 errhint("Add @matview-type incremental, or drop the key.")));
	if (def->type == MATVIEW_UNLOAD && def->unload_destination == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lake publication \"%s\" needs @unload-destination", def->name),
				 errhint("Name the directory to publish to: @unload-destination /srv/lake/... (\"unload-destination\" in create_matview()'s options).")));
	if (def->type == MATVIEW_UNLOAD && def->unload_partition_by == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lake publication \"%s\" needs @unload-partition-by", def->name),
				 errhint("Name the columns that make a partition: @unload-partition-by year, month, day.")));
	if (def->type == MATVIEW_MIRROR && def->mirror_keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mirror \"%s\" needs @mirror-keys", def->name),
				 errhint("Name the columns that identify a row: @mirror-keys id (\"mirror-keys\" in create_matview()'s options).")));
	if (def->type == MATVIEW_MIRROR && def->mirror_sequence == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mirror \"%s\" needs @mirror-sequence", def->name),
				 errhint("Name the column that orders the changes of a key: @mirror-sequence seq (\"mirror-sequence\" in create_matview()'s options).")));
	/* a DPL header said so already, naming its line (dpl.c) */
	if (def->type != MATVIEW_REGULAR && def->requested_mode != REFRESH_MODE_AUTO)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("refresh mode \"%s\" does not apply to %s views",
						refresh_mode_name(def->requested_mode), matview_type_name(def->type)),
				 errdetail("Only regular views have a refresh mode."),
				 errhint("Leave refresh_mode at \"auto\".")));
}

void
definition_resolve_refresh_mode(MatviewDefinition *def, const char *view_name_for_errors,
								const char *unsupported_reason)
{
	def->full_refresh_reason = NULL;
	if (def->type != MATVIEW_REGULAR)
		def->refresh_mode = REFRESH_MODE_NONE;
	else if (def->requested_mode == REFRESH_MODE_FULL)
	{
		def->refresh_mode = REFRESH_MODE_FULL;
		def->full_refresh_reason = pstrdup("refresh mode is full");
	}
	else if (unsupported_reason == NULL)
		def->refresh_mode = REFRESH_MODE_DIFFERENTIAL;
	else if (def->requested_mode == REFRESH_MODE_AUTO)
	{
		def->refresh_mode = REFRESH_MODE_FULL;
		def->full_refresh_reason = pstrdup(unsupported_reason);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("view %s cannot be refreshed differentially: %s",
						view_name_for_errors, unsupported_reason),
				 errhint("Define it with refresh mode \"auto\" (differential when possible, full otherwise) or \"full\".")));
}
