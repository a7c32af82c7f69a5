/*-------------------------------------------------------------------------
 * table_settings.c
 *	  What a rebuilt view's relation keeps of what was set on it by hand
 *	  (table_settings.h).  Each setting is read from the system catalogs
 *	  before the old relation is dropped, as DDL text deparsed under the
 *	  pinned search_path (every name in it qualified), and made again on
 *	  the new relation by the role PostgreSQL asks for.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "compile/restore.h"
#include "compile/table_settings.h"
#include "model/catalog.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "views/differential.h"

/* What ALTER COLUMN set on one column */
typedef struct ColumnSettings
{
	char	   *column;
	Oid			type;			/* storage, compression and a default are kept
								 * only on a column of this type */
	int			statistics;		/* SET STATISTICS; -1: the default */
	char	   *options;		/* SET (n_distinct = '...'), or NULL */
	char	   *storage;		/* SET STORAGE's word, or NULL: the type's */
	char	   *compression;	/* SET COMPRESSION's, or NULL: the default */
	bool		not_null;		/* SET NOT NULL (not a primary key's) */
	char	   *default_expr;	/* SET DEFAULT's, or NULL */
} ColumnSettings;

/* An object of the relation's, made again if every column it uses is there */
typedef struct Dependent
{
	char	   *name;			/* qualified and quoted */
	char	   *definition;
	List	   *columns;		/* names of the columns it uses */
	Oid			owner;			/* a statistics object's */
	int			target;			/* a statistics object's SET STATISTICS */
} Dependent;

struct TableSettings
{
	char	   *parameters;		/* "name = 'value', ..." of SET (...), or NULL */
	char	   *tablespace;		/* quoted, or NULL: the database's */
	bool		may_create_there;	/* the owner, in that tablespace */
	List	   *columns;		/* ColumnSettings */
	List	   *statistics;		/* Dependent: CREATE STATISTICS */
	List	   *publications;	/* Dependent: definition is what follows the
								 * relation in ALTER PUBLICATION ADD TABLE */
	char		replica_identity;	/* pg_class.relreplident */
	char	   *replica_index;	/* USING INDEX's; "": pipeline's key index */
	char	   *cluster_index;	/* CLUSTER ON's; "": pipeline's key index */
};

/* The names of the columns of relid that object depends on, by pg_depend */
#define DEPENDENT_COLUMNS(object_class, object, relation) \
	"ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_depend d " \
	"        JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid " \
	"       WHERE d.classid = '" object_class "'::pg_catalog.regclass AND d.objid = " object \
	"         AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass " \
	"         AND d.refobjid = " relation " AND d.refobjsubid > 0)"

static void
save_relation(PendingView *v, TableSettings *settings)
{
	Oid			argtypes[4] = {OIDOID, OIDOID, TEXTOID, TEXTOID};
	Datum		values[4];
	SpiRows    *rows;
	bool		isnull;

	values[0] = ObjectIdGetDatum(v->relid);
	values[1] = ObjectIdGetDatum(v->owner);
	values[2] = CStringGetTextDatum(differential_key_index_name(v->relid));
	values[3] = CStringGetTextDatum(DIFFERENTIAL_KEY_INDEX_COMMENT);
	rows = spi_rows(InvalidOid,
					"SELECT (SELECT pg_catalog.string_agg(pg_catalog.concat(o.prefix, "
					"                   pg_catalog.quote_ident(o.option_name), ' = ', "
					"                   pg_catalog.quote_literal(o.option_value)), ', ') "
					"          FROM (SELECT '' AS prefix, x.* FROM pg_catalog.pg_options_to_table(c.reloptions) x "
					"                UNION ALL "
					"                SELECT 'toast.', x.* FROM pg_catalog.pg_class t, "
					"                       pg_catalog.pg_options_to_table(t.reloptions) x "
					"                 WHERE t.oid = c.reltoastrelid) o), "
					"       (SELECT pg_catalog.quote_ident(s.spcname) "
					"          FROM pg_catalog.pg_tablespace s WHERE s.oid = c.reltablespace), "
					"       c.reltablespace = 0 "
					"       OR pg_catalog.has_tablespace_privilege($2, c.reltablespace, 'CREATE'), "
					"       c.relreplident::pg_catalog.text, "
					"       (SELECT CASE WHEN ic.relname = $3 "
					"                      OR pg_catalog.obj_description(ic.oid, 'pg_class') = $4 "
					"                    THEN '' ELSE ic.relname::pg_catalog.text END "
					"          FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
					"         WHERE i.indrelid = c.oid AND i.indisreplident), "
					"       (SELECT CASE WHEN ic.relname = $3 "
					"                      OR pg_catalog.obj_description(ic.oid, 'pg_class') = $4 "
					"                    THEN '' ELSE ic.relname::pg_catalog.text END "
					"          FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
					"         WHERE i.indrelid = c.oid AND i.indisclustered) "
					"  FROM pg_catalog.pg_class c WHERE c.oid = $1",
					4, argtypes, values, NULL, true, SPI_OK_SELECT);
	settings->parameters = spi_rows_text(rows, 0, 0);
	settings->tablespace = spi_rows_text(rows, 0, 1);
	settings->may_create_there = DatumGetBool(spi_rows_value(rows, 0, 2, &isnull));
	settings->replica_identity = spi_rows_text(rows, 0, 3)[0];
	settings->replica_index = spi_rows_text(rows, 0, 4);
	settings->cluster_index = spi_rows_text(rows, 0, 5);
}

/*
 * The columns' settings (not pg_attver, the server's own attribute version
 * in 15.x releases; not a generated column's expression, nor the NOT NULL
 * of a primary key's column, which comes back with its index).
 */
static void
save_columns(PendingView *v, TableSettings *settings)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(v->relid)};
	SpiRows    *rows;

	rows = spi_rows(InvalidOid,
					"SELECT a.attname::pg_catalog.text, a.atttypid, a.attstattarget, "
					"       (SELECT pg_catalog.string_agg(pg_catalog.concat("
					"                   pg_catalog.quote_ident(o.option_name), ' = ', "
					"                   pg_catalog.quote_literal(o.option_value)), ', ') "
					"          FROM pg_catalog.pg_options_to_table(a.attoptions) o "
					"         WHERE o.option_name <> 'pg_attver'), "
					"       CASE WHEN a.attstorage <> t.typstorage THEN CASE a.attstorage "
					"            WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' "
					"            ELSE 'EXTENDED' END END, "
					"       CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END, "
					"       a.attnotnull AND NOT EXISTS (SELECT FROM pg_catalog.pg_index i "
					"                                     WHERE i.indrelid = a.attrelid AND i.indisprimary "
					"                                       AND a.attnum = ANY (i.indkey)), "
					"       (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d "
					"         WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated = '') "
					"  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
					" WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped "
					" ORDER BY a.attnum",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
	{
		ColumnSettings *column = palloc(sizeof(ColumnSettings));
		bool		isnull;

		column->column = spi_rows_text(rows, i, 0);
		column->type = DatumGetObjectId(spi_rows_value(rows, i, 1, &isnull));
		column->statistics = DatumGetInt32(spi_rows_value(rows, i, 2, &isnull));
		column->options = spi_rows_text(rows, i, 3);
		column->storage = spi_rows_text(rows, i, 4);
		column->compression = spi_rows_text(rows, i, 5);
		column->not_null = DatumGetBool(spi_rows_value(rows, i, 6, &isnull));
		column->default_expr = spi_rows_text(rows, i, 7);
		if (column->statistics >= 0 || column->options || column->storage ||
			column->compression || column->not_null || column->default_expr)
			settings->columns = lappend(settings->columns, column);
	}
}

static List *
dependents_from_rows(SpiRows *rows)
{
	List	   *dependents = NIL;

	for (uint64 i = 0; i < rows->count; i++)
	{
		Dependent  *dependent = palloc(sizeof(Dependent));
		bool		isnull;

		dependent->name = spi_rows_text(rows, i, 0);
		dependent->definition = spi_rows_text(rows, i, 1);
		dependent->columns = spi_array_texts(spi_rows_value(rows, i, 2, &isnull));
		dependent->owner = DatumGetObjectId(spi_rows_value(rows, i, 3, &isnull));
		dependent->target = DatumGetInt32(spi_rows_value(rows, i, 4, &isnull));
		dependents = lappend(dependents, dependent);
	}
	return dependents;
}

/*
 * Its statistics objects, and the publications it is a member of by name
 * (with its column list and row filter; one of all tables or of its schema
 * has the new relation anyway).
 */
static void
save_dependents(PendingView *v, TableSettings *settings)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(v->relid)};
	SpiRows    *rows;

	rows = spi_rows(InvalidOid,
					"SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(s.stxname), "
					"       pg_catalog.pg_get_statisticsobjdef(s.oid), "
					DEPENDENT_COLUMNS("pg_catalog.pg_statistic_ext", "s.oid", "s.stxrelid") ", "
					"       s.stxowner, s.stxstattarget "
					"  FROM pg_catalog.pg_statistic_ext s "
					"  JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace "
					" WHERE s.stxrelid = $1 ORDER BY s.oid",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	settings->statistics = dependents_from_rows(rows);
	rows = spi_rows(InvalidOid,
					"SELECT pg_catalog.quote_ident(p.pubname), "
					"       pg_catalog.concat(' (' || (SELECT pg_catalog.string_agg("
					"                                      pg_catalog.quote_ident(a.attname), ', ' ORDER BY k.n) "
					"                                    FROM pg_catalog.unnest(r.prattrs::pg_catalog.int2[]) "
					"                                         WITH ORDINALITY k(attnum, n) "
					"                                    JOIN pg_catalog.pg_attribute a "
					"                                      ON a.attrelid = r.prrelid AND a.attnum = k.attnum) "
					"                          || ')', "
					"                         ' WHERE (' || pg_catalog.pg_get_expr(r.prqual, r.prrelid) || ')'), "
					DEPENDENT_COLUMNS("pg_catalog.pg_publication_rel", "r.oid", "r.prrelid") ", "
	/* a statistics object's owner and target, which a membership has not */
					"       0::pg_catalog.oid, -1 "
					"  FROM pg_catalog.pg_publication_rel r "
					"  JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid "
					" WHERE r.prrelid = $1 ORDER BY p.pubname",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	settings->publications = dependents_from_rows(rows);
}

TableSettings *
table_settings_save(PendingView *v)
{
	TableSettings *settings = palloc0(sizeof(TableSettings));

	save_relation(v, settings);
	save_columns(v, settings);
	save_dependents(v, settings);
	return settings;
}

/* A column of those named the new relation has not, or NULL */
static const char *
column_gone(List *columns, Oid relid)
{
	ListCell   *lc;

	foreach(lc, columns)
		if (get_attnum(relid, lfirst(lc)) == InvalidAttrNumber)
			return lfirst(lc);
	return NULL;
}

static void
restore_column(PendingView *v, ColumnSettings *c, const char *alter)
{
	AttrNumber	attnum = get_attnum(v->newrelid, c->column);
	bool		table = get_rel_relkind(v->newrelid) == RELKIND_RELATION;
	bool		same_type;
	const char *column = quote_identifier(c->column);
	const char *lost = NULL;

	/* a changed view may have dropped the column */
	if (attnum == InvalidAttrNumber)
		return;
	same_type = get_atttype(v->newrelid, attnum) == c->type;
	if (c->statistics >= 0)
		runas_ddl(v->owner, psprintf("%s %s SET STATISTICS %d", alter, column, c->statistics));
	if (c->options)
		runas_ddl(v->owner, psprintf("%s %s SET (%s)", alter, column, c->options));
	if (c->storage && same_type)
		runas_ddl(v->owner, psprintf("%s %s SET STORAGE %s", alter, column, c->storage));
	if (c->compression && same_type)
		runas_ddl(v->owner, psprintf("%s %s SET COMPRESSION %s", alter, column, c->compression));
	if (c->not_null && table)
		runas_ddl(v->owner, psprintf("%s %s SET NOT NULL", alter, column));
	if (c->default_expr && table && same_type)
		runas_ddl(v->owner, psprintf("%s %s SET DEFAULT %s", alter, column, c->default_expr));

	if ((c->not_null || c->default_expr) && !table)
		lost = "the view is a materialized view now";
	else if ((c->storage || c->compression || c->default_expr) && !same_type)
		lost = "its type changed";
	if (lost)
		ereport(NOTICE,
				(errmsg("what was set on column \"%s\" of %s is not all kept: %s",
						c->column, pending_display_name(v), lost),
				 errdetail("Not kept:%s%s%s%s.",
						   c->storage && !same_type ? " SET STORAGE" : "",
						   c->compression && !same_type ? " SET COMPRESSION" : "",
						   c->not_null && !table ? " SET NOT NULL" : "",
						   c->default_expr && (!table || !same_type) ? " SET DEFAULT" : "")));
}

/*
 * The index of v's new relation that stands for index (a name; "": the key
 * index pipeline made), or NULL with a NOTICE saying what is not kept.
 * (Not read-only: the indexes were made in this statement.)
 */
static const char *
index_of_new_relation(PendingView *v, const char *index, const char *what)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, TEXTOID};
	Datum		values[3];
	SpiRows    *rows;

	values[0] = ObjectIdGetDatum(v->newrelid);
	values[1] = CStringGetTextDatum(index[0] ? index : differential_key_index_name(v->newrelid));
	values[2] = CStringGetTextDatum(index[0] ? "" : DIFFERENTIAL_KEY_INDEX_COMMENT);
	rows = spi_rows(InvalidOid,
					"SELECT pg_catalog.quote_ident(ic.relname) "
					"  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
					" WHERE i.indrelid = $1 "
					"   AND (ic.relname = $2 OR pg_catalog.obj_description(ic.oid, 'pg_class') = $3) "
					" ORDER BY ic.relname = $2 DESC LIMIT 1",
					3, argtypes, values, NULL, false, SPI_OK_SELECT);
	if (rows->count == 1)
		return spi_rows_text(rows, 0, 0);
	ereport(NOTICE,
			(errmsg("%s of %s is not kept: its index \"%s\" is not", what, pending_display_name(v),
					index[0] ? index : "(the view's key index)")));
	return NULL;
}

/*
 * The publications that publish relid: by name, as one of all tables, or
 * of its schema.
 */
static List *
publications_of(Oid relid)
{
	return list_concat(list_concat(GetRelationPublications(relid), GetAllTablesPublications()),
					   GetSchemaPublications(get_rel_namespace(relid)));
}

/*
 * A publication that publishes its table's inserts but not truncates gives
 * its subscribers the new rows beside the old ones after a rebuild: a
 * warning names it (not an error: the statement may be another role's
 * redefinition upstream, and an insert-only publication may be meant).
 */
static void
warn_of_publications_without_truncate(List *publications, const char *qname)
{
	ListCell   *lc;

	foreach(lc, publications)
	{
		Publication *pub = GetPublication(lfirst_oid(lc));

		if (pub->pubactions.pubinsert && !pub->pubactions.pubtruncate)
			ereport(WARNING,
					(errmsg("subscribers of publication %s keep the rows %s had before this rebuild beside its new ones",
							quote_identifier(pub->name), qname),
					 errdetail("A rebuild replaces the table, and drops the old rows on subscribers by truncating the new table, which the publication does not publish."),
					 errhint("Let the publication publish truncates (ALTER PUBLICATION ... SET (publish = ...)); a subscriber's copy loses the old rows when it is emptied and copied again.")));
	}
}

/*
 * v's replica identity: before the fill (whose writes may be published),
 * and after it one through pipeline's key index, which the fill makes (FULL
 * until then).
 */
static void
restore_replica_identity(PendingView *v, TableSettings *settings, bool filled)
{
	const char *keyword = relation_keyword(v->newrelid);
	char	   *qname = pending_display_name(v);
	const char *index;

	if (settings->replica_identity == REPLICA_IDENTITY_INDEX && settings->replica_index)
	{
		bool		key_index = settings->replica_index[0] == '\0';

		if (key_index && !filled)
			runas_ddl(v->owner, psprintf("ALTER %s %s REPLICA IDENTITY FULL", keyword, qname));
		else if (key_index == filled &&
				 (index = index_of_new_relation(v, settings->replica_index, "the replica identity")) != NULL)
			restore_as(v->owner,
					   psprintf("ALTER %s %s REPLICA IDENTITY USING INDEX %s", keyword, qname, index),
					   "replica identity, index", index, false);
	}
	else if (settings->replica_identity == REPLICA_IDENTITY_FULL && !filled)
		runas_ddl(v->owner, psprintf("ALTER %s %s REPLICA IDENTITY FULL", keyword, qname));
	else if (settings->replica_identity == REPLICA_IDENTITY_NOTHING && !filled)
		runas_ddl(v->owner, psprintf("ALTER %s %s REPLICA IDENTITY NOTHING", keyword, qname));
}

void
table_settings_restore_empty(PendingView *v, TableSettings *settings)
{
	char	   *qname = pending_display_name(v);
	const char *keyword = relation_keyword(v->newrelid);
	char	   *alter = psprintf("ALTER %s %s ALTER COLUMN", keyword, qname);
	ListCell   *lc;

	if (settings->parameters)
		runas_ddl(v->owner, psprintf("ALTER %s %s SET (%s)", keyword, qname, settings->parameters));
	/* empty: nothing to move */
	if (settings->tablespace && settings->may_create_there)
		runas_ddl(v->owner, psprintf("ALTER %s %s SET TABLESPACE %s", keyword, qname,
									 settings->tablespace));
	else if (settings->tablespace)
		ereport(NOTICE,
				(errmsg("%s is not kept in tablespace %s: its owner may not create there", qname,
						settings->tablespace)));
	foreach(lc, settings->columns)
		restore_column(v, lfirst(lc), alter);

	foreach(lc, settings->statistics)
	{
		Dependent  *s = lfirst(lc);
		const char *gone = column_gone(s->columns, v->newrelid);

		if (gone)
		{
			ereport(NOTICE,
					(errmsg("statistics object %s of %s is not kept: the view has no column \"%s\" now",
							s->name, qname, gone)));
			continue;
		}
		restore_as(v->owner, s->definition, "statistics object", s->name, false);
		if (s->target >= 0)
			runas_ddl(v->owner, psprintf("ALTER STATISTICS %s SET STATISTICS %d", s->name, s->target));
		if (s->owner != v->owner)
			runas_ddl(catalog_owner(), psprintf("ALTER STATISTICS %s OWNER TO %s", s->name,
												quote_identifier(GetUserNameFromId(s->owner, false))));
	}

	restore_replica_identity(v, settings, false);
	foreach(lc, settings->publications)
	{
		Dependent  *p = lfirst(lc);
		const char *gone = column_gone(p->columns, v->newrelid);

		/* its subscribers would get nothing more, and nobody be told */
		if (get_rel_relkind(v->newrelid) != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s is published by %s, which its materialized view cannot be", qname,
							p->name),
					 errhint("Keep its refresh mode differential, or remove it from the publication first.")));
		if (gone)
		{
			ereport(NOTICE,
					(errmsg("%s is not kept in publication %s: the view has no column \"%s\" now",
							qname, p->name, gone)));
			continue;
		}

		/*
		 * As the catalog's owner: adding a table takes owning both the
		 * publication and the table.  A row filter holds only built-in
		 * immutable functions and operators.
		 */
		restore_as(catalog_owner(),
				   psprintf("ALTER PUBLICATION %s ADD TABLE %s%s", p->name, qname, p->definition),
				   "membership in publication", p->name, false);
	}

	/*
	 * A subscriber has the old rows, whose deletes are not published when the
	 * old relation is dropped: a TRUNCATE of the new one is, before the
	 * fill's inserts.
	 */
	if (XLogLogicalInfoActive() && get_rel_relkind(v->newrelid) == RELKIND_RELATION)
	{
		List	   *publications = publications_of(v->newrelid);

		if (publications != NIL)
		{
			warn_of_publications_without_truncate(publications, qname);
			runas_ddl(v->owner, psprintf("TRUNCATE %s", qname));
		}
	}
}

void
table_settings_restore_filled(PendingView *v, TableSettings *settings)
{
	const char *index;

	restore_replica_identity(v, settings, true);
	if (settings->cluster_index &&
		(index = index_of_new_relation(v, settings->cluster_index, "CLUSTER ON")) != NULL)
		runas_ddl(v->owner, psprintf("ALTER %s %s CLUSTER ON %s", relation_keyword(v->newrelid),
									 pending_display_name(v), index));
}
