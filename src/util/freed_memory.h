/*-------------------------------------------------------------------------
 * freed_memory.h
 *	  Keeping the memory a statement frees for the next one in this
 *	  process, instead of returning it to the kernel and faulting it in
 *	  again.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_FREED_MEMORY_H
#define PIPELINE_FREED_MEMORY_H

/*
 * From now on this process keeps up to FREED_MEMORY_KEPT bytes of freed
 * memory for reuse (glibc only; elsewhere nothing changes).  Idempotent.
 */
extern void freed_memory_keep(void);

#define FREED_MEMORY_KEPT (32 * 1024 * 1024)

#endif
