/*-------------------------------------------------------------------------
 * extension_member.h
 *	  Making a relation pipeline made at run time (a change log, a
 *	  differential view's state) a member of the extension, or no longer.
 *
 * A member is left out by pg_dump and dropped by DROP EXTENSION.  ALTER
 * EXTENSION ... ADD / DROP does that, but PostgreSQL 15 (15.20 here) locks
 * the extension in SHARE UPDATE EXCLUSIVE mode for it, to the end of the
 * transaction: one role's open transaction that made or dropped a
 * differential view made every other role's wait (h133).  These record
 * the same membership holding SHARE, which DROP EXTENSION and ALTER
 * EXTENSION UPDATE wait for, and other membership changes do not.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_EXTENSION_MEMBER_H
#define PIPELINE_EXTENSION_MEMBER_H

/* Makes relation relid a member of extension extname. */
extern void extension_member_add(const char *extname, Oid relid);

/* Makes relation relid a member of no extension (it was extname's). */
extern void extension_member_drop(const char *extname, Oid relid);

#endif
