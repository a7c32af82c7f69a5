/*-------------------------------------------------------------------------
 * guard.c
 *	  Refuses renames and drops of managed views done outside the API.
 *
 * ddl_command_start sees the parse tree before anything happens:
 * DROP MATERIALIZED VIEW of a managed view, and a rename (of the view or a
 * column) or SET SCHEMA through ALTER MATERIALIZED VIEW / TABLE / INDEX are
 * refused there, and so is adding, dropping or retyping a column of an
 * incremental view's table.  Drops that reach a managed view indirectly
 * (DROP TABLE source CASCADE, ALTER TABLE source DROP COLUMN ... CASCADE,
 * DROP SCHEMA ... CASCADE, DROP OWNED) are caught by the sql_drop trigger,
 * written in PL/pgSQL over pg_event_trigger_dropped_objects(); it asks
 * pipeline.ddl_in_progress() whether the DDL is pipeline's own.  A second
 * sql_drop trigger, pipeline.guard_function_drop() (PL/pgSQL too), refuses
 * dropping a function a view calls by OID (an after-refresh hook, a lake
 * publication's delete function: 1.11), whoever drops it.
 *
 * The change-tracking triggers on the sources of managed views
 * (change_tracking.h) are guarded here too: while a managed view reads the
 * table, DROP TRIGGER, ALTER TRIGGER ... RENAME or DEPENDS ON EXTENSION (a
 * DROP EXTENSION would take it) and any ALTER TABLE ... ENABLE / DISABLE
 * TRIGGER that would change how one of them fires (by its name, or ALL /
 * USER) are refused; their names cannot be taken by CREATE
 * [OR REPLACE] TRIGGER, except by a CREATE TRIGGER that makes one exactly
 * as pipeline does (a restored dump; creating it needs EXECUTE on
 * pipeline.record_change(), which PUBLIC lacks).  DROP TABLE takes them
 * with the table, as before.  The change-capture triggers of differential
 * refresh (views/capture.h) are guarded the same way while the table is
 * captured, and so are its captured columns: dropping or retyping one a
 * view consumes is refused (a table view records no dependency on them).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "model/catalog.h"
#include "schedule/change_tracking.h"
#include "model/dag.h"
#include "compile/guard.h"
#include "views/capture.h"
#include "views/differential.h"
#include "views/matview.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "util/relation_name.h"
#include "util/settings.h"

/*
 * The managed view rv names, or InvalidOid: a materialized view, or the
 * table of an incremental view.
 */
static Oid
managed_view(RangeVar *rv)
{
	Oid			relid;
	char		relkind;

	if (rv == NULL)
		return InvalidOid;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return InvalidOid;
	relkind = get_rel_relkind(relid);
	if ((relkind != RELKIND_MATVIEW && relkind != RELKIND_RELATION) ||
		!catalog_is_managed(relid))
		return InvalidOid;
	return relid;
}

/*
 * Refuses DDL on one of the tables pipeline makes as it runs (a differential
 * view's state, which its view's owner owns; a capture log): pg_dump leaves
 * them out, so a grant on one, which it would dump, fails a restore, and a
 * move out of pipeline's schema hides it from the check on their readers.
 */
static void
refuse_runtime_relation(RangeVar *rv, const char *what)
{
	Oid			relid;

	if (rv == NULL || creating_extension)
		return;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid) && catalog_is_runtime_relation(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot %s %s: it is a table pipeline makes as it runs", what,
						relation_qualified_name(relid)),
				 errdetail("pg_dump leaves it out, and only pipeline changes it.")));
}

/*
 * Refuses DDL on a managed view; message is a whole sentence (marked with
 * gettext_noop() for translation) with one %s for the view's name.
 */
static void
refuse_alter(Oid relid, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg(message, relation_qualified_name(relid)),
			 errdetail("Downstream queries and the pipeline catalog refer to it by name."),
			 errhint("Change it with pipeline.define() (or pipeline.stage() and pipeline.apply_staged() with its downstream views); to rename it, define the new name and drop the old one with pipeline.drop_matview().")));
}

/*
 * A table-backed view (an incremental or mirror view, a lake publication)
 * that reads a relation: PostgreSQL records no dependency on it
 */
typedef struct Reader
{
	Oid			relid;
	char	   *name;
	char	   *query;
	Oid			owner;			/* the view's, who alone analyzes its query */
	bool		incremental;	/* a stream view, mirror or publication */
} Reader;

/*
 * The table-backed views that read relid, as Readers: stream views,
 * mirrors, publications and differential views (whose dependencies and
 * capture a restore leaves to their first refresh).
 */
static List *
incremental_readers(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	List	   *readers = NIL;
	SpiRows    *rows;

	rows = spi_rows(catalog_owner(),
					catalog_binds_queries() ?
					"SELECT d.matview::text, d.bound_query, c.relowner, d.matview_type <> 'regular', c.oid "
					"  FROM pipeline.edges e "
					"  JOIN pipeline.matview_definitions d ON d.matview = e.downstream "
					"  JOIN pg_catalog.pg_class c ON c.oid = d.matview::pg_catalog.oid "
					" WHERE e.upstream = $1::regclass AND c.relkind = 'r' ORDER BY 1" :
					"SELECT d.matview::text, d.query, c.relowner, d.matview_type <> 'regular', c.oid "
					"  FROM pipeline.edges e "
					"  JOIN pipeline.matview_definitions d ON d.matview = e.downstream "
					"  JOIN pg_catalog.pg_class c ON c.oid = d.matview::pg_catalog.oid "
					" WHERE e.upstream = $1::regclass AND c.relkind = 'r' ORDER BY 1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (uint64 i = 0; i < rows->count; i++)
	{
		Reader	   *reader = palloc(sizeof(Reader));
		bool		isnull;

		reader->name = spi_rows_text(rows, i, 0);
		reader->query = spi_rows_text(rows, i, 1);
		reader->owner = DatumGetObjectId(spi_rows_value(rows, i, 2, &isnull));
		reader->incremental = DatumGetBool(spi_rows_value(rows, i, 3, &isnull));
		reader->relid = DatumGetObjectId(spi_rows_value(rows, i, 4, &isnull));
		readers = lappend(readers, reader);
	}
	return readers;
}

/* Every managed view that reads relid, as "a, b" */
static char *
reader_names(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows = spi_rows(catalog_owner(),
								"SELECT pg_catalog.string_agg(e.downstream::pg_catalog.text, ', ' "
								"                             ORDER BY e.downstream::pg_catalog.text) "
								"  FROM pipeline.edges e WHERE e.upstream = $1::pg_catalog.regclass",
								1, argtypes, values, NULL, true, SPI_OK_SELECT);

	return spi_rows_text(rows, 0, 0);
}

/*
 * DROP TABLE (VIEW, FOREIGN TABLE) of a relation a table-backed view reads:
 * refused, since PostgreSQL records no dependency that would stop it, naming
 * every managed view that reads it.  (A DROP SCHEMA ... CASCADE reaching one
 * is caught by the sql_drop trigger.)
 */
static void
guard_drop_sources(DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(lfirst(lc)), NoLock, true);

		/* one who may not drop it hears so from PostgreSQL first */
		if (!OidIsValid(relid) || !pg_class_ownercheck(relid, GetUserId()) ||
			incremental_readers(relid) == NIL)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("cannot drop %s because managed views read it: %s",
						relation_qualified_name(relid), reader_names(relid)),
				 errhint("Drop those views with pipeline.drop_matview() or redefine them with pipeline.define() first.")));
	}
}

static void
guard_drop(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType == OBJECT_TABLE || stmt->removeType == OBJECT_VIEW ||
		stmt->removeType == OBJECT_FOREIGN_TABLE)
	{
		guard_drop_sources(stmt);
		return;
	}
	if (stmt->removeType != OBJECT_MATVIEW)
		return;
	foreach(lc, stmt->objects)
	{
		Oid			relid = managed_view(makeRangeVarFromNameList(lfirst(lc)));

		if (OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("%s is managed by pipeline", relation_qualified_name(relid)),
					 errdetail("Dropping it directly would leave the pipeline catalog and its downstream views inconsistent."),
					 errhint("Use pipeline.drop_matview('%s').", relation_qualified_name(relid))));
	}
}

/* lets_column_go()'s question for subxact_try() */
typedef struct ColumnQuestion
{
	const Reader *reader;
	Oid			relid;
	AttrNumber	attnum;
	bool		reads;
} ColumnQuestion;

static void
ask_reads_column(void *arg)
{
	ColumnQuestion *q = (ColumnQuestion *) arg;
	RunAs		ra;

	/*
	 * a bound query, analyzed as bound, by the view's owner: analysis can run
	 * the owner's code (a domain's CHECK on a literal), never as whoever runs
	 * the DDL
	 */
	runas_begin_internal(&ra, q->reader->owner);
	q->reads = dag_query_reads_column(q->reader->query, q->relid, q->attnum);
	runas_end(&ra);
}

/*
 * Whether the reader lets the column go: its owner may not read it any
 * more, or its query does not analyze as its owner (its view is broken
 * already, or its owner may not see what it reads).  Holding every column
 * then would let the owner block all DDL on another role's table.  Else
 * *reads says whether its query reads the column.
 */
static bool
lets_column_go(const Reader *reader, Oid relid, AttrNumber attnum, bool *reads)
{
	ColumnQuestion q = {reader, relid, attnum, false};
	ErrorData  *error;

	*reads = false;
	if (pg_class_aclcheck(relid, reader->owner, ACL_SELECT) != ACLCHECK_OK &&
		pg_attribute_aclcheck(relid, attnum, reader->owner, ACL_SELECT) != ACLCHECK_OK)
		return true;
	error = subxact_try(ask_reads_column, &q, false);
	if (error != NULL)
	{
		/* a lock not had, the system: not the query's fault */
		switch (ERRCODE_TO_CATEGORY(error->sqlerrcode))
		{
			case ERRCODE_TRANSACTION_ROLLBACK:
			case ERRCODE_INSUFFICIENT_RESOURCES:
			case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
			case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
			case ERRCODE_OPERATOR_INTERVENTION:
			case ERRCODE_SYSTEM_ERROR:
			case ERRCODE_INTERNAL_ERROR:
				ReThrowError(error);
		}
		return true;
	}
	*reads = q.reads;
	return false;
}

/*
 * The reader lets the column go: nor does its table's dependency hold it,
 * and the DDL may change its data with no write (a retype's USING, a
 * column dropped and added again): a change row says so to skip-unchanged.
 */
static void
let_column_go(Oid reader, Oid relid, AttrNumber attnum)
{
	dag_forget_column_dependency(reader, relid, attnum);
	change_tracking_record_ddl(relid);
}

/*
 * Dropping or retyping a column whose changes a view consumes is refused,
 * unless the view lets it go (lets_column_go()): then it stops consuming
 * and forgets its state, and its next refresh starts again in full.
 */
static void
guard_captured_column(Oid relid, AlterTableCmd *cmd, AttrNumber attnum)
{
	ListCell   *lc;

	foreach(lc, capture_column_consumers(relid, attnum))
	{
		Oid			matview = lfirst_oid(lc);
		Reader		consumer = {matview, relation_qualified_name(matview),
			catalog_get_required(matview)->bound_query,
		catalog_relation_owner(matview), false};
		bool		reads;

		if (lets_column_go(&consumer, relid, attnum, &reads))
		{
			/* its state may be of the column's old type too */
			differential_forget(matview);
			let_column_go(matview, relid, attnum);
			continue;
		}
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 cmd->subtype == AT_DropColumn ?
				 errmsg("cannot drop column \"%s\" of %s because managed view %s reads its changes",
						cmd->name, relation_qualified_name(relid), consumer.name) :
				 errmsg("cannot alter the type of column \"%s\" of %s because managed view %s reads its changes",
						cmd->name, relation_qualified_name(relid), consumer.name),
				 errhint("Redefine the view with pipeline.define() first, or drop it with pipeline.drop_matview().")));
	}
}

/*
 * Whether a parent's DROP COLUMN drops the child's column too: not when
 * the child defines it itself or inherits it from another parent as well.
 */
static bool
dropped_with_parent(Oid child, AttrNumber attnum)
{
	HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(child), Int16GetDatum(attnum));
	bool		dropped = true;

	if (HeapTupleIsValid(tuple))
	{
		Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tuple);

		dropped = !att->attislocal && att->attinhcount == 1;
		ReleaseSysCache(tuple);
	}
	return dropped;
}

/*
 * The columns of an incremental view's table are its query's: adding,
 * dropping or retyping one is refused, and so is making it unlogged
 * (crash recovery would empty it while its refresh state survives).  A
 * source column an incremental view's query reads may not be dropped or
 * retyped either: a table records no dependency on it, as a materialized
 * view's rewrite rule would.  Making a source's rows visible to more roles
 * (row-level security off, a new owner), or changing its persistence
 * (crash recovery may have emptied an unlogged table), changes what a view
 * reads without a write: a change row says so to skip-unchanged.
 */
static void
guard_alter_one_table(Oid relid, List *cmds, bool named)
{
	bool		incremental_table;
	List	   *readers = NIL;
	bool		readers_read = false;
	ListCell   *lc;

	incremental_table = get_rel_relkind(relid) == RELKIND_RELATION &&
		catalog_is_managed(relid);
	foreach(lc, cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		AttrNumber	attnum;
		ListCell   *rc;

		if (cmd->subtype == AT_SetUnLogged && incremental_table)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot make %s unlogged: it is managed by pipeline",
							relation_qualified_name(relid)),
					 errdetail("Crash recovery would empty it while its refresh state survives.")));
		if (cmd->subtype == AT_DisableRowSecurity || cmd->subtype == AT_NoForceRowSecurity ||
			cmd->subtype == AT_ChangeOwner || cmd->subtype == AT_SetLogged ||
			cmd->subtype == AT_SetUnLogged)
			change_tracking_record_ddl(relid);

		/*
		 * crash recovery empties an unlogged table without a write the change
		 * log sees: its differential readers start over, whether it is made
		 * unlogged or logged again after the crash
		 */
		if ((cmd->subtype == AT_SetLogged || cmd->subtype == AT_SetUnLogged) &&
			capture_table_in_use(relid))
			capture_forget_positions(relid);

		/*
		 * a view's new owner owns its state too: DROP ROLE of the old one
		 * works.  Only for a caller the ALTER will let through, which
		 * PostgreSQL checks after this: another role would hold the state's
		 * lock, and every refresh of the view, until its ALTER failed.
		 */
		if (cmd->subtype == AT_ChangeOwner && incremental_table)
		{
			Oid			newowner = get_rolespec_oid(cmd->newowner, true);

			if (OidIsValid(newowner) &&
				(superuser() ||
				 (pg_class_ownercheck(relid, GetUserId()) && is_member_of_role(GetUserId(), newowner))))
				differential_state_follows_owner(relid, newowner);
		}
		if (cmd->subtype != AT_AddColumn && cmd->subtype != AT_DropColumn &&
			cmd->subtype != AT_AlterColumnType)
			continue;
		if (incremental_table)
			refuse_alter(relid, gettext_noop("cannot change the columns of %s: it is managed by pipeline"));
		if (cmd->subtype == AT_AddColumn)
			continue;
		attnum = get_attnum(relid, cmd->name);
		if (attnum == InvalidAttrNumber)
			continue;
		if (!named && cmd->subtype == AT_DropColumn && !dropped_with_parent(relid, attnum))
			continue;
		guard_captured_column(relid, cmd, attnum);
		if (!readers_read)
		{
			readers = incremental_readers(relid);
			readers_read = true;
		}
		foreach(rc, readers)
		{
			Reader	   *reader = lfirst(rc);
			bool		reads;

			if (lets_column_go(reader, relid, attnum, &reads))
			{
				let_column_go(reader->relid, relid, attnum);
				continue;
			}
			if (!reads)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 cmd->subtype == AT_DropColumn ?
					 errmsg("cannot drop column \"%s\" of %s because %s view %s reads it",
							cmd->name, relation_qualified_name(relid),
							reader->incremental ? "incremental" : "managed", reader->name) :
					 errmsg("cannot alter the type of column \"%s\" of %s because %s view %s reads it",
							cmd->name, relation_qualified_name(relid),
							reader->incremental ? "incremental" : "managed", reader->name),
					 reader->incremental ?
					 errhint("Redefine the incremental view with pipeline.define() first, or drop it with pipeline.drop_matview().") :
					 errhint("Redefine the view with pipeline.define() first, or drop it with pipeline.drop_matview().")));
		}
	}
}

/* The tables of composite type typrelid's row type (CREATE TABLE ... OF). */
static List *
typed_tables(Oid typrelid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(get_rel_type_id(typrelid))};

	return spi_rows_oids(spi_rows(InvalidOid,
								  "SELECT c.oid FROM pg_catalog.pg_class c "
								  " WHERE c.reloftype OPERATOR(pg_catalog.=) $1 ORDER BY 1",
								  1, argtypes, values, NULL, true, SPI_OK_SELECT), 0);
}

/*
 * Every table the statement changes: a table and, unless ONLY, its
 * inheritors (PostgreSQL recurses to them); for ALTER TYPE of a composite
 * type, the tables of that type (CASCADE recurses to them).
 */
static void
guard_alter_table(AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	List	   *tables = NIL;
	ListCell   *lc;

	/*
	 * another role's: PostgreSQL refuses it, before it waits for a lock or
	 * says what reads the table
	 */
	if (!OidIsValid(relid) || !pg_class_ownercheck(relid, GetUserId()))
		return;
	if (stmt->objtype != OBJECT_TYPE)
	{
		guard_alter_one_table(relid, stmt->cmds, true);
		if (stmt->relation->inh)
			tables = list_delete_first(find_all_inheritors(relid, NoLock, NULL));
	}
	else if (get_rel_relkind(relid) == RELKIND_COMPOSITE_TYPE)
	{
		/* each typed table is named by the type; its inheritors follow it */
		foreach(lc, typed_tables(relid))
		{
			guard_alter_one_table(lfirst_oid(lc), stmt->cmds, true);
			tables = list_concat(tables,
								 list_delete_first(find_all_inheritors(lfirst_oid(lc), NoLock, NULL)));
		}
	}
	foreach(lc, tables)
		guard_alter_one_table(lfirst_oid(lc), stmt->cmds, false);
}

/*
 * ALTER TABLE ... ATTACH PARTITION and INHERIT: refused for a table whose
 * changes pipeline records (change capture for differential views,
 * tracking for skip-unchanged).  A write through the parent fires the
 * parent's statement triggers, not the table's: once detached again, the
 * table would look unchanged to the views that read it, with rows they
 * never saw.
 */
static void
guard_alter_table_inheritance(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			relid;
		Oid			parent;

		if (cmd->subtype == AT_AttachPartition)
		{
			relid = RangeVarGetRelid(castNode(PartitionCmd, cmd->def)->name, NoLock, true);
			parent = RangeVarGetRelid(stmt->relation, NoLock, true);
		}
		else if (cmd->subtype == AT_AddInherit)
		{
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
			parent = RangeVarGetRelid(castNode(RangeVar, cmd->def), NoLock, true);
		}
		else
			continue;
		if (!OidIsValid(relid) || !OidIsValid(parent))
			continue;
		if (catalog_is_runtime_relation(parent) && !creating_extension)
			dag_refuse_runtime_read(relation_qualified_name(relid), parent);
		/* a view's table as a child (the parent's ALTERs recurse) or a parent */
		if (catalog_is_managed(relid) || catalog_is_managed(parent))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot make %s a child of %s: %s is managed by pipeline",
							relation_qualified_name(relid), relation_qualified_name(parent),
							relation_qualified_name(catalog_is_managed(relid) ? relid : parent)),
					 errdetail("Changes to the parent would reach the view's table, or the child's rows its readers.")));
		if (!capture_table_in_use(relid) && !change_tracking_table_in_use(relid))
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 cmd->subtype == AT_AttachPartition ?
				 errmsg("cannot attach %s as a partition of %s: managed views read its changes",
						relation_qualified_name(relid), relation_qualified_name(parent)) :
				 errmsg("cannot make %s inherit from %s: managed views read its changes",
						relation_qualified_name(relid), relation_qualified_name(parent)),
				 errdetail("Writes through the parent would not be recorded as the table's changes."),
				 errhint("Drop the views that read the table, or redefine them to read another, first.")));
	}
}

/*
 * The firing mode of a trigger name pipeline reserves (change tracking or
 * change capture), or 0.
 */
static char
reserved_trigger_mode(const char *name)
{
	char		mode = change_tracking_trigger_mode(name);

	return mode != 0 ? mode : capture_trigger_mode(name);
}

/*
 * Whether relid has the reserved trigger name and pipeline uses it: a
 * managed view reads the table (tracking) or the table is captured (a
 * trigger no view needs any more may go).
 */
static bool
tracking_trigger_in_use(Oid relid, const char *name)
{
	if (!OidIsValid(relid) || reserved_trigger_mode(name) == 0 ||
		!OidIsValid(get_trigger_oid(relid, name, true)))
		return false;
	if (change_tracking_trigger_mode(name) != 0)
		return change_tracking_table_in_use(relid);
	return capture_table_in_use(relid);
}

/*
 * Refuses DDL on a tracking trigger in use; message is a whole sentence
 * (gettext_noop()) with %s for the trigger's name, then the table's.
 */
static void
refuse_tracking_change(Oid relid, const char *name, const char *message)
{
	bool		capture = capture_trigger_mode(name) != 0;

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg(message, name, relation_qualified_name(relid)),
			 capture ?
			 errdetail("Differentially refreshed views read the table's changes from the log this trigger writes; without it firing on every write they would miss changes.") :
			 errdetail("Managed views read the table; without the trigger firing on every write (also under session_replication_role = replica and in logical replication apply workers) they would be skipped as unchanged and keep stale data."),
			 errhint("Drop the managed views that read the table with pipeline.drop_matview() first; the triggers go with the table when it is dropped.")));
}

static void
refuse_tracking_name(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_RESERVED_NAME),
			 capture_trigger_mode(name) != 0 ?
			 errmsg("trigger name \"%s\" is reserved for pipeline's change capture", name) :
			 errmsg("trigger name \"%s\" is reserved for pipeline's change tracking", name),
			 errhint("Choose another name.")));
}

/*
 * Refuses changing a differential view's write guard (what is "drop",
 * "rename", "disable", ...): its rows are its refresh's alone.
 */
static void
refuse_view_guard_change(Oid relid, const char *name, const char *what)
{
	if (!OidIsValid(relid) || strcmp(name, VIEW_GUARD_TRIGGER) != 0 ||
		!OidIsValid(get_trigger_oid(relid, name, true)) || !catalog_is_managed(relid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_IN_USE),
			 errmsg("cannot %s trigger \"%s\" on managed view %s", what, name,
					relation_qualified_name(relid)),
			 errdetail("The trigger keeps every write but the view's refresh out of it."),
			 errhint("Drop the view with pipeline.drop_matview(), or redefine it with pipeline.define().")));
}

/* DROP TRIGGER name ON table */
static void
guard_drop_trigger(DropStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->objects)
	{
		List	   *names = lfirst(lc);
		const char *trigger;
		Oid			relid;

		if (list_length(names) < 2)
			continue;
		trigger = strVal(llast(names));
		relid = RangeVarGetRelid(makeRangeVarFromNameList(list_truncate(list_copy(names),
																		list_length(names) - 1)),
								 NoLock, true);
		if (tracking_trigger_in_use(relid, trigger))
			refuse_tracking_change(relid, trigger,
								   gettext_noop("cannot drop trigger \"%s\" on %s: pipeline records the table's changes with it"));
		refuse_view_guard_change(relid, trigger, "drop");
	}
}

/* ALTER TRIGGER name ON table RENAME TO newname */
static void
guard_rename_trigger(RenameStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);

	if (reserved_trigger_mode(stmt->newname) != 0)
		refuse_tracking_name(stmt->newname);
	if (tracking_trigger_in_use(relid, stmt->subname))
		refuse_tracking_change(relid, stmt->subname,
							   gettext_noop("cannot rename trigger \"%s\" on %s: pipeline records the table's changes with it"));
	refuse_view_guard_change(relid, stmt->subname, "rename");
}

/*
 * ALTER TRIGGER name ON table DEPENDS ON EXTENSION ext: a later DROP
 * EXTENSION would take the trigger with it, silently (NO DEPENDS may go).
 */
static void
guard_trigger_depends(AlterObjectDependsStmt *stmt)
{
	Oid			relid;
	const char *trigger;

	if (stmt->objectType != OBJECT_TRIGGER || stmt->remove)
		return;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	trigger = strVal(linitial(castNode(List, stmt->object)));
	if (tracking_trigger_in_use(relid, trigger))
		refuse_tracking_change(relid, trigger,
							   gettext_noop("cannot let an extension own trigger \"%s\" on %s: pipeline records the table's changes with it"));
	refuse_view_guard_change(relid, trigger, "let an extension own");
}

/*
 * The firing mode (TRIGGER_FIRES_* or TRIGGER_DISABLED) an ALTER TABLE
 * subcommand gives triggers, or 0; *all when it sets every user trigger.
 */
static char
trigger_mode_set_by(AlterTableCmd *cmd, bool *all)
{
	*all = cmd->subtype == AT_EnableTrigAll || cmd->subtype == AT_EnableTrigUser ||
		cmd->subtype == AT_DisableTrigAll || cmd->subtype == AT_DisableTrigUser;
	switch (cmd->subtype)
	{
		case AT_EnableTrig:
		case AT_EnableTrigAll:
		case AT_EnableTrigUser:
			return TRIGGER_FIRES_ON_ORIGIN;
		case AT_EnableAlwaysTrig:
			return TRIGGER_FIRES_ALWAYS;
		case AT_EnableReplicaTrig:
			return TRIGGER_FIRES_ON_REPLICA;
		case AT_DisableTrig:
		case AT_DisableTrigAll:
		case AT_DisableTrigUser:
			return TRIGGER_DISABLED;
		default:
			return 0;
	}
}

/*
 * ALTER TABLE ... ENABLE [ALWAYS | REPLICA] / DISABLE TRIGGER: refused when
 * it would change how a tracking trigger fires.  ALL and USER set every
 * user trigger to one mode, which is never right for both of them.
 */
static void
guard_alter_table_triggers(AlterTableStmt *stmt)
{
	const char *tracking[] = {CHANGE_TRACKING_TRIGGER, CHANGE_TRACKING_REPLICA_TRIGGER,
		CAPTURE_INSERT_TRIGGER, CAPTURE_UPDATE_TRIGGER, CAPTURE_DELETE_TRIGGER,
	CAPTURE_TRUNCATE_TRIGGER, CAPTURE_REPLICA_TRIGGER};
	Oid			relid = InvalidOid;
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		bool		all;
		char		mode = trigger_mode_set_by(cmd, &all);

		if (mode == 0)
			continue;
		if (!OidIsValid(relid))
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		for (size_t i = 0; all && i < lengthof(tracking); i++)
			if (tracking_trigger_in_use(relid, tracking[i]))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_IN_USE),
						 mode == TRIGGER_DISABLED ?
						 errmsg("cannot disable all triggers of %s: pipeline records the table's changes with trigger \"%s\"",
								relation_qualified_name(relid), tracking[i]) :
						 errmsg("cannot enable all triggers of %s: pipeline records the table's changes with trigger \"%s\"",
								relation_qualified_name(relid), tracking[i]),
						 errdetail("Managed views read the table; the trigger must keep firing as it does."),
						 errhint("Enable or disable the table's other triggers by name.")));
		if (mode != TRIGGER_FIRES_ALWAYS)
			refuse_view_guard_change(relid, all ? VIEW_GUARD_TRIGGER : cmd->name,
									 mode == TRIGGER_DISABLED ? "disable" : "change the firing mode of");
		if (!all && reserved_trigger_mode(cmd->name) != mode &&
			tracking_trigger_in_use(relid, cmd->name))
			refuse_tracking_change(relid, cmd->name, mode == TRIGGER_DISABLED ?
								   gettext_noop("cannot disable trigger \"%s\" on %s: pipeline records the table's changes with it") :
								   gettext_noop("cannot change the firing mode of trigger \"%s\" on %s: pipeline records the table's changes with it"));
	}
}

static void guard_statement(Node *parsetree);

PG_FUNCTION_INFO_V1(pipeline_guard_ddl_command_start);

/* guard_ddl_command_start() RETURNS event_trigger */
Datum
pipeline_guard_ddl_command_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "not fired by event trigger manager");
	if (runas_ddl_in_progress())
		PG_RETURN_VOID();
	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;
	guard_statement(parsetree);
	PG_RETURN_VOID();
}

/*
 * Commands the event trigger's tags (1.12) do not name, though PostgreSQL
 * applies them to tables and materialized views too: ALTER FOREIGN TABLE
 * and ALTER TYPE (of a relation's row type) rename its columns, ALTER
 * SCHEMA ... RENAME moves them, CREATE TABLE ... INHERITS adds rows under
 * them, CREATE RULE rewrites what is written to them.
 */
static bool
untagged(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_RenameStmt:
			return ((RenameStmt *) parsetree)->relationType == OBJECT_FOREIGN_TABLE ||
				((RenameStmt *) parsetree)->relationType == OBJECT_TYPE ||
				((RenameStmt *) parsetree)->renameType == OBJECT_SCHEMA;
		case T_AlterTableStmt:
			return ((AlterTableStmt *) parsetree)->objtype == OBJECT_FOREIGN_TABLE ||
				((AlterTableStmt *) parsetree)->objtype == OBJECT_TYPE;
		case T_AlterObjectSchemaStmt:
			return ((AlterObjectSchemaStmt *) parsetree)->objectType == OBJECT_FOREIGN_TABLE;
		case T_DropStmt:
			return ((DropStmt *) parsetree)->removeType == OBJECT_TABLE ||
				((DropStmt *) parsetree)->removeType == OBJECT_VIEW ||
				((DropStmt *) parsetree)->removeType == OBJECT_FOREIGN_TABLE;
		case T_CreateStmt:
			return ((CreateStmt *) parsetree)->inhRelations != NIL;
		case T_CreateForeignTableStmt:
			return ((CreateForeignTableStmt *) parsetree)->base.inhRelations != NIL;
		case T_AlterExtensionContentsStmt:
			return ((AlterExtensionContentsStmt *) parsetree)->action > 0;
		case T_RuleStmt:
		case T_GrantStmt:
			return true;
		default:
			return false;
	}
}

/*
 * ALTER EXTENSION e ADD TABLE / VIEW / MATERIALIZED VIEW / FOREIGN TABLE of
 * a managed view or a relation one reads: pg_dump leaves an extension's
 * members out (a table's triggers too), so the views would not come back
 * from a dump of their database.
 */
static void
guard_extension_member(AlterExtensionContentsStmt *stmt)
{
	Oid			extension;
	Oid			relid;
	ListCell   *lc;

	if (stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_VIEW &&
		stmt->objtype != OBJECT_MATVIEW && stmt->objtype != OBJECT_FOREIGN_TABLE)
		return;

	/* an extension that is not there, or another's: PostgreSQL refuses it */
	extension = get_extension_oid(stmt->extname, true);
	if (!OidIsValid(extension) || !pg_extension_ownercheck(extension, GetUserId()))
		return;

	/*
	 * with the lock ALTER EXTENSION takes: the name looked up after a drop or
	 * rename it waits for is then the one it adds
	 */
	relid = RangeVarGetRelid(makeRangeVarFromNameList(castNode(List, stmt->object)),
							 ShareUpdateExclusiveLock, true);
	if (!OidIsValid(relid))
		return;
	if (catalog_is_managed(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot make %s a member of extension \"%s\": it is managed by pipeline",
						relation_qualified_name(relid), stmt->extname),
				 errdetail("pg_dump leaves an extension's members out, so the view would not be restored from a dump.")));
	/* a parent or child of what a view reads: left out, it takes that along */
	foreach(lc, dag_family(relid))
	{
		Oid			member = lfirst_oid(lc);

		if (reader_names(member) != NULL || capture_table_in_use(member) ||
			change_tracking_table_in_use(member))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot make %s a member of extension \"%s\": managed views read %s",
							relation_qualified_name(relid), stmt->extname,
							member == relid ? "it" : relation_qualified_name(member)),
					 errdetail("pg_dump leaves an extension's members out, a table's triggers too, so the views would not be restored from a dump."),
					 errhint("Drop the managed views that read it with pipeline.drop_matview() first.")));
	}
}

void
guard_untagged_statement(Node *parsetree)
{
	if (untagged(parsetree) && !runas_ddl_in_progress() &&
		OidIsValid(get_extension_oid("pipeline", true)))
		guard_statement(parsetree);
}

/*
 * The objects users' statements made or altered in this transaction, in
 * TopMemoryContext (ObjectAddress), for guard_after_statement(): outside
 * pipeline's own DDL and extension scripts, of the kinds that record what
 * they read or use.
 */
static List *made_objects = NIL;
static object_access_hook_type prev_object_access_hook = NULL;

/*
 * Utility statements under way (guard_before_statement()): only what they
 * make is noted, so a refresh called from a query, which makes and drops
 * a new heap, notes nothing.  An error leaves it counting to the end of
 * the transaction: more is noted then, never less.
 */
static int	statements_under_way = 0;

static void
note_made_object(ObjectAccessType access, Oid classid, Oid objid, int subid, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classid, objid, subid, arg);
	/* made, or altered (CREATE OR REPLACE, ALTER TABLE ... INHERIT) */
	if ((access != OAT_POST_CREATE && access != OAT_POST_ALTER) ||
		statements_under_way == 0 || runas_ddl_in_progress() || creating_extension)
		return;
	if (classid == RelationRelationId || classid == RewriteRelationId ||
		classid == ProcedureRelationId || classid == ConstraintRelationId ||
		classid == AttrDefaultRelationId || classid == PolicyRelationId ||
		classid == TypeRelationId || classid == CastRelationId ||
		classid == TriggerRelationId || classid == StatisticExtRelationId ||
		classid == OperatorRelationId)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		ObjectAddress *object = palloc(sizeof(ObjectAddress));

		/*
		 * a column added: its relation, whose walk takes its columns; a
		 * default: its relation and column, for now
		 */
		ObjectAddressSubSet(*object, classid, objid, subid);
		made_objects = lappend(made_objects, object);
		MemoryContextSwitchTo(old);
	}
}

static void
forget_made_objects(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		list_free_deep(made_objects);
		made_objects = NIL;
		statements_under_way = 0;
	}
}

void
guard_init(void)
{
	prev_object_access_hook = object_access_hook;
	object_access_hook = note_made_object;
	RegisterXactCallback(forget_made_objects, NULL);
}

int
guard_before_statement(void)
{
	statements_under_way++;
	return list_length(made_objects);
}

void
guard_after_statement(int mark)
{
	if (statements_under_way > 0)
		statements_under_way--;
	if (list_length(made_objects) <= mark)
		return;
	CommandCounterIncrement();	/* see what the statement recorded */
	if (OidIsValid(get_extension_oid("pipeline", true)))
		for (int i = mark; i < list_length(made_objects); i++)
		{
			ObjectAddress *object = list_nth(made_objects, i);
			Oid			objid = object->objectId;

			/* a relation's row type and array types: its relation tells */
			if (object->classId == TypeRelationId &&
				(OidIsValid(get_typ_typrelid(objid)) || OidIsValid(get_element_type(objid))))
				continue;
			if (object->classId == AttrDefaultRelationId)
				objid = GetAttrDefaultOid(objid, object->objectSubId);
			if (OidIsValid(objid))
				dag_refuse_runtime_reads(object->classId, objid);
		}
	while (list_length(made_objects) > mark)
	{
		pfree(llast(made_objects));
		made_objects = list_delete_last(made_objects);
	}
}

/* ALTER SCHEMA ... RENAME of a schema holding managed views: refused */
static void
guard_rename_schema(const char *schema)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	SpiRows    *rows;
	Oid			nspid = get_namespace_oid(schema, true);

	/* a role that may not rename it gets PostgreSQL's error */
	if (!OidIsValid(nspid) || !pg_namespace_ownercheck(nspid, GetUserId()))
		return;
	values[0] = ObjectIdGetDatum(nspid);
	rows = spi_rows(catalog_owner(),
					"SELECT m.matview::pg_catalog.oid FROM pipeline.matviews m "
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m.matview "
					" WHERE c.relnamespace OPERATOR(pg_catalog.=) $1 ORDER BY 1 LIMIT 1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (rows->count > 0)
	{
		bool		isnull;

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot rename schema %s: it holds views managed by pipeline, such as %s",
						quote_identifier(schema),
						relation_qualified_name(DatumGetObjectId(spi_rows_value(rows, 0, 0, &isnull)))),
				 errdetail("Downstream queries and the pipeline catalog refer to them by name."),
				 errhint("Define the views in another schema and drop these with pipeline.drop_matview() first.")));
	}
}

static void
guard_statement(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			if (((DropStmt *) parsetree)->removeType == OBJECT_TRIGGER)
				guard_drop_trigger((DropStmt *) parsetree);
			else
				guard_drop((DropStmt *) parsetree);
			break;
		case T_CreateTrigStmt:
			{
				CreateTrigStmt *stmt = (CreateTrigStmt *) parsetree;

				/* a restored dump makes them as pipeline did: let it */
				if (reserved_trigger_mode(stmt->trigname) != 0 &&
					!change_tracking_trigger_as_made(stmt) &&
					!capture_trigger_as_made(stmt))
					refuse_tracking_name(stmt->trigname);
				break;
			}
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;
				Oid			relid;

				if (stmt->renameType == OBJECT_TRIGGER)
				{
					guard_rename_trigger(stmt);
					break;
				}
				if (stmt->renameType == OBJECT_SCHEMA)
				{
					guard_rename_schema(stmt->subname);
					break;
				}
				relid = managed_view(stmt->relation);

				if (OidIsValid(relid))
					refuse_alter(relid, stmt->renameType == OBJECT_COLUMN ||
								 stmt->renameType == OBJECT_ATTRIBUTE ?
								 gettext_noop("cannot rename a column of %s: it is managed by pipeline") :
								 gettext_noop("cannot rename %s: it is managed by pipeline"));
				break;
			}
		case T_AlterObjectDependsStmt:
			guard_trigger_depends((AlterObjectDependsStmt *) parsetree);
			break;
		case T_RuleStmt:
			{
				Oid			relid = managed_view(((RuleStmt *) parsetree)->relation);

				/*
				 * a rule rewrites the refresh's own writes: DO INSTEAD
				 * NOTHING left rows out while the refresh succeeded
				 */
				if (OidIsValid(relid))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_IN_USE),
							 errmsg("cannot create rule \"%s\" on %s: it is managed by pipeline",
									((RuleStmt *) parsetree)->rulename, relation_qualified_name(relid)),
							 errdetail("Its rows are written by its refreshes alone, which a rule would rewrite."),
							 errhint("Read it through a view of your own, or use a trigger.")));
				break;
			}
		case T_AlterExtensionContentsStmt:
			guard_extension_member((AlterExtensionContentsStmt *) parsetree);
			break;
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) parsetree;
				Oid			relid = managed_view(stmt->relation);

				refuse_runtime_relation(stmt->relation, "move");

				if (OidIsValid(relid))
					refuse_alter(relid, gettext_noop("cannot move %s: it is managed by pipeline"));
				break;
			}
		case T_CreateStmt:
		case T_CreateForeignTableStmt:
			{
				/* a foreign table's statement begins with a CreateStmt */
				ListCell   *lc;

				foreach(lc, ((CreateStmt *) parsetree)->inhRelations)
				{
					Oid			parent = managed_view(lfirst_node(RangeVar, lc));

					if (OidIsValid(parent))
						ereport(ERROR,
								(errcode(ERRCODE_OBJECT_IN_USE),
								 errmsg("cannot inherit from %s: it is managed by pipeline",
										relation_qualified_name(parent)),
								 errdetail("A child's rows would reach the view's readers, past its refresh.")));
				}
				break;
			}
		case T_GrantStmt:
			{
				GrantStmt  *stmt = (GrantStmt *) parsetree;
				ListCell   *lc;

				if (stmt->targtype == ACL_TARGET_OBJECT && stmt->objtype == OBJECT_TABLE)
					foreach(lc, stmt->objects)
						refuse_runtime_relation(lfirst_node(RangeVar, lc),
												stmt->is_grant ? "grant privileges on" : "revoke privileges on");
				/* ALL TABLES IN SCHEMA pipeline takes its run-time tables too */
				if (stmt->targtype == ACL_TARGET_ALL_IN_SCHEMA && stmt->objtype == OBJECT_TABLE &&
					!creating_extension)
					foreach(lc, stmt->objects)
						if (strcmp(strVal(lfirst(lc)), PIPELINE_SCHEMA) == 0)
							ereport(ERROR,
									(errcode(ERRCODE_OBJECT_IN_USE),
									 errmsg("cannot %s privileges on all tables in schema %s: it holds tables pipeline makes as it runs",
											stmt->is_grant ? "grant" : "revoke", PIPELINE_SCHEMA),
									 errdetail("pg_dump leaves those out, and would write their grants."),
									 errhint("Name the tables.")));
				break;
			}
		case T_AlterTableStmt:
			refuse_runtime_relation(((AlterTableStmt *) parsetree)->relation, "alter");
			guard_alter_table_triggers((AlterTableStmt *) parsetree);
			guard_alter_table((AlterTableStmt *) parsetree);
			guard_alter_table_inheritance((AlterTableStmt *) parsetree);
			break;
		default:
			break;
	}
}

PG_FUNCTION_INFO_V1(pipeline_ddl_in_progress);

/* ddl_in_progress() RETURNS boolean */
Datum
pipeline_ddl_in_progress(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(runas_ddl_in_progress());
}
