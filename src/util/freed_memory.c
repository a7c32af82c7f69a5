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
#include <sys/mman.h>

#include "storage/pg_shmem.h"
#include "util/freed_memory.h"

#define HUGE_PAGE_BYTES ((uintptr_t) 2 * 1024 * 1024)

/*
 * Asks for transparent huge pages for the top FREED_MEMORY_REFRESH_ROOM
 * bytes of the heap, not touched yet, where a process's first refresh
 * takes the blocks its statements need: a few megabytes the process never
 * had, faulted in 2 MB at a time instead of 4 kB.  On this project's
 * virtual machine a fault costs 12-23 us (bench/page_faults), the 1,250 of
 * a first differential refresh of 10,000 appended rows a fifth of its
 * time; with huge pages it took 19-28% less (bench/RESULTS.md,
 * 2026-12-06).  The kernel decides: with transparent_hugepage "never" the
 * request does nothing.  huge_pages = off keeps this process's memory in
 * small pages too.
 */
static void
huge_pages_for_refresh(void)
{
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE)
	char	   *room;
	uintptr_t	start;
	uintptr_t	end;

	if (huge_pages == HUGE_PAGES_OFF)
		return;
	/* below the mmap threshold: from the heap, where it stays once freed */
	room = malloc(FREED_MEMORY_REFRESH_ROOM);
	if (room == NULL)
		return;
	start = TYPEALIGN(HUGE_PAGE_BYTES, (uintptr_t) room);
	end = TYPEALIGN_DOWN(HUGE_PAGE_BYTES, (uintptr_t) room + FREED_MEMORY_REFRESH_ROOM);
	if (end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
	free(room);
#endif
}

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
	huge_pages_for_refresh();
	kept = true;
#endif
}
