/*-------------------------------------------------------------------------
 * grants.h
 *	  Privileges on a relation pipeline made for its owner.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_GRANTS_H
#define PIPELINE_GRANTS_H

/*
 * Revokes, as role (the relation's owner), every privilege on relid
 * (quoted as qname) that anyone but its owner holds, PUBLIC's too: what the
 * owner's default privileges gave a relation pipeline made.
 */
extern void revoke_granted(Oid role, Oid relid, const char *qname);

#endif
