/* SPDX-License-Identifier: MIT */
/*
 * debug.h - debug mode and owner tracking, the daemon's side (debug.c).
 */
#ifndef SLABD_DAEMON_DEBUG_H
#define SLABD_DAEMON_DEBUG_H

#include <stdint.h>

struct slabd;
struct cache;
struct slabd_wire_debug_req;
struct slabd_wire_debug;

/* debug_parse: "poison,redzone,store_user" (any of them, commas or blanks between; "on"
 * or "all": every one; "off", "none" or "": none) into SLABD_DEBUG_* flags; 0 or -EINVAL. */
int debug_parse(const char *s, uint32_t *ret_flags);
/* debug_geometry: the stride of a cache of @size-byte objects aligned to @align with
 * (SLAB_*) @flags, and the offset of its track record in the slot (0: none). */
void debug_geometry(uint32_t size, uint32_t align, uint32_t flags, uint64_t *ret_stride, uint32_t *ret_trailer);
/* debug_cache_created: a cache was created with debug flags: publish them. */
void debug_cache_created(struct slabd *d, struct cache *c);
/* debug_cache_destroyed: a cache left the table: cache 0's flags (the OR of all) again
 * without its own. Control thread. */
void debug_cache_destroyed(struct slabd *d);
/* debug_request: carry out a DEBUG request into the reply @r (zeroed, header set).
 * Control thread; waits for the workers' drains. */
void debug_request(struct slabd *d, const struct slabd_wire_debug_req *m, struct slabd_wire_debug *r);
/* debug_config_restart: a restarted daemon whose "debug" key (@want) differs from the one
 * the region last ran with switches the kmalloc caches as debug_request would, so the
 * restart behaves as a fresh start with @want (within what each cache's slots allow,
 * logged). Control thread, after the workers started. */
void debug_config_restart(struct slabd *d, uint32_t want);
/* debug_client_gone: client @client_id (@pid) has hung up: with SLAB_STORE_USER on for
 * some cache, give back every object it still owned. Control thread; waits for the
 * workers. */
void debug_client_gone(struct slabd *d, uint32_t client_id, uint32_t pid);

#endif
