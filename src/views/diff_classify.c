/*-------------------------------------------------------------------------
 * diff_classify.c
 *	  The classifier: whether a view's bound query can be refreshed
 *	  differentially, and if so its shape (diff_shape.h).  Reasons are
 *	  stable sentences: pipeline.matviews.full_refresh_reason shows them
 *	  and refresh_mode 'differential' refuses with them.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/detoast.h"
#include "access/sysattr.h"
#include "access/transam.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "model/catalog.h"
#include "util/analyze.h"
#include "util/runas.h"
#include "util/settings.h"
#include "views/diff_expand.h"
#include "views/diff_sql.h"
#include "views/differential.h"
#include "views/diff_shape.h"
#include "util/relation_name.h"

/* Shapes of the query as a whole. */
static const char *
query_level_reason(Query *query)
{
	if (query->hasWindowFuncs)
		return "window functions are not supported";
	if (query->limitCount != NULL || query->limitOffset != NULL)
		return "LIMIT and OFFSET are not supported";
	if (query->groupingSets != NIL)
		return "grouping sets are not supported";
	if (query->hasDistinctOn)
		return "DISTINCT ON is not supported";
	if (query->hasRecursive)
		return "recursive queries are not supported";
	if (query->cteList != NIL)
		return "WITH queries are not supported";
	if (query->hasSubLinks)
		return "subqueries in expressions are not supported";
	if (query->hasTargetSRFs)
		return "set-returning functions are not supported";
	if (query->rowMarks != NIL)
		return "FOR UPDATE and FOR SHARE are not supported";
	if (query->distinctClause != NIL && (query->groupClause != NIL || query->hasAggs))
		return "DISTINCT together with aggregates is not supported";
	/* grouped all the same: one row, or none, whatever the rows */
	if (query->havingQual != NULL && query->groupClause == NIL && !query->hasAggs)
		return "HAVING without GROUP BY or aggregates is not supported";
	return NULL;
}

/* What a function call may not be: see function_reason(). */
typedef struct FunctionCheck
{
	const char *reason;
	bool		stable;			/* a stable built-in is called */
	StringInfoData functions;	/* user functions called: "oid:hash" each */
} FunctionCheck;

/*
 * Fingerprints user function fn (an immutable one: its result depends on
 * its definition only) into check->functions: a replaced body, default
 * argument, STRICT or SECURITY DEFINER changes it, and the next refresh is
 * then full, as for a replaced plain view.  (What was fingerprinted before
 * the last two came in hashes as it did, when they are off.)
 */
static void
fingerprint_function(FunctionCheck *check, Oid fn, HeapTuple tuple)
{
	static const int attrs[] = {Anum_pg_proc_prosrc, Anum_pg_proc_probin, Anum_pg_proc_prosqlbody,
	Anum_pg_proc_proconfig, Anum_pg_proc_proargdefaults};
	Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tuple);
	uint64		hash = 0;

	for (size_t i = 0; i < lengthof(attrs); i++)
	{
		bool		isnull;
		Datum		value = SysCacheGetAttr(PROCOID, tuple, attrs[i], &isnull);

		if (!isnull)
		{
			struct varlena *v = PG_DETOAST_DATUM_PACKED(value);

			hash = hash_combine64(hash, hash_bytes_extended((const unsigned char *) VARDATA_ANY(v),
															VARSIZE_ANY_EXHDR(v), i));
		}
	}
	if (proc->proisstrict)
		hash = hash_combine64(hash, UINT64CONST(0x5354524943540001));
	if (proc->prosecdef)
		hash = hash_combine64(hash, UINT64CONST(0x5345434445460001));
	appendStringInfo(&check->functions, "%s%u:" UINT64_FORMAT,
					 check->functions.len > 0 ? " " : "", fn, hash);
}

/*
 * Built-in stable functions whose result changes while no table does: the
 * clock (the date and time input functions read 'now', 'today', ... as
 * the clock: a view casting text to a timestamp does), settings, the
 * current role, the catalogs and privileges.
 */
static bool
reads_clock_or_catalogs(const char *name, int nargs)
{
	static const char *const names[] = {
		"now", "statement_timestamp", "transaction_timestamp", "current_setting",
		"date_in", "timestamp_in", "timestamptz_in", "time_in", "timetz_in",
		"current_database", "current_schema", "current_schemas", "current_query",
		"current_user", "session_user", "getpgusername", "mxid_age",
		"inet_client_addr", "inet_client_port", "inet_server_addr", "inet_server_port",
		"version", "obj_description", "col_description", "shobj_description",
		"format_type", "oidvectortypes", "row_security_active",
	};

	size_t		length = strlen(name);

	for (size_t i = 0; i < lengthof(names); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	if (strcmp(name, "age") == 0 && nargs == 1)
		return true;
	/* an enum's labels, and the reg* types' names, are read from catalogs */
	if (strncmp(name, "enum_", 5) == 0)
		return true;
	if (strncmp(name, "reg", 3) == 0 &&
		((length > 3 && strcmp(name + length - 3, "out") == 0) ||
		 (length > 2 && strcmp(name + length - 2, "in") == 0)))
		return true;
	/* the transaction's own id and snapshot; tables read as XML */
	if (strncmp(name, "txid_", 5) == 0 || strstr(name, "_to_xml") != NULL)
		return true;
	/* information_schema's helpers (_pg_index_position reads pg_index) */
	return strncmp(name, "pg_", 3) == 0 || strncmp(name, "_pg_", 4) == 0 ||
		strncmp(name, "to_reg", 6) == 0 ||
		(strncmp(name, "has_", 4) == 0 && strstr(name, "_privilege") != NULL);
}

/*
 * Output functions PostgreSQL declares immutable whose text follows a
 * setting (extra_float_digits: floats and the geometric types written with
 * them; bytea_output): a view writing f::text reads the settings as one
 * calling a stable built-in does.  So may an extension's type (cube writes
 * its floats so): any output function not built in counts.
 */
static bool
output_follows_settings(Oid fn, Form_pg_proc proc)
{
	if (fn >= FirstNormalObjectId && proc->prorettype == CSTRINGOID)
		return true;
	switch (fn)
	{
		case F_QUOTE_IDENT:		/* quote_all_identifiers */
		case F_FLOAT4OUT:
		case F_FLOAT8OUT:
		case F_BYTEAOUT:
		case F_POINT_OUT:
		case F_LSEG_OUT:
		case F_LINE_OUT:
		case F_BOX_OUT:
		case F_PATH_OUT:
		case F_POLY_OUT:
		case F_CIRCLE_OUT:
			return true;
		default:
			return false;
	}
}

/*
 * Whether a value's text is read from the catalogs: an enum's label, a reg*
 * value's name, or an array, range, domain or row holding one.  Such text
 * changes with ALTER TYPE ... RENAME VALUE or a renamed relation, and no
 * write to a source.
 */
static bool
type_text_reads_catalogs(Oid type)
{
	TypeCacheEntry *entry;

	check_stack_depth();
	type = getBaseType(type);
	switch (type)
	{
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGTYPEOID:
		case REGROLEOID:
		case REGNAMESPACEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case ACLITEMOID:		/* names its roles */
			return true;
		case RECORDOID:
			return false;		/* an anonymous row: its RowExpr is looked
								 * into */
	}
	if (type_is_enum(type))
		return true;
	if (OidIsValid(get_element_type(type)))
		return type_text_reads_catalogs(get_element_type(type));
	entry = lookup_type_cache(type, TYPECACHE_RANGE_INFO | TYPECACHE_MULTIRANGE_INFO);
	if (entry->rngelemtype != NULL)
		return type_text_reads_catalogs(entry->rngelemtype->type_id);
	if (entry->rngtype != NULL)
		return type_text_reads_catalogs(entry->rngtype->type_id);

	/*
	 * a row type's text and JSON follow its attributes, which ALTER TYPE ...
	 * ADD or RENAME ATTRIBUTE changes with no write to a source
	 */
	return type_is_rowtype(type);
}

/* Whether type is aclitem, or an array or domain of it. */
static bool
type_holds_aclitem(Oid type)
{
	type = getBaseType(type);
	if (OidIsValid(get_element_type(type)))
		return type_holds_aclitem(get_element_type(type));
	return type == ACLITEMOID;
}

/*
 * Whether text read as a value of type may read the clock: a date or a
 * time ('now', 'today'), or an array, range, multirange or row type of
 * one, or a domain over such (their input functions call the element's).
 */
static bool
type_reads_clock_as_text(Oid type)
{
	check_stack_depth();
	type = getBaseType(type);
	if (OidIsValid(get_element_type(type)))
		return type_reads_clock_as_text(get_element_type(type));
	if (type_is_multirange(type))
		return type_reads_clock_as_text(get_range_subtype(get_multirange_range(type)));
	if (type_is_range(type))
		return type_reads_clock_as_text(get_range_subtype(type));
	if (type_is_rowtype(type) && type != RECORDOID)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(type, -1);
		bool		reads = false;

		for (int i = 0; i < desc->natts && !reads; i++)
			reads = !TupleDescAttr(desc, i)->attisdropped &&
				type_reads_clock_as_text(TupleDescAttr(desc, i)->atttypid);
		ReleaseTupleDesc(desc);
		return reads;
	}
	return type == DATEOID || type == TIMEOID || type == TIMETZOID ||
		type == TIMESTAMPOID || type == TIMESTAMPTZOID;
}

/* Whether an anonymous row, or an array of them, is written. */
static bool
is_anonymous_row(Oid type)
{
	type = getBaseType(type);
	if (OidIsValid(get_element_type(type)))
		return is_anonymous_row(get_element_type(type));
	return type == RECORDOID;
}

/*
 * Looks into an anonymous row for the values it holds: a row, or an array,
 * CASE or COALESCE of rows, passes its values' text on; any other
 * expression's value is its own (state = 'new' writes a boolean), and the
 * check of every node sees whether that one writes catalog text.
 */
static bool unseen_rows_hold_catalog_text = false;

static bool
holds_catalog_text_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;

	/*
	 * the parts of an expression that are not one (exprType() knows no type
	 * of them): a CASE's arms, an aggregate's arguments and ORDER BY
	 */
	if (IsA(node, Query) || IsA(node, SortGroupClause) ||
		(IsA(node, TargetEntry) && ((TargetEntry *) node)->resjunk))	/* sorts by */
		return false;
	if (IsA(node, List) || IsA(node, CaseWhen) || IsA(node, TargetEntry))
		return expression_tree_walker(node, holds_catalog_text_walker, context);
	if (type_text_reads_catalogs(exprType(node)))
		return true;
	if (!is_anonymous_row(exprType(node)))
		return false;

	/*
	 * a whole row of a subquery, CTE, VALUES or function: its columns are
	 * unseen here (for skip-unchanged, which then looks at the query's)
	 */
	if (IsA(node, Var))
		return unseen_rows_hold_catalog_text;
	return expression_tree_walker(node, holds_catalog_text_walker, context);
}

/*
 * The same for an expression.  An anonymous row's type says nothing of its
 * columns (ROW(state, 1), a CASE or COALESCE of rows, an array of them):
 * one that holds a value of such a type counts.
 */
static bool
text_reads_catalogs(Node *expr)
{
	if (is_anonymous_row(exprType(expr)))
		return holds_catalog_text_walker(expr, NULL);
	return type_text_reads_catalogs(exprType(expr));
}

/*
 * A function taking "any", anyelement, record... that may write its
 * arguments with their output functions, which the function check does not
 * see: a built-in whose result is text (||, concat(), format(), to_json(),
 * ...), or any function not built in (hstore(record)).  An enum's or a reg*
 * value's text so written is read from the catalogs as enum_out()'s is.
 */
static bool
writes_catalog_text(Oid fn, List *args)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		writes = false;
	ListCell   *lc;

	if (!HeapTupleIsValid(tuple))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	switch (fn >= FirstNormalObjectId ? TEXTOID : proc->prorettype)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case JSONOID:
		case JSONBOID:
		case XMLOID:
		case CSTRINGOID:
			foreach(lc, args)
			{
				/* a variadic function's last parameter takes the rest */
				int			i = Min(foreach_current_index(lc), proc->pronargs - 1);
				Node	   *arg = lfirst(lc);

				if (IsA(arg, TargetEntry))	/* an aggregate's */
					arg = (Node *) ((TargetEntry *) arg)->expr;
				if (i >= 0 && get_typtype(proc->proargtypes.values[i]) == TYPTYPE_PSEUDO &&
					text_reads_catalogs(arg))
					writes = true;
			}
			break;
	}
	ReleaseSysCache(tuple);
	return writes;
}

/*
 * A built-in that reads its result by name, as an input function does
 * (jsonb_populate_record(NULL::pair, j), text::regclass): a label or a
 * name means another value once renamed.  Stable, as such built-ins are.
 */
static bool
reads_values_by_name(Oid fn, Oid resulttype)
{
	return fn < FirstNormalObjectId && type_text_reads_catalogs(resulttype) &&
		func_volatile(fn) != PROVOLATILE_IMMUTABLE;
}

static bool
contains_coerce_via_io_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CoerceViaIO))
		return true;
	return expression_tree_walker(node, contains_coerce_via_io_walker, context);
}

static bool
function_reason(Oid fn, void *context)
{
	FunctionCheck *check = (FunctionCheck *) context;
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;

	if (!HeapTupleIsValid(tuple))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->provolatile == PROVOLATILE_VOLATILE)
		check->reason = "volatile functions are not supported";
	else if (proc->provolatile != PROVOLATILE_IMMUTABLE && fn >= FirstNormalObjectId)
		check->reason = psprintf("function %s is not immutable",
								 quote_qualified_identifier(get_namespace_name(proc->pronamespace),
															NameStr(proc->proname)));
	else if (proc->provolatile != PROVOLATILE_IMMUTABLE &&
			 reads_clock_or_catalogs(NameStr(proc->proname), proc->pronargs))
		check->reason = psprintf("function %s reads the clock, the settings or the catalogs",
								 NameStr(proc->proname));
	else if (proc->provolatile != PROVOLATILE_IMMUTABLE || output_follows_settings(fn, proc))
		check->stable = true;
	else if (fn >= FirstNormalObjectId)
		fingerprint_function(check, fn, tuple);
	ReleaseSysCache(tuple);
	return check->reason != NULL;
}

/* Whether node writes a value's text read from the catalogs. */
static bool
writes_catalog_text_node(Node *node)
{
	switch (nodeTag(node))
	{
		case T_CoerceViaIO:
			/* written as text, or read from text: 'a'::color, '(a,1)'::pair */
			return text_reads_catalogs((Node *) ((CoerceViaIO *) node)->arg) ||
				type_text_reads_catalogs(((CoerceViaIO *) node)->resulttype);
		case T_ArrayCoerceExpr:
			{
				/*
				 * each element written as text: its CoerceViaIO reads a
				 * placeholder, whose type (record) says nothing of the rows
				 */
				ArrayCoerceExpr *coerce = (ArrayCoerceExpr *) node;

				return contains_coerce_via_io_walker((Node *) coerce->elemexpr, NULL) &&
					text_reads_catalogs((Node *) coerce->arg);
			}
		case T_FuncExpr:
			return writes_catalog_text(((FuncExpr *) node)->funcid, ((FuncExpr *) node)->args) ||
				reads_values_by_name(((FuncExpr *) node)->funcid, ((FuncExpr *) node)->funcresulttype);
		case T_OpExpr:
			return writes_catalog_text(get_opcode(((OpExpr *) node)->opno), ((OpExpr *) node)->args);
		case T_Aggref:
			return writes_catalog_text(((Aggref *) node)->aggfnoid, ((Aggref *) node)->args);
		case T_XmlExpr:
			{
				/*
				 * XMLELEMENT, XMLFOREST, XMLATTRIBUTES write their values'
				 * text
				 */
				XmlExpr    *xml = (XmlExpr *) node;
				ListCell   *lc;

				foreach(lc, list_concat_copy(xml->named_args, xml->args))
					if (text_reads_catalogs(lfirst(lc)))
						return true;
				return false;
			}
		default:
			return false;
	}
}

/*
 * Where the text of type's values is read from, for skip-unchanged: an
 * enum's labels (its pg_enum rows) and a named row type's attribute names
 * (its relation's pg_attribute rows) are added to names; a reg* value's or
 * an aclitem's names may be any object's, which no rows stand for.
 */
static void
type_catalog_names(Oid type, CatalogTextNames *names)
{
	TypeCacheEntry *entry;
	Oid			typrelid;

	check_stack_depth();
	type = getBaseType(type);
	if (type == RECORDOID || !type_text_reads_catalogs(type))
		return;
	if (type_is_enum(type))
	{
		names->enums = list_append_unique_oid(names->enums, type);
		return;
	}
	if (OidIsValid(get_element_type(type)))
	{
		type_catalog_names(get_element_type(type), names);
		return;
	}
	entry = lookup_type_cache(type, TYPECACHE_RANGE_INFO | TYPECACHE_MULTIRANGE_INFO);
	if (entry->rngelemtype != NULL)
		type_catalog_names(entry->rngelemtype->type_id, names);
	else if (entry->rngtype != NULL)
		type_catalog_names(entry->rngtype->type_id, names);
	else if (OidIsValid(typrelid = get_typ_typrelid(type)))
	{
		if (list_member_oid(names->row_relations, typrelid))
			return;
		names->row_relations = lappend_oid(names->row_relations, typrelid);
		/* and what its attributes' text reads */
		for (AttrNumber att = 1;; att++)
		{
			HeapTuple	tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(typrelid),
												Int16GetDatum(att));

			if (!HeapTupleIsValid(tuple))
				break;
			if (!((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped)
				type_catalog_names(((Form_pg_attribute) GETSTRUCT(tuple))->atttypid, names);
			ReleaseSysCache(tuple);
		}
	}
	else
		names->by_any_name = true;
}

/*
 * The type of node's values, or InvalidOid for a part of a query or of an
 * expression that has none (exprType() knows none of these).
 */
static Oid
value_type(Node *node)
{
	switch (nodeTag(node))
	{
		case T_List:
		case T_TargetEntry:
		case T_SortGroupClause:
		case T_CaseWhen:
		case T_FromExpr:
		case T_JoinExpr:
		case T_RangeTblRef:
		case T_RangeTblFunction:
		case T_TableSampleClause:
		case T_TableFunc:
		case T_CommonTableExpr:
		case T_CTESearchClause:
		case T_CTECycleClause:
		case T_WindowClause:
		case T_RowMarkClause:
		case T_SetOperationStmt:
		case T_OnConflictExpr:
		case T_WithCheckOption:
		case T_MergeAction:
			return InvalidOid;
		default:
			return exprType(node);
	}
}

/* What catalog_names_walker() looks through */
typedef struct NamesSearch
{
	CatalogTextNames *names;
	bool		whole_query;	/* subqueries and FROM too, not one expression */
} NamesSearch;

/*
 * Adds the names of every value's type under node; of the whole query's,
 * with the columns of functions in FROM that return records, when asked.
 */
static bool
catalog_names_walker(Node *node, NamesSearch *search)
{
	Oid			type;

	if (node == NULL || IsA(node, RangeTblEntry))	/* its parts come next */
		return false;
	if (IsA(node, Query))
		return search->whole_query &&
			query_tree_walker((Query *) node, catalog_names_walker, (void *) search,
							  QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, Var) && is_anonymous_row(((Var *) node)->vartype))
		search->names->anonymous_rows = true;
	if (IsA(node, RangeTblFunction))
	{
		Node	   *call = ((RangeTblFunction *) node)->funcexpr;

		if (is_anonymous_row(exprType(call)))
		{
			TupleDesc	desc = get_expr_result_tupdesc(call, true);

			for (int i = 0; desc != NULL && i < desc->natts; i++)
				if (!TupleDescAttr(desc, i)->attisdropped)
					type_catalog_names(TupleDescAttr(desc, i)->atttypid, search->names);
			search->names->by_any_name |= desc == NULL;
		}
	}
	else if (OidIsValid(type = value_type(node)))
		type_catalog_names(type, search->names);
	return expression_tree_walker(node, catalog_names_walker, (void *) search);
}

void
diff_catalog_names_everywhere(Query *query, CatalogTextNames *names)
{
	NamesSearch search = {names, true};

	(void) catalog_names_walker((Node *) query, &search);
}

bool
diff_catalog_text_names(Node *node, CatalogTextNames *names)
{
	NamesSearch search = {NULL, false};
	bool		writes;

	unseen_rows_hold_catalog_text = true;
	PG_TRY();
	{
		writes = writes_catalog_text_node(node);
	}
	PG_FINALLY();
	{
		unseen_rows_hold_catalog_text = false;
	}
	PG_END_TRY();
	if (!writes)
		return false;
	/* every value's type under it: more than it writes, never less */
	search.names = names;
	(void) catalog_names_walker(node, &search);
	return true;
}

static bool
expression_reason_walker(Node *node, FunctionCheck *check)
{
	ListCell   *lc;

	if (node == NULL)
		return false;
	if (IsA(node, SQLValueFunction))
	{
		check->reason = "CURRENT_DATE, CURRENT_USER and similar values are not supported";
		return true;
	}
	if (IsA(node, NextValueExpr))
	{
		check->reason = "volatile functions are not supported";
		return true;
	}

	/*
	 * XMLELEMENT and co. call no function, but read xmloption, xmlbinary,
	 * TimeZone
	 */
	if (IsA(node, XmlExpr))
		check->stable = true;
	if (check_functions_in_node(node, function_reason, check))
		return true;

	/*
	 * the functions that compare: a group key's, DISTINCT's, ORDER BY's,
	 * GREATEST's and LEAST's (a user type's may be replaced as any other)
	 */
	foreach(lc, comparison_functions(node))
		if (function_reason(lfirst_oid(lc), check))
			return true;
	if (IsA(node, SortGroupClause))
		return false;

	/*
	 * literals PostgreSQL binds by name each time the bound text is read: an
	 * aclitem's roles (no dependency keeps them), a named row type's
	 * attributes (ALTER TYPE ... ADD ATTRIBUTE breaks '(x,5)'::pair and
	 * ROW(a, b)::pair); a materialized view keeps them bound in its rule
	 */
	if ((IsA(node, Const) && !((Const *) node)->constisnull &&
		 (type_holds_aclitem(((Const *) node)->consttype) ||
		  (type_is_rowtype(((Const *) node)->consttype) &&
		   ((Const *) node)->consttype != RECORDOID))) ||
		(IsA(node, RowExpr) && ((RowExpr *) node)->row_typeid != RECORDOID))
	{
		check->reason = "the text of an enum, a reg* value or a row type is read from the catalogs";
		return true;
	}
	if (writes_catalog_text_node(node))
	{
		check->reason = "the text of an enum, a reg* value or a row type is read from the catalogs";
		return true;
	}
	/* s::tstzrange, ('{' || s || '}')::date[]: their elements' 'now' */
	if (IsA(node, CoerceViaIO) && type_reads_clock_as_text(((CoerceViaIO *) node)->resulttype))
	{
		check->reason = psprintf("text read as %s reads the clock ('now', 'today')",
								 format_type_be(((CoerceViaIO *) node)->resulttype));
		return true;
	}

	/*
	 * defaults are filled in by the planner: a call leaving some out runs
	 * them
	 */
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *call = (FuncExpr *) node;
		HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(call->funcid));
		Node	   *defaults = NULL;

		if (HeapTupleIsValid(tuple))
		{
			bool		isnull;
			Datum		datum = SysCacheGetAttr(PROCOID, tuple, Anum_pg_proc_proargdefaults,
												&isnull);

			if (!isnull && list_length(call->args) < ((Form_pg_proc) GETSTRUCT(tuple))->pronargs)
				defaults = stringToNode(TextDatumGetCString(datum));
			ReleaseSysCache(tuple);
		}
		if (defaults != NULL && expression_reason_walker(defaults, check))
			return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, expression_reason_walker, check,
								 QTW_EXAMINE_SORTGROUP);
	return expression_tree_walker(node, expression_reason_walker, check);
}

/*
 * Relations the compile step's check made for the views of a change set:
 * managed views the catalog names only once the change set is applied.
 */
static List *judged_views = NIL;

void
differential_judging_view(Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	judged_views = lappend_oid(judged_views, relid);
	MemoryContextSwitchTo(old);
}

void
differential_judging_done(void)
{
	judged_views = NIL;
}

/* Why a table the query reads cannot be captured, or NULL. */
static const char *
source_reason(RangeTblEntry *rte)
{
	char		relkind = get_rel_relkind(rte->relid);
	Oid			nspid = get_rel_namespace(rte->relid);
	char	   *name = relation_qualified_name(rte->relid);

	if (rte->tablesample != NULL)
		return "TABLESAMPLE is not supported";
	if (relkind == RELKIND_MATVIEW)
		return catalog_is_managed(rte->relid) || list_member_oid(judged_views, rte->relid) ?
			psprintf("upstream %s is refreshed fully", name) :
			psprintf("source %s is a materialized view pipeline does not manage", name);
	if (relkind == RELKIND_FOREIGN_TABLE)
		return psprintf("source %s is a foreign table", name);
	if (relkind == RELKIND_PARTITIONED_TABLE)
		return psprintf("source %s is partitioned", name);
	if (relkind != RELKIND_RELATION)
		return psprintf("source %s is not a table", name);
	/* crash recovery empties an unlogged table without a trigger firing */
	if (get_rel_persistence(rte->relid) == RELPERSISTENCE_UNLOGGED)
		return psprintf("source %s is unlogged", name);
	if (get_rel_relispartition(rte->relid))
		return psprintf("source %s is a partition", name);
	if (has_subclass(rte->relid) || has_superclass(rte->relid))
		return psprintf("source %s is in an inheritance tree", name);
	if (IsCatalogNamespace(nspid) || nspid == get_namespace_oid(PIPELINE_SCHEMA, true))
		return psprintf("source %s is a system catalog", name);
	{
		HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(rte->relid));
		bool		rls = HeapTupleIsValid(tuple) &&
		((Form_pg_class) GETSTRUCT(tuple))->relrowsecurity;

		if (HeapTupleIsValid(tuple))
			ReleaseSysCache(tuple);
		if (rls)
			return psprintf("source %s has row-level security", name);
	}
	return NULL;
}

/*
 * Why a function in FROM with a column definition list (json_to_record(),
 * jsonb_to_recordset(), ...) cannot be followed: it reads text as those
 * columns' types, which for a date or a time may read the clock.
 */
static const char *
function_columns_reason(RangeTblEntry *rte)
{
	ListCell   *lc;

	foreach(lc, rte->functions)
	{
		RangeTblFunction *function = lfirst_node(RangeTblFunction, lc);
		ListCell   *type;

		foreach(type, function->funccoltypes)
			if (type_reads_clock_as_text(lfirst_oid(type)))
				return psprintf("a function in FROM reads text as %s, which reads the clock ('now', 'today')",
								format_type_be(lfirst_oid(type)));
	}
	return NULL;
}

/* The range table: tables and inner joins only. */
static const char *
range_table_reason(Query *query)
{
	ListCell   *lc;

	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		const char *reason = NULL;

		switch (rte->rtekind)
		{
			case RTE_RELATION:
				if (!diff_view_entry(rte))
					reason = source_reason(rte);
				break;
			case RTE_RESULT:
				/* a join flattened by diff_expand_views() */
				break;
			case RTE_JOIN:
				if (rte->jointype != JOIN_INNER)
					reason = "outer joins are not supported";
				break;
			case RTE_SUBQUERY:
				reason = "subqueries in FROM are not supported";
				break;
			case RTE_FUNCTION:

				/*
				 * a set per row of what it reads, like an expression's value;
				 * but jsonb_to_record(j) AS x(t timestamptz) reads text as
				 * its columns' types
				 */
				reason = function_columns_reason(rte);
				break;
			case RTE_TABLEFUNC:
				reason = "XMLTABLE in FROM is not supported";
				break;
			case RTE_VALUES:
				/* a constant list: no change to follow, in every term as is */
				break;
			default:
				reason = "this kind of FROM item is not supported";
				break;
		}
		if (reason != NULL)
			return reason;
	}
	return NULL;
}

/* A source entry per table, with the columns every occurrence reads. */
static const char *
collect_sources(Query *query, DiffShape *shape)
{
	/* (a UNION ALL's branches add theirs one by one) */
	Node	   *reads;
	int			rtindex = 0;
	bool		using_joins = false;
	bool		column_aliases = false;
	ListCell   *lc;

	/* join alias Vars name base columns only through the join */
	reads = flatten_join_alias_vars(query, (Node *) diff_query_expressions(query));
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		Bitmapset  *attnums = NULL;
		DiffSource *source;
		int			attno = -1;

		rtindex++;
		if (rte->alias != NULL && rte->alias->colnames != NIL)
			column_aliases = true;
		if (rte->rtekind == RTE_JOIN && rte->joinmergedcols > 0)
			using_joins = true;
		if (rte->rtekind != RTE_RELATION || diff_view_entry(rte))
			continue;
		pull_varattnos(reads, rtindex, &attnums);
		while ((attno = bms_next_member(attnums, attno)) >= 0)
		{
			AttrNumber	attnum = attno + FirstLowInvalidHeapAttributeNumber;

			if (attnum == 0)
				return "whole-row references are not supported";
			if (attnum < 0)
				return "system columns are not supported";
		}
		source = diff_shape_source(shape, rte->relid);
		if (source == NULL)
		{
			source = palloc0(sizeof(DiffSource));
			source->relid = rte->relid;
			shape->sources = lappend(shape->sources, source);
		}
		attno = -1;
		while ((attno = bms_next_member(attnums, attno)) >= 0)
		{
			AttrNumber	attnum = attno + FirstLowInvalidHeapAttributeNumber;
			Oid			type = getBaseType(get_atttype(rte->relid, attnum));

			/*
			 * a change the refresh consolidates is grouped by such a value's
			 * text, and one value of the group is taken with array_agg()
			 */
			if (!type_has_equality(type) &&
				(OidIsValid(get_element_type(type)) || !OidIsValid(get_array_type(type))))
				return psprintf("column %s of %s is of type %s, an array or a type without arrays whose values have no equality",
								quote_identifier(get_attname(rte->relid, attnum, false)),
								relation_qualified_name(rte->relid), format_type_be(type));
			source->attnums = bms_add_member(source->attnums, attnum);
		}
	}

	/*
	 * A USING column renamed by a column alias list makes the deparser give
	 * the joined tables alias lists of all their columns, which a source's
	 * changes (the columns read) do not have.
	 */
	if (using_joins && column_aliases)
		return "joins with USING under column alias lists are not supported";
	if (diff_reads_unnamed_whole_row(query))
		return "whole-row references are not supported";
	return NULL;
}

/*
 * Whether type's values can be keys of the view's table: equality and
 * ordering by a default btree operator class (its index is a btree).
 */
static bool
has_equality(Oid type)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_EQ_OPR | TYPECACHE_BTREE_OPFAMILY);

	return OidIsValid(entry->eq_opr) && OidIsValid(entry->btree_opf);
}

/* CASE WHEN filter THEN arg END */
static Expr *
filtered_argument(Expr *filter, Expr *arg)
{
	CaseExpr   *result = makeNode(CaseExpr);
	CaseWhen   *when = makeNode(CaseWhen);

	when->expr = filter;
	when->result = arg;
	when->location = -1;
	result->casetype = exprType((Node *) arg);
	result->casecollid = exprCollation((Node *) arg);
	result->args = list_make1(when);
	result->defresult = (Expr *) makeNullConst(result->casetype, exprTypmod((Node *) arg),
											   result->casecollid);
	result->location = -1;
	return (Expr *) result;
}

/* The kind of a built-in aggregate the refresh maintains, or a reason. */
static const char *
aggregate_kind(Aggref *aggref, DiffAgg *agg)
{
	char	   *name = get_func_name(aggref->aggfnoid);
	int			nargs = list_length(aggref->args);

	if (aggref->aggdistinct != NIL || aggref->aggorder != NIL)
		return "aggregates with DISTINCT or ORDER BY are not supported";
	if (aggref->aggfnoid >= FirstNormalObjectId || aggref->agglevelsup != 0 || nargs > 1)
		return psprintf("aggregate %s is not supported", name);
	agg->aggref = aggref;
	if (nargs == 1)
		agg->arg = linitial_node(TargetEntry, aggref->args)->expr;
	else if (aggref->aggfilter != NULL)
		agg->arg = (Expr *) makeConst(INT4OID, -1, InvalidOid, sizeof(int32),
									  Int32GetDatum(1), false, true);

	/*
	 * each of these ignores NULLs: agg(x) FILTER (WHERE p) is agg(CASE WHEN p
	 * THEN x END), and count(*) FILTER (WHERE p) count(CASE WHEN p THEN 1
	 * END)
	 */
	if (aggref->aggfilter != NULL)
		agg->arg = filtered_argument(aggref->aggfilter, agg->arg);
	if (agg->arg != NULL)
		agg->argtype = exprType((Node *) agg->arg);
	if (strcmp(name, "count") == 0)
		agg->kind = agg->arg == NULL ? DIFF_COUNT_STAR : DIFF_COUNT;
	else if (strcmp(name, "sum") == 0 || strcmp(name, "avg") == 0)
	{
		agg->kind = name[0] == 's' ? DIFF_SUM : DIFF_AVG;
		if (agg->argtype == FLOAT4OID || agg->argtype == FLOAT8OID)
			return "float aggregates are refreshed fully";
		if (agg->argtype != INT2OID && agg->argtype != INT4OID &&
			agg->argtype != INT8OID && agg->argtype != NUMERICOID)
			return psprintf("aggregate %s(%s) is not supported", name,
							format_type_be(agg->argtype));
		agg->numeric_arg = agg->argtype == NUMERICOID;
	}
	else if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0)
	{
		agg->kind = name[1] == 'i' ? DIFF_MIN : DIFF_MAX;
		/* the values kept per group are an array of the argument's type */
		if (!OidIsValid(get_array_type(agg->argtype)))
			return psprintf("aggregate %s(%s) is not supported", name,
							format_type_be(agg->argtype));
	}
	else if (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0)
		agg->kind = DIFF_BOOL_AND;
	else if (strcmp(name, "bool_or") == 0)
		agg->kind = DIFF_BOOL_OR;
	else
		return psprintf("aggregate %s is not supported", name);
	return NULL;
}

typedef struct AggCollect
{
	DiffShape  *shape;
	const char *reason;
} AggCollect;

static bool
collect_aggregates_walker(Node *node, AggCollect *collect)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
	{
		DiffAgg    *agg = palloc0(sizeof(DiffAgg));
		ListCell   *lc;

		collect->reason = aggregate_kind((Aggref *) node, agg);
		if (collect->reason != NULL)
			return true;
		foreach(lc, collect->shape->aggs)
			if (equal(((DiffAgg *) lfirst(lc))->aggref, node))
				return false;
		collect->shape->aggs = lappend(collect->shape->aggs, agg);
		return false;			/* an argument holds no aggregate */
	}
	return expression_tree_walker(node, collect_aggregates_walker, collect);
}

/* Whether node uses a column outside every group key and aggregate. */
static bool
ungrouped_column_walker(Node *node, List *keys)
{
	ListCell   *lc;

	if (node == NULL || IsA(node, Aggref))
		return false;
	foreach(lc, keys)
		if (equal(lfirst_node(TargetEntry, lc)->expr, node))
			return false;
	if (IsA(node, Var))
		return true;
	return expression_tree_walker(node, ungrouped_column_walker, keys);
}

/*
 * The most a state column of this type takes in a stored row: a long value
 * is moved out (TOAST) and leaves an 18-byte pointer, unless the type is
 * stored plain.
 */
static Size
state_column_bound(Oid type)
{
	int16		length = get_typlen(type);

	if (length > 0)
		return MAXALIGN(length);
	return get_typstorage(type) == TYPSTORAGE_PLAIN ? MaxHeapTupleSize : MAXALIGN(TOAST_POINTER_SIZE);
}

/*
 * The most a row of the state table (diff_sql_state_columns()) takes, its
 * long values moved out: its keys, row count, and per aggregate a count,
 * a sum with its scale and count, an extreme with its kept values.  A
 * state that would not fit fails every refresh ("row is too big"), where a
 * full refresh stores only the view's row.
 */
static Size
state_row_bound(DiffShape *shape)
{
	int			columns = list_length(shape->keys) + 2;
	Size		bound = 2 * sizeof(int64);
	ListCell   *lc;

	foreach(lc, shape->keys)
		bound += state_column_bound(exprType((Node *) lfirst_node(TargetEntry, lc)->expr));
	foreach(lc, shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);

		if (agg->kind == DIFF_COUNT_STAR)
			continue;
		columns += 5;
		bound += sizeof(int64);
		if (agg->kind == DIFF_SUM || agg->kind == DIFF_AVG)
			bound += MAXALIGN(TOAST_POINTER_SIZE) + 2 * sizeof(int64);
		else if (agg->kind == DIFF_MIN || agg->kind == DIFF_MAX)
			bound += state_column_bound(agg->argtype) + MAXALIGN(TOAST_POINTER_SIZE);
		else if (agg->kind != DIFF_COUNT)
			bound += sizeof(int64);
	}
	return MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(columns)) + bound;
}

/* Group keys, aggregates and what finalizing from them needs. */
static const char *
grouping_reason(Query *query, DiffShape *shape)
{
	AggCollect	collect = {shape, NULL};
	ListCell   *lc;

	shape->grouped = true;
	if (query->distinctClause != NIL)
	{
		foreach(lc, query->targetList)
			if (!lfirst_node(TargetEntry, lc)->resjunk)
				shape->keys = lappend(shape->keys, lfirst(lc));
	}
	foreach(lc, query->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst_node(SortGroupClause, lc),
												   query->targetList);

		if (tle->resjunk)
			return "every GROUP BY expression must be an output column";
		shape->keys = lappend(shape->keys, tle);
	}
	foreach(lc, shape->keys)
		if (!has_equality(exprType((Node *) lfirst_node(TargetEntry, lc)->expr)))
			return psprintf("group key %s has a type without an equality operator",
							quote_identifier(lfirst_node(TargetEntry, lc)->resname));
	if (shape->keys != NIL)
	{
		Oid		   *types = palloc(sizeof(Oid) * list_length(shape->keys));
		int			i = 0;

		foreach(lc, shape->keys)
			types[i++] = exprType((Node *) lfirst_node(TargetEntry, lc)->expr);
		if (!diff_sql_key_types_indexable(types, i))
			return "a group key's type has no hashing and variable length (tsvector, varbit, ...): long keys would not fit the view's index";
	}
	if (list_length(shape->keys) > INDEX_MAX_KEYS)
		return psprintf("more than %d group keys are not supported (the columns of an index)",
						INDEX_MAX_KEYS);
	if (collect_aggregates_walker((Node *) query->targetList, &collect) ||
		collect_aggregates_walker(query->havingQual, &collect))
		return collect.reason;
	foreach(lc, shape->keys)
	{
		TargetEntry *key = lfirst_node(TargetEntry, lc);
		Oid			type = exprType((Node *) key->expr);

		/* its row holds the key and more: a long key would not fit */
		if (get_typlen(type) < 0 && get_typstorage(type) == TYPSTORAGE_PLAIN)
			return psprintf("group key %s is of type %s, whose values are never moved out of the row",
							quote_identifier(key->resname), format_type_be(type));
	}
	if (state_row_bound(shape) > MaxHeapTupleSize)
		return psprintf("the state of %d aggregates would not fit in a row",
						list_length(shape->aggs));
	if (ungrouped_column_walker((Node *) query->targetList, shape->keys) ||
		ungrouped_column_walker(query->havingQual, shape->keys))
		return "every output column must be a group key or use one only inside aggregates";
	return NULL;
}

static const char *
bag_reason(Query *query)
{
	ListCell   *lc;
	bool		first = true;

	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Oid			type = exprType((Node *) tle->expr);

		if (tle->resjunk)
			continue;
		if (!has_equality(type))
			return psprintf("column %s has a type without an equality operator",
							quote_identifier(tle->resname));
		/* the view's index is on its first column */
		if (first && !diff_sql_key_types_indexable(&type, 1))
			return psprintf("the first column, %s, is of a type with no hashing and variable length (%s): long values would not fit the view's index",
							quote_identifier(tle->resname), format_type_be(type));
		first = false;
	}
	return NULL;
}

/* One SELECT without set operations: everything but the top's shape. */
static const char *
block_reason(Query *query, DiffShape *shape)
{
	FunctionCheck check = {NULL, false};
	const char *reason = query_level_reason(query);

	initStringInfo(&check.functions);
	if (reason == NULL && query_tree_walker(query, expression_reason_walker, &check, QTW_EXAMINE_SORTGROUP))
		reason = check.reason;
	shape->reads_settings |= check.stable;
	if (check.functions.len > 0)
		shape->functions = psprintf("%s%s%s", shape->functions,
									shape->functions[0] ? " " : "", check.functions.data);
	if (reason == NULL)
		reason = range_table_reason(query);
	if (reason == NULL)
		reason = collect_sources(query, shape);
	return reason;
}

static bool
is_grouped(Query *query)
{
	return query->hasAggs || query->groupClause != NIL || query->distinctClause != NIL;
}

/*
 * GROUP BY () makes one group of every row, as aggregates without GROUP BY
 * do: the query without it, which the rest of the classifier knows.
 * Without aggregates it is not the same (one row, not one per row).
 */
static Query *
without_empty_grouping_set(Query *query)
{
	if (query->hasAggs && query->groupClause == NIL && list_length(query->groupingSets) == 1 &&
		linitial_node(GroupingSet, query->groupingSets)->kind == GROUPING_SET_EMPTY)
	{
		query = copyObject(query);
		query->groupingSets = NIL;
	}
	return query;
}

/* block with the plain views it reads expanded, their fingerprints kept */
static Query *
expand_views(Query *block, DiffShape *shape, const char **reason)
{
	StringInfoData fingerprint;

	initStringInfo(&fingerprint);
	appendStringInfoString(&fingerprint, shape->views);
	block = diff_expand_views(block, shape->owner, &fingerprint, reason);
	shape->views = fingerprint.data;
	return block;
}

/* A UNION ALL of plain SELECTs: each branch a block, the whole a bag. */
static const char *
union_reason(Query *query, Node *node, DiffShape *shape)
{
	if (IsA(node, SetOperationStmt))
	{
		SetOperationStmt *op = (SetOperationStmt *) node;
		const char *reason;

		if (op->op != SETOP_UNION || !op->all)
			return "set operations other than UNION ALL are not supported";
		reason = union_reason(query, op->larg, shape);
		return reason != NULL ? reason : union_reason(query, op->rarg, shape);
	}
	else
	{
		RangeTblEntry *rte = rt_fetch(castNode(RangeTblRef, node)->rtindex, query->rtable);
		const char *reason;

		rte->subquery = expand_views(rte->subquery, shape, &reason);
		if (reason == NULL)
			reason = block_reason(rte->subquery, shape);

		if (reason == NULL && (is_grouped(rte->subquery) || rte->subquery->setOperations != NULL))
			reason = "aggregates and DISTINCT inside UNION ALL are not supported";
		shape->blocks = lappend(shape->blocks, rte->subquery);
		return reason;
	}
}

const char *
diff_classify(const char *bound_query, Oid owner, DiffShape **shapep)
{
	DiffShape  *shape = palloc0(sizeof(DiffShape));
	const char *reason;
	Query	   *query = analyze_bound(bound_query, owner);

	shape->query = query;
	shape->owner = owner;
	shape->views = "";
	shape->functions = "";
	if (ExecCleanTargetListLength(query->targetList) == 0)
		return "a query without output columns is not supported";

	if (query->setOperations != NULL)
	{
		reason = query->limitCount != NULL || query->limitOffset != NULL ?
			"LIMIT and OFFSET are not supported" :
			union_reason(query, query->setOperations, shape);
		if (reason == NULL)
			reason = bag_reason(query);
	}
	else
	{
		query = expand_views(without_empty_grouping_set(query), shape, &reason);
		shape->query = query;
		shape->blocks = list_make1(query);
		if (reason == NULL)
			reason = block_reason(query, shape);
		if (reason == NULL)
			reason = is_grouped(query) ? grouping_reason(query, shape) : bag_reason(query);
	}
	if (reason == NULL && shape->sources == NIL)
		reason = "the query reads no table";
	if (reason == NULL && shapep != NULL)
		*shapep = shape;
	return reason;
}

DiffSource *
diff_shape_source(DiffShape *shape, Oid relid)
{
	ListCell   *lc;

	foreach(lc, shape->sources)
		if (((DiffSource *) lfirst(lc))->relid == relid)
			return lfirst(lc);
	return NULL;
}
