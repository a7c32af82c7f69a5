/*-------------------------------------------------------------------------
 * change_tracking.c
 *	  Skip-unchanged: which upstreams changed since a view's last success.
 *	  The design (what a success has seen, which views always run, the
 *	  triggers) is in change_tracking.h.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "rewrite/prs2lock.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/xid8.h"

#include "model/catalog.h"
#include "schedule/change_tracking.h"
#include "util/settings.h"
#include "util/analyze.h"
#include "util/lock_tries.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/xid_horizon.h"
#include "views/differential.h"
#include "views/publication_pending.h"
#include "util/relation_name.h"

/* The two triggers' types (pg_trigger.tgtype) */
#define STATEMENT_TRIGGER_TYPE \
	(TRIGGER_TYPE_AFTER | TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | \
	 TRIGGER_TYPE_DELETE | TRIGGER_TYPE_TRUNCATE)
#define REPLICA_TRIGGER_TYPE \
	(TRIGGER_TYPE_ROW | TRIGGER_TYPE_AFTER | TRIGGER_TYPE_INSERT | \
	 TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE)

/*
 * The latest refresh position taken in this backend's transaction: a run's
 * snapshot command id.  Writes at or after it need change rows of their
 * own (change_tracking.h).  Only compared while the top-level transaction
 * is the same; a position taken in a subtransaction that rolled back stays,
 * which only adds rows.
 */
static FullTransactionId position_xid = {InvalidTransactionId};
static CommandId position_cid = FirstCommandId;

/*
 * Tables the trigger has recorded a row for, valid for one (transaction,
 * subtransaction, position): a row written in a subtransaction that rolls
 * back is gone, so another subtransaction looks again.
 */
#define RECORDED_MAX 16
static FullTransactionId recorded_xid = {InvalidTransactionId};
static SubTransactionId recorded_subxid = InvalidSubTransactionId;
static CommandId recorded_floor = FirstCommandId;
static Oid	recorded[RECORDED_MAX];
static int	recorded_count = 0;

/* Whether it records the settings of a view's last success (1.14 on). */
static bool
sql_tracks_settings(void)
{
	return catalog_has_column("refresh_snapshots", "settings");
}

static void
note_position(CommandId cid)
{
	FullTransactionId xid = GetTopFullTransactionId();

	if (!FullTransactionIdEquals(xid, position_xid) || cid > position_cid)
	{
		position_xid = xid;
		position_cid = cid;
	}
}

/* The command id below which this transaction's writes have change rows. */
static CommandId
position_floor(void)
{
	FullTransactionId xid = GetTopFullTransactionIdIfAny();

	if (FullTransactionIdIsValid(xid) && FullTransactionIdEquals(xid, position_xid))
		return position_cid;
	return FirstCommandId;
}

/*
 * Reads the extension cannot see: what opaque_walker() looks for in a
 * view's query and in the plain views it reads.
 */
typedef struct OpaqueSearch
{
	Oid			user;			/* whose rights the relations are read with */
	List	   *views;			/* plain views opened, against cycles */
	List	   *functions;		/* the user's functions it calls (immutable) */
	CatalogTextNames names;		/* where the text it writes is read from */
} OpaqueSearch;

static bool opaque_walker(Node *node, OpaqueSearch *search);

/*
 * The tables query reads whole rows of (at its own level, in its sublinks
 * too), into names: a whole row is as many columns as the table has now,
 * so a column added or dropped changes it (its IS NULL, its text) and
 * writes no change row; as for a row's text, a change of its table's
 * columns since the last success counts as a change.
 */
static void
note_whole_rows(Query *query, CatalogTextNames *names)
{
	ListCell   *lc;

	foreach(lc, pull_vars_of_level((Node *) query, 0))
	{
		Var		   *var = lfirst(lc);
		RangeTblEntry *rte;

		if (!IsA(var, Var) || var->varattno != InvalidAttrNumber)
			continue;
		rte = rt_fetch(var->varno, query->rtable);
		if (rte->rtekind == RTE_RELATION)
			names->row_relations = list_append_unique_oid(names->row_relations, rte->relid);
	}
}

/* pipeline.record_change() */
static Oid
record_change_oid(void)
{
	return LookupFuncName(list_make2(makeString(PIPELINE_SCHEMA), makeString("record_change")),
						  0, NULL, false);
}

/*
 * The built-in functions that read any setting, of the session or the
 * server (pg_settings reads pg_show_all_settings()): a refresh runs under
 * the settings of its worker or its caller, which no change row follows
 */
static bool
reads_settings(Oid fn)
{
	return fn == F_CURRENT_SETTING_TEXT || fn == F_CURRENT_SETTING_TEXT_BOOL ||
		fn == F_PG_SHOW_ALL_SETTINGS || fn == F_PG_SETTINGS_GET_FLAGS;
}

/*
 * A function whose result may change while no tracked table does: any
 * volatile function, a non-immutable one that PostgreSQL did not ship (it
 * may read any table), or one of PostgreSQL's that reads settings.  A
 * user-defined aggregate counts by its support functions.  An immutable one
 * of the user's is noted in the search (context, when given): replacing it
 * changes the view as a write would.
 */
static bool
function_is_opaque(Oid fn, void *context)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		opaque;

	if (!HeapTupleIsValid(tuple))
		return true;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	opaque = proc->provolatile == PROVOLATILE_VOLATILE ||
		(fn >= FirstNormalObjectId && proc->provolatile != PROVOLATILE_IMMUTABLE) ||
		reads_settings(fn);
	if (!opaque && fn >= FirstNormalObjectId && context != NULL)
	{
		OpaqueSearch *search = (OpaqueSearch *) context;

		search->functions = list_append_unique_oid(search->functions, fn);
	}
	if (!opaque && fn >= FirstNormalObjectId && proc->prokind == PROKIND_AGGREGATE)
	{
		HeapTuple	aggtuple = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(fn));

		if (HeapTupleIsValid(aggtuple))
		{
			Form_pg_aggregate agg = (Form_pg_aggregate) GETSTRUCT(aggtuple);
			Oid			support[] = {agg->aggtransfn, agg->aggfinalfn, agg->aggcombinefn,
				agg->aggserialfn, agg->aggdeserialfn, agg->aggmtransfn,
			agg->aggminvtransfn, agg->aggmfinalfn};

			for (size_t i = 0; i < lengthof(support) && !opaque; i++)
				opaque = OidIsValid(support[i]) && function_is_opaque(support[i], context);
			ReleaseSysCache(aggtuple);
		}
	}
	ReleaseSysCache(tuple);
	return opaque;
}

/*
 * Default arguments are filled in by the planner, not the analyzer: a call
 * that leaves some out runs the default expressions too.
 */
static bool
defaults_are_opaque(FuncExpr *call, OpaqueSearch *search)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(call->funcid));
	bool		opaque = false;

	if (!HeapTupleIsValid(tuple))
		return true;
	if (list_length(call->args) < ((Form_pg_proc) GETSTRUCT(tuple))->pronargs)
	{
		bool		isnull;
		Datum		defaults = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_proargdefaults,
											   &isnull);

		if (!isnull)
			opaque = opaque_walker(stringToNode(TextDatumGetCString(defaults)), search);
	}
	ReleaseSysCache(tuple);
	return opaque;
}

/*
 * The functions node compares with: a sort, group or distinct clause's,
 * GREATEST's (a user type's may be anything).
 */
static bool
compares_opaquely(Node *node, OpaqueSearch *search)
{
	ListCell   *lc;

	foreach(lc, comparison_functions(node))
		if (function_is_opaque(lfirst_oid(lc), search))
			return true;
	return false;
}

/*
 * A relation the query reads: a plain view is opened up (its reads are the
 * query's), a table must not be filtered by policies (their expressions
 * may read anything), a sample must be repeatable.
 */
static bool
relation_is_opaque(RangeTblEntry *rte, OpaqueSearch *search)
{
	bool		opaque = false;

	if (rte->tablesample != NULL && rte->tablesample->repeatable == NULL)
		return true;
	/* crash recovery empties an unlogged table unseen */
	if (rte->relkind == RELKIND_RELATION &&
		get_rel_persistence(rte->relid) == RELPERSISTENCE_UNLOGGED)
		return true;
	/* whoever of the two the rewriter reads it as */
	if (rte->relkind == RELKIND_RELATION || rte->relkind == RELKIND_PARTITIONED_TABLE)
		return check_enable_rls(rte->relid, search->user, true) == RLS_ENABLED ||
			(OidIsValid(rte->checkAsUser) &&
			 check_enable_rls(rte->relid, rte->checkAsUser, true) == RLS_ENABLED);
	if (rte->relkind == RELKIND_VIEW && !list_member_oid(search->views, rte->relid))
	{
		Relation	view = table_open(rte->relid, AccessShareLock);
		Query	   *query = copyObject(get_view_query(view));
		Oid			save_user = search->user;

		search->views = lappend_oid(search->views, rte->relid);

		/*
		 * as the rewriter reads it: with the view owner's rights, unless
		 * security_invoker
		 */
		if (!RelationHasSecurityInvoker(view))
			search->user = view->rd_rel->relowner;
		table_close(view, AccessShareLock);
		opaque = opaque_walker((Node *) query, search);
		search->user = save_user;
	}
	return opaque;
}

static bool
opaque_walker(Node *node, OpaqueSearch *search)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		bool		anonymous_before = search->names.anonymous_rows;
		bool		opaque;

		search->names.anonymous_rows = false;
		note_whole_rows((Query *) node, &search->names);
		opaque = query_tree_walker((Query *) node, opaque_walker, (void *) search,
								   QTW_EXAMINE_RTES_BEFORE | QTW_EXAMINE_SORTGROUP);
		/* a row's text whose columns are elsewhere in this query */
		if (!opaque && search->names.anonymous_rows)
			diff_catalog_names_everywhere((Query *) node, &search->names);
		search->names.anonymous_rows |= anonymous_before;
		return opaque || search->names.by_any_name;
	}
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		return rte->rtekind == RTE_RELATION && relation_is_opaque(rte, search);
	}
	if (IsA(node, SortGroupClause))
		return compares_opaquely(node, search);
	if (IsA(node, SetOperationStmt))
	{
		ListCell   *lc;

		foreach(lc, ((SetOperationStmt *) node)->groupClauses)
			if (compares_opaquely(lfirst(lc), search))
				return true;
	}
	if (compares_opaquely(node, search))	/* GREATEST, LEAST */
		return true;
	if (IsA(node, FuncExpr) && defaults_are_opaque((FuncExpr *) node, search))
		return true;
	if (check_functions_in_node(node, function_is_opaque, search))
		return true;
	/* an enum's label or a type's attribute names: their rows are looked at */
	if (diff_catalog_text_names(node, &search->names) && search->names.by_any_name)
		return true;
	return expression_tree_walker(node, opaque_walker, (void *) search);
}

/*
 * Whether comparing values of typid itself may call opaque functions: its
 * B-tree operators and comparison function, and a range's comparison of its
 * bounds (a domain is compared as its base type, which
 * type_holds_matching() looks at next)
 */
static bool
own_comparison_opaque(Oid typid, void *arg)
{
	OpaqueSearch *search = (OpaqueSearch *) arg;
	TypeCacheEntry *type;

	if (get_typtype(typid) == TYPTYPE_DOMAIN)
		return false;
	type = lookup_type_cache(typid, TYPECACHE_CMP_PROC | TYPECACHE_BTREE_OPFAMILY |
							 TYPECACHE_RANGE_INFO);
	if (!OidIsValid(type->cmp_proc) || function_is_opaque(type->cmp_proc, search))
		return true;
	for (int strategy = 1; strategy <= BTMaxStrategyNumber; strategy++)
	{
		Oid			opno = get_opfamily_member(type->btree_opf, type->btree_opintype,
											   type->btree_opintype, strategy);

		if (!OidIsValid(opno) || function_is_opaque(get_opcode(opno), search))
			return true;
	}
	return type->typtype == TYPTYPE_RANGE &&
		function_is_opaque(type->rng_cmp_proc_finfo.fn_oid, search);
}

/*
 * Whether comparing values of type may call opaque functions: its own
 * comparison, and the one an array's, a composite's or a range's comparison
 * calls for its elements, columns or bounds.
 */
static bool
type_compares_opaquely(Oid typid, OpaqueSearch *search)
{
	return type_holds_matching(typid, own_comparison_opaque, search);
}

/*
 * A stream or mirror compares its key with its mark by the key type's
 * comparison: calls of its query as much as the ones in its text.
 */
static bool
key_compares_opaquely(Query *query, const char *key, OpaqueSearch *search)
{
	TargetEntry *column = query_output_column(query, key);

	return column == NULL ||
		type_compares_opaquely(comparison_type(exprType((Node *) column->expr)), search);
}

/*
 * True when the view's result may change without any change row: see
 * change_tracking.h.  Else *functions (if given) is set to the user's
 * immutable functions it calls, also through the plain views it reads, and
 * *names (if given) to the enums and row types whose labels or attribute
 * names it writes as text.
 */
static bool
reads_opaquely(Oid relid, List **functions, CatalogTextNames *names)
{
	Relation	rel = table_open(relid, AccessShareLock);
	OpaqueSearch search = {rel->rd_rel->relowner, NIL, NIL, {NIL, NIL, false, false}};
	char		relkind = rel->rd_rel->relkind;
	bool		opaque = true;

	if (rel->rd_rel->relkind == RELKIND_MATVIEW && rel->rd_rules != NULL &&
		rel->rd_rules->numLocks == 1)
	{
		/* the rule holds the bound query, analyzed */
		List	   *actions = copyObject(rel->rd_rules->rules[0]->actions);

		table_close(rel, AccessShareLock);
		opaque = opaque_walker((Node *) actions, &search);
	}
	else
	{
		table_close(rel, AccessShareLock);
		if (relkind == RELKIND_RELATION)
		{
			/*
			 * a differential, stream or mirror view's table: its bound query,
			 * as its owner
			 */
			ManagedView *view = catalog_get_required(relid);
			Query	   *query = analyze_bound(view->bound_query, search.user);

			opaque = opaque_walker((Node *) query, &search);
			if (!opaque && view->incremental_key != NULL)
				opaque = key_compares_opaquely(query, view->incremental_key, &search);

			/*
			 * 1.1's catalog cannot tell a write after a run in the run's
			 * transaction: a stream there runs at every label, as it did
			 */
			if (view->type == MATVIEW_INCREMENTAL && !catalog_tracks_command_ids())
				opaque = true;
		}
	}
	if (functions != NULL)
		*functions = search.functions;
	if (names != NULL)
		*names = search.names;
	return opaque;
}

/*
 * Whether the table has both triggers, as pipeline made them, as committed
 * by now: the caller holds ShareRowExclusiveLock (the lock CREATE TRIGGER
 * takes, which conflicts with itself), and the relation cache is brought up
 * to date when a lock is acquired.
 */
static bool
has_tracking_triggers(Oid table)
{
	Relation	rel = table_open(table, NoLock);
	Oid			fn = record_change_oid();
	int			found = 0;

	for (int i = 0; rel->trigdesc != NULL && i < rel->trigdesc->numtriggers; i++)
	{
		Trigger    *t = &rel->trigdesc->triggers[i];
		char		mode = change_tracking_trigger_mode(t->tgname);

		if (mode != 0 && t->tgenabled == mode && t->tgfoid == fn &&
			t->tgtype == (mode == TRIGGER_FIRES_ALWAYS ? STATEMENT_TRIGGER_TYPE : REPLICA_TRIGGER_TYPE) &&
			t->tgnargs == 0 && t->tgnattr == 0 && t->tgqual == NULL &&
			t->tgoldtable == NULL && t->tgnewtable == NULL && !t->tgisinternal &&
			!OidIsValid(t->tgconstraint))
			found++;
	}
	table_close(rel, NoLock);
	return found == 2;
}

/* Creates (or puts back) one trigger and sets its firing mode. */
static void
create_tracking_trigger(Oid table, const char *name, const char *level,
						const char *events, const char *mode)
{
	char	   *qualified = relation_qualified_name(table);

	runas_ddl(catalog_owner(),
			  psprintf("CREATE OR REPLACE TRIGGER %s AFTER %s ON %s FOR EACH %s"
					   " EXECUTE FUNCTION pipeline.record_change()",
					   quote_identifier(name), events, qualified, level));
	runas_ddl(catalog_owner(),
			  psprintf("ALTER TABLE %s ENABLE %s TRIGGER %s",
					   qualified, mode, quote_identifier(name)));
}

/*
 * The transaction that last added triggers: under REPEATABLE READ its
 * snapshot is older than them, and writes committed between the two are
 * neither in it nor recorded.
 */
static LocalTransactionId triggers_added_lxid = InvalidLocalTransactionId;

/*
 * Adds the triggers to upstream tables lacking them (or whose triggers
 * were altered), with a change row for each: writes before went
 * unrecorded, for every view reading the table.  True if it added any, or
 * if, without wait, a table lacking them was busy and keeps lacking them.
 * A table another session gave them meanwhile has that session's row.
 */
static bool
install_missing_triggers(Oid relid, bool wait)
{
	Oid			argtypes[4] = {OIDOID, OIDOID, INT2OID, INT2OID};
	Datum		values[4] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(FirstNormalObjectId),
	Int16GetDatum(STATEMENT_TRIGGER_TYPE), Int16GetDatum(REPLICA_TRIGGER_TYPE)};
	bool		commands = catalog_tracks_command_ids();
	bool		missing = false;
	ListCell   *lc;
	SpiRows    *rows;

	rows = spi_rows(catalog_owner(),
					"SELECT c.oid FROM pipeline.edges e "
					"  JOIN pg_catalog.pg_class c ON c.oid = e.upstream "
					" WHERE e.downstream = $1::regclass AND c.relkind = 'r' AND c.oid >= $2 "
					"   AND NOT c.relispartition AND NOT c.relhassubclass "
					"   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) "
					"   AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_trigger t "
					"         WHERE t.tgrelid = c.oid "
					"           AND t.tgfoid = 'pipeline.record_change()'::pg_catalog.regprocedure "
					"           AND ((t.tgname = '" CHANGE_TRACKING_TRIGGER "' "
					"                 AND t.tgtype = $3 AND t.tgenabled = 'A') "
					"             OR (t.tgname = '" CHANGE_TRACKING_REPLICA_TRIGGER "' "
					"                 AND t.tgtype = $4 AND t.tgenabled = 'R')) "
					"           AND t.tgnargs = 0 AND t.tgqual IS NULL "
					"           AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) = 0 "
					"           AND t.tgoldtable IS NULL AND t.tgnewtable IS NULL) <> 2",
					4, argtypes, values, NULL, false, -1);
	foreach(lc, spi_rows_oids(rows, 0))
	{
		Oid			table = lfirst_oid(lc);

		/*
		 * Another session's first run may be adding them right now: lock as
		 * CREATE TRIGGER does, to the end of the transaction, then look
		 * again.
		 */
		if (wait)
			lock_unless_held_long(table, ShareRowExclusiveLock);
		else if (!ConditionalLockRelationOid(table, ShareRowExclusiveLock))
		{
			missing = true;
			continue;
		}
		if (has_tracking_triggers(table))
		{
			/* the 1.1 catalog has no command ids: no row to rely on */
			if (!commands)
				missing = true;
			continue;
		}
		create_tracking_trigger(table, CHANGE_TRACKING_TRIGGER, "STATEMENT",
								"INSERT OR UPDATE OR DELETE OR TRUNCATE", "ALWAYS");
		create_tracking_trigger(table, CHANGE_TRACKING_REPLICA_TRIGGER, "ROW",
								"INSERT OR UPDATE OR DELETE", "REPLICA");
		/* a row of the 1.1 catalog is never seen by its own transaction */
		if (commands)
			catalog_record_change(table);
		triggers_added_lxid = MyProc->lxid;
		missing = true;
	}
	return missing;
}

/*
 * Changed if: no saved snapshot; an upstream we cannot track (foreign or
 * partitioned table, system catalog, sequence, unmanaged matview, or a
 * table in an inheritance tree or partition: a write through the parent
 * fires the parent's statement triggers, not the child's, and a parent's
 * rows include its children's); or a change row the last success has not
 * seen (change_tracking.h).  Plain views are covered by their own sources,
 * which are edges too, and by their definition: a view replaced since (its
 * pg_rewrite row written by a transaction the last success could not see,
 * or by that success's own) counts as changed; so does a function of the
 * user's the query calls ($4), replaced or altered since, and an enum ($5)
 * or a row type's relation ($6) whose labels or attribute names the query
 * writes as text, relabelled, renamed or extended since.  A catalog row's
 * xmin is a 32-bit xid: widened with the epoch of the next xid.
 */
#define WRITTEN_SINCE_SUCCESS(catalog, which, own_xid) \
"EXISTS (SELECT 1 FROM pg_catalog." catalog " r, pipeline.refresh_snapshots s, " \
"               LATERAL (SELECT r.xmin::text::int8 AS x, " \
"                  pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text::int8 AS n) v, " \
"               LATERAL (SELECT ((((v.n >> 32) - CASE WHEN v.x > (v.n & 4294967295) THEN 1 ELSE 0 END) << 32) " \
"                                 | v.x)::text::xid8 AS xid) w " \
"         WHERE " which " AND s.matview = $1::regclass AND v.x >= 3 " \
"           AND (" own_xid "NOT pg_catalog.pg_visible_in_snapshot(w.xid, s.snapshot)))"

#define VIEW_REPLACED(own_xid) WRITTEN_SINCE_SUCCESS("pg_rewrite", "r.ev_class = c.oid", own_xid)
#define FUNCTION_REPLACED(own_xid) \
	WRITTEN_SINCE_SUCCESS("pg_proc", "r.oid = ANY ($4::pg_catalog.oid[])", own_xid)
#define LABEL_RENAMED(own_xid) \
	WRITTEN_SINCE_SUCCESS("pg_enum", "r.enumtypid = ANY ($5::pg_catalog.oid[])", own_xid)
#define ATTRIBUTE_RENAMED(own_xid) \
	WRITTEN_SINCE_SUCCESS("pg_attribute", "r.attrelid = ANY ($6::pg_catalog.oid[])", own_xid)

#define UNCHANGED_QUERY(change_seen, own_xid, same_settings) \
"SELECT EXISTS (SELECT 1 FROM pipeline.refresh_snapshots s " \
"                WHERE s.matview = $1::regclass" same_settings ") " \
"   AND NOT EXISTS ( " \
"       SELECT 1 FROM pipeline.edges e " \
"         JOIN pg_catalog.pg_class c ON c.oid = e.upstream " \
"        WHERE e.downstream = $1::regclass " \
"          AND (c.relkind NOT IN ('r', 'm', 'v') OR c.oid < $2 " \
"               OR (c.relkind = 'r' AND (c.relispartition OR c.relhassubclass " \
"                   OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid))) " \
"               OR (c.relkind = 'v' AND " VIEW_REPLACED(own_xid) ") " \
"               OR (c.relkind = 'm' AND NOT EXISTS " \
"                   (SELECT 1 FROM pipeline.matview_definitions d " \
"                     WHERE d.matview = c.oid)) " \
"               OR EXISTS (SELECT 1 FROM pipeline.changes ch, pipeline.refresh_snapshots s " \
"                           WHERE ch.relation = c.oid AND s.matview = $1::regclass " \
"                             AND NOT " change_seen "))) " \
"   AND NOT " FUNCTION_REPLACED(own_xid)

#define CHANGE_SEEN \
"CASE WHEN ch.xid = s.xid " \
"     THEN ch.command_id < s.command_id " \
"     ELSE pg_catalog.pg_visible_in_snapshot(ch.xid, s.snapshot) END"

/* 1.14 on: and under the settings of the last success (runas_answer_settings()) */
static const char *const unchanged_query =
UNCHANGED_QUERY(CHANGE_SEEN, "w.xid = s.xid OR ", " AND s.settings = $3");

/*
 * Whether the enums ($5) or row types' relations ($6) whose text the query
 * writes were written since the last success: asked only of a view that
 * writes such text, so that the others' check costs nothing more.
 */
static const char *const names_written_query =
"SELECT " LABEL_RENAMED("w.xid = s.xid OR ") " OR " ATTRIBUTE_RENAMED("w.xid = s.xid OR ");

/* The same under the 1.1 catalog, which has no transaction of a success */
static const char *const names_written_query_1_1 =
"SELECT " LABEL_RENAMED("") " OR " ATTRIBUTE_RENAMED("");

/* The same under 1.2 to 1.13, which keep no settings */
static const char *const unchanged_query_1_2 =
UNCHANGED_QUERY(CHANGE_SEEN, "w.xid = s.xid OR ", "");

/* The same under the 1.1 catalog, which has no command ids */
static const char *const unchanged_query_1_1 =
UNCHANGED_QUERY("pg_catalog.pg_visible_in_snapshot(ch.xid, s.snapshot)", "", "");

/*
 * The views whose source tables all had their tracking triggers when last
 * looked at, so that a process judging many views at every tick (the
 * scheduler) does not look again each time.  The guard (compile/guard.c)
 * refuses dropping, renaming or disabling those triggers, and a
 * redefinition makes a new relation; still, any relation cache
 * invalidation empties the set: a trigger's change, inheritance and
 * partitioning, and a change to pipeline.edges (its statement trigger
 * invalidates that table) all send one, and the invalidations are read
 * just before the set is.  Coarse, but only in the safe direction: an
 * emptied set looks again.
 */
#define TRIGGERED_MAX 4096
static HTAB *triggered_views = NULL;
static uint64 relcache_invalidations = 0;

static void
forget_triggered_views(Datum arg, Oid relid)
{
	relcache_invalidations++;
	if (triggered_views != NULL)
	{
		hash_destroy(triggered_views);
		triggered_views = NULL;
	}
}

/* Whether the view is in the set above */
static bool
triggers_known_present(Oid relid)
{
	static bool callback_registered = false;
	bool		found = false;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_triggered_views, (Datum) 0);
		callback_registered = true;
	}
	/* what committed by now: as late as the look it replaces */
	AcceptInvalidationMessages();
	if (triggered_views != NULL)
		(void) hash_search(triggered_views, &relid, HASH_FIND, &found);
	return found;
}

/* install_missing_triggers(), unless the view's sources had them already */
static bool
triggers_were_missing(Oid relid, bool wait)
{
	uint64		invalidations_before;

	if (triggers_known_present(relid))
		return false;
	invalidations_before = relcache_invalidations;
	if (install_missing_triggers(relid, wait))
		return true;
	/* an invalidation read while looking may be of what was looked at */
	if (relcache_invalidations != invalidations_before)
		return false;
	if (triggered_views == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(Oid);
		triggered_views = hash_create("pipeline views with tracking triggers", 64, &ctl,
									  HASH_ELEM | HASH_BLOBS);
	}
	if (hash_get_num_entries(triggered_views) < TRIGGERED_MAX)
		(void) hash_search(triggered_views, &relid, HASH_ENTER, NULL);
	return false;
}

void
change_tracking_install_triggers(Oid relid)
{
	/*
	 * Under the 1.1 catalog an addition leaves no change row, so only the
	 * skip check, which then answers false, may add them.
	 */
	if (!catalog_tracks_command_ids() || triggers_known_present(relid))
		return;
	/* what change_tracking_unchanged() would install: nothing if opaque */
	PushActiveSnapshot(GetTransactionSnapshot());
	if (!reads_opaquely(relid, NULL, NULL))
		(void) triggers_were_missing(relid, true);
	PopActiveSnapshot();
}

bool
change_tracking_unchanged(Oid relid)
{
	Oid			argtypes[6] = {OIDOID, OIDOID, TEXTOID, OIDARRAYOID, OIDARRAYOID, OIDARRAYOID};
	Datum		values[6] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(FirstNormalObjectId),
	CStringGetTextDatum("")};
	bool		settings = sql_tracks_settings();
	List	   *functions;
	CatalogTextNames names;
	SpiRows    *rows;
	bool		isnull;

	/*
	 * From here on, this run's refresh and hook may write: those writes are
	 * after its snapshot and need rows of their own.
	 */
	note_position(GetActiveSnapshot()->curcid);
	if (reads_opaquely(relid, &functions, &names))
		return false;
	/* a publication's files of a run that did not commit: no change row */
	if (pending_has_uncommitted(relid))
		return false;

	if (triggers_were_missing(relid, false))
		return false;
	if (settings)
		values[2] = CStringGetTextDatum(runas_answer_settings());
	values[3] = spi_oid_array(functions);
	values[4] = spi_oid_array(names.enums);
	values[5] = spi_oid_array(names.row_relations);
	rows = spi_rows(catalog_owner(),
					settings ? unchanged_query :
					catalog_tracks_command_ids() ? unchanged_query_1_2 : unchanged_query_1_1,
					4, argtypes, values, NULL, false, -1);
	if (rows->count != 1 || !DatumGetBool(spi_rows_value(rows, 0, 0, &isnull)))
		return false;
	if (names.enums == NIL && names.row_relations == NIL)
		return true;
	rows = spi_rows(catalog_owner(),
					catalog_tracks_command_ids() ? names_written_query : names_written_query_1_1,
					6, argtypes, values, NULL, false, -1);
	return rows->count == 1 && !DatumGetBool(spi_rows_value(rows, 0, 0, &isnull));
}

void
change_tracking_refreshed(Oid relid, bool rewritten, bool consumed)
{
	CommandId	cid = GetActiveSnapshot()->curcid;

	/* after the refresh's own writes, which it made by consuming */
	CommandId	seen_to = consumed ? GetCurrentCommandId(false) : cid;
	bool		commands = catalog_tracks_command_ids();
	bool		settings = sql_tracks_settings();
	Oid			argtypes[4] = {OIDOID, PG_SNAPSHOTOID, INT8OID, TEXTOID};
	Datum		values[4] = {ObjectIdGetDatum(relid), (Datum) 0, Int64GetDatum((int64) seen_to),
	(Datum) 0};
	SpiRows    *snapshot;
	bool		isnull;

	/* a write after what the run saw, its own consuming included, is new */
	note_position(seen_to);
	/* under the current command id: after everything the refresh wrote */
	if (rewritten)
		catalog_record_change(relid);
	/* what the run saw may miss writes nothing recorded: not seen as all */
	if (IsolationUsesXactSnapshot() && triggers_added_lxid == MyProc->lxid)
	{
		change_tracking_forget_seen(relid);
		return;
	}

	/*
	 * The snapshot the refresh read its upstreams in is the active one: a
	 * read-only statement runs in it (a writing one would take a new one).
	 */
	snapshot = spi_rows(catalog_owner(), "SELECT pg_catalog.pg_current_snapshot()",
						0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	values[1] = spi_rows_value(snapshot, 0, 0, &isnull);
	if (settings)
	{
		values[3] = CStringGetTextDatum(runas_answer_settings());
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.refresh_snapshots (matview, snapshot, xid, command_id, settings) "
						"VALUES ($1::regclass, $2, pg_catalog.pg_current_xact_id(), $3, $4) "
						"ON CONFLICT (matview) DO UPDATE SET snapshot = excluded.snapshot, "
						"       xid = excluded.xid, command_id = excluded.command_id, "
						"       settings = excluded.settings",
						4, argtypes, values, NULL, false, -1);
	}
	else if (commands)
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.refresh_snapshots (matview, snapshot, xid, command_id) "
						"VALUES ($1::regclass, $2, pg_catalog.pg_current_xact_id(), $3) "
						"ON CONFLICT (matview) DO UPDATE SET snapshot = excluded.snapshot, "
						"       xid = excluded.xid, command_id = excluded.command_id",
						3, argtypes, values, NULL, false, -1);
	else
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.refresh_snapshots (matview, snapshot) "
						"VALUES ($1::regclass, $2) "
						"ON CONFLICT (matview) DO UPDATE SET snapshot = excluded.snapshot",
						2, argtypes, values, NULL, false, -1);
}

void
change_tracking_forget_seen(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	/* with no saved snapshot a view counts as changed */
	(void) spi_rows(catalog_owner(), "DELETE FROM pipeline.refresh_snapshots WHERE matview = $1",
					1, argtypes, values, NULL, false, -1);
}

void
change_tracking_prune(void)
{
	Oid			argtypes[1] = {XID8OID};
	Datum		values[1];
	Relation	changes;
	FullTransactionId horizon;

	changes = try_table_open(catalog_table("changes"), AccessShareLock);
	if (changes == NULL)
		return;
	horizon = oldest_open_xid(changes);
	table_close(changes, AccessShareLock);
	if (!FullTransactionIdIsValid(horizon))
		return;
	values[0] = FullTransactionIdGetDatum(horizon);
	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.changes ch "
					" USING (SELECT r.relation, "
					"               LEAST($1, (SELECT pg_catalog.min(pg_catalog.pg_snapshot_xmin(s.snapshot)) "
					"                            FROM pipeline.edges e "
					"                            JOIN pipeline.refresh_snapshots s "
					"                              ON s.matview OPERATOR(pg_catalog.=) e.downstream "
					"                           WHERE e.upstream OPERATOR(pg_catalog.=) r.relation::pg_catalog.regclass)) "
					"               AS seen_below "
					"          FROM (SELECT DISTINCT c.relation FROM pipeline.changes c) r) b "
					" WHERE ch.relation OPERATOR(pg_catalog.=) b.relation "
					"   AND ch.xid OPERATOR(pg_catalog.<) b.seen_below",
					1, argtypes, values, NULL, false, SPI_OK_DELETE);
}

uint64
change_tracking_recheck_publications(void)
{
	/* with no saved snapshot a view counts as changed */
	return spi_rows(catalog_owner(),
					"DELETE FROM pipeline.refresh_snapshots s USING pipeline.matview_definitions d "
					" WHERE d.matview = s.matview AND d.matview_type = 'unload'",
					0, NULL, NULL, NULL, false, SPI_OK_DELETE)->count;
}

char
change_tracking_trigger_mode(const char *trigger_name)
{
	if (trigger_name == NULL)
		return 0;
	if (strcmp(trigger_name, CHANGE_TRACKING_TRIGGER) == 0)
		return TRIGGER_FIRES_ALWAYS;
	if (strcmp(trigger_name, CHANGE_TRACKING_REPLICA_TRIGGER) == 0)
		return TRIGGER_FIRES_ON_REPLICA;
	return 0;
}

bool
change_tracking_trigger_as_made(CreateTrigStmt *stmt)
{
	char		mode = change_tracking_trigger_mode(stmt->trigname);

	return mode != 0 && !stmt->replace && !stmt->isconstraint &&
		LookupFuncName(stmt->funcname, 0, NULL, true) == record_change_oid() &&
		stmt->args == NIL && stmt->timing == TRIGGER_TYPE_AFTER &&
		stmt->columns == NIL && stmt->whenClause == NULL && stmt->transitionRels == NIL &&
		stmt->row == (mode == TRIGGER_FIRES_ON_REPLICA) &&
		stmt->events == ((mode == TRIGGER_FIRES_ON_REPLICA ? REPLICA_TRIGGER_TYPE :
						  STATEMENT_TRIGGER_TYPE) & TRIGGER_TYPE_EVENT_MASK);
}

bool
change_tracking_table_in_use(Oid table)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(table)};

	return spi_rows(catalog_owner(),
					"SELECT 1 FROM pipeline.edges e WHERE e.upstream = $1::regclass LIMIT 1",
					1, argtypes, values, NULL, false, -1)->count > 0;
}

List *
change_tracking_tables_read(List *views)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1] = {spi_oid_array(views)};

	return spi_rows_oids(spi_rows(catalog_owner(),
								  "SELECT DISTINCT e.upstream::pg_catalog.oid FROM pipeline.edges e "
								  " WHERE e.downstream::pg_catalog.oid = ANY ($1)",
								  1, argtypes, values, NULL, true, SPI_OK_SELECT), 0);
}

static void release_unread(List *tables, bool every);

void
change_tracking_release_unread_tables(List *tables)
{
	if (tables != NIL)
		release_unread(tables, false);
}

void
change_tracking_release_every_unread_table(void)
{
	release_unread(NIL, true);
}

/* change_tracking_release_unread_tables() of tables, or of every table */
static void
release_unread(List *tables, bool every)
{
	Oid			argtypes[2] = {OIDOID, OIDARRAYOID};
	Datum		values[2] = {ObjectIdGetDatum(record_change_oid()), spi_oid_array(tables)};
	char		nulls[2] = {' ', every ? 'n' : ' '};
	ListCell   *lc;

	foreach(lc, spi_rows_oids(spi_rows(catalog_owner(),
									   "SELECT DISTINCT t.tgrelid FROM pg_catalog.pg_trigger t "
									   "  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
									   "  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
									   " WHERE t.tgfoid = $1 "
									   "   AND ($2 IS NULL OR (t.tgrelid = ANY ($2) AND n.nspname <> '" PIPELINE_SCHEMA "')) "
									   "   AND NOT EXISTS (SELECT 1 FROM pipeline.edges e WHERE e.upstream = t.tgrelid)",
									   2, argtypes, values, nulls, false, -1), 0))
	{
		Oid			table = lfirst_oid(lc);
		char	   *qualified;

		CHECK_FOR_INTERRUPTS();
		/* as DROP TRIGGER locks it; a view defined meanwhile reads it now */
		if (!ConditionalLockRelationOid(table, AccessExclusiveLock))
			continue;
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(table)) ||
			change_tracking_table_in_use(table))
		{
			UnlockRelationOid(table, AccessExclusiveLock);
			continue;
		}
		qualified = relation_qualified_name(table);
		runas_ddl(catalog_owner(), psprintf("DROP TRIGGER IF EXISTS %s ON %s",
											CHANGE_TRACKING_TRIGGER, qualified));
		runas_ddl(catalog_owner(), psprintf("DROP TRIGGER IF EXISTS %s ON %s",
											CHANGE_TRACKING_REPLICA_TRIGGER, qualified));
	}
}

void
change_tracking_record_ddl(Oid table)
{
	if (catalog_tracks_command_ids() && change_tracking_table_in_use(table))
		catalog_record_change(table);
}

/* Whether this (sub)transaction has a row for the table already. */
static bool
recorded_already(Oid table)
{
	FullTransactionId xid = GetTopFullTransactionId();
	SubTransactionId subxid = GetCurrentSubTransactionId();
	CommandId	floor = position_floor();

	if (!FullTransactionIdEquals(xid, recorded_xid) || subxid != recorded_subxid ||
		floor != recorded_floor)
	{
		recorded_xid = xid;
		recorded_subxid = subxid;
		recorded_floor = floor;
		recorded_count = 0;
	}
	for (int i = 0; i < recorded_count; i++)
		if (recorded[i] == table)
			return true;
	return false;
}

static void
remember_recorded(Oid table)
{
	if (recorded_count == RECORDED_MAX)
		recorded_count = 0;
	recorded[recorded_count++] = table;
}

PG_FUNCTION_INFO_V1(pipeline_record_change);

/*
 * The triggers on source tables (statement level, and row level for
 * replication apply workers): one pipeline.changes row per table,
 * transaction and refresh position (change_tracking.h).  The existence check
 * sees rows of rolled-back subtransactions as gone, so a table written again
 * after a rollback is recorded again.
 */
Datum
pipeline_record_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			table;
	Oid			argtypes[3] = {OIDOID, INT8OID, INT8OID};
	Datum		values[3];

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pipeline.record_change() must be called as a trigger");
	table = RelationGetRelid(trigdata->tg_relation);
	if (recorded_already(table))
		return PointerGetDatum(NULL);
	values[0] = ObjectIdGetDatum(table);
	/* an AFTER trigger runs under its statement's command id */
	values[1] = Int64GetDatum((int64) GetCurrentCommandId(false));
	values[2] = Int64GetDatum((int64) recorded_floor);

	if (catalog_tracks_command_ids())
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.changes (relation, command_id) "
						"SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM pipeline.changes "
						" WHERE relation = $1 AND xid = pg_catalog.pg_current_xact_id() "
						"   AND command_id >= $3)",
						3, argtypes, values, NULL, false, -1);
	else
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.changes (relation) "
						"SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM pipeline.changes "
						" WHERE relation = $1 AND xid = pg_catalog.pg_current_xact_id())",
						1, argtypes, values, NULL, false, -1);
	remember_recorded(table);
	return PointerGetDatum(NULL);
}
