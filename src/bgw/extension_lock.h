/*-------------------------------------------------------------------------
 * extension_lock.h
 *	  How pipeline's processes keep DROP EXTENSION from pulling the catalog
 *	  tables away while they read them.
 *
 * The scheduler and the refresh workers lock the extension object with
 * AccessShareLock around their catalog work.  DROP EXTENSION takes
 * AccessExclusiveLock on it before it touches any table (its event trigger
 * takes it early, see drop_extension.c), so it waits for that work to end.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_EXTENSION_LOCK_H
#define PIPELINE_EXTENSION_LOCK_H

/*
 * Finds the installed pipeline extension and locks it with AccessShareLock
 * to the end of the transaction.  Returns its OID and, into *version, its
 * version (palloc'd, NULL if none); InvalidOid when it is not installed,
 * or, unless wait, when the lock is not free at once (a drop or an update
 * is under way).  Needs a transaction.
 */
extern Oid	extension_lock(bool wait, char **version);

#endif
