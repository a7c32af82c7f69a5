/*-------------------------------------------------------------------------
 * named_objects.c
 *	  Locking what a bound query names (see named_objects.h).
 *
 * The bound form of a query is deparsed from its tree, which holds OIDs:
 * ruleutils spells each object by its name at that moment.  PostgreSQL
 * keeps a view bound by OID; pipeline keeps the text, and follows renames
 * (compile/rebind.c).  A rename committed between the analysis and the
 * deparse, or while the definition is still uncommitted, would otherwise
 * leave the text naming what no longer exists.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/catalog.h"
#include "catalog/dependency.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_ts_config.h"
#include "catalog/pg_ts_dict.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "util/named_objects.h"

/* An object to lock: its catalog and OID */
typedef struct NamedObject
{
	Oid			classid;
	Oid			objid;
} NamedObject;

typedef struct NamedObjects
{
	List	   *objects;		/* NamedObject, each once */
	List	   *types;			/* the types add_type() followed */
	List	   *relations;		/* relations it names besides its range
								 * tables: row types whose fields it selects,
								 * reg* literals */
	List	   *roles;			/* roles regrole and aclitem literals spell */
} NamedObjects;

/*
 * Whether an object of one of the catalogs add_object() is given exists: a
 * reg* literal may hold any number, and an object may be dropped between
 * the analysis and its lock.
 */
static bool
object_exists(Oid classid, Oid objid)
{
	switch (classid)
	{
		case ProcedureRelationId:
			return SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(objid));
		case OperatorRelationId:
			return SearchSysCacheExists1(OPEROID, ObjectIdGetDatum(objid));
		case TypeRelationId:
			return SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(objid));
		case CollationRelationId:
			return SearchSysCacheExists1(COLLOID, ObjectIdGetDatum(objid));
		case NamespaceRelationId:
			return SearchSysCacheExists1(NAMESPACEOID, ObjectIdGetDatum(objid));
		case TSConfigRelationId:
			return SearchSysCacheExists1(TSCONFIGOID, ObjectIdGetDatum(objid));
		case TSDictionaryRelationId:
			return SearchSysCacheExists1(TSDICTOID, ObjectIdGetDatum(objid));
		case RelationRelationId:
			return SearchSysCacheExists1(RELOID, ObjectIdGetDatum(objid));
	}
	return false;
}

static void
add_object(NamedObjects *named, Oid classid, Oid objid)
{
	ListCell   *lc;
	NamedObject *object;

	/*
	 * built-in objects: renaming them is for superusers, and they are many
	 * (but schema public may be renamed by its owner); and what a number
	 * names no more (or never did: a reg* literal)
	 */
	if (!OidIsValid(objid) ||
		(classid == NamespaceRelationId ? IsCatalogNamespace(objid) || IsToastNamespace(objid) :
		 objid < FirstNormalObjectId) ||
		!object_exists(classid, objid))
		return;
	foreach(lc, named->objects)
	{
		object = lfirst(lc);
		if (object->classid == classid && object->objid == objid)
			return;
	}
	object = palloc(sizeof(NamedObject));
	object->classid = classid;
	object->objid = objid;
	named->objects = lappend(named->objects, object);
}

/* The schema of an object (functions, operators, types, collations have one) */
static Oid
object_namespace(NamedObject *object)
{
	ObjectAddress address;

	if (!object_exists(object->classid, object->objid))
		return InvalidOid;
	ObjectAddressSet(address, object->classid, object->objid);
	return get_object_namespace(&address);
}

/*
 * A type as the deparse spells it, and the types a literal of it may spell
 * values of (an enum's label inside a row or an array, say): an array's
 * element type, a domain's base type, a range's subtype, a row type's
 * attributes' types.
 */
static void
add_type(NamedObjects *named, Oid type)
{
	Oid			typrelid;

	if (!OidIsValid(type) || type < FirstNormalObjectId ||
		list_member_oid(named->types, type) || !object_exists(TypeRelationId, type))
		return;
	named->types = lappend_oid(named->types, type);
	add_object(named, TypeRelationId, type);
	add_type(named, get_element_type(type));
	if (get_typtype(type) == TYPTYPE_DOMAIN)
		add_type(named, getBaseType(type));
	if (type_is_range(type))
		add_type(named, get_range_subtype(type));
	if (type_is_multirange(type))
		add_type(named, get_multirange_range(type));

	/*
	 * a row type: its relation is renamed with it (locked with the others,
	 * after the objects)
	 */
	typrelid = get_typ_typrelid(type);
	if (OidIsValid(typrelid))
	{
		TupleDesc	desc = lookup_rowtype_tupdesc_noerror(type, -1, true);

		named->relations = list_append_unique_oid(named->relations, typrelid);
		if (desc != NULL)
		{
			for (int i = 0; i < desc->natts; i++)
				if (!TupleDescAttr(desc, i)->attisdropped)
					add_type(named, TupleDescAttr(desc, i)->atttypid);
			ReleaseTupleDesc(desc);
		}
	}
}

/* A role a literal spells (not PUBLIC, which is no role). */
static void
add_role(NamedObjects *named, Oid role)
{
	if (OidIsValid(role) && role != ACL_ID_PUBLIC)
		named->roles = list_append_unique_oid(named->roles, role);
}

/* The roles an aclitem spells: its grantee and grantor. */
static void
add_acl_item_roles(NamedObjects *named, Datum item)
{
	add_role(named, DatumGetAclItemP(item)->ai_grantee);
	add_role(named, DatumGetAclItemP(item)->ai_grantor);
}

/* The roles an aclitem or aclitem[] literal spells. */
static void
add_acl_roles(NamedObjects *named, Const *c)
{
	Datum	   *items;
	bool	   *nulls;
	int			count;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (c->consttype == ACLITEMOID)
	{
		add_acl_item_roles(named, c->constvalue);
		return;
	}
	get_typlenbyvalalign(ACLITEMOID, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(c->constvalue), ACLITEMOID, typlen, typbyval, typalign,
					  &items, &nulls, &count);
	for (int i = 0; i < count; i++)
		if (!nulls[i])
			add_acl_item_roles(named, items[i]);
}

/*
 * The object a reg* literal names, as its output function spells it:
 * schema-qualified when not visible, so its schema too.
 */
static void
add_reg_literal(NamedObjects *named, Const *c)
{
	Oid			objid;

	if (c->constisnull)
		return;
	objid = DatumGetObjectId(c->constvalue);
	switch (c->consttype)
	{
		case REGCLASSOID:
			if (OidIsValid(objid) && objid >= FirstNormalObjectId &&
				object_exists(RelationRelationId, objid))
				named->relations = list_append_unique_oid(named->relations, objid);
			break;
		case REGPROCOID:
		case REGPROCEDUREOID:
			add_object(named, ProcedureRelationId, objid);
			/* regprocedure spells its argument types too */
			if (c->consttype == REGPROCEDUREOID && object_exists(ProcedureRelationId, objid))
			{
				Oid		   *argtypes;
				int			nargs;

				(void) get_func_signature(objid, &argtypes, &nargs);
				for (int i = 0; i < nargs; i++)
					add_type(named, argtypes[i]);
			}
			break;
		case REGOPEROID:
		case REGOPERATOROID:
			add_object(named, OperatorRelationId, objid);
			/* regoperator spells its operand types too */
			if (c->consttype == REGOPERATOROID && object_exists(OperatorRelationId, objid))
			{
				Oid			left;
				Oid			right;

				op_input_types(objid, &left, &right);
				add_type(named, left);
				add_type(named, right);
			}
			break;
		case REGTYPEOID:
			add_type(named, objid);
			break;
		case REGCOLLATIONOID:
			add_object(named, CollationRelationId, objid);
			break;
		case REGNAMESPACEOID:
			add_object(named, NamespaceRelationId, objid);
			break;
		case REGCONFIGOID:
			add_object(named, TSConfigRelationId, objid);
			break;
		case REGDICTIONARYOID:
			add_object(named, TSDictionaryRelationId, objid);
			break;
		case REGROLEOID:
			add_role(named, objid);
			break;
		case ACLITEMOID:
		case ACLITEMARRAYOID:
			add_acl_roles(named, c);
			break;
		default:
			break;
	}
}

static bool
named_objects_walker(Node *node, NamedObjects *named)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *query = (Query *) node;
		ListCell   *lc;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
			ListCell   *fc;

			if (rte->rtekind == RTE_RELATION)
				add_object(named, NamespaceRelationId, get_rel_namespace(rte->relid));
			/* a function in FROM with a column definition list */
			foreach(fc, rte->functions)
			{
				RangeTblFunction *function = lfirst_node(RangeTblFunction, fc);
				ListCell   *cc;

				foreach(cc, function->funccoltypes)
					add_type(named, lfirst_oid(cc));
				foreach(cc, function->funccolcollations)
					add_object(named, CollationRelationId, lfirst_oid(cc));
			}
		}
		/* ORDER BY ... USING an operator: the clauses come as nodes */
		return query_tree_walker(query, named_objects_walker, named, QTW_EXAMINE_SORTGROUP);
	}
	switch (nodeTag(node))
	{
		case T_FuncExpr:
			add_object(named, ProcedureRelationId, ((FuncExpr *) node)->funcid);
			add_type(named, ((FuncExpr *) node)->funcresulttype);
			break;
		case T_Aggref:
			add_object(named, ProcedureRelationId, ((Aggref *) node)->aggfnoid);
			break;
		case T_WindowFunc:
			add_object(named, ProcedureRelationId, ((WindowFunc *) node)->winfnoid);
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			add_object(named, OperatorRelationId, ((OpExpr *) node)->opno);
			break;
		case T_ScalarArrayOpExpr:
			add_object(named, OperatorRelationId, ((ScalarArrayOpExpr *) node)->opno);
			break;
		case T_Const:
			add_type(named, ((Const *) node)->consttype);
			add_reg_literal(named, (Const *) node);
			break;
		case T_RowCompareExpr:
			{
				ListCell   *oc;

				foreach(oc, ((RowCompareExpr *) node)->opnos)
					add_object(named, OperatorRelationId, lfirst_oid(oc));
			}
			break;
		case T_ArrayExpr:
			add_type(named, ((ArrayExpr *) node)->array_typeid);
			break;
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_ConvertRowtypeExpr:
		case T_CoerceToDomain:
		case T_RowExpr:
			add_type(named, exprType(node));
			break;
		case T_SortGroupClause:
			add_object(named, OperatorRelationId, ((SortGroupClause *) node)->sortop);
			return false;
		case T_CollateExpr:
			add_object(named, CollationRelationId, ((CollateExpr *) node)->collOid);
			break;
		case T_TableSampleClause:
			add_object(named, ProcedureRelationId, ((TableSampleClause *) node)->tsmhandler);
			break;
		case T_FieldSelect:
			{
				Oid			typrelid = get_typ_typrelid(exprType((Node *) ((FieldSelect *) node)->arg));

				if (OidIsValid(typrelid))
					named->relations = list_append_unique_oid(named->relations, typrelid);
			}
			break;
		default:
			break;
	}
	return expression_tree_walker(node, named_objects_walker, named);
}

/* named_objects_suspend()'s depth */
static int	suspended = 0;

void
named_objects_suspend(void)
{
	suspended++;
}

void
named_objects_resume(void)
{
	suspended--;
}

/*
 * Relations the query names besides what it reads (row types whose fields
 * it selects, regclass literals), in OID order so that two definitions
 * take them alike: a row type's attribute is renamed under its relation's
 * lock; an index is renamed under SHARE UPDATE EXCLUSIVE, which only that
 * mode or a stronger one holds off.
 */
static void
lock_named_relations(List *relations)
{
	ListCell   *lc;

	list_sort(relations, list_oid_cmp);
	foreach(lc, relations)
	{
		char		relkind = get_rel_relkind(lfirst_oid(lc));

		LockRelationOid(lfirst_oid(lc),
						relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX ?
						ShareUpdateExclusiveLock : AccessShareLock);
	}
}

/* The extensions of the objects, whose SET SCHEMA moves them. */
static void
lock_extensions_of(List *objects)
{
	List	   *extensions = NIL;
	ListCell   *lc;

	foreach(lc, objects)
	{
		NamedObject *object = lfirst(lc);
		Oid			extension = object->classid == NamespaceRelationId ? InvalidOid :
		getExtensionOfObject(object->classid, object->objid);

		if (OidIsValid(extension))
			extensions = list_append_unique_oid(extensions, extension);
	}
	foreach(lc, extensions)
		LockDatabaseObject(ExtensionRelationId, lfirst_oid(lc), 0, AccessShareLock);
	list_free(extensions);
}

/* Each object, and an error when one was dropped while we waited. */
static void
lock_objects(List *objects)
{
	ListCell   *lc;

	foreach(lc, objects)
	{
		NamedObject *object = lfirst(lc);
		ObjectAddress address;
		char	   *description;

		ObjectAddressSet(address, object->classid, object->objid);
		description = getObjectDescription(&address, true);
		LockDatabaseObject(object->classid, object->objid, 0, AccessShareLock);
		if (!object_exists(object->classid, object->objid))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("%s was dropped while the query naming it was being bound",
							description ? description : "an object"),
					 errhint("Retry the definition.")));
	}
}

/* The roles regrole and aclitem literals spell: a role's rename locks it. */
static void
lock_roles(List *roles)
{
	ListCell   *lc;

	foreach(lc, roles)
	{
		LockSharedObject(AuthIdRelationId, lfirst_oid(lc), 0, AccessShareLock);
		if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(lfirst_oid(lc))))
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("a role was dropped while the query naming it was being bound"),
					 errhint("Retry the definition.")));
	}
}

void
lock_named_objects(Node *node)
{
	NamedObjects named = {NIL, NIL, NIL, NIL};
	int			count;
	ListCell   *lc;

	if (suspended > 0)
		return;
	(void) named_objects_walker(node, &named);
	/* relations it names by value, and their schemas */
	foreach(lc, named.relations)
		add_object(&named, NamespaceRelationId, get_rel_namespace(lfirst_oid(lc)));
	/* the schemas of the rest, as the deparse spells them */
	count = list_length(named.objects);
	for (int i = 0; i < count; i++)
	{
		NamedObject *object = list_nth(named.objects, i);

		if (object->classid != NamespaceRelationId)
			add_object(&named, NamespaceRelationId, object_namespace(object));
	}

	/*
	 * in the order the renames lock them: a type's rename locks the type,
	 * then (a row type's) its relation; an extension's move its tables, then
	 * the extension
	 */
	lock_objects(named.objects);
	lock_named_relations(named.relations);
	lock_extensions_of(named.objects);
	lock_roles(named.roles);
	list_free_deep(named.objects);
	list_free(named.types);
	list_free(named.relations);
	list_free(named.roles);
}
