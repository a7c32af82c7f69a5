/*-------------------------------------------------------------------------
 * analyze.h
 *	  Parsing and analyzing one statement of a user's query text.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ANALYZE_H
#define PIPELINE_ANALYZE_H

#include "nodes/parsenodes.h"

/*
 * The analyzed Query of one statement, with the text in error contexts (the
 * analyzer's errors, with a position).  Resolves names with the current
 * search_path: run it inside runas_begin_internal() or
 * runas_begin_user_code() to choose which.  Needs a transaction.
 */
extern Query *analyze_one(const char *query_text);

/*
 * Error context callback for parsing or analyzing a user's query text (arg):
 * turns a cursor position into one inside that text, as SPI does.
 */
extern void query_text_error_callback(void *arg);

/* The query's output column (not resjunk) called name, or NULL */
extern TargetEntry *query_output_column(Query *query, const char *name);

/* How many of the query's output columns are called name */
extern int	query_output_columns_named(Query *query, const char *name);

/*
 * The function spec names: "name" or "schema.name" when exactly one
 * function has that name (resolved with the current search_path, as any
 * name its user types), or a signature "name(type, ...)".  args is the
 * argument list an error's hint suggests, as "(path text)".
 */
extern Oid	lookup_function(const char *spec, const char *args);

/*
 * Whether fn is a plain function (not a procedure, not set-returning)
 * taking exactly nargs arguments of argtypes; errors when fn is gone.
 */
extern bool function_takes(Oid fn, int nargs, const Oid *argtypes);

/*
 * "left OPERATOR(schema.name) right": SQL calling operator opno on the
 * operands (SQL text) whatever the search_path, and whatever operators of
 * that name others create: outside pg_catalog the operands are cast to its
 * argument types.  Errors for a polymorphic operator outside pg_catalog,
 * which no cast pins.
 */
extern char *operator_expr_sql(Oid opno, const char *left, const char *right);

/* "left OPERATOR(schema.name) ANY (array)", pinned as operator_expr_sql()'s */
extern char *operator_any_sql(Oid opno, const char *left, const char *array);

/*
 * operator_expr_sql() of type's equality operator (its type cache's).
 * Errors when the type has none.
 */
extern char *equality_expr_sql(Oid type, const char *left, const char *right);

/*
 * operator_expr_sql() of the comparison of type with strategy (a btree
 * strategy number: BTLessStrategyNumber ... BTGreaterStrategyNumber) of the
 * type's default btree operator family, so that it compares as the type
 * compares (an enum's, a domain's base type's, citext's own).  Errors when
 * the type has none.
 */
extern char *comparison_expr_sql(Oid type, int strategy, const char *left, const char *right);

/* comparison_expr_sql()'s operator against ANY element of array (SQL text) */
extern char *comparison_any_sql(Oid type, int strategy, const char *left, const char *array);

/*
 * comparison_expr_sql() of left with parameter $param, both as
 * comparison_type(type)
 */
extern char *comparison_param_sql(Oid type, int strategy, const char *left, int param);

/*
 * Whether left compares so with any key of text[] parameter $param, each
 * read as comparison_type(type): comparison_any_sql(), or an EXISTS where
 * the keys are arrays themselves
 */
extern char *comparison_any_param_sql(Oid type, int strategy, const char *left, int param);

/*
 * Refuses a query whose text cannot name one of its operators so that it
 * is found again when the text is read: IS DISTINCT FROM, NULLIF, CASE x
 * WHEN and JOIN ... USING with an operator outside pg_catalog (they name
 * none: read again, they would mean pg_catalog's), and a comparison with a
 * subquery (x IN (SELECT ...)) whose column is not of the operator's
 * argument type outside pg_catalog (the text casts x, not the column, so
 * the operator is looked up again for the column's type, where another
 * role's look-alike could match exactly).
 */
extern void refuse_unnamed_operators(Query *query);

/*
 * Whether pg_catalog's min() and max() order values of type (its base type)
 * as the type's default btree operator family does (varchar's are text's,
 * the same family).  Not an extension's type: pg_catalog.min(a citext) is
 * text's, through the cast, in text's order (or there is none: isbn13);
 * order by the value instead, which sorts by the type's own family.
 */
extern bool has_catalog_extremes(Oid type);

/*
 * A SELECT of the least and/or greatest value (SQL of type type) FROM from
 * WHERE where, as text (NULL when there is none), in the type's own order:
 * pg_catalog's min() and max() in one scan where has_catalog_extremes(),
 * else the first row of each ORDER BY.
 */
extern char *extremes_select_sql(Oid type, const char *value, const char *from, const char *where,
								 bool least, bool greatest);

/*
 * The type to cast a parameter or value to that SQL compares with values of
 * type: type without domains, on top or as an array's elements (a domain
 * d over integer compares as integer, d[] as integer[]).  A cast to a
 * domain checks its constraints, which run the domain owner's code as
 * whoever runs the statement, and a comparison needs none of it (the
 * domain's operators are its base type's).  Errors for a range or
 * composite type that holds a domain, which has no such form.
 */
extern Oid	comparison_type(Oid type);

/*
 * Whether type, or a type its values hold (a domain's base type, an
 * array's element type, a range's subtype, a multirange's range, a row's
 * columns' types, and so on down), is one for which matches(type, arg) is
 * true.  Rows are read from the catalogs, not the type cache, which would
 * lock a row type's relation.
 */
extern bool type_holds_matching(Oid type, bool (*matches) (Oid type, void *arg), void *arg);

/* Whether type is or holds a domain (whose checks are its owner's code) */
extern bool type_holds_domain(Oid type);

/* Whether type is or holds one of types (OIDs) */
extern bool type_holds_one_of(Oid type, List *types);

/* comparison_type()'s qualified name (bpchar, not character: char(1)) */
extern char *comparison_type_sql(Oid type);

/*
 * value, of type, as comparison_type(type): cast where that is not its own
 * type less a domain on top, which the base type's operators take as it is
 */
extern char *comparison_operand_sql(Oid type, const char *value);

/* A collation's name, schema-qualified and quoted, for SQL text */
extern char *collation_name_sql(Oid collation);

/*
 * SQL of expr's value (of type type) as text the way the type's output
 * function writes it (what COPY and unload write), NULL for NULL: its
 * output function called by its qualified name, not expr::text, which some
 * types cast their own way (true::text is 'true', its output 't'); outside
 * pg_catalog with expr cast to its argument type, as operator_expr_sql()
 * casts.
 */
extern char *output_text_sql(const char *expr, Oid type);

/*
 * Whether type (or a domain's base type) has an equality operator, by
 * which GROUP BY and DISTINCT can tell its values apart (json, point and
 * xml have none).
 */
extern bool type_has_equality(Oid type);

/*
 * Whether values of type equal by its default btree equality (with
 * collation) are the same value to the byte, as B-tree deduplication asks
 * (the operator class's equalimage support function).  Not so for numeric
 * (2.5 = 2.50), floats (-0 = 0), intervals, nondeterministic collations,
 * arrays and records: rows equal by their columns may still read
 * differently.
 */
extern bool equality_is_image(Oid type, Oid collation);

/*
 * SQL of what, with equality, tells apart values of type that read
 * differently (for a type of which equality_is_image() is false): a
 * numeric's scale, else the text its output function writes.
 */
extern char *reading_sql(const char *expr, Oid type);

/*
 * Errors when node (a Query, an expression) calls the cast function of a
 * role that is neither owner nor a superuser (built-in casts pass).  A
 * stored query is parsed again at refreshes and rebuilds, and a cast is
 * found by its types: one that the owner of a type adds later, or an
 * implicit one reached when an upstream view's column changes type, would
 * otherwise run as owner without the query naming it.
 */
extern void check_cast_owners(Node *node, Oid owner);

/*
 * The same for one function about to be called as user: errors when it is
 * a cast function (called_as_cast: the parser made the call as one) of a
 * role that is neither user nor a superuser.
 */
extern void check_cast_function(Oid fn, Oid user, bool called_as_cast);

/*
 * The functions node compares with, which no function check of it finds:
 * a sort, group or distinct clause's equality and ordering operators'
 * functions and the comparison support function of the B-tree family of
 * its ordering operator (sorting calls that one, not the operator's);
 * GREATEST's or LEAST's comparison function.  NIL for any other node.
 */
extern List *comparison_functions(Node *node);

#endif
