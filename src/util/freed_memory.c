/*-------------------------------------------------------------------------
 * freed_memory.c
 *	  Keeping freed memory for reuse.  See freed_memory.h.
 *
 * glibc's malloc hands a request of at least its mmap threshold its own
 * mapping, unmapped again when freed, and gives back to the kernel the
 * free memory above its trim threshold at the top of the heap.  Its
 * dynamic threshold rises to the largest block freed so far, but a block
 * of that same size is mapped again: a memory context's largest blocks
 * (8 MB) are mapped, zeroed by the kernel page by page and unmapped once
 * per statement.  A differential refresh of 10,000 appended rows spent a
 * quarter of its time in those page faults (bench/RESULTS.md, 2026-12-03).
 * Fixed thresholds above that size keep such blocks in the heap and
 * reuse them; a process keeps at most FREED_MEMORY_KEPT of free memory
 * at the top of its heap, not more with every refresh.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "util/freed_memory.h"

void
freed_memory_keep(void)
{
#ifdef __GLIBC__
	static bool kept = false;

	if (kept)
		return;
	/* above the largest block a memory context asks for (8 MB) */
	mallopt(M_MMAP_THRESHOLD, FREED_MEMORY_KEPT / 2);
	mallopt(M_TRIM_THRESHOLD, FREED_MEMORY_KEPT);
	kept = true;
#endif
}
