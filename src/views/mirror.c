/*-------------------------------------------------------------------------
 * mirror.c
 *	  Mirrors: a table <schema>.mv_<name> keeping the latest row per key
 *	  of a change stream (seed 002's cart, seed 004's cases).
 *
 * The query yields change rows: the mirror keys, a sequence, an operation
 * column and the other columns.  Each run applies them with
 * apply_changes()' rules (io/apply_changes.h), deleted-key memory
 * included:
 *	- with an incremental key, the rows above the mirror's mark, and the new
 *	  mark is stored in the same transaction (exactly once across crashes);
 *	  the first key ever consumed is recorded, so a redefinition can tell
 *	  whether the stream still holds everything to rebuild from;
 *	- without one, every row of the one table the query reads (a stage),
 *	  which is locked against writers and emptied in the same transaction.
 * The table has the query's columns except the operation column and the
 * incremental key, and a primary key on the mirror keys.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "io/apply_changes.h"
#include "io/apply_plan.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "model/definition.h"
#include "util/analyze.h"
#include "util/lock_tries.h"
#include "util/name_list.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/incremental.h"
#include "views/mirror.h"
#include "views/quarantine.h"
#include "util/relation_name.h"

static void
require_column(Query *query, const MatviewDefinition *def, const char *column,
			   const char *what, const char *dpl_key)
{
	if (query_output_column(query, column) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s \"%s\" is not a column of the query of mirror \"%s\"",
						what, column, def->name),
				 errhint("Name one of the query's output columns in @%s.", dpl_key)));
}

static void
refuse_double_role(const MatviewDefinition *def, const char *column, const char *roles)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("column \"%s\" of mirror \"%s\" cannot be both %s", column, def->name, roles),
			 errdetail("The keys, the sequence, the operation and the incremental key are four different columns.")));
}

/* The relation of the view def redefines, or InvalidOid for a new view */
static Oid
existing_relation(const MatviewDefinition *def)
{
	Oid			nspid = get_namespace_oid(def->schema_name, true);

	return OidIsValid(nspid) ? get_relname_relid(matview_relation_name(def->name), nspid) : InvalidOid;
}

/*
 * The stage must not be what another managed view reads: the mirror empties
 * it at every run and when it is defined, under that view's feet.
 */
static void
refuse_stage_readers(const MatviewDefinition *def, Oid stage)
{
	Oid			self = existing_relation(def);
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(stage), ObjectIdGetDatum(self)};
	SpiRows    *rows;

	/* as of now, not of the transaction's snapshot (REPEATABLE READ) */
	PushActiveSnapshot(GetLatestSnapshot());
	rows = spi_rows(catalog_owner(),
					psprintf("SELECT e.downstream::pg_catalog.text FROM pipeline.edges e "
							 " WHERE e.upstream::pg_catalog.oid IN (%s) "
							 "   AND e.downstream::pg_catalog.oid OPERATOR(pg_catalog.<>) $2 "
							 " ORDER BY 1 LIMIT 1", dag_family_sql("SELECT $1")),
					2, argtypes, values, NULL, true, SPI_OK_SELECT);
	PopActiveSnapshot();
	if (rows->count > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mirror \"%s\" without @incremental-key cannot consume %s: managed view %s reads it",
						def->name, relation_qualified_name(stage), spi_rows_text(rows, 0, 0)),
				 errdetail("Each run of the mirror, the first one when it is defined, empties the table."),
				 errhint("Name the stream's arrival order in @incremental-key to consume it above a mark, or have the other view read the mirror.")));
}

Oid
mirror_stage(const MatviewDefinition *def)
{
	List	   *reads;

	if (def->type != MATVIEW_MIRROR || def->incremental_key != NULL)
		return InvalidOid;
	reads = dag_query_dependencies(def->query);
	return list_length(reads) == 1 ? linitial_oid(reads) : InvalidOid;
}

/*
 * Whether def redefines a mirror that empties stage already: then no
 * reader can start on it unseen (mirror_refuse_reading_stages() sees the
 * mirror), and its redefinition need not wait for the stage's writers.
 */
static bool
reads_stage_already(const MatviewDefinition *def, Oid stage)
{
	Oid			self = existing_relation(def);
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(stage), ObjectIdGetDatum(self)};

	if (!OidIsValid(self))
		return false;
	return spi_rows(catalog_owner(),
					"SELECT FROM pipeline.edges e "
					"  JOIN pipeline.matview_definitions d ON d.matview OPERATOR(pg_catalog.=) e.downstream "
					" WHERE e.upstream OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
					"   AND e.downstream::pg_catalog.oid OPERATOR(pg_catalog.=) $2 "
					"   AND d.matview_type OPERATOR(pg_catalog.=) 'mirror' AND d.incremental_key IS NULL",
					2, argtypes, values, NULL, true, SPI_OK_SELECT)->count > 0;
}

/*
 * A stage mirror empties its stage as the mirror's owner, which fires the
 * stage's triggers with that owner's rights: the stage must be the owner's
 * own table, never a place where another role's code waits.  Owned by that
 * very role: not by a role it is a member of (another member could add a
 * trigger), nor, for a superuser, by anyone.  Checked at definition and at
 * every run (the stage may change hands).
 */
static void
check_stage_owner(const char *name, Oid stage, Oid owner)
{
	ListCell   *lc;

	/* its partitions and inheritance children are emptied with it */
	foreach(lc, find_all_inheritors(stage, NoLock, NULL))
		if (catalog_relation_owner(lfirst_oid(lc)) != owner)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("mirror \"%s\" without @incremental-key cannot consume %s: role %s does not own %s",
							name, relation_qualified_name(stage), GetUserNameFromId(owner, false),
							lfirst_oid(lc) == stage ? "it" : relation_qualified_name(lfirst_oid(lc))),
					 errdetail("Each run of the mirror, the first one when it is defined, empties the table as the mirror's owner, which runs the table's triggers with that owner's rights."),
					 errhint("Have the mirror's owner own the table, or name the stream's arrival order in @incremental-key to consume it above a mark.")));
}

void
mirror_claim_stage(const MatviewDefinition *def, Oid stage)
{
	check_stage_owner(def->name, stage, GetUserId());

	/*
	 * Before looking: a reader defined meanwhile holds the stage until it
	 * commits, and one defined later waits for this definition; each looks as
	 * of after its wait.
	 */
	if (!reads_stage_already(def, stage))
	{
		List	   *family = dag_family(stage);
		ListCell   *lc;

		/* a reader of its parent or child too; in one order, as others do */
		list_sort(family, list_oid_cmp);
		foreach(lc, family)
			LockRelationOid(lfirst_oid(lc), AccessExclusiveLock);
	}
	refuse_stage_readers(def, stage);
}

/*
 * Nor may another view start reading a stage a mirror already empties: it
 * would only ever see an emptied table, and its edge would refuse every
 * redefinition of the mirror (above), which its owner cannot undo.
 */
void
mirror_refuse_reading_stages(const MatviewDefinition *def)
{
	dag_refuse_reading_stages(dag_query_dependencies(def->query), def->schema_name, def->name);
}

/*
 * Without an incremental key the query reads one table (returned), which
 * runs empty: all of it (each run truncates the whole table, children too,
 * so a row the query filtered out would go unapplied).
 */
static Oid
check_stage(const MatviewDefinition *def, Query *query)
{
	List	   *reads = dag_query_dependencies(def->query);
	Oid			stage = list_length(reads) == 1 ? linitial_oid(reads) : InvalidOid;
	char		relkind = OidIsValid(stage) ? get_rel_relkind(stage) : '\0';
	RangeTblEntry *rte = list_length(query->rtable) == 1 ? linitial(query->rtable) : NULL;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mirror \"%s\" without @incremental-key must read exactly one table", def->name),
				 errdetail("Each run applies every row of that table and empties it."),
				 errhint("Name the stream's arrival order in @incremental-key to consume a stream above a mark instead.")));
	if (rte == NULL || rte->rtekind != RTE_RELATION || !rte->inh || rte->tablesample != NULL ||
		query->jointree->quals != NULL || query->limitCount != NULL || query->limitOffset != NULL ||
		query->setOperations != NULL || query->groupClause != NIL || query->distinctClause != NIL ||
		query->hasAggs || query->havingQual != NULL || query->hasWindowFuncs ||
		query->hasTargetSRFs || query->cteList != NIL || query->hasSubLinks)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("mirror \"%s\" without @incremental-key must read all of its table", def->name),
				 errdetail("Each run empties the whole table: rows a WHERE, LIMIT, ONLY, TABLESAMPLE, grouping or set operation left out would never be applied."),
				 errhint("Read the table with a plain SELECT of its columns, or name the stream's arrival order in @incremental-key.")));
	return stage;
}

void
mirror_check(const MatviewDefinition *def, bool claim_stage)
{
	Query	   *query;
	ListCell   *lc;
	Oid			stage = InvalidOid;
	Oid			sequence_type;

	if (!catalog_has_options())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mirrors need version 1.5 of the extension's SQL"),
				 errhint("Run ALTER EXTENSION pipeline UPDATE.")));
	query = analyze_one(def->query);
	foreach(lc, def->mirror_keys)
	{
		const char *key = lfirst(lc);

		require_column(query, def, key, "mirror key", "mirror-keys");
		if (strcmp(key, def->mirror_sequence) == 0 || strcmp(key, def->mirror_operation) == 0 ||
			(def->incremental_key && strcmp(key, def->incremental_key) == 0))
			refuse_double_role(def, key, "a key and the sequence, operation or incremental key");
	}
	require_column(query, def, def->mirror_sequence, "sequence column", "mirror-sequence");
	sequence_type = exprType((Node *) query_output_column(query, def->mirror_sequence)->expr);
	/* every run orders a key's changes by it */
	if (!OidIsValid(lookup_type_cache(sequence_type, TYPECACHE_LT_OPR)->lt_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("sequence column \"%s\" of mirror \"%s\" has type %s, which has no ordering",
						def->mirror_sequence, def->name, format_type_be(sequence_type)),
				 errhint("Cast it to a type with a default B-tree ordering, such as bigint, numeric or timestamptz.")));
	(void) comparison_type(sequence_type);
	require_column(query, def, def->mirror_operation, "operation column", "mirror-operation");
	if (strcmp(def->mirror_sequence, def->mirror_operation) == 0)
		refuse_double_role(def, def->mirror_sequence, "the sequence and the operation");
	if (strcmp(def->mirror_delete_value, "I") == 0 || strcmp(def->mirror_delete_value, "U") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("@mirror-delete-value of mirror \"%s\" must not be \"%s\"",
						def->name, def->mirror_delete_value),
				 errdetail("'I' and 'U' are the insert and update operations.")));
	if (def->incremental_key)
	{
		if (strcmp(def->incremental_key, def->mirror_sequence) == 0 ||
			strcmp(def->incremental_key, def->mirror_operation) == 0)
			refuse_double_role(def, def->incremental_key,
							   "the incremental key and the sequence or operation");
		incremental_check_key(def->query, def->incremental_key, def->name);
		incremental_check_query(def->query, def->incremental_key, def->name);
	}
	else
		stage = check_stage(def, query);
	quarantine_check(def);
	if (OidIsValid(stage) && claim_stage)
		mirror_claim_stage(def, stage);
	else if (OidIsValid(stage))
		refuse_stage_readers(def, stage);
}

Query *
mirror_table_query(Query *query, const MatviewDefinition *mirror)
{
	Query	   *copy = palloc(sizeof(Query));
	ListCell   *lc;

	memcpy(copy, query, sizeof(Query));
	copy->targetList = NIL;
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk || tle->resname == NULL ||
			strcmp(tle->resname, mirror->mirror_operation) == 0 ||
			(mirror->incremental_key && strcmp(tle->resname, mirror->incremental_key) == 0))
			continue;
		copy->targetList = lappend(copy->targetList, tle);
	}
	return copy;
}

/* The stored mirror settings of a definition with this key and options. */
static MatviewDefinition *
stored_mirror(const char *options_json, const char *incremental_key)
{
	MatviewDefinition *mirror = dpl_stored_options(MATVIEW_MIRROR, options_json);

	mirror->incremental_key = (char *) incremental_key;
	return mirror;
}

void
mirror_create_table(Oid owner, const char *qualified, const char *bound_query,
					const char *options_json, const char *incremental_key)
{
	MatviewDefinition *mirror = stored_mirror(options_json, incremental_key);
	Query	   *kept = mirror_table_query(analyze_bound(bound_query, owner), mirror);
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "CREATE TABLE ");
	appendStringInfoString(&sql, qualified);
	appendStringInfoString(&sql, " AS SELECT ");
	foreach(lc, kept->targetList)
		appendStringInfo(&sql, "%sq.%s", lc == list_head(kept->targetList) ? "" : ", ",
						 quote_identifier(lfirst_node(TargetEntry, lc)->resname));
	appendStringInfo(&sql, " FROM (%s) q WITH NO DATA", bound_query);
	runas_ddl(owner, sql.data);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "ALTER TABLE %s ADD PRIMARY KEY (", qualified);
	foreach(lc, mirror->mirror_keys)
		appendStringInfo(&sql, "%s%s", lc == list_head(mirror->mirror_keys) ? "" : ", ",
						 quote_identifier((char *) lfirst(lc)));
	appendStringInfoChar(&sql, ')');
	runas_ddl(owner, sql.data);
}

/* What one run of a mirror needs, read under its lock. */
typedef struct MirrorRun
{
	Oid			relid;
	Oid			owner;
	ManagedView *view;
	MatviewDefinition *mirror;
	Query	   *query;			/* the bound query, analyzed */
	Oid			keytypid;		/* the incremental key's type, or InvalidOid */
} MirrorRun;

/*
 * Reads the view as it is now, under the refresh lock its caller holds
 * (refresh_lock(), or the creation of the table in this transaction).
 */
static void
load_run(Oid relid, MirrorRun *run)
{
	/* the definition as of now, as incremental views read theirs */
	run->view = catalog_get_now(relid);
	if (run->view->type != MATVIEW_MIRROR)
		elog(ERROR, "\"%s\" is not a mirror", run->view->name);
	run->relid = relid;
	run->owner = catalog_relation_owner(relid);
	run->mirror = stored_mirror(run->view->options_json, run->view->incremental_key);
	run->query = analyze_bound(run->view->bound_query, run->owner);
	run->keytypid = InvalidOid;
	if (run->view->incremental_key)
	{
		TargetEntry *tle = query_output_column(run->query, run->view->incremental_key);

		if (tle == NULL)
			elog(ERROR, "incremental key \"%s\" of mirror \"%s\" is not in its query",
				 run->view->incremental_key, run->view->name);
		run->keytypid = exprType((Node *) tle->expr);
	}
}

/*
 * The least and greatest keys above mark (every key when NULL), as text;
 * NULL when there is none.  As the owner.
 */
static void
stream_bounds(MirrorRun *run, const char *mark, char **least, char **greatest)
{
	const char *key = psprintf("q.%s", quote_identifier(run->view->incremental_key));
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1] = {mark ? CStringGetTextDatum(mark) : (Datum) 0};
	SpiRows    *rows;

	rows = spi_rows_user_code(extremes_select_sql(run->keytypid, key,
												  psprintf("(%s) q", run->view->bound_query),
												  mark ? comparison_param_sql(run->keytypid,
																			  BTGreaterStrategyNumber,
																			  key, 1) : "true",
												  true, true),
							  mark ? 1 : 0, argtypes, values);
	*least = spi_rows_text(rows, 0, 0);
	*greatest = spi_rows_text(rows, 0, 1);
}

/* The one table a stage mirror reads. */
static Oid
stage_table(MirrorRun *run)
{
	List	   *reads = dag_bound_query_dependencies(run->view->bound_query, run->owner);

	if (list_length(reads) != 1)
		elog(ERROR, "mirror \"%s\" reads %d tables, not one stage", run->view->name,
			 list_length(reads));
	return linitial_oid(reads);
}

void
mirror_lock_stage(const ManagedView *view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(view->relid)};
	List	   *reads;
	bool		missing = false;

	if (view->type != MATVIEW_MIRROR || view->incremental_key != NULL)
		return;

	/*
	 * The stage from the recorded edges, not by analyzing the query: that
	 * would take a lock on the stage first, which the apply's TRUNCATE must
	 * then wait for, while a run waits for the lock taken here.
	 */
	reads = spi_rows_oids(spi_rows(catalog_owner(),
								   "SELECT e.upstream FROM pipeline.edges e "
								   " WHERE e.downstream OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
								   1, argtypes, values, NULL, true, SPI_OK_SELECT), 0);
	if (list_length(reads) != 1)
		return;
	/* what LOCK TABLE ... IN EXCLUSIVE MODE asks of the apply, as the owner */
	if (pg_class_aclmask_ext(linitial_oid(reads), catalog_relation_owner(view->relid),
							 ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE, ACLMASK_ANY, &missing) != 0)
		lock_unless_held_long(linitial_oid(reads), ExclusiveLock);
}

/* The columns of the query as a tuple descriptor (types and names). */
static TupleDesc
query_columns(Query *query)
{
	return ExecCleanTypeFromTL(query->targetList);
}

/* Applies the changes source describes into the mirror. */
static ChangeCounts
apply_source(MirrorRun *run, ChangeQuery *source)
{
	List	   *ignored = NIL;

	source->desc = query_columns(run->query);
	source->name = psprintf("the query of mirror %s", run->view->name);
	if (run->view->incremental_key)
		ignored = list_make1(run->view->incremental_key);
	return changes_apply_query(source, run->relid, run->mirror->mirror_keys,
							   run->mirror->mirror_sequence, run->mirror->mirror_operation,
							   run->mirror->mirror_delete_value, ignored);
}

/*
 * A stream mirror: the changes between the mark and the greatest key now
 * there, and the new mark.  Needs SPI connected, as the owner.
 */
static ChangeCounts
consume_stream(MirrorRun *run, bool from_scratch)
{
	const char *key = quote_identifier(run->view->incremental_key);
	char	   *mark = from_scratch ? NULL : incremental_read_mark(run->relid);
	char	   *least;
	char	   *greatest;
	ChangeQuery source = {0};
	Oid		   *argtypes = palloc(sizeof(Oid) * 2);
	Datum	   *values = palloc(sizeof(Datum) * 2);
	ChangeCounts counts = {0};

	stream_bounds(run, mark, &least, &greatest);
	if (greatest == NULL)
		return counts;

	/*
	 * $1 is the apply's own; a key committed later below greatest waits; $3
	 * is the mark, or from scratch the keys set aside before
	 */
	argtypes[0] = TEXTOID;
	values[0] = CStringGetTextDatum(greatest);
	source.argtypes = argtypes;
	source.values = values;
	source.nargs = 1;
	source.sql = psprintf("SELECT * FROM (%s) q WHERE %s",
						  run->view->bound_query,
						  comparison_param_sql(run->keytypid, BTLessEqualStrategyNumber, psprintf("q.%s", key), 2));
	if (mark)
	{
		argtypes[1] = TEXTOID;
		values[1] = CStringGetTextDatum(mark);
		source.nargs = 2;
		source.sql = psprintf("%s AND %s", source.sql,
							  comparison_param_sql(run->keytypid, BTGreaterStrategyNumber, psprintf("q.%s", key), 3));
	}
	else if ((values[1] = quarantine_replay_set_aside(run->relid, run->query,
													  run->view->incremental_key)) != (Datum) 0)
	{
		argtypes[1] = TEXTARRAYOID;
		source.nargs = 2;
		source.sql = psprintf("%s%s", source.sql,
							  quarantine_leave_out_sql(psprintf("q.%s", key), run->keytypid, 3));
	}
	counts = apply_source(run, &source);
	incremental_save_mark(run->relid, greatest, mark == NULL ? least : NULL, run->keytypid);
	return counts;
}

/*
 * One branch of apply_range()'s source: the view's rows (aliased q) that
 * conditions keep, the stream keys set aside before ($3) left out, behind
 * a fence, so that the mirror keys' expressions (a cast that failed) are
 * computed only for the rows that remain; then the mirror keys left out
 * ($2).  from comes before the fenced query (a lateral join's left side).
 */
static void
append_range_branch(StringInfo sql, StreamBatch *b, const char *from, const char *conditions,
					Datum excluded)
{
	MirrorRun  *run = b->arg;

	if (sql->len > 0)
		appendStringInfoString(sql, " UNION ALL ");
	appendStringInfo(sql, "SELECT q.* FROM %s(SELECT * FROM (%s) q WHERE %s", from,
					 run->view->bound_query, conditions);
	if (b->set_aside)
		appendStringInfoString(sql, quarantine_leave_out_sql(psprintf("q.%s", quote_identifier(b->key)),
															 b->keytypid, 3));
	appendStringInfoString(sql, " OFFSET 0) q");
	if (excluded)
		appendStringInfo(sql, " WHERE %s <> ALL ($2)", quarantine_mirror_key_sql(b));
}

/* "q.key op bound": the stream key compared with bound, SQL of its type */
static char *
key_bound_sql(StreamBatch *b, int strategy, const char *bound)
{
	return comparison_expr_sql(comparison_type(b->keytypid), strategy,
							   comparison_operand_sql(b->keytypid, psprintf("q.%s", quote_identifier(b->key))),
							   bound);
}

/*
 * Applies the changes with stream keys in the ranges, without the mirror
 * keys in excluded, in one apply: a quarantining run's part (quarantine.h).
 * Applied range by range, a key's null-sequence delete before a failing row
 * and its update after it would both win, one after the other.  The ranges
 * between two failing keys are one branch, a lateral join over their
 * bounds, so that the statement is the same size for any number of them
 * (a branch per range makes planning quadratic).  The bounds are cast once,
 * each text to the key's type in a subquery kept apart (OFFSET 0; an array
 * of array keys would be one array of their elements): compared without a
 * cast per row, they cost
 * what a constant bound does, so a scan tests them before the view's own
 * WHERE (which may raise on a failing row), as it does a branch's.  A
 * range without a lower bound (from the first row) or with an inclusive
 * upper one (the last) is a branch of its own.
 */
static void
apply_range(StreamBatch *b, const StreamRange *ranges, int nranges, Datum excluded)
{
	MirrorRun  *run = b->arg;
	const char *key = psprintf("q.%s", quote_identifier(b->key));
	ChangeQuery source = {0};
	Oid		   *argtypes = palloc(sizeof(Oid) * 8);
	Datum	   *values = palloc0(sizeof(Datum) * 8);
	int			nargs = 4;
	List	   *los = NIL;
	List	   *his = NIL;
	ChangeCounts counts;
	StringInfoData sql;

	/*
	 * $1 is the apply's own; $2 the mirror keys left out, $3 the stream keys
	 * set aside before, $4 and $5 the bounds of the ranges between failing
	 * keys, then the hi and lo of the ranges of their own; values[i] is $(i +
	 * 2)
	 */
	argtypes[0] = argtypes[1] = argtypes[2] = argtypes[3] = TEXTARRAYOID;
	values[0] = excluded;
	values[1] = b->set_aside;
	initStringInfo(&sql);
	for (int r = 0; r < nranges; r++)
	{
		const StreamRange *range = &ranges[r];
		char	   *conditions;

		if (range->lo != NULL && !range->hi_inclusive)
		{
			los = lappend(los, (char *) range->lo);
			his = lappend(his, (char *) range->hi);
			continue;
		}
		argtypes[nargs] = argtypes[nargs + 1] = TEXTOID;
		values[nargs] = CStringGetTextDatum(range->hi);
		conditions = comparison_param_sql(b->keytypid, range->hi_inclusive ? BTLessEqualStrategyNumber :
										  BTLessStrategyNumber, key, nargs + 2);
		if (range->lo != NULL)
		{
			values[nargs + 1] = CStringGetTextDatum(range->lo);
			conditions = psprintf("%s AND %s", conditions,
								  comparison_param_sql(b->keytypid, BTGreaterStrategyNumber, key, nargs + 3));
		}
		append_range_branch(&sql, b, "", conditions, excluded);
		nargs += 2;
	}
	if (los != NIL)
	{
		values[2] = spi_text_array(los);
		values[3] = spi_text_array(his);
		append_range_branch(&sql, b,
							psprintf("(SELECT lo::%s, hi::%s FROM ROWS FROM (pg_catalog.unnest($4::pg_catalog.text[]),"
									 " pg_catalog.unnest($5::pg_catalog.text[])) b(lo, hi) OFFSET 0) r CROSS JOIN LATERAL ",
									 b->keytype, b->keytype),
							psprintf("%s AND %s", key_bound_sql(b, BTGreaterStrategyNumber, "r.lo"),
									 key_bound_sql(b, BTLessStrategyNumber, "r.hi")),
							excluded);
	}
	source.sql = sql.data;
	source.nargs = nargs;
	source.argtypes = argtypes;
	source.values = values;
	counts = apply_source(run, &source);
	b->applied[0] += counts.inserted;
	b->applied[1] += counts.updated;
	b->applied[2] += counts.deleted;
}

/*
 * A stream mirror with @on-error quarantine: the batch is the stream
 * table's rows above the mark, and the mark passes all of them, the rows
 * set aside included.  Needs SPI connected, as the owner.
 */
static ChangeCounts
consume_quarantining(MirrorRun *run, bool from_scratch, int64 *quarantined)
{
	StreamBatch b = {0};
	ChangeCounts counts = {0};
	char	   *least = NULL;
	ListCell   *lc;

	quarantine_batch_begin(&b, run->view, run->owner, run->query, run->keytypid);
	b.mirror_keys = run->mirror->mirror_keys;
	foreach(lc, b.mirror_keys)
		b.mirror_key_types = lappend_oid(b.mirror_key_types,
										 exprType((Node *) query_output_column(run->query, lfirst(lc))->expr));
	b.mark = from_scratch ? NULL : incremental_read_mark(run->relid);
	b.run = apply_range;
	b.arg = run;
	b.greatest = quarantine_greatest(&b);
	if (b.greatest == NULL)
		return counts;
	if (b.mark == NULL)
		least = quarantine_least(&b);
	quarantine_run(&b);
	incremental_save_mark(run->relid, b.greatest, least, run->keytypid);
	counts.inserted = b.applied[0];
	counts.updated = b.applied[1];
	counts.deleted = b.applied[2];
	*quarantined = b.quarantined;
	return counts;
}

/* A stage mirror: every row of the stage, which is emptied. */
static ChangeCounts
consume_stage(MirrorRun *run)
{
	ChangeQuery source = {0};

	source.sql = run->view->bound_query;
	source.empty_table = stage_table(run);
	check_stage_owner(run->view->name, source.empty_table, run->owner);
	return apply_source(run, &source);
}

static uint64
consume(Oid relid, bool from_scratch, char **detail)
{
	MirrorRun	run;
	ChangeCounts counts;
	RunAs		ra;
	int			format_level;
	int64		quarantined = 0;

	load_run(relid, &run);
	format_level = incremental_pin_mark_format();
	if (from_scratch)
		incremental_forget_mark(relid);

	/*
	 * The query, the apply and the target's triggers are the owner's code,
	 * restricted as REFRESH restricts it; the mark and the deleted-key memory
	 * are written as the catalog owner.
	 */
	runas_begin_user_code(&ra, run.owner);
	SPI_connect();
	if (run.view->incremental_key && run.mirror->quarantine)
		counts = consume_quarantining(&run, from_scratch, &quarantined);
	else if (run.view->incremental_key)
		counts = consume_stream(&run, from_scratch);
	else
		counts = consume_stage(&run);
	SPI_finish();
	runas_end(&ra);
	runas_unpin_settings(format_level);
	if (detail)
		*detail = psprintf("mirror: " INT64_FORMAT " inserted, " INT64_FORMAT " updated, "
						   INT64_FORMAT " deleted%s",
						   counts.inserted, counts.updated, counts.deleted,
						   quarantined ? psprintf("; quarantined " INT64_FORMAT " rows (pipeline.rejected)",
												  quarantined) : "");
	return (uint64) (counts.inserted + counts.updated + counts.deleted);
}

uint64
mirror_refresh(Oid relid, char **detail)
{
	catalog_require_owner(relid, get_rel_name(relid));
	return consume(relid, false, detail);
}

uint64
mirror_populate(Oid relid)
{
	return consume(relid, true, NULL);
}

/* "a.k1, a.k2": the mirror keys of a row */
static char *
keys_sql(const MatviewDefinition *mirror, const char *a)
{
	StringInfoData sql;

	initStringInfo(&sql);
	append_name_list(&sql, mirror->mirror_keys, a, ", ");
	return sql.data;
}

/* "a.k1 = b.k1 AND ...": the mirror keys of two rows equal, as their types compare */
static char *
keys_equal_sql(Query *query, const MatviewDefinition *mirror, const char *a, const char *b)
{
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	foreach(lc, mirror->mirror_keys)
	{
		const char *key = quote_identifier(lfirst(lc));

		appendStringInfo(&sql, "%s%s", sql.len ? " AND " : "",
						 equality_expr_sql(exprType((Node *) query_output_column(query, lfirst(lc))->expr),
										   psprintf("%s.%s", a, key), psprintf("%s.%s", b, key)));
	}
	return sql.data;
}

/* batching_dependent_key()'s statement, for subxact_try() */
typedef struct BatchingCheck
{
	char	   *sql;
	int			nargs;
	Oid		   *argtypes;
	Datum	   *values;
	char	   *key;			/* the result */
} BatchingCheck;

static void
run_batching_check(void *arg)
{
	BatchingCheck *check = arg;
	SpiRows    *rows = spi_rows_user_code(check->sql, check->nargs, check->argtypes, check->values);

	check->key = rows->count > 0 ? spi_rows_text(rows, 0, 0) : NULL;
}

/*
 * A key whose outcome the runs' batches decided, as a row literal (NULL if
 * none), among the new query's rows, the rows set aside before left out:
 *	- a delete without a sequence (d) is the newest change of its key in its
 *	  batch: a change arriving after a consumed one (c), with a sequence
 *	  above every one that arrived before it (the least the delete
 *	  remembers), applies in a later batch but loses in the same one;
 *	- a (key, sequence) pair repeated with other contents, one of them
 *	  consumed, is an update across batches but an error within one.
 * A row whose keys, sequence or contents fail to compute (a data error)
 * leaves the check to the rebuild, which sets it aside or fails on it.
 * Needs SPI connected, as the owner.
 */
static char *
batching_dependent_key(Oid relid, const char *bound, Query *query,
					   const MatviewDefinition *mirror, const char *mark)
{
	const char *inc = quote_identifier(mirror->incremental_key);
	const char *seq = quote_identifier(mirror->mirror_sequence);
	Oid			inctypid = exprType((Node *) query_output_column(query, mirror->incremental_key)->expr);
	Oid			seqtypid = exprType((Node *) query_output_column(query, mirror->mirror_sequence)->expr);
	char	   *rows_sql;
	char	   *first_delete;
	char	   *keys;
	StringInfoData rest;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTARRAYOID};
	Datum		values[3];
	int			nargs = 2;
	BatchingCheck check;
	ErrorData  *edata;
	ListCell   *lc;

	/* $1 the mark, $2 the delete value, $3 the stream keys set aside */
	values[0] = CStringGetTextDatum(mark);
	values[1] = CStringGetTextDatum(mirror->mirror_delete_value);
	rows_sql = psprintf("(SELECT * FROM (%s) q", bound);
	if ((values[2] = quarantine_replay_set_aside(relid, query, mirror->incremental_key)) != (Datum) 0)
	{
		rows_sql = psprintf("%s WHERE true%s", rows_sql,
							quarantine_leave_out_sql(psprintf("q.%s", inc), inctypid, 3));
		nargs = 3;
	}
	rows_sql = psprintf("%s OFFSET 0)", rows_sql);	/* the rows set aside are
													 * not computed */
	keys = keys_sql(mirror, "q");
	/* what a redelivered change repeats: every column but the pair's */
	initStringInfo(&rest);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk || name_list_has(mirror->mirror_keys, tle->resname) ||
			strcmp(tle->resname, mirror->mirror_sequence) == 0 ||
			strcmp(tle->resname, mirror->incremental_key) == 0)
			continue;
		appendStringInfo(&rest, "%sq.%s", rest.len ? ", " : "", quote_identifier(tle->resname));
	}

	/*
	 * A key's earliest consumed keyless delete decides: a later one sees no
	 * fewer sequences before it, and no more changes after it
	 */
	first_delete = psprintf("(SELECT DISTINCT ON (%s) %s, q.%s FROM %s q"
							" WHERE q.%s IS NULL AND q.%s::pg_catalog.text OPERATOR(pg_catalog.=) $2"
							"   AND %s ORDER BY %s, q.%s)",
							keys, keys, inc, rows_sql,
							seq, quote_identifier(mirror->mirror_operation),
							comparison_param_sql(inctypid, BTLessEqualStrategyNumber, psprintf("q.%s", inc), 1),
							keys, inc);
	check.sql = psprintf("SELECT ROW(%s)::pg_catalog.text FROM %s d"
						 "   JOIN %s c ON %s AND %s AND c.%s IS NOT NULL"
						 "    AND NOT c.%s::pg_catalog.text OPERATOR(pg_catalog.=) $2"
						 "   LEFT JOIN (SELECT DISTINCT ON (%s) %s, q.%s FROM %s q JOIN %s d"
						 "                ON %s AND %s WHERE q.%s IS NOT NULL ORDER BY %s, q.%s DESC) b"
						 "     ON %s"
						 " WHERE b.%s IS NULL OR %s"
						 " UNION ALL"
						 " SELECT ROW(%s)::pg_catalog.text FROM %s q"
						 "   JOIN (SELECT %s, q.%s FROM %s q WHERE q.%s IS NOT NULL GROUP BY %s, q.%s"
						 "          HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 1) r"
						 "     ON %s AND %s"
						 " GROUP BY %s, q.%s"
						 " HAVING pg_catalog.count(DISTINCT ROW(%s)::pg_catalog.text) OPERATOR(pg_catalog.>) 1"
						 "    AND pg_catalog.bool_or(%s)"
						 " LIMIT 1",
	/* a later change above every sequence before a keyless delete */
						 keys_sql(mirror, "d"), first_delete,
						 rows_sql, keys_equal_sql(query, mirror, "c", "d"),
						 comparison_expr_sql(inctypid, BTGreaterStrategyNumber, psprintf("c.%s", inc),
											 psprintf("d.%s", inc)),
						 seq,
						 quote_identifier(mirror->mirror_operation),
						 keys, keys, seq, rows_sql, first_delete,
						 keys_equal_sql(query, mirror, "q", "d"),
						 comparison_expr_sql(inctypid, BTLessStrategyNumber, psprintf("q.%s", inc),
											 psprintf("d.%s", inc)),
						 seq, keys, seq,
						 keys_equal_sql(query, mirror, "b", "d"),
						 seq, comparison_expr_sql(seqtypid, BTGreaterStrategyNumber, psprintf("c.%s", seq),
												  psprintf("b.%s", seq)),
	/* a repeated pair with other contents */
						 keys, rows_sql,
						 keys, seq, rows_sql, seq, keys, seq,
						 keys_equal_sql(query, mirror, "q", "r"),
						 equality_expr_sql(seqtypid, psprintf("q.%s", seq), psprintf("r.%s", seq)),
						 keys, seq,
						 rest.len ? rest.data : "NULL",
						 comparison_param_sql(inctypid, BTLessEqualStrategyNumber, psprintf("q.%s", inc), 1));
	check.nargs = nargs;
	check.argtypes = argtypes;
	check.values = values;
	edata = subxact_try(run_batching_check, &check, false);
	if (edata == NULL)
		return check.key;
	/* a row the rebuild would set aside or fail on: it tells then */
	if (!subxact_is_data_error(edata))
		ReThrowError(edata);
	return NULL;
}

char *
mirror_rebuild_refusal(Oid relid, Oid owner, const char *old_key,
					   const char *new_bound, const MatviewDefinition *mirror)
{
	const char *new_key = mirror->incremental_key;
	char	   *first_key;
	char	   *mark;
	char	   *batching_key = NULL;
	Query	   *query;
	TargetEntry *tle;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	RunAs		ra;
	int			format_level;
	bool		held;

	if (old_key == NULL)
		return pstrdup("it empties its stage table as it consumes it, so the changes it applied are gone");
	if (new_key == NULL || strcmp(old_key, new_key) != 0)
		return psprintf("its incremental key would change from %s to %s, so its mark would mean nothing",
						quote_identifier(old_key), new_key ? quote_identifier(new_key) : "none");
	first_key = incremental_first_key(relid);
	if (first_key == NULL)
		return NULL;			/* nothing consumed yet */

	query = analyze_bound(new_bound, owner);
	tle = query_output_column(query, new_key);
	if (tle == NULL || query_output_column(query, mirror->mirror_sequence) == NULL)
		return NULL;			/* the query's own error comes first */
	format_level = incremental_pin_mark_format();
	mark = incremental_read_mark(relid);
	values[0] = CStringGetTextDatum(first_key);
	runas_begin_user_code(&ra, owner);
	held = spi_rows_user_code(psprintf("SELECT FROM (%s) q WHERE %s LIMIT 1", new_bound,
									   comparison_param_sql(exprType((Node *) tle->expr), BTLessEqualStrategyNumber,
															psprintf("q.%s", quote_identifier(new_key)), 1)),
							  1, argtypes, values)->count > 0;
	if (held && mark != NULL)
		batching_key = batching_dependent_key(relid, new_bound, query, mirror, mark);
	runas_end(&ra);
	runas_unpin_settings(format_level);
	if (!held)
		return psprintf("its stream no longer holds key %s, the first it consumed, so it cannot be rebuilt from the stream",
						first_key);
	if (batching_key != NULL)
		return psprintf("the changes of key %s in its stream had an outcome its runs' batches decided "
						"(a delete without a sequence, or a sequence repeated with other contents), "
						"and a rebuild replays the stream as one batch",
						batching_key);
	return NULL;
}
