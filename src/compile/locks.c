/*-------------------------------------------------------------------------
 * locks.c
 *	  Locking a change set: every existing view of the set exclusively and
 *	  every other relation its queries read shared, all or nothing, then
 *	  building the set again until the locks cover the set as committed.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_namespace.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "compile/changeset.h"
#include "compile/locks.h"
#include "model/definition.h"
#include "util/lock_set.h"
#include "util/relation_name.h"
#include "views/capture.h"

/*
 * What the compile step locks for a set: every existing view of the set
 * with AccessExclusiveLock, in DAG order (they are dropped and recreated),
 * and so the tables whose capture stops with them
 * (views_and_stopping_captures()), and every other relation the set's
 * queries read with AccessShareLock, in OID order (they are analyzed and
 * read to populate the views, never changed).  Sources read through plain
 * views count, as do the plain views.
 */
typedef struct LockSet
{
	List	   *exclusive;		/* OIDs, AccessExclusiveLock */
	List	   *shared;			/* OIDs, AccessShareLock */
} LockSet;

/*
 * views, then the tables whose capture stops once they are gone
 * (capture_unregister() drops the triggers: DROP TRIGGER's
 * AccessExclusiveLock).  Taken with the views, all or nothing, a reader or
 * writer of such a table in an open transaction is waited for holding
 * nothing, so it may still read the views before it commits.
 */
static List *
views_and_stopping_captures(List *views)
{
	return list_concat(list_copy(views), capture_sources_stopping(views));
}

static LockSet *
lock_set_for(ChangeSet *cs)
{
	LockSet    *ls = palloc0(sizeof(LockSet));
	List	   *reads = NIL;
	ListCell   *lc;
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];

		if (OidIsValid(v->relid))
			ls->exclusive = lappend_oid(ls->exclusive, v->relid);
		/* a rebuilt view reads what its stored query names */
		reads = list_concat_unique_oid(reads,
									   v->def ? v->reads : changeset_direct_reads(cs, i));
	}
	ls->exclusive = views_and_stopping_captures(ls->exclusive);
	foreach(lc, changeset_view_closure(reads))
		if (!list_member_oid(ls->exclusive, lfirst_oid(lc)))
			ls->shared = list_append_unique_oid(ls->shared, lfirst_oid(lc));
	list_sort(ls->shared, list_oid_cmp);
	return ls;
}

/* True when every lock need asks for is in held, or a stronger one is. */
static bool
lock_set_covers(LockSet *held, LockSet *need)
{
	ListCell   *lc;

	foreach(lc, need->exclusive)
		if (!list_member_oid(held->exclusive, lfirst_oid(lc)))
			return false;
	foreach(lc, need->shared)
		if (!list_member_oid(held->shared, lfirst_oid(lc)) &&
			!list_member_oid(held->exclusive, lfirst_oid(lc)))
			return false;
	return true;
}

/* Lets go every lock of ls */
static void
unlock_set(LockSet *ls)
{
	ListCell   *lc;

	foreach(lc, ls->exclusive)
		UnlockRelationOid(lfirst_oid(lc), AccessExclusiveLock);
	foreach(lc, ls->shared)
		UnlockRelationOid(lfirst_oid(lc), AccessShareLock);
}

/*
 * Takes every lock of ls, all or nothing (util/lock_set.h): exclusive ones
 * first.  A redefinition therefore never waits while holding a view or an
 * upstream a refresh or a run might want next: no deadlock, whatever order
 * they lock in.  (Without the upstreams, a redefinition holding a
 * downstream view would wait to read an upstream a plain REFRESH holds,
 * while the run refreshing it waits for the downstream view.)
 */
static void
lock_all_or_nothing(LockSet *ls)
{
	lock_relations_all_or_nothing(ls->exclusive, AccessExclusiveLock, ls->shared, AccessShareLock);
}

void
compile_lock_views_to_drop(List *views)
{
	for (;;)
	{
		LockSet		ls = {views_and_stopping_captures(views), NIL};
		List	   *now;

		lock_all_or_nothing(&ls);
		/* a capture a first refresh started while we waited joins the set */
		now = views_and_stopping_captures(views);
		if (list_difference_oid(now, ls.exclusive) == NIL)
			return;
		unlock_set(&ls);
	}
}

void
changeset_lock(ChangeSet *cs)
{
	lock_all_or_nothing(lock_set_for(cs));
}

/*
 * How many times changeset_build_and_lock() locks a set (or looks again
 * after a race with a commit) before it gives up with SQLSTATE 40001: in
 * READ COMMITTED, once, plus once per change to the set while it waited.
 */
#define MAX_LOCK_ROUNDS 10

/*
 * Whether cs, built with a transaction snapshot, has the views a set built
 * now would have: a view defined downstream after the snapshot is not in
 * it, and the drop of a relation it reads would fail on its dependency.
 */
static bool
set_is_current(List *defs, ChangeSet *cs)
{
	ChangeSet  *now;
	char	   *stale = NULL;

	PushActiveSnapshot(GetLatestSnapshot());
	now = changeset_build(defs, &stale);
	PopActiveSnapshot();
	if (now == NULL || now->count != cs->count)
		return false;
	for (int i = 0; i < now->count; i++)
		if (OidIsValid(now->views[i].relid) && changeset_find(cs, now->views[i].relid) < 0)
			return false;
	return true;
}

/*
 * Builds the set and locks everything it needs (lock_set_for()), then
 * builds it again, now that nobody can change it, and makes sure the locks
 * cover it: a concurrent redefinition replaces the OIDs of what it
 * redefines and rebuilds, so what was locked may be gone after the wait.
 *
 * READ COMMITTED: each build reads the catalog with a new snapshot, taken
 * after the locks, so a redefinition that waited for another one of the
 * same view applies on top of it, as a second UPDATE of a row would: it is
 * judged against and replaces the definition committed meanwhile (version
 * grows again).  If the set changed, its new members are locked (all or
 * nothing again) and it is built once more.
 *
 * REPEATABLE READ, SERIALIZABLE: the transaction's snapshot cannot see what
 * was committed meanwhile, so any change is SQLSTATE 40001.
 *
 * Returns with the snapshot of the last build pushed as the active
 * snapshot (the rest of the compile step reads the catalog with it); the
 * caller pops it once done.
 */
ChangeSet *
changeset_build_and_lock(List *defs)
{
	LockSet    *held = NULL;
	int			rounds = 0;

	for (;;)
	{
		ChangeSet  *cs;
		LockSet    *need = NULL;
		char	   *stale = NULL;

		CHECK_FOR_INTERRUPTS();
		/* what is committed now, in the system catalogs and our snapshot */
		AcceptInvalidationMessages();
		CommandCounterIncrement();
		PushActiveSnapshot(GetTransactionSnapshot());
		cs = changeset_build(defs, &stale);
		if (cs != NULL)
		{
			need = lock_set_for(cs);
			if (held != NULL && lock_set_covers(held, need))
			{
				if (IsolationUsesXactSnapshot() && !set_is_current(defs, cs))
					changeset_report_changed(NULL, true);
				cs->locked = true;
				return cs;
			}
		}
		PopActiveSnapshot();

		if (held != NULL)
			unlock_set(held);
		if (IsolationUsesXactSnapshot() && (cs == NULL || held != NULL))
			changeset_report_changed(stale, held != NULL);
		if (++rounds > MAX_LOCK_ROUNDS)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("managed views changed while the redefinition waited for them"),
					 errhint("Retry the redefinition.")));
		held = NULL;
		if (cs == NULL)
			continue;			/* a commit raced our snapshot: look again */
		lock_all_or_nothing(need);
		held = need;
	}
}

/* The lock's object sub-id for a name: never 0, the whole schema's */
static uint16
view_name_lock_id(const char *relname)
{
	return (uint16) (hash_bytes((const unsigned char *) relname, strlen(relname)) | 1);
}

/*
 * Refuses, before its name is locked, a caller who could never define the
 * view relname in nspid: one who neither owns the relation of that name nor
 * may create in the schema.  The name's lock is held to the end of the
 * transaction, so without this a role with no rights in the schema could
 * make its owner's definitions wait (the checks that decide come later).
 */
static void
check_may_define(Oid nspid, const char *relname)
{
	Oid			relid = get_relname_relid(relname, nspid);

	if (OidIsValid(relid))
	{
		if (!pg_class_ownercheck(relid, GetUserId()))
			aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
						   relation_qualified_name(relid));
	}
	else if (pg_namespace_aclcheck(nspid, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_SCHEMA, get_namespace_name(nspid));
}

void
compile_lock_view_name(Oid nspid, const char *relname)
{
	check_may_define(nspid, relname);
	LockDatabaseObject(NamespaceRelationId, nspid, view_name_lock_id(relname), ExclusiveLock);
}

/* A view name's lock, as compile_lock_view_names() sorts them */
typedef struct ViewNameLock
{
	Oid			nspid;
	uint16		id;
} ViewNameLock;

static int
view_name_lock_cmp(const ListCell *a, const ListCell *b)
{
	const ViewNameLock *x = lfirst(a);
	const ViewNameLock *y = lfirst(b);

	if (x->nspid != y->nspid)
		return x->nspid < y->nspid ? -1 : 1;
	return (int) x->id - (int) y->id;
}

void
compile_lock_view_names(List *defs)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, defs)
	{
		ViewNameLock *name = palloc(sizeof(ViewNameLock));
		char	   *relname;

		name->nspid = definition_validate(lfirst(lc), &relname);
		check_may_define(name->nspid, relname);
		name->id = view_name_lock_id(relname);
		names = lappend(names, name);
	}
	list_sort(names, view_name_lock_cmp);
	foreach(lc, names)
	{
		ViewNameLock *name = lfirst(lc);

		LockDatabaseObject(NamespaceRelationId, name->nspid, name->id, ExclusiveLock);
	}
}
