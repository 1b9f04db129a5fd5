/* SPDX-License-Identifier: MIT */
/*
 * <slabd/gfp.h> - allocation flags (gfp_t) and cache flags (slab_flags_t), with the
 * kernel's names and meanings.
 *
 * The bits that matter to slabd:
 *   __GFP_DIRECT_RECLAIM  the caller may sleep until the daemon refilled (GFP_KERNEL);
 *                         without it (GFP_ATOMIC, GFP_NOWAIT) an allocation never sleeps.
 *   __GFP_HIGH            may take from the emergency reserve (GFP_ATOMIC has it).
 *   __GFP_NORETRY         do not wait once the daemon said the zone is exhausted.
 *   __GFP_NOFAIL          never return NULL: wait as long as it takes (but a page-level
 *                         request larger than any zone's largest block fails: ENOMEM).
 *   __GFP_ZERO            zero the object.   __GFP_DMA  use the DMA zone's caches.
 *   __GFP_THISNODE        only node-local memory.   __GFP_NOWARN  no failure report.
 */
#ifndef SLABD_GFP_H
#define SLABD_GFP_H

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned int gfp_t;
typedef unsigned int slab_flags_t;

#define __GFP_DMA 0x01u
#define __GFP_HIGH 0x20u
#define __GFP_IO 0x40u
#define __GFP_FS 0x80u
#define __GFP_ZERO 0x100u
#define __GFP_DIRECT_RECLAIM 0x400u
#define __GFP_KSWAPD_RECLAIM 0x800u
#define __GFP_NOWARN 0x2000u
#define __GFP_NOFAIL 0x8000u
#define __GFP_NORETRY 0x10000u
#define __GFP_HARDWALL 0x100000u
#define __GFP_THISNODE 0x200000u
#define __GFP_RECLAIM (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)

#define GFP_ATOMIC (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_NOWAIT (__GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL (__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_USER (GFP_KERNEL | __GFP_HARDWALL)
#define GFP_DMA __GFP_DMA

#define SLAB_RED_ZONE 0x00000400u
#define SLAB_POISON 0x00000800u
#define SLAB_HWCACHE_ALIGN 0x00002000u
#define SLAB_CACHE_DMA 0x00004000u
#define SLAB_STORE_USER 0x00010000u

#ifdef __cplusplus
}
#endif
#endif /* SLABD_GFP_H */
