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
#include "catalog/objectaddress.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/lsyscache.h"

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
	List	   *row_types;		/* relations of row types whose fields it
								 * selects */
} NamedObjects;

static void
add_object(NamedObjects *named, Oid classid, Oid objid)
{
	ListCell   *lc;
	NamedObject *object;

	/*
	 * built-in objects: renaming them is for superusers, and they are many
	 * (but schema public may be renamed by its owner)
	 */
	if (!OidIsValid(objid) ||
		(classid == NamespaceRelationId ? IsCatalogNamespace(objid) || IsToastNamespace(objid) :
		 objid < FirstNormalObjectId))
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

	ObjectAddressSet(address, object->classid, object->objid);
	return get_object_namespace(&address);
}

/* A type as the deparse spells it: an array's element type too */
static void
add_type(NamedObjects *named, Oid type)
{
	Oid			element = get_element_type(type);

	add_object(named, TypeRelationId, type);
	if (OidIsValid(element))
		add_object(named, TypeRelationId, element);
}

static bool
named_objects_walker(Node *node, NamedObjects *named)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		ListCell   *lc;

		foreach(lc, ((Query *) node)->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (rte->rtekind == RTE_RELATION)
				add_object(named, NamespaceRelationId, get_rel_namespace(rte->relid));
		}
		return query_tree_walker((Query *) node, named_objects_walker, named, 0);
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
			break;
		case T_RelabelType:
		case T_CoerceViaIO:
		case T_ArrayCoerceExpr:
		case T_ConvertRowtypeExpr:
		case T_CoerceToDomain:
		case T_RowExpr:
			add_type(named, exprType(node));
			break;
		case T_CollateExpr:
			add_object(named, CollationRelationId, ((CollateExpr *) node)->collOid);
			break;
		case T_FieldSelect:
			{
				Oid			typrelid = get_typ_typrelid(exprType((Node *) ((FieldSelect *) node)->arg));

				if (OidIsValid(typrelid))
					named->row_types = list_append_unique_oid(named->row_types, typrelid);
			}
			break;
		default:
			break;
	}
	return expression_tree_walker(node, named_objects_walker, named);
}

void
lock_named_objects(Query *query)
{
	NamedObjects named = {NIL, NIL};
	int			count;
	ListCell   *lc;

	(void) named_objects_walker((Node *) query, &named);
	/* their schemas, as the deparse spells them */
	count = list_length(named.objects);
	for (int i = 0; i < count; i++)
	{
		NamedObject *object = list_nth(named.objects, i);

		if (object->classid != NamespaceRelationId)
			add_object(&named, NamespaceRelationId, object_namespace(object));
	}
	foreach(lc, named.objects)
	{
		NamedObject *object = lfirst(lc);

		LockDatabaseObject(object->classid, object->objid, 0, AccessShareLock);
	}
	/* a row type's attribute is renamed under its relation's lock */
	foreach(lc, named.row_types)
		LockRelationOid(lfirst_oid(lc), AccessShareLock);
	list_free_deep(named.objects);
	list_free(named.row_types);
}
