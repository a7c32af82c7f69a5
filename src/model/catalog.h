/*-------------------------------------------------------------------------
 * catalog.h
 *	  Reading and writing pipeline's metadata tables.
 *
 * Writes run as the owner of the catalog tables (the extension owner), so a
 * user who may define views can record them without being able to write the
 * tables directly.  All functions need a transaction; they connect to SPI
 * themselves, so they may be called with or without an SPI connection.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_CATALOG_H
#define PIPELINE_CATALOG_H

#include "access/genam.h"
#include "utils/relcache.h"

#include "model/dpl.h"

/* One managed view as recorded in pipeline.matview_definitions. */
typedef struct ManagedView
{
	Oid			relid;
	char	   *schema_name;
	char	   *name;
	MatviewType type;
	int64		interval_us;
	char	   *query;			/* as the user wrote it */
	char	   *bound_query;	/* bound form, for every re-analysis (runas.h) */
	char	   *incremental_key;
	int			version;
	/* as in MatviewDefinition (dpl.h) */
	RefreshMode requested_mode; /* auto unless regular */
	RefreshMode refresh_mode;	/* none unless regular */
	char	   *full_refresh_reason;	/* NULL unless refresh_mode is full */
	char	   *options_json;	/* the other DPL keys given ("{}" if none) */
	Oid			delete_function;	/* a publication's, by OID (1.11), or
									 * InvalidOid */
} ManagedView;

/*
 * Why a regular view is refreshed fully under SQL older than 1.3, which has
 * no refresh modes: it can be nothing else until the extension is updated.
 */
#define CATALOG_OLD_SQL_FULL_REASON \
	"the extension's SQL predates differential refresh; run ALTER EXTENSION pipeline UPDATE"

/* The owner of any relation (needs a transaction). */
extern Oid	catalog_relation_owner(Oid relid);

/* The same, or InvalidOid when the relation is gone. */
extern Oid	catalog_relation_owner_if_exists(Oid relid);

/*
 * Errors unless the current user owns the managed view relid (a
 * materialized view, or an incremental view's table), as REFRESH and DROP
 * check it; name is how the message names it.
 */
extern void catalog_require_owner(Oid relid, const char *name);

/* The OID of pipeline's table name, or InvalidOid (needs a transaction). */
extern Oid	catalog_table(const char *name);

/*
 * A scan of pipeline's table by its index for rows whose column (a
 * regclass or oid column the index has; NULL for the first) is key.  A
 * direct index scan: these catalog tables are readable by everyone and
 * have no row-level security, and nothing is resolved by name but
 * pipeline's own objects, in its own schema.  Rows: systable_getnext(scan).
 */
typedef struct CatalogScan
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
} CatalogScan;

extern void catalog_scan_begin(CatalogScan *cs, const char *table, const char *index,
							   const char *column, Oid key);
extern void catalog_scan_end(CatalogScan *cs);

/*
 * Errors when relid is one of pipeline's own tables (its schema's, or a
 * member of the extension such as a differential view's state): a table
 * ingest() or apply_changes() was asked to write.  role says which
 * ("target"), name how the message names it.
 */
extern void catalog_refuse_own_table(Oid relid, const char *role, const char *name);

/*
 * Errors unless relid is a relation that outlives the session: what
 * pipeline keeps of a target by its OID (ingested ids, rejected rows,
 * remembered deleted keys) would outlive a temporary table, whose drop at
 * the session's end no event trigger reports, and mislead a later table
 * given its OID.  role says which argument ("target").
 */
extern void catalog_require_lasting_table(Oid relid, const char *role);

/*
 * Whether pipeline's table has the column: how the library tells which
 * version of the SQL is installed, to keep serving an older one until
 * ALTER EXTENSION pipeline UPDATE.
 */
extern bool catalog_has_column(const char *table, const char *column);

/* The owner of pipeline's catalog tables (the extension's owner). */
extern Oid	catalog_owner(void);

extern bool catalog_is_managed(Oid relid);

/*
 * Whether relid is one of the tables pipeline makes as it runs, members of
 * the extension that pg_dump therefore leaves out: a differential view's
 * state (pipeline.state_<view oid>, views/differential.c) or a capture log
 * (pipeline.capture_log_<n>, views/capture_ddl.c).  Nothing of a user's
 * may read them, or it would fail its restore.
 */
extern bool catalog_is_runtime_relation(Oid relid);

/*
 * Whether type holds (is, or is made of) the row type of such a table: a
 * catalog row naming it (regtype) would fail its restore.
 */
extern bool catalog_type_holds_runtime_row(Oid type);

/* Whether the installed catalog records command ids of changes (1.2 on). */
extern bool catalog_tracks_command_ids(void);

/*
 * A row of pipeline.changes for relid under the current command id (from
 * 1.2 on; a 1.1 row has none): the views reading relid count it as changed
 * (skip-unchanged) until a success of theirs sees this command.
 */
extern void catalog_record_change(Oid relid);

/*
 * Whether relid has a row in pipeline.matview_definitions as of a new
 * snapshot, whatever the active snapshot sees: after a wait, a view may
 * have been dropped or redefined (replaced by a new relation).
 */
extern bool catalog_is_managed_now(Oid relid);

/*
 * Whether the installed catalog keeps bound queries (1.2 on).  Under older
 * SQL, not yet updated, the stored text stands in for the bound form: the
 * library keeps serving the old SQL's calls as that version did.
 */
extern bool catalog_binds_queries(void);

/*
 * Whether the installed catalog records refresh modes (1.3 on).  Under
 * older SQL every regular view is refreshed fully, and nothing about its
 * mode is read or written.
 */
extern bool catalog_has_refresh_modes(void);

/* Errors (55000) naming function when the installed SQL is 1.0. */
extern void catalog_require_sql_1_1(const char *function);

/*
 * Whether the installed catalog keeps the DPL keys without a column of
 * their own, and so knows mirrors (1.5 on).
 */
extern bool catalog_has_options(void);

/*
 * Whether the installed catalog keeps a publication's delete function by
 * OID (1.11 on).  Under older SQL the options keep it as qualified text,
 * looked up at each run.
 */
extern bool catalog_has_delete_functions(void);

/* The managed view, or NULL when relid is not managed (palloc'd). */
extern ManagedView *catalog_get(Oid relid);

/* Errors unless relid is a managed view; returns it. */
extern ManagedView *catalog_get_required(Oid relid);

/*
 * catalog_get_required() as of now, for a refresh that holds the view's
 * lock: what this transaction wrote before (a definition), and what was
 * committed since its snapshot under REPEATABLE READ (a rename's new bound
 * query, which the catalog's current names need).
 */
extern ManagedView *catalog_get_now(Oid relid);

/*
 * Records a new managed view; def's refresh mode must be resolved
 * (definition_resolve_refresh_mode()).
 */
extern void catalog_insert(Oid relid, const MatviewDefinition *def);

/*
 * Records a changed view's new definition (its names stay) and bumps its
 * version; def's refresh mode must be resolved.
 */
extern void catalog_update_definition(Oid relid, const MatviewDefinition *def);

/*
 * Records how a regular view rebuilt without a new definition is now
 * refreshed (an upstream's change may have made it full).  Nothing under
 * SQL older than 1.3.
 */
extern void catalog_set_refresh_mode(Oid relid, RefreshMode mode, const char *full_reason);
extern void catalog_delete(Oid relid);

#endif
