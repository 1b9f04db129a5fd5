/* SPDX-License-Identifier: MIT */
/*
 * percpu.h - per-CPU array stacks driven by restartable sequences (x86-64).
 *
 * Owns nothing; operates on struct slabd_shm_pcpu in the shared percpu segment. Used by
 * libslabclient's fast path and by the daemon's drain (which first migrates its thread
 * onto the CPU it wants to drain).
 *
 * Each operation is one restartable sequence:
 *   1. publish the sequence's descriptor in rseq->rseq_cs;
 *   2. read rseq->cpu_id, bounds-check it against nr_cpus, find this CPU's stack
 *      (cache_base + (cpu << SLABD_PCPU_SHIFT));
 *   3. read count, check it against capacity and SLABD_PCPU_SLOTS (the memory is
 *      writable by every client: never index with an unchecked count);
 *   4. copy objects in or out; stores to slots above count are invisible until
 *   5. the single commit store of the new count.
 * If the thread is preempted, migrated or signalled between 1 and 5 the kernel moves it
 * to the abort handler, which retries from the start; nothing before the commit is
 * visible to anyone else. No lock, no atomic instruction, no system call.
 *
 * The rseq area is reached as %fs:roff where roff is glibc's __rseq_offset (or the
 * offset of libslabclient's own area when glibc did not register one). cpu_id of an
 * unregistered area is (uint32_t)-1, which fails the nr_cpus check and sends the caller to
 * its slow path, where registration happens.
 *
 * With SLABD_RSEQ_INJECT defined (debug and stress builds), each sequence spins
 * slabd_rseq_inject_loops iterations just before its commit, to widen the window in
 * which preemption must abort it (as the kernel's rseq self-tests do).
 */
#ifndef SLABD_LIB_PERCPU_H
#define SLABD_LIB_PERCPU_H

#include <stddef.h>
#include <stdint.h>

#include "slabd_shm.h"

#if !defined(__x86_64__)
#error "slabd's restartable sequences are written for x86-64"
#endif

/* The sequences' pieces (prologue, epilogue, pop and push bodies), the bulk sequences
 * without a home check (slabd_rseq_pop_bulk, slabd_rseq_push_bulk) and the delay-injection
 * hooks of the stress builds are shared with the inline fast path in <slabd/fast.h>. */
#include <slabd/fast.h>

#define SLABD_RSEQ_SIG ((uint32_t)SLABD_RSEQ_SIGNATURE)
#define RSEQ_ASM_PROLOGUE SLABD_RSEQ_PROLOGUE("")
#define RSEQ_ASM_PROLOGUE_CHECK(check) SLABD_RSEQ_PROLOGUE(check)
#define RSEQ_ASM_EPILOGUE SLABD_RSEQ_EPILOGUE
#define RSEQ_INJECT_ASM SLABD_RSEQ_COMMIT_HOOK
#define RSEQ_INJECT_CLOBBER SLABD_RSEQ_INJECT_CLOBBER
#define RSEQ_INJECT_ABORTED() SLABD_RSEQ_INJECT_ABORTED()

/* The home check of the *_home variants: the CPU's node (u16 at cputab + cpu * 4, the
 * daemon's CPU table) must be @node, else the sequence leaves through label "wrong". */
#define RSEQ_ASM_HOME_CHECK_TO(wrong)                                                              \
	"cmpw %w[node], (%[cputab],%%rax,4)\n\t"                                                   \
	"jne " wrong "\n\t"
#define RSEQ_ASM_HOME_CHECK RSEQ_ASM_HOME_CHECK_TO("%l[wrong]")

/* A sequence with an output as a plain asm statement (SLABD_ASM_GOTO_OUTPUTS 0, see
 * <slabd/fast.h>): a miss (and the home check's other node) leaves through
 * SLABD_RSEQ_FAIL with the output 0; an abort starts over inside the asm. */
#define RSEQ_ASM_PROLOGUE_FAIL SLABD_RSEQ_PROLOGUE_TO("", SLABD_RSEQ_FAIL)
#define RSEQ_ASM_PROLOGUE_HOME_FAIL SLABD_RSEQ_PROLOGUE_TO(RSEQ_ASM_HOME_CHECK_TO(SLABD_RSEQ_FAIL), SLABD_RSEQ_FAIL)
_Static_assert(sizeof(struct slabd_shm_cpu) == 4, "RSEQ_ASM_HOME_CHECK scales the CPU by 4");

_Static_assert(SLABD_PCPU_SHIFT == 10 && SLABD_PCPU_SLOTS == 127, "the asm below hard-codes these");

/*
 * percpu_pop: pop one object offset from the current CPU's stack of the cache whose
 * per-CPU array starts at @base. Returns 0 with *ret_off set, or -1 when the stack is
 * empty (or rseq is not registered for this thread). Never sleeps; async-signal-safe.
 */
static inline __attribute__((always_inline)) int percpu_pop(long roff, uint32_t ncpus, char *base,
							     uint64_t *ret_off)
{
	uint64_t val;
#if SLABD_ASM_GOTO_OUTPUTS
retry:
	__asm__ volatile goto(RSEQ_ASM_PROLOGUE SLABD_RSEQ_POP_BODY RSEQ_ASM_EPILOGUE
		     : [val] "=&r"(val)
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base)
		     : "rax", "rcx", "rdx", RSEQ_INJECT_CLOBBER "memory", "cc"
		     : slow, abort);
	SLABD_ASM_GOTO_OUTPUT_FENCE();
	*ret_off = val;
	return 0;
abort:
	RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
#else
	/* val is 0 after a miss: offset 0 is the superblock, never an object */
	__asm__ volatile(RSEQ_ASM_PROLOGUE_FAIL SLABD_RSEQ_POP_BODY_TO(SLABD_RSEQ_FAIL) SLABD_RSEQ_EPILOGUE_RETRY
			 SLABD_RSEQ_FAIL_STUB("val")
		     : [val] "=&r"(val)
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base)
		     : "rax", "rcx", "rdx", RSEQ_INJECT_CLOBBER "memory", "cc");
	if (__builtin_expect(!val, 0))
		return -1;
	*ret_off = val;
	return 0;
#endif
}

/*
 * percpu_push: push @off on the current CPU's stack. Returns 0, or -1 when the stack is at
 * capacity (or rseq is not registered). Never sleeps; async-signal-safe.
 */
static inline __attribute__((always_inline)) int percpu_push(long roff, uint32_t ncpus, char *base,
							      uint64_t off)
{
retry:
	__asm__ volatile goto(RSEQ_ASM_PROLOGUE SLABD_RSEQ_PUSH_BODY RSEQ_ASM_EPILOGUE
		     :
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base), [off] "r"(off)
		     : "rax", "rcx", RSEQ_INJECT_CLOBBER "memory", "cc"
		     : slow, abort);
	return 0;
abort:
	RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
}

/*
 * percpu_push_home: percpu_push for an object of node @node, on a machine with several
 * nodes: only onto the stack of a CPU of that node (checked inside the sequence against
 * the daemon's CPU table @cputab, so a migration cannot slip it onto another node's CPU).
 * Returns 0, -1 when full (or unregistered), -2 when this CPU belongs to another node.
 */
static inline __attribute__((always_inline)) int percpu_push_home(long roff, uint32_t ncpus, char *base,
								   uint64_t off, const void *cputab, uint32_t node)
{
retry:
	__asm__ volatile goto(RSEQ_ASM_PROLOGUE_CHECK(RSEQ_ASM_HOME_CHECK) SLABD_RSEQ_PUSH_BODY RSEQ_ASM_EPILOGUE
		     :
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base), [off] "r"(off),
		       [cputab] "r"(cputab), [node] "r"(node)
		     : "rax", "rcx", RSEQ_INJECT_CLOBBER "memory", "cc"
		     : slow, abort, wrong);
	return 0;
abort:
	RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
wrong:
	return -2;
}



/*
 * percpu_pop_bulk_delta: take the top min(count, @max) objects of the current CPU's
 * stack into @out, in stack order (the deepest of them first), each as slot + @delta (0:
 * offsets; the region base: pointers, converted inside the sequence). The copy is one
 * block, two objects per SSE2 load/add/store. Returns how many (0 when empty or
 * unregistered). Never sleeps; async-signal-safe.
 */
static inline __attribute__((always_inline)) unsigned int percpu_pop_bulk_delta(long roff, uint32_t ncpus,
										 char *base, uint64_t *out,
										 uint64_t max, uint64_t delta)
{
	char *d = (char *)(uintptr_t)delta;

	return slabd_rseq_pop_bulk(roff, &ncpus, base, out, max, &d);
}

static inline __attribute__((always_inline)) unsigned int percpu_pop_bulk(long roff, uint32_t ncpus, char *base,
									   uint64_t *out, uint64_t max)
{
	return percpu_pop_bulk_delta(roff, ncpus, base, out, max, 0);
}

/* percpu_pop_bulk_home: percpu_pop_bulk (offsets) from a CPU of node @node only (see
 * percpu_push_home); 0 when this CPU belongs to another node. */
static inline __attribute__((always_inline)) unsigned int percpu_pop_bulk_home(long roff, uint32_t ncpus,
										char *base, uint64_t *out, uint64_t max,
										const void *cputab, uint32_t node)
{
	uint64_t n, delta = 0;
#if SLABD_ASM_GOTO_OUTPUTS
retry:
	__asm__ volatile goto(RSEQ_ASM_PROLOGUE_CHECK(RSEQ_ASM_HOME_CHECK) SLABD_RSEQ_POP_BULK_BODY RSEQ_ASM_EPILOGUE
		     : [n] "=&r"(n)
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base), [out] "r"(out), [max] "r"(max),
		       [delta] "rm"(delta), [cputab] "r"(cputab), [node] "r"(node)
		     : SLABD_RSEQ_BULK_CLOBBERS
		     : slow, abort, wrong);
	SLABD_ASM_GOTO_OUTPUT_FENCE();
	return (unsigned int)n;
abort:
	RSEQ_INJECT_ABORTED();
	goto retry;
slow:
wrong:
	return 0;
#else
	__asm__ volatile(RSEQ_ASM_PROLOGUE_HOME_FAIL SLABD_RSEQ_POP_BULK_BODY_TO(SLABD_RSEQ_FAIL)
			 SLABD_RSEQ_EPILOGUE_RETRY SLABD_RSEQ_FAIL_STUB("n")
		     : [n] "=&r"(n)
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base), [out] "r"(out), [max] "r"(max),
		       [delta] "rm"(delta), [cputab] "r"(cputab), [node] "r"(node)
		     : SLABD_RSEQ_BULK_CLOBBERS);
	return (unsigned int)n;
#endif
}


/*
 * percpu_push_bulk_delta: push up to @n objects from @in (in[0] deepest), each as in[i] -
 * @delta (0: @in holds offsets; the region base: @in holds pointers), as one block copy,
 * two objects per SSE2 load/subtract/store. Returns how many fit (0 when full or
 * unregistered); the caller keeps the rest. Never sleeps; async-signal-safe.
 */
static inline __attribute__((always_inline)) unsigned int percpu_push_bulk_delta(long roff, uint32_t ncpus,
										  char *base, const uint64_t *in,
										  uint64_t n, uint64_t delta)
{
	char *d = (char *)(uintptr_t)delta;

	return slabd_rseq_push_bulk(roff, &ncpus, base, in, n, &d);
}

static inline __attribute__((always_inline)) unsigned int percpu_push_bulk(long roff, uint32_t ncpus, char *base,
									    const uint64_t *in, uint64_t n)
{
	return percpu_push_bulk_delta(roff, ncpus, base, in, n, 0);
}

/* percpu_push_bulk_home: percpu_push_bulk (offsets) of objects of node @node onto a CPU
 * of that node only (see percpu_push_home); 0 when this CPU belongs to another node. */
static inline __attribute__((always_inline)) unsigned int percpu_push_bulk_home(long roff, uint32_t ncpus,
										 char *base, const uint64_t *in,
										 uint64_t n, const void *cputab,
										 uint32_t node)
{
	uint64_t done, delta = 0;
#if SLABD_ASM_GOTO_OUTPUTS
retry:
	__asm__ volatile goto(RSEQ_ASM_PROLOGUE_CHECK(RSEQ_ASM_HOME_CHECK) SLABD_RSEQ_PUSH_BULK_BODY RSEQ_ASM_EPILOGUE
		     : [done] "=&r"(done)
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base), [in] "r"(in), [n] "r"(n),
		       [delta] "rm"(delta), [cputab] "r"(cputab), [node] "r"(node)
		     : SLABD_RSEQ_BULK_CLOBBERS
		     : slow, abort, wrong);
	SLABD_ASM_GOTO_OUTPUT_FENCE();
	return (unsigned int)done;
abort:
	RSEQ_INJECT_ABORTED();
	goto retry;
slow:
wrong:
	return 0;
#else
	__asm__ volatile(RSEQ_ASM_PROLOGUE_HOME_FAIL SLABD_RSEQ_PUSH_BULK_BODY_TO(SLABD_RSEQ_FAIL)
			 SLABD_RSEQ_EPILOGUE_RETRY SLABD_RSEQ_FAIL_STUB("done")
		     : [done] "=&r"(done)
		     : [roff] "r"(roff), [ncpus] "rm"(ncpus), [base] "r"(base), [in] "r"(in), [n] "r"(n),
		       [delta] "rm"(delta), [cputab] "r"(cputab), [node] "r"(node)
		     : SLABD_RSEQ_BULK_CLOBBERS);
	return (unsigned int)done;
#endif
}

/* percpu_current_cpu: the CPU this thread last ran on, or -1 when rseq is unregistered
 * (advisory outside a sequence: the thread may migrate right after). */
static inline int percpu_current_cpu(long roff)
{
	uint32_t cpu;
	__asm__ volatile("movl %%fs:4(%1), %0" : "=r"(cpu) : "r"(roff));
	return (int)cpu;
}

#endif /* SLABD_LIB_PERCPU_H */
