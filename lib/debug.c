/* SPDX-License-Identifier: MIT */
/*
 * debug.c - debug mode in libslabclient: the checks, and owner hand-over.
 *
 * A cache with debug checks on (slabd_shm_cache.debug, set by the daemon at creation or
 * by slabctl debug) has per-CPU stacks of capacity 0: every allocation and free of it
 * misses into alloc.c's slow paths, which call here. Objects then move one at a time
 * between the caller and the depot; the fast path is the same code as without debug
 * mode and costs nothing more.
 *
 * Per object (slot of `size` bytes, the user's obj_size of them):
 *   with a trailer (cache created with SLAB_RED_ZONE or SLAB_STORE_USER):
 *     [object][gap up to trailer][struct slabd_shm_track]
 *     gap bytes and track.redzone: 0xcc while allocated, 0xbb while free (SLUB's values);
 *     track.state: (epoch << 2) | ALLOC or FREE, written here; owner, pid, alloc_pid and
 *     alloc_addr (the public call's return address, passed down by alloc.c and cache.c);
 *     free_pid and free_addr of the last free.
 *     Double free: state is FREE of this epoch. Red zone: checked at free (0xcc) and at
 *     allocation (0xbb). Poison: bytes [8, obj_size) are 0x6b while free (written by every
 *     debug free, checked at allocation with SLAB_POISON: the flags may change in an epoch).
 *   without a trailer (debug switched on at run time for a cache without room):
 *     bytes [0, size - 8) are 0x6b and the last word is POISON_MARK_OF(epoch) while free;
 *     double free: mark and poison both there; write after free: the mark there, a byte not.
 *     The mark is overwritten at allocation. Objects of 8 bytes have no room for either:
 *     only the pointer checks apply to them.
 *   The first word of a free object may hold a depot free-chain link: poison checks
 *   start at byte 8.
 *
 * Epochs: track states and poison marks written before the cache's current debug epoch began
 * (the debug switch was off in between, and fast paths reused objects without touching
 * them) are not believed: no report comes from them. Objects still in the per-CPU stacks
 * at the instant the daemon switches a cache on are handed out unchecked until its drain
 * has run on that CPU.
 *
 * Every error found is reported once, on stderr (the one place libslabclient prints:
 * debug mode was asked for) and in slabd_last_error(), and counted in the cache's
 * debug_errors (node 0's depot; cache 0's for pointers of no cache) and in this client's
 * entry. A bad kfree (double free, a pointer into an object, a pointer of no object)
 * frees nothing. A damaged red zone is reported and the object freed. With
 * SLAB_STORE_USER a report names where the object was allocated (and, when it is free,
 * last freed) and by which pid: a call site recorded by this process as function+offset
 * (dladdr: the function must be in the dynamic symbol table, else file+offset), one of
 * another process as the raw address, which means nothing in this address space.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <slabd/slabd.h>

#include "client.h"

#define cl slabd_client

#define POISON_FREE 0x6b
#define POISON_INUSE 0x5a
#define RED_ACTIVE_BYTE 0xcc
#define RED_INACTIVE_BYTE 0xbb
#define POISON_MARK 0xa56b5ab0d1e56ba5ull /* last word of a poisoned object without trailer */
/* The mark of epoch @e: a mark written in an earlier epoch is not believed (the object
 * may have been used and freed by the fast paths meanwhile, with the mark left alone). */
#define POISON_MARK_OF(e) (POISON_MARK ^ (uint64_t)(e))
#define POISON_FROM 8u                    /* the first word may be a free-chain link */

_Static_assert((SLABD_RED_ACTIVE & 0xff) == RED_ACTIVE_BYTE && (SLABD_RED_INACTIVE & 0xff) == RED_INACTIVE_BYTE,
	       "red zone bytes");
_Static_assert(SLABD_DEBUG_POISON == SLAB_POISON && SLABD_DEBUG_RED_ZONE == SLAB_RED_ZONE &&
		       SLABD_DEBUG_STORE_USER == SLAB_STORE_USER,
	       "slabd_shm_cache.debug holds the public SLAB_* values");

static cold __attribute__((format(printf, 2, 3))) void report(uint32_t cache, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;
	uint32_t slot = cl.client_slot;

	n = snprintf(buf, sizeof(buf), "slabd debug (pid %d): ", (int)getpid());
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	client_set_error("%s", buf + n);
	n = (int)strlen(buf);
	if ((size_t)n < sizeof(buf) - 1)
		buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
		/* nowhere else to say it: the counters below still count it */
	}
	if (cl.depots && cache < cl.sb->max_caches)
		__atomic_fetch_add(&client_depot(cache, 0)->debug_errors, 1, __ATOMIC_RELAXED);
	if (cl.clients && slot < SLABD_MAX_CLIENTS)
		__atomic_fetch_add(&cl.clients[slot].debug_errors, 1, __ATOMIC_RELAXED);
}

/* The first byte of [from, to) of @o that is not @byte, or -1. */
static long first_not(const char *o, uint32_t from, uint32_t to, int byte)
{
	uint32_t i;

	for (i = from; i < to; i++)
		if ((unsigned char)o[i] != (unsigned char)byte)
			return (long)i;
	return -1;
}

static struct slabd_shm_track *track_of(const struct slabd_shm_cache *sc, char *o)
{
	uint32_t t = sc->trailer;

	if (!t || (uint64_t)t + sizeof(struct slabd_shm_track) > sc->size)
		return NULL;
	return (struct slabd_shm_track *)(o + t);
}

/* The red zone of @o (gap bytes and the trailer's word) all @byte? -1, or the first bad
 * byte's offset from the object's start. */
static long redzone_bad(const struct slabd_shm_cache *sc, const char *o, const struct slabd_shm_track *t, int byte)
{
	long b = first_not(o, sc->obj_size, sc->trailer, byte);

	if (b >= 0)
		return b;
	b = first_not((const char *)&t->redzone, 0, 8, byte);
	return b >= 0 ? (long)sc->trailer + b : -1;
}

static void redzone_set(const struct slabd_shm_cache *sc, char *o, struct slabd_shm_track *t, int byte)
{
	memset(o + sc->obj_size, byte, sc->trailer - sc->obj_size);
	memset(&t->redzone, byte, sizeof(t->redzone));
}

/* " at func+0x1c (file)" for call site @addr recorded by process @pid: symbolized only
 * when that is this process, else the raw address; "" for 0 (not known). dladdr knows
 * the dynamic symbols only and answers with the nearest one below the address: unless the
 * address is inside that symbol (its size, from dladdr1), " at file+0x1234", the offset
 * in the file's mapping (addr2line -e file 0x1234), rather than a wrong function. */
static const char *site(uint64_t addr, uint32_t pid, char *buf, size_t len)
{
	const ElfW(Sym) *sym = NULL;
	Dl_info di;
	const char *file;

	buf[0] = 0;
	if (!addr)
		return buf;
	if (pid != (uint32_t)getpid() || !dladdr1((void *)(uintptr_t)addr, &di, (void **)&sym, RTLD_DL_SYMENT) ||
	    !di.dli_fname) {
		snprintf(buf, len, " at %#llx", (unsigned long long)addr);
		return buf;
	}
	file = strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1 : di.dli_fname;
	if (di.dli_sname && di.dli_saddr && sym && addr - (uintptr_t)di.dli_saddr < sym->st_size)
		snprintf(buf, len, " at %s+%#llx (%s)", di.dli_sname,
			 (unsigned long long)(addr - (uintptr_t)di.dli_saddr), file);
	else
		snprintf(buf, len, " at %s+%#llx", file, (unsigned long long)(addr - (uintptr_t)di.dli_fbase));
	return buf;
}

/* ", allocated at SITE by pid N (owner pid M)" when the record knows it; with @freed
 * (the object is free in this epoch) also ", freed at SITE by pid K". */
static const char *by_whom(const struct slabd_shm_cache *sc, const struct slabd_shm_track *t, int freed, char *buf,
			   size_t len)
{
	char at[256];
	uint32_t fpid;
	int n;

	buf[0] = 0;
	if (!t || !(sc->debug & SLABD_DEBUG_STORE_USER) || !t->alloc_pid)
		return buf;
	n = snprintf(buf, len, ", allocated%s by pid %u (owner pid %u)",
		     site(t->alloc_addr, t->alloc_pid, at, sizeof(at)), t->alloc_pid, t->pid);
	fpid = t->free_pid;
	if (!freed || !fpid || n < 0 || (size_t)n >= len)
		return buf;
	if (!t->free_addr && fpid == cl.sb->daemon_pid)
		snprintf(buf + n, len - (size_t)n, ", given back by slabd's owner reclaim (pid %u)", fpid);
	else
		snprintf(buf + n, len - (size_t)n, ", freed%s by pid %u",
			 site(t->free_addr, fpid, at, sizeof(at)), fpid);
	return buf;
}

void *debug_alloc(uint32_t cache, gfp_t flags, int node, const void *caller)
{
	const struct slabd_shm_cache *sc = &cl.caches[cache];
	uint32_t dbg = __atomic_load_n(&sc->debug, __ATOMIC_ACQUIRE);
	uint32_t epoch = __atomic_load_n(&sc->debug_epoch, __ATOMIC_RELAXED);
	struct slabd_shm_track *t;
	char who[640];
	char *o = alloc_depot_take(cache, flags, node);
	long b;

	if (!o)
		return NULL;
	t = track_of(sc, o);
	if (t) {
		if (__atomic_load_n(&t->state, __ATOMIC_RELAXED) == ((epoch << 2) | SLABD_TRACK_FREE)) {
			/* freed by a debug free of this epoch: it must still look free */
			if ((dbg & SLABD_DEBUG_RED_ZONE) && (b = redzone_bad(sc, o, t, RED_INACTIVE_BYTE)) >= 0)
				report(cache,
				       "red zone of free object %p of cache %s overwritten at +%ld (%u-byte "
				       "objects)%s",
				       (void *)o, sc->name, b, sc->obj_size, by_whom(sc, t, 1, who, sizeof(who)));
			if ((dbg & SLABD_DEBUG_POISON) && (b = first_not(o, POISON_FROM, sc->obj_size, POISON_FREE)) >= 0)
				report(cache,
				       "write after free: object %p of cache %s, byte +%ld is %#x, not the "
				       "poison %#x%s",
				       (void *)o, sc->name, b, (unsigned char)o[b], POISON_FREE,
				       by_whom(sc, t, 1, who, sizeof(who)));
		}
		redzone_set(sc, o, t, RED_ACTIVE_BYTE);
		t->owner = cl.client_id;
		t->pid = t->alloc_pid = (uint32_t)getpid();
		t->alloc_addr = (uint64_t)(uintptr_t)caller;
		__atomic_store_n(&t->state, (epoch << 2) | SLABD_TRACK_ALLOC, __ATOMIC_RELEASE);
	} else if ((dbg & SLABD_DEBUG_POISON) && sc->size >= 16) {
		uint64_t *mark = (uint64_t *)(o + sc->size - 8);
		if (*mark == POISON_MARK_OF(epoch)) {
			if ((b = first_not(o, POISON_FROM, sc->size - 8, POISON_FREE)) >= 0)
				report(cache,
				       "write after free: object %p of cache %s, byte +%ld is %#x, not the "
				       "poison %#x",
				       (void *)o, sc->name, b, (unsigned char)o[b], POISON_FREE);
			memset(mark, POISON_INUSE, sizeof(*mark));
		}
	}
	return o;
}

void debug_free(uint32_t cache, uint64_t off, uint32_t node, const void *caller)
{
	const struct slabd_shm_cache *sc = &cl.caches[cache];
	uint32_t dbg = __atomic_load_n(&sc->debug, __ATOMIC_ACQUIRE);
	uint32_t epoch = __atomic_load_n(&sc->debug_epoch, __ATOMIC_RELAXED);
	uint64_t zoff = off - cl.sb->zones_off, in_slab, idx;
	const struct slabd_shm_page *pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	struct slabd_shm_track *t;
	char *o = cl.base + off, who[640], here[256];
	long b;

	/* HERE: this call's site, in this process, " at func+0x1c (file)"; worked out only for
	 * a report (dladdr takes the loader's lock and costs a symbol search: not on every
	 * debug free) */
#define HERE site((uint64_t)(uintptr_t)caller, (uint32_t)getpid(), here, sizeof(here))
	/* kfree checked zoff and the page kind; the rest of the geometry here */
	if (pg->head >= cl.sb->nr_pages || !sc->size || !sc->objs_per_slab) {
		report(cache, "kfree(%p)%s: its page descriptor is inconsistent: not freed", (void *)o, HERE);
		return;
	}
	in_slab = zoff - ((uint64_t)pg->head << SLABD_PAGE_SHIFT);
	idx = in_slab / sc->size;
	if (idx >= sc->objs_per_slab) {
		report(cache, "kfree(%p)%s: past the last object of its slab of cache %s: not freed", (void *)o, HERE,
		       sc->name);
		return;
	}
	if (in_slab % sc->size) {
		char *start = o - in_slab % sc->size;
		const struct slabd_shm_track *st = track_of(sc, start);
		int freed = st && __atomic_load_n(&st->state, __ATOMIC_RELAXED) == ((epoch << 2) | SLABD_TRACK_FREE);

		report(cache, "kfree(%p)%s: pointer into the middle of %sobject %p of cache %s (+%llu)%s: not freed",
		       (void *)o, HERE, freed ? "free " : "", (void *)start, sc->name,
		       (unsigned long long)(in_slab % sc->size), by_whom(sc, st, freed, who, sizeof(who)));
		return;
	}
	t = track_of(sc, o);
	if (t) {
		uint32_t alloc = (epoch << 2) | SLABD_TRACK_ALLOC, st = alloc;

		/* one winner when two threads free the same object */
		if (!__atomic_compare_exchange_n(&t->state, &st, (epoch << 2) | SLABD_TRACK_FREE, 0,
						 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			if (st == ((epoch << 2) | SLABD_TRACK_FREE)) {
				report(cache, "double free of object %p of cache %s%s%s: not freed again", (void *)o,
				       sc->name, HERE, by_whom(sc, t, 1, who, sizeof(who)));
				return;
			}
			/* allocated before this epoch: nothing to check against */
			__atomic_store_n(&t->state, (epoch << 2) | SLABD_TRACK_FREE, __ATOMIC_RELEASE);
		} else if ((dbg & SLABD_DEBUG_RED_ZONE) && (b = redzone_bad(sc, o, t, RED_ACTIVE_BYTE)) >= 0) {
			report(cache,
			       "red zone overwritten: object %p of cache %s, byte +%ld past the start of a "
			       "%u-byte object was written%s; freed%s",
			       (void *)o, sc->name, b, sc->obj_size, by_whom(sc, t, 0, who, sizeof(who)), HERE);
		}
		/* this free won: the record is ours until the object is handed out again */
		t->free_pid = (uint32_t)getpid();
		t->free_addr = (uint64_t)(uintptr_t)caller;
		redzone_set(sc, o, t, RED_INACTIVE_BYTE);
		t->owner = 0;
		/* poisoned whether SLAB_POISON is on now or not: it can be switched on while
		 * the object is free (same epoch), and its allocation then checks the poison */
		memset(o, POISON_FREE, sc->obj_size);
	} else if ((dbg & SLABD_DEBUG_POISON) && sc->size >= 16) {
		uint64_t *mark = (uint64_t *)(o + sc->size - 8);
		if (*mark == POISON_MARK_OF(epoch) && first_not(o, POISON_FROM, sc->size - 8, POISON_FREE) < 0) {
			report(cache, "double free of object %p of cache %s%s: not freed again", (void *)o, sc->name,
			       HERE);
			return;
		}
		memset(o, POISON_FREE, sc->size - 8);
		__atomic_store_n(mark, POISON_MARK_OF(epoch), __ATOMIC_RELEASE);
	}
	alloc_depot_give(cache, node, off);
#undef HERE
}

/* A kfree of @p, called at @caller (NULL: not known), that frees nothing: @why. */
void debug_bad_pointer(const void *p, const char *why, const void *caller)
{
	char here[256];

	report(0, "kfree(%p)%s: %s: ignored", p, site((uint64_t)(uintptr_t)caller, (uint32_t)getpid(), here, sizeof(here)),
	       why);
}

int slabd_obj_give(const void *p, pid_t to)
{
	uint64_t zoff = (uint64_t)((const char *)p - cl.zones), in_slab;
	const struct slabd_shm_page *pg;
	const struct slabd_shm_cache *sc;
	struct slabd_shm_track *t;
	uint32_t owner = 0, epoch, slot;

	if (!__atomic_load_n(&cl.ncpus, __ATOMIC_ACQUIRE) || zoff >= cl.zones_size || to < 0)
		return -EINVAL;
	pg = &cl.pages[zoff >> SLABD_PAGE_SHIFT];
	if (pg->kind != SLABD_PAGE_SLAB || pg->cache >= cl.sb->max_caches || pg->head >= cl.sb->nr_pages)
		return -EINVAL;
	sc = &cl.caches[pg->cache];
	in_slab = zoff - ((uint64_t)pg->head << SLABD_PAGE_SHIFT);
	if (!sc->size || in_slab % sc->size || in_slab / sc->size >= sc->objs_per_slab)
		return -EINVAL;
	t = track_of(sc, (char *)p);
	if (!t || !(__atomic_load_n(&sc->debug, __ATOMIC_ACQUIRE) & SLABD_DEBUG_STORE_USER))
		return 0; /* no owner tracking for this cache: nothing could reclaim it */
	epoch = __atomic_load_n(&sc->debug_epoch, __ATOMIC_RELAXED);
	if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != ((epoch << 2) | SLABD_TRACK_ALLOC))
		return -EINVAL;
	if (to) {
		for (slot = 0; slot < SLABD_MAX_CLIENTS; slot++) {
			uint32_t id = __atomic_load_n(&cl.clients[slot].id, __ATOMIC_ACQUIRE);
			if (id && cl.clients[slot].pid == (uint32_t)to) {
				owner = id;
				break;
			}
		}
		if (!owner)
			return -ESRCH;
	}
	t->pid = (uint32_t)to;
	__atomic_store_n(&t->owner, owner, __ATOMIC_RELEASE);
	return 0;
}
