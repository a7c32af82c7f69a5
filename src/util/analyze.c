/*-------------------------------------------------------------------------
 * analyze.c
 *	  Parsing and analyzing one statement of a user's query text.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_cast.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parse_func.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "util/analyze.h"

void
query_text_error_callback(void *arg)
{
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery((const char *) arg);
	}
}

Query *
analyze_one(const char *query_text)
{
	List	   *raw;
	Query	   *query;
	ErrorContextCallback errcallback;

	errcallback.callback = query_text_error_callback;
	errcallback.arg = (void *) query_text;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	raw = raw_parser(query_text, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		elog(ERROR, "expected one statement");
	query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), query_text,
									  NULL, 0, NULL);
	error_context_stack = errcallback.previous;
	return query;
}

static bool
is_output_column(TargetEntry *tle, const char *name)
{
	return !tle->resjunk && tle->resname && strcmp(tle->resname, name) == 0;
}

TargetEntry *
query_output_column(Query *query, const char *name)
{
	ListCell   *lc;

	foreach(lc, query->targetList)
		if (is_output_column(lfirst_node(TargetEntry, lc), name))
			return lfirst(lc);
	return NULL;
}

int
query_output_columns_named(Query *query, const char *name)
{
	int			named = 0;
	ListCell   *lc;

	foreach(lc, query->targetList)
		if (is_output_column(lfirst_node(TargetEntry, lc), name))
			named++;
	return named;
}

Oid
lookup_function(const char *spec, const char *args)
{
	FuncCandidateList candidates;

	if (strchr(spec, '(') != NULL)
		return DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(spec)));
	candidates = FuncnameGetCandidates(stringToQualifiedNameList(spec), -1, NIL,
									   false, false, false, true);
	if (candidates == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function \"%s\" does not exist", spec),
				 errhint("Name a function taking %s.", args)));
	if (candidates->next != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_AMBIGUOUS_FUNCTION),
				 errmsg("more than one function is named \"%s\"", spec),
				 errhint("Give its argument types: %s%s.", spec, args)));
	return candidates->oid;
}

bool
function_takes(Oid fn, int nargs, const Oid *argtypes)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		ok;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	ok = proc->prokind == PROKIND_FUNCTION && !proc->proretset && proc->pronargs == nargs;
	for (int i = 0; ok && i < nargs; i++)
		ok = proc->proargtypes.values[i] == argtypes[i];
	ReleaseSysCache(tuple);
	return ok;
}

/*
 * The qualified name of type, with no length: bpchar and bit, not
 * "character" and "bit", which mean char(1) and bit(1) and cut a value.
 */
static char *
type_name_sql(Oid type)
{
	return format_type_extended(type, -1, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/*
 * An argument of an operator or function in schema namespace, for SQL text
 * that names it.  PostgreSQL resolves the name again for the arguments'
 * types, and an exact match wins: an operator or function of that name on
 * a domain (or another type) of the arguments, which anyone may create in
 * a schema he may create in, would be called instead, with the rights of
 * whoever runs the statement.  Outside pg_catalog (where no one but a
 * superuser creates) the argument is cast to the declared type, which the
 * one meant alone matches exactly.  kind and name only say which in an
 * error.
 */
static char *
pinned_argument_sql(const char *argument, Oid declared, Oid namespace,
					const char *kind, const char *name)
{
	if (namespace == PG_CATALOG_NAMESPACE)
		return pstrdup(argument);
	if (IsPolymorphicType(declared) || get_typtype(declared) == TYPTYPE_PSEUDO)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s %s.%s cannot be called safely by name",
						kind, get_namespace_name(namespace), name),
				 errdetail("Its argument is of type %s, and it is not in schema pg_catalog: one of that name for the value's own type would be called instead.",
						   format_type_be(declared))));
	return psprintf("(%s)::%s", argument, type_name_sql(declared));
}

/* operator_expr_sql(), or with any = true operator_any_sql() */
static char *
operator_call_sql(Oid opno, const char *left, const char *right, bool any)
{
	HeapTuple	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Form_pg_operator op;
	char	   *text;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	op = (Form_pg_operator) GETSTRUCT(tuple);
	text = psprintf(any ? "%s OPERATOR(%s.%s) ANY (%s)" : "%s OPERATOR(%s.%s) %s",
					pinned_argument_sql(left, op->oprleft, op->oprnamespace, "operator",
										NameStr(op->oprname)),
					quote_identifier(get_namespace_name(op->oprnamespace)),
					NameStr(op->oprname),
					pinned_argument_sql(right, any && op->oprnamespace != PG_CATALOG_NAMESPACE ?
										get_array_type(op->oprright) : op->oprright,
										op->oprnamespace, "operator", NameStr(op->oprname)));

	ReleaseSysCache(tuple);
	return text;
}

char *
operator_expr_sql(Oid opno, const char *left, const char *right)
{
	return operator_call_sql(opno, left, right, false);
}

char *
operator_any_sql(Oid opno, const char *left, const char *array)
{
	return operator_call_sql(opno, left, array, true);
}

char *
equality_expr_sql(Oid type, const char *left, const char *right)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_EQ_OPR);

	if (!OidIsValid(entry->eq_opr))
		elog(ERROR, "type %s has no equality operator", format_type_be(type));
	return operator_expr_sql(entry->eq_opr, left, right);
}

/* The comparison of type with strategy of its default btree family */
static Oid
comparison_operator(Oid type, int strategy)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_BTREE_OPFAMILY);
	Oid			opno = InvalidOid;

	if (OidIsValid(entry->btree_opf))
		opno = get_opfamily_member(entry->btree_opf, entry->btree_opintype,
								   entry->btree_opintype, strategy);
	if (!OidIsValid(opno))
		elog(ERROR, "type %s has no comparison operator of btree strategy %d",
			 format_type_be(type), strategy);
	return opno;
}

char *
comparison_expr_sql(Oid type, int strategy, const char *left, const char *right)
{
	return operator_expr_sql(comparison_operator(type, strategy), left, right);
}

char *
comparison_any_sql(Oid type, int strategy, const char *left, const char *array)
{
	return operator_any_sql(comparison_operator(type, strategy), left, array);
}

/* left, of type, as compared (its comparison_type()) */
static char *
operand_as(Oid type, Oid compared, const char *left)
{
	if (compared == getBaseType(type))
		return pstrdup(left);
	return psprintf("(%s)::%s", left, type_name_sql(compared));
}

char *
comparison_operand_sql(Oid type, const char *left)
{
	return operand_as(type, comparison_type(type), left);
}

char *
comparison_param_sql(Oid type, int strategy, const char *left, int param)
{
	Oid			compared = comparison_type(type);

	return comparison_expr_sql(compared, strategy, operand_as(type, compared, left),
							   psprintf("$%d::%s", param, type_name_sql(compared)));
}

char *
comparison_any_param_sql(Oid type, int strategy, const char *left, int param)
{
	Oid			compared = comparison_type(type);
	char	   *operand = operand_as(type, compared, left);

	/* an array of arrays is one array of their elements: each cast alone */
	if (OidIsValid(get_element_type(compared)))
		return psprintf("EXISTS (SELECT FROM pg_catalog.unnest($%d::pg_catalog.text[]) pipeline_k WHERE %s)",
						param,
						comparison_expr_sql(compared, strategy, operand,
											psprintf("pipeline_k::%s", type_name_sql(compared))));
	return comparison_any_sql(compared, strategy, operand,
							  psprintf("$%d::%s[]", param, type_name_sql(compared)));
}

/* The first value of an ORDER BY, as text: extremes_select_sql()'s other way */
static char *
first_value_sql(const char *value, const char *from, const char *where, const char *direction)
{
	return psprintf("(SELECT %s::pg_catalog.text FROM %s WHERE %s IS NOT NULL AND %s ORDER BY %s%s LIMIT 1)",
					value, from, value, where, value, direction);
}

char *
extremes_select_sql(Oid type, const char *value, const char *from, const char *where,
					bool least, bool greatest)
{
	Assert(least || greatest);
	/* one scan for both */
	if (has_catalog_extremes(type))
		return psprintf("SELECT %s%s%s FROM %s WHERE %s",
						least ? psprintf("pg_catalog.min(%s)::pg_catalog.text", value) : "",
						least && greatest ? ", " : "",
						greatest ? psprintf("pg_catalog.max(%s)::pg_catalog.text", value) : "",
						from, where);
	return psprintf("SELECT %s%s%s",
					least ? first_value_sql(value, from, where, "") : "",
					least && greatest ? ", " : "",
					greatest ? first_value_sql(value, from, where, " DESC") : "");
}

static Oid
operator_namespace(Oid opno)
{
	HeapTuple	tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	Oid			namespace;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for operator %u", opno);
	namespace = ((Form_pg_operator) GETSTRUCT(tuple))->oprnamespace;
	ReleaseSysCache(tuple);
	return namespace;
}

/* The operator a query names where its text will not, outside pg_catalog */
static void
refuse_unnamed_operator(Oid opno, const char *construct)
{
	Oid			namespace = operator_namespace(opno);

	if (namespace == PG_CATALOG_NAMESPACE)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s compares with operator %s.%s, which a stored query cannot name",
					construct, get_namespace_name(namespace), get_opname(opno)),
			 errdetail("A managed view's query is kept as text and read again: its %s would then mean another operator, one someone may create later.",
					   construct),
			 errhint("Write the comparison as a OPERATOR(%s.%s) b, with both sides cast to the operator's argument types.",
					 get_namespace_name(namespace), get_opname(opno))));
}

/* Refuses every operator outside pg_catalog in node (quals of a USING join) */
static bool
refuse_operators_walker(Node *node, const char *construct)
{
	if (node == NULL)
		return false;
	if (IsA(node, OpExpr))
		refuse_unnamed_operator(((OpExpr *) node)->opno, construct);
	return expression_tree_walker(node, refuse_operators_walker, (void *) construct);
}

/*
 * A row comparison's text names one operator, the first column's, and
 * reading it again looks that name up for every column: in that operator's
 * schema, or in pg_catalog alone when it prints unqualified.  A column
 * compared with an operator of another schema would fail to parse (citext's
 * first, text's next) or silently compare with pg_catalog's (text's first,
 * citext's next: case-sensitively).  The same for (a, b) IN (SELECT ...).
 */
static void
refuse_mixed_operator_schemas(List *opnos, const char *construct, const char *hint)
{
	Oid			first = linitial_oid(opnos);
	Oid			named = operator_namespace(first);
	ListCell   *lc;

	foreach(lc, opnos)
	{
		Oid			opno = lfirst_oid(lc);
		Oid			namespace = operator_namespace(opno);

		if (namespace == named)
			continue;
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s compares column %d with operator %s.%s and column 1 with %s.%s, which a stored query cannot name together",
						construct, foreach_current_index(lc) + 1, get_namespace_name(namespace),
						get_opname(opno), get_namespace_name(named), get_opname(first)),
				 errdetail("A managed view's query is kept as text and read again, which names the first column's operator for every column."),
				 errhint("%s", hint)));
	}
}

/*
 * A sublink's test (x IN (SELECT ...), x = ANY (SELECT ...)): the text
 * shows the subquery, not its output's cast to the operator's argument
 * type, so the operator is found again for the subquery column's own type.
 */
static void
check_sublink_test(Node *test)
{
	List	   *ops = NIL;
	List	   *opnos = NIL;
	ListCell   *lc;

	if (test == NULL)
		return;
	if (IsA(test, OpExpr))
		ops = list_make1(test);
	else if (IsA(test, BoolExpr))
		ops = ((BoolExpr *) test)->args;
	else if (IsA(test, RowCompareExpr))
	{
		foreach(lc, ((RowCompareExpr *) test)->opnos)
			refuse_unnamed_operator(lfirst_oid(lc), "a row comparison with a subquery");
		return;
	}
	foreach(lc, ops)
	{
		OpExpr	   *op;
		ListCell   *arg;
		Oid			left;
		Oid			right;

		if (!IsA(lfirst(lc), OpExpr))
			continue;
		op = lfirst(lc);
		opnos = lappend_oid(opnos, op->opno);
		if (operator_namespace(op->opno) == PG_CATALOG_NAMESPACE)
			continue;
		op_input_types(op->opno, &left, &right);
		foreach(arg, op->args)
		{
			Node	   *stripped = strip_implicit_coercions(lfirst(arg));
			Oid			declared = foreach_current_index(arg) == 0 && list_length(op->args) == 2 ?
			left : right;

			if (IsA(stripped, Param) && exprType(stripped) != declared)
				refuse_unnamed_operator(op->opno, "a comparison with a subquery's column of another type");
		}
	}
	if (opnos != NIL)
		refuse_mixed_operator_schemas(opnos, "a comparison of a row with a subquery",
									  "Compare the columns one by one: (a, b) IN (SELECT x, y ...) is EXISTS (SELECT FROM ... WHERE a = x AND b = y).");
}

static bool
unnamed_operators_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, unnamed_operators_walker, context, 0);
	if (IsA(node, DistinctExpr))
		refuse_unnamed_operator(((DistinctExpr *) node)->opno, "IS DISTINCT FROM");
	else if (IsA(node, NullIfExpr))
		refuse_unnamed_operator(((NullIfExpr *) node)->opno, "NULLIF");
	else if (IsA(node, CaseExpr) && ((CaseExpr *) node)->arg != NULL)
	{
		ListCell   *lc;

		foreach(lc, ((CaseExpr *) node)->args)
		{
			Expr	   *test = lfirst_node(CaseWhen, lc)->expr;

			if (IsA(test, OpExpr))
				refuse_unnamed_operator(((OpExpr *) test)->opno, "CASE x WHEN");
		}
	}
	else if (IsA(node, JoinExpr) && ((JoinExpr *) node)->usingClause != NIL)
		(void) refuse_operators_walker(((JoinExpr *) node)->quals, "JOIN ... USING");
	else if (IsA(node, SubLink))
		check_sublink_test(((SubLink *) node)->testexpr);
	else if (IsA(node, RowCompareExpr))
		refuse_mixed_operator_schemas(((RowCompareExpr *) node)->opnos, "a row comparison",
									  "Compare the columns one by one: (a, b) > (c, d) is a > c OR (a = c AND b > d).");
	return expression_tree_walker(node, unnamed_operators_walker, context);
}

void
refuse_unnamed_operators(Query *query)
{
	(void) query_tree_walker(query, unnamed_operators_walker, NULL, 0);
}

bool
has_catalog_extremes(Oid type)
{
	Oid			base = getBaseType(type);
	Oid			funcid;
	Oid			rettype;
	bool		retset;
	int			nvargs;
	Oid			vatype;
	Oid		   *declared;

	/* as the parser finds pg_catalog.min(value): maybe through a cast */
	if (func_get_detail(list_make2(makeString("pg_catalog"), makeString("min")), NIL, NIL,
						1, &base, false, false, false, &funcid, &rettype, &retset,
						&nvargs, &vatype, &declared, NULL) != FUNCDETAIL_AGGREGATE)
		return false;
	/* and it orders as the type does (varchar as text, citext not) */
	return lookup_type_cache(base, TYPECACHE_BTREE_OPFAMILY)->btree_opf ==
		lookup_type_cache(declared[0], TYPECACHE_BTREE_OPFAMILY)->btree_opf;
}

bool
type_holds_matching(Oid type, bool (*matches) (Oid type, void *arg), void *arg)
{
	char		typtype;
	Oid			element;
	Oid			relid;
	HeapTuple	tuple;
	int			natts;

	check_stack_depth();
	if (matches(type, arg))
		return true;
	typtype = get_typtype(type);
	element = get_element_type(type);
	if (typtype == TYPTYPE_DOMAIN)
		return type_holds_matching(getBaseType(type), matches, arg);
	if (OidIsValid(element))
		return type_holds_matching(element, matches, arg);
	if (typtype == TYPTYPE_RANGE)
		return type_holds_matching(get_range_subtype(type), matches, arg);
	if (typtype == TYPTYPE_MULTIRANGE)
		return type_holds_matching(get_multirange_range(type), matches, arg);
	relid = typtype == TYPTYPE_COMPOSITE ? get_typ_typrelid(type) : InvalidOid;
	tuple = OidIsValid(relid) ? SearchSysCache1(RELOID, ObjectIdGetDatum(relid)) : NULL;
	if (!HeapTupleIsValid(tuple))
		return false;
	natts = ((Form_pg_class) GETSTRUCT(tuple))->relnatts;
	ReleaseSysCache(tuple);
	for (AttrNumber attnum = 1; attnum <= natts; attnum++)
	{
		bool		holds;

		tuple = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
		if (!HeapTupleIsValid(tuple))
			continue;
		holds = !((Form_pg_attribute) GETSTRUCT(tuple))->attisdropped &&
			type_holds_matching(((Form_pg_attribute) GETSTRUCT(tuple))->atttypid, matches, arg);
		ReleaseSysCache(tuple);
		if (holds)
			return true;
	}
	return false;
}

/* type_holds_matching()'s test for a domain */
static bool
is_domain(Oid type, void *arg)
{
	return get_typtype(type) == TYPTYPE_DOMAIN;
}

bool
type_holds_domain(Oid type)
{
	return type_holds_matching(type, is_domain, NULL);
}

/* type_holds_matching()'s test for one of a list of types */
static bool
is_one_of(Oid type, void *types)
{
	return list_member_oid((List *) types, type);
}

bool
type_holds_one_of(Oid type, List *types)
{
	return type_holds_matching(type, is_one_of, types);
}

Oid
comparison_type(Oid type)
{
	Oid			base = getBaseType(type);
	Oid			element = get_element_type(base);
	Oid			compared;

	if (OidIsValid(element))
	{
		compared = comparison_type(element);
		if (compared == element)
			return base;
		if (OidIsValid(get_array_type(compared)))
			return get_array_type(compared);
	}
	else if (!type_holds_matching(base, is_domain, NULL))
		return base;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("values of type %s cannot be compared without running a domain's checks",
					format_type_be(type)),
			 errdetail("Comparing a key or mark of this type casts a value to it, which checks the constraints of the domain it holds: code of that domain's owner, run as the view's owner."),
			 errhint("Use a key of a type that holds no domain inside, such as the column cast to its base type in the query.")));
	return InvalidOid;			/* keep the compiler quiet */
}

char *
comparison_type_sql(Oid type)
{
	return type_name_sql(comparison_type(type));
}

char *
collation_name_sql(Oid collation)
{
	HeapTuple	tuple = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
	Form_pg_collation coll;
	char	   *text;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for collation %u", collation);
	coll = (Form_pg_collation) GETSTRUCT(tuple);
	text = quote_qualified_identifier(get_namespace_name(coll->collnamespace),
									  NameStr(coll->collname));

	ReleaseSysCache(tuple);
	return text;
}

char *
output_text_sql(const char *expr, Oid type)
{
	Oid			output;
	bool		is_varlena;
	Oid		   *argtypes;
	int			nargs;
	Oid			namespace;
	char	   *name;

	getTypeOutputInfo(type, &output, &is_varlena);
	(void) get_func_signature(output, &argtypes, &nargs);
	namespace = get_func_namespace(output);
	name = get_func_name(output);
	return psprintf("%s(%s)::pg_catalog.text",
					quote_qualified_identifier(get_namespace_name(namespace), name),
					pinned_argument_sql(expr, argtypes[0], namespace, "output function", name));
}

bool
type_has_equality(Oid type)
{
	return OidIsValid(lookup_type_cache(getBaseType(type), TYPECACHE_EQ_OPR)->eq_opr);
}

bool
equality_is_image(Oid type, Oid collation)
{
	TypeCacheEntry *entry = lookup_type_cache(type, TYPECACHE_BTREE_OPFAMILY);
	Oid			proc = InvalidOid;

	if (OidIsValid(entry->btree_opf))
		proc = get_opfamily_proc(entry->btree_opf, entry->btree_opintype,
								 entry->btree_opintype, BTEQUALIMAGE_PROC);
	return OidIsValid(proc) &&
		DatumGetBool(OidFunctionCall1Coll(proc, collation,
										  ObjectIdGetDatum(entry->btree_opintype)));
}

char *
reading_sql(const char *expr, Oid type)
{
	/* equal numerics read alike when their display scales are the same */
	if (getBaseType(type) == NUMERICOID)
		return psprintf("pg_catalog.scale(%s)", expr);
	return output_text_sql(expr, type);
}

/*
 * Whether fn is the function of some cast.  Looked up by the function, not
 * by its types: CREATE CAST takes a function whose result only converts
 * to the target without a function (varchar for text), or whose argument
 * is polymorphic.  pg_cast is small, and only functions of a third role
 * are looked up.
 */
static bool
is_cast_function(Oid fn)
{
	Relation	casts = table_open(CastRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	ScanKeyInit(&key, Anum_pg_cast_castfunc, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(fn));
	scan = systable_beginscan(casts, InvalidOid, false, NULL, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(casts, AccessShareLock);
	return found;
}

void
check_cast_function(Oid fn, Oid user, bool called_as_cast)
{
	HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	if (proc->pronamespace != PG_CATALOG_NAMESPACE && proc->proowner != user &&
		!superuser_arg(proc->proowner) && (called_as_cast || is_cast_function(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("pipeline does not call %s, the cast function of role \"%s\", as role \"%s\"",
						format_procedure(fn), GetUserNameFromId(proc->proowner, false),
						GetUserNameFromId(user, false)),
				 errdetail("A cast is found by its types, not by a name the query writes, so one that "
						   "another role creates later would be called without the query naming it: "
						   "what pipeline runs calls only casts that are built in, a superuser's or "
						   "those of the role it runs as (a view's owner)."),
				 errhint("Cast through a built-in type, or have the cast made by the view's owner or a superuser.")));
	ReleaseSysCache(tuple);
}

static bool
cast_owner_walker(Node *node, Oid *owner)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, cast_owner_walker, owner, 0);
	if (IsA(node, FuncExpr))
		check_cast_function(((FuncExpr *) node)->funcid, *owner,
							((FuncExpr *) node)->funcformat == COERCE_EXPLICIT_CAST ||
							((FuncExpr *) node)->funcformat == COERCE_IMPLICIT_CAST);
	return expression_tree_walker(node, cast_owner_walker, owner);
}

void
check_cast_owners(Node *node, Oid owner)
{
	(void) cast_owner_walker(node, &owner);
}

List *
comparison_functions(Node *node)
{
	SortGroupClause *clause;
	List	   *functions = NIL;
	Oid			opfamily;
	Oid			opcintype;
	int16		strategy;

	if (IsA(node, MinMaxExpr))
	{
		TypeCacheEntry *type = lookup_type_cache(((MinMaxExpr *) node)->minmaxtype,
												 TYPECACHE_CMP_PROC);

		return OidIsValid(type->cmp_proc) ? list_make1_oid(type->cmp_proc) : NIL;
	}
	if (!IsA(node, SortGroupClause))
		return NIL;
	clause = (SortGroupClause *) node;
	if (OidIsValid(clause->eqop))
		functions = lappend_oid(functions, get_opcode(clause->eqop));
	if (OidIsValid(clause->sortop))
	{
		functions = lappend_oid(functions, get_opcode(clause->sortop));
		if (get_ordering_op_properties(clause->sortop, &opfamily, &opcintype, &strategy))
		{
			Oid			compare = get_opfamily_proc(opfamily, opcintype, opcintype, BTORDER_PROC);

			if (OidIsValid(compare))
				functions = lappend_oid(functions, compare);
		}
	}
	return functions;
}
