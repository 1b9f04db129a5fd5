/* SPDX-License-Identifier: MIT */
/*
 * <slabd/fast.h> - libslabclient's allocation fast path, inline in the caller.
 *
 * Included by <slabd/kmalloc.h>. kmalloc() of a size known at compile time, kfree(),
 * kmem_cache_alloc(), kmem_cache_free() and bulk calls of one object try the current
 * CPU's stack right here, in one restartable sequence each (no call, no PLT), and call
 * into the library only when the stack is empty or full, the thread has no rseq area yet,
 * or the process is not attached. Define SLABD_NO_INLINE before the include to always
 * call the library.
 *
 * Everything here is ABI, versioned by the name of the exported struct (slabd_fast_v2; v1
 * had no kstacks and kept the guess's offset in KiB):
 * the fields below, the per-CPU stack format (struct slabd_shm_pcpu: count, capacity,
 * 127 slots of region offsets, 1 KiB per CPU), the first word of a page descriptor
 * (kind | zone << 8 | cache << 16) and the rseq abort signature. A library with another
 * fast-path ABI exports another name, so an old binary fails to load instead of
 * corrupting memory.
 *
 * How a sequence works (the kernel's rseq ABI): publish a descriptor in the thread's rseq
 * area, read the CPU number, find that CPU's stack, check count against capacity, move
 * the object, and commit with one store of the new count. Preemption, migration or a
 * signal before the commit makes the kernel restart at the abort handler, which retries.
 */
#ifndef SLABD_FAST_H
#define SLABD_FAST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLABD_FAST_HANDLES_SIZE 16384 /* the library's handle table: 1024 handles of 16 bytes */
#define SLABD_FAST_KSTACKS 32 /* kmalloc cache ids (kmalloc_index() <= 25) with a kstacks entry */

struct slabd_fast {
	uint32_t ncpus;         /* CPUs in the region; 0 until attached (every sequence fails) */
	uint32_t reserved;
	long rseq_off;          /* offset of the thread's rseq area from the thread pointer */
	char *base;             /* the shared window; objects are offsets from it */
	char *pcpu;             /* per-CPU stacks of cache 0; cache c at + c * cache_stride */
	uint64_t cache_stride;  /* ncpus << 10 */
	char *zones;            /* first byte of the object zones */
	uint64_t zones_size;    /* 0 on a multi-node region: every kfree goes to the library,
				 * which sends objects home */
	const uint64_t *pages;  /* page descriptors, one per 4 KiB of the zones */
	const char *handles;    /* this process's struct kmem_cache table, SLABD_FAST_HANDLES_SIZE
				 * bytes */
	const uint8_t *size_index; /* kmalloc cache of sizes 1..1024: [(size - 1) >> 3]; set
				    * before main() (a library constructor), like rseq_off */
	char *kstacks[SLABD_FAST_KSTACKS]; /* pcpu + c * cache_stride for the kmalloc caches c
					    * (one load instead of a multiply and an add) */
};

/* A struct kmem_cache as libslabclient lays it out. The inline code reads id and stacks
 * only; reserved holds the library's generation of the id (the handle's cache was
 * destroyed when the shared cache table's differs), at the same offset as ever: the ABI
 * did not change. A handle whose cache was destroyed gets cache 0's stacks (capacity 0)
 * once the library sees it, so its inline pops and pushes miss into the library, which
 * fails them with EINVAL. */
struct slabd_fast_handle {
	uint32_t id;
	uint32_t reserved; /* the library's: the cache's generation (never read inline) */
	char *stacks;	   /* this cache's per-CPU stacks: pcpu + id * cache_stride; cache 0's
			    * (always empty, capacity 0) for a handle not handed out or stale */
};

#define SLABD_FAST_PAGE_SHIFT 12
#define SLABD_FAST_PAGE_SLAB 1u /* page descriptor kind of a slab page */

/* Written once by the library when the process attaches; read-only afterwards. */
extern struct slabd_fast slabd_fast_v2;

/* This thread's previous inline kfree, a guess of the next one's cache, in one word (so
 * that a signal handler's kfree in between can never pair one guess's descriptor with
 * another's stacks): the low 32 bits the first word of its page descriptor (0 at first:
 * never a slab's), the high 32 its cache's stacks' offset from pcpu in bytes (cache *
 * cache_stride; a region where that does not fit 32 bits never uses the guess).
 * kfree takes the stacks from the guess, so the push's address does not wait for the
 * descriptor load; the descriptor is then compared with the guess (a predicted branch)
 * and a wrong guess is never used. The offset stays right across attaches because the
 * library keeps zones_size 0 (no inline kfree) in a process attached anew with another
 * cache_stride. Initial-exec TLS of the library (as its own rseq area). */
extern __thread uint64_t slabd_fast_guess_v2 __attribute__((tls_model("initial-exec")));

/*
 * SLABD_ASM_GOTO_OUTPUT_FENCE: an empty asm statement right after every sequence that has
 * an output (a pop's object, a bulk's count). GCC 12.2 (Debian 12's) at -O2 compiled a
 * caller's "x = h ? kmem_cache_alloc(h, ...) : NULL" so that the pop's output register was
 * never used on the fall-through path and x came from a stack slot that path had not
 * written: the popped object was lost and a stale value returned (GCC bug 113921, asm goto
 * with outputs; fixed in 11.5, 12.4 and 13.3). The Linux kernel works around it the same
 * way; the statement costs no instruction. tests/integration/test_caches.c
 * (a_stale_handle_in_another_process_*) has the shape that showed it.
 */
#define SLABD_ASM_GOTO_OUTPUT_FENCE() __asm__("")

/*
 * SLABD_ASM_GOTO_OUTPUTS: 1 when the compiler gets asm goto with outputs right (clang 11
 * and later; GCC 14, and 13.3, 12.4, 11.5 and later in their series), else 0. The fence
 * above is not enough on the broken GCCs: the Linux kernel found that they can also drop
 * an assignment on a goto label's path (not only an output), so it stopped using asm
 * goto with outputs on them. So do we: with 0, every sequence that has an output is a
 * plain asm statement that leaves through its own labels (SLABD_RSEQ_FAIL: the output
 * set to 0; an abort starts the sequence over inside the asm) and the C code tests the
 * output (one predicted branch; under callgrind at most one more instruction per pair).
 * Sequences without outputs keep asm goto, which every compiler has got right for years.
 * Define it to 0 or 1 to choose (the tests build both).
 */
#ifndef SLABD_ASM_GOTO_OUTPUTS
#if defined(__clang__)
#define SLABD_ASM_GOTO_OUTPUTS (__clang_major__ >= 11)
#elif defined(__GNUC__)
#define SLABD_ASM_GOTO_OUTPUTS                                                                     \
	(__GNUC__ >= 14 || (__GNUC__ == 13 && __GNUC_MINOR__ >= 3) ||                              \
	 (__GNUC__ == 12 && __GNUC_MINOR__ >= 4) || (__GNUC__ == 11 && __GNUC_MINOR__ >= 5))
#else
#define SLABD_ASM_GOTO_OUTPUTS 0
#endif
#endif

#define SLABD_RSEQ_SIGNATURE 0x53053053 /* glibc's on x86: the kernel checks it before aborting */

/*
 * The pieces of a sequence, shared with libslabclient's own (lib/percpu.h). Operands:
 * %[roff] rseq area offset, %[ncpus], %[base] the cache's per-CPU array; labels slow and
 * abort. SLABD_RSEQ_PROLOGUE(check) leaves the CPU's stack in %rax; @check runs with the
 * CPU number in %eax. SLABD_RSEQ_COMMIT_HOOK goes right before each commit store (the
 * stress builds put a spin loop there).
 */
#define SLABD_RSEQ_PROLOGUE_TO(check, slow)                                                         \
	".pushsection __rseq_cs, \"aw\"\n\t"                                                       \
	".balign 32\n\t"                                                                           \
	"3:\n\t"                                                                                   \
	".long 0x0, 0x0\n\t"                                                                       \
	".quad 1f, (2f - 1f), 4f\n\t"                                                              \
	".popsection\n\t"                                                                          \
	"0:\n\t"                                                                                   \
	"leaq 3b(%%rip), %%rax\n\t"                                                                \
	"movq %%rax, %%fs:8(%[roff])\n\t"                                                          \
	"1:\n\t"                                                                                   \
	"movl %%fs:4(%[roff]), %%eax\n\t"                                                          \
	"cmpl %[ncpus], %%eax\n\t"                                                                 \
	"jae " slow "\n\t" check                                                                   \
	"shlq $10, %%rax\n\t"                                                                      \
	"addq %[base], %%rax\n\t"
#define SLABD_RSEQ_PROLOGUE(check) SLABD_RSEQ_PROLOGUE_TO(check, "%l[slow]")

#define SLABD_RSEQ_EPILOGUE_TO(abort)                                                              \
	"2:\n\t"                                                                                   \
	".pushsection __rseq_failure, \"ax\"\n\t"                                                  \
	".byte 0x0f, 0xb9, 0x3d\n\t"                                                               \
	".long 0x53053053\n\t"                                                                     \
	"4:\n\t" abort ".popsection\n\t"
#define SLABD_RSEQ_EPILOGUE SLABD_RSEQ_EPILOGUE_TO("jmp %l[abort]\n\t")

#ifdef SLABD_RSEQ_INJECT
/* Stress builds only (libslabclient-inject): spin slabd_rseq_inject_loops times right
 * before each commit, widening the window in which preemption must abort the sequence,
 * and count the aborts (as the kernel's rseq self-tests do). */
extern volatile unsigned int slabd_rseq_inject_loops;
extern unsigned long slabd_rseq_inject_aborts;
#define SLABD_RSEQ_COMMIT_HOOK                                                                     \
	"movl slabd_rseq_inject_loops(%%rip), %%r11d\n\t"                                          \
	"7: testl %%r11d, %%r11d\n\t"                                                              \
	"jz 8f\n\t"                                                                                \
	"decl %%r11d\n\t"                                                                          \
	"jmp 7b\n\t"                                                                               \
	"8:\n\t"
#define SLABD_RSEQ_INJECT_CLOBBER "r11",
#define SLABD_RSEQ_INJECT_ABORTED() __atomic_fetch_add(&slabd_rseq_inject_aborts, 1, __ATOMIC_RELAXED)
#define SLABD_RSEQ_INJECT_ABORTED_ASM "lock incq slabd_rseq_inject_aborts(%%rip)\n\t"
#else
#define SLABD_RSEQ_COMMIT_HOOK ""
#define SLABD_RSEQ_INJECT_CLOBBER
#define SLABD_RSEQ_INJECT_ABORTED() ((void)0)
#define SLABD_RSEQ_INJECT_ABORTED_ASM ""
#endif

/* The exits of a sequence that is a plain asm statement (SLABD_ASM_GOTO_OUTPUTS 0): the
 * abort handler counts the abort in the stress builds and starts over at label 0; a miss
 * jumps to SLABD_RSEQ_FAIL, out of line, which zeroes output @out and rejoins the end. */
#define SLABD_RSEQ_EPILOGUE_RETRY SLABD_RSEQ_EPILOGUE_TO(SLABD_RSEQ_INJECT_ABORTED_ASM "jmp 0b\n\t")
#define SLABD_RSEQ_FAIL "70f"
#define SLABD_RSEQ_FAIL_STUB(out)                                                                  \
	".pushsection __rseq_failure, \"ax\"\n\t"                                                  \
	"70: xorl %k[" out "], %k[" out "]\n\t"                                                      \
	"jmp 71f\n\t"                                                                              \
	".popsection\n\t"                                                                          \
	"71:\n\t"

/* pop: %[val] = top slot; count - 1 committed. Empty or corrupt count (count - 1 above
 * 126 unsigned: 0, or beyond the 127 slots): slow. */
#define SLABD_RSEQ_POP_BODY_TO(slow)                                                               \
	"movl (%%rax), %%ecx\n\t"                                                                  \
	"leal -1(%%rcx), %%edx\n\t"                                                                \
	"cmpl $126, %%edx\n\t"                                                                     \
	"ja " slow "\n\t"                                                                          \
	"movq (%%rax,%%rcx,8), %[val]\n\t" SLABD_RSEQ_COMMIT_HOOK "movl %%edx, (%%rax)\n\t"
#define SLABD_RSEQ_POP_BODY SLABD_RSEQ_POP_BODY_TO("%l[slow]")

/* push: slot[count] = %[off]; count + 1 committed. At capacity or 127: slow. */
#define SLABD_RSEQ_PUSH_BODY                                                                       \
	"movl (%%rax), %%ecx\n\t"                                                                  \
	"cmpl 4(%%rax), %%ecx\n\t"                                                                 \
	"jae %l[slow]\n\t"                                                                         \
	"cmpl $127, %%ecx\n\t"                                                                     \
	"jae %l[slow]\n\t"                                                                         \
	"movq %[off], 8(%%rax,%%rcx,8)\n\t"                                                        \
	"incl %%ecx\n\t" SLABD_RSEQ_COMMIT_HOOK "movl %%ecx, (%%rax)\n\t"

/* pop bulk: the top min(count, %[max]) slots, each + %[delta], into %[out]; %[n] = how
 * many; count - n committed. From the top down: the odd one, a pair if that leaves a
 * multiple of 4, then four per loop of two SSE2 load/add/store pairs (%%rdx counts down). */
#define SLABD_RSEQ_POP_BULK_BODY_TO(slow)                                                          \
	"movl (%%rax), %%ecx\n\t"                                                                  \
	"cmpl $127, %%ecx\n\t"                                                                     \
	"ja " slow "\n\t"                                                                          \
	"movq %[max], %[n]\n\t"                                                                    \
	"cmpq %%rcx, %[n]\n\t"                                                                     \
	"cmovaq %%rcx, %[n]\n\t" /* n = min(count, max) */                                         \
	"subq %[n], %%rcx\n\t"   /* rcx = new count = first slot taken */                          \
	"movq %[delta], %%xmm1\n\t"                                                                \
	"punpcklqdq %%xmm1, %%xmm1\n\t"                                                            \
	"leaq 8(%%rax,%%rcx,8), %%r8\n\t" /* &slots[new count] */                                 \
	"movq %[n], %%rdx\n\t"                                                                     \
	"testb $1, %%dl\n\t"                                                                       \
	"jz 5f\n\t"                                                                                \
	"movq -8(%%r8,%%rdx,8), %%r9\n\t" /* the odd last one */                                  \
	"addq %[delta], %%r9\n\t"                                                                  \
	"movq %%r9, -8(%[out],%%rdx,8)\n\t"                                                        \
	"decq %%rdx\n\t"                                                                           \
	"5: testb $2, %%dl\n\t"                                                                    \
	"jz 6f\n\t"                                                                                \
	"movdqu -16(%%r8,%%rdx,8), %%xmm0\n\t" /* then a pair, leaving a multiple of 4 */         \
	"paddq %%xmm1, %%xmm0\n\t"                                                                 \
	"movdqu %%xmm0, -16(%[out],%%rdx,8)\n\t"                                                   \
	"subq $2, %%rdx\n\t"                                                                       \
	"6: testq %%rdx, %%rdx\n\t"                                                                \
	"jz 9f\n\t"                                                                                \
	"10: movdqu -16(%%r8,%%rdx,8), %%xmm0\n\t"                                                 \
	"movdqu -32(%%r8,%%rdx,8), %%xmm2\n\t"                                                     \
	"paddq %%xmm1, %%xmm0\n\t"                                                                 \
	"paddq %%xmm1, %%xmm2\n\t"                                                                 \
	"movdqu %%xmm0, -16(%[out],%%rdx,8)\n\t"                                                   \
	"movdqu %%xmm2, -32(%[out],%%rdx,8)\n\t"                                                   \
	"subq $4, %%rdx\n\t"                                                                       \
	"jnz 10b\n\t"                                                                              \
	"9:\n\t" SLABD_RSEQ_COMMIT_HOOK "movl %%ecx, (%%rax)\n\t"
#define SLABD_RSEQ_POP_BULK_BODY SLABD_RSEQ_POP_BULK_BODY_TO("%l[slow]")

/* push bulk: up to %[n] objects from %[in], each - %[delta], onto the stack; %[done] = how
 * many fit; count + done committed. Copied as the pop copies (odd one, then pairs down). */
#define SLABD_RSEQ_PUSH_BULK_BODY_TO(slow)                                                         \
	"movl (%%rax), %%ecx\n\t"                                                                  \
	"movl 4(%%rax), %%edx\n\t"                                                                 \
	"movl $127, %%r8d\n\t"                                                                     \
	"cmpl %%r8d, %%edx\n\t"                                                                    \
	"cmoval %%r8d, %%edx\n\t" /* cap = min(capacity, SLOTS) */                                 \
	"cmpl %%edx, %%ecx\n\t"                                                                    \
	"jae " slow "\n\t"                                                                         \
	"subl %%ecx, %%edx\n\t" /* room */                                                         \
	"movq %[n], %[done]\n\t"                                                                   \
	"cmpq %%rdx, %[done]\n\t"                                                                  \
	"cmovaq %%rdx, %[done]\n\t" /* done = min(n, room) */                                      \
	"movq %[delta], %%xmm1\n\t"                                                                \
	"punpcklqdq %%xmm1, %%xmm1\n\t"                                                            \
	"leaq 8(%%rax,%%rcx,8), %%r8\n\t" /* &slots[count] */                                     \
	"movq %[done], %%rdx\n\t"                                                                  \
	"testb $1, %%dl\n\t"                                                                       \
	"jz 5f\n\t"                                                                                \
	"movq -8(%[in],%%rdx,8), %%r9\n\t" /* the odd last one */                                 \
	"subq %[delta], %%r9\n\t"                                                                  \
	"movq %%r9, -8(%%r8,%%rdx,8)\n\t"                                                          \
	"decq %%rdx\n\t"                                                                           \
	"5: testb $2, %%dl\n\t"                                                                    \
	"jz 6f\n\t"                                                                                \
	"movdqu -16(%[in],%%rdx,8), %%xmm0\n\t"                                                   \
	"psubq %%xmm1, %%xmm0\n\t"                                                                 \
	"movdqu %%xmm0, -16(%%r8,%%rdx,8)\n\t"                                                     \
	"subq $2, %%rdx\n\t"                                                                       \
	"6: testq %%rdx, %%rdx\n\t"                                                                \
	"jz 9f\n\t"                                                                                \
	"10: movdqu -16(%[in],%%rdx,8), %%xmm0\n\t"                                                \
	"movdqu -32(%[in],%%rdx,8), %%xmm2\n\t"                                                    \
	"psubq %%xmm1, %%xmm0\n\t"                                                                 \
	"psubq %%xmm1, %%xmm2\n\t"                                                                 \
	"movdqu %%xmm0, -16(%%r8,%%rdx,8)\n\t"                                                     \
	"movdqu %%xmm2, -32(%%r8,%%rdx,8)\n\t"                                                     \
	"subq $4, %%rdx\n\t"                                                                       \
	"jnz 10b\n\t"                                                                              \
	"9: addl %k[done], %%ecx\n\t" SLABD_RSEQ_COMMIT_HOOK "movl %%ecx, (%%rax)\n\t"
#define SLABD_RSEQ_PUSH_BULK_BODY SLABD_RSEQ_PUSH_BULK_BODY_TO("%l[slow]")

/* pop exactly %c[cnt] (a constant, 2..127) slots, unrolled: the top cnt slots, each +
 * %[delta], into %[out]; fewer than cnt on the stack (or a corrupt count): slow. count -
 * cnt committed. No loop control: cnt / 2 SSE2 load/add/store triples and the odd one. */
#define SLABD_RSEQ_POP_BULK_N_BODY                                                                 \
	"movl (%%rax), %%ecx\n\t"                                                                  \
	"cmpl $127, %%ecx\n\t"                                                                     \
	"ja %l[slow]\n\t"                                                                          \
	"subl %[cnt], %%ecx\n\t"                                                                   \
	"jb %l[slow]\n\t" /* count < cnt */                                                        \
	"movq %[delta], %%xmm1\n\t"                                                                \
	"punpcklqdq %%xmm1, %%xmm1\n\t"                                                            \
	"leaq 8(%%rax,%%rcx,8), %%rdx\n\t" /* &slots[new count] */                                \
	".Lslabd_bk = 0\n\t"                                                                       \
	".rept %c[cnt] / 2\n\t"                                                                    \
	"movdqu .Lslabd_bk(%%rdx), %%xmm0\n\t"                                                     \
	"paddq %%xmm1, %%xmm0\n\t"                                                                 \
	"movdqu %%xmm0, .Lslabd_bk(%[out])\n\t"                                                    \
	".Lslabd_bk = .Lslabd_bk + 16\n\t"                                                         \
	".endr\n\t"                                                                                \
	".if %c[cnt] & 1\n\t"                                                                      \
	"movq .Lslabd_bk(%%rdx), %%xmm0\n\t"                                                       \
	"paddq %%xmm1, %%xmm0\n\t"                                                                 \
	"movq %%xmm0, .Lslabd_bk(%[out])\n\t"                                                      \
	".endif\n\t" SLABD_RSEQ_COMMIT_HOOK "movl %%ecx, (%%rax)\n\t"

/* push exactly %c[cnt] (a constant, 2..127) objects from %[in], each - %[delta], unrolled;
 * less room than cnt (capacity or 127): slow. count + cnt committed. */
#define SLABD_RSEQ_PUSH_BULK_N_BODY                                                                \
	"movl (%%rax), %%ecx\n\t"                                                                  \
	"cmpl $127 - %c[cnt], %%ecx\n\t"                                                           \
	"ja %l[slow]\n\t" /* count + cnt > 127 (or a corrupt count) */                             \
	"leal %c[cnt](%%rcx), %%edx\n\t"                                                           \
	"cmpl 4(%%rax), %%edx\n\t"                                                                 \
	"ja %l[slow]\n\t" /* count + cnt > capacity */                                             \
	"movq %[delta], %%xmm1\n\t"                                                                \
	"punpcklqdq %%xmm1, %%xmm1\n\t"                                                            \
	"leaq 8(%%rax,%%rcx,8), %%rcx\n\t" /* &slots[count] */                                    \
	".Lslabd_bk = 0\n\t"                                                                       \
	".rept %c[cnt] / 2\n\t"                                                                    \
	"movdqu .Lslabd_bk(%[in]), %%xmm0\n\t"                                                     \
	"psubq %%xmm1, %%xmm0\n\t"                                                                 \
	"movdqu %%xmm0, .Lslabd_bk(%%rcx)\n\t"                                                     \
	".Lslabd_bk = .Lslabd_bk + 16\n\t"                                                         \
	".endr\n\t"                                                                                \
	".if %c[cnt] & 1\n\t"                                                                      \
	"movq .Lslabd_bk(%[in]), %%xmm0\n\t"                                                       \
	"psubq %%xmm1, %%xmm0\n\t"                                                                 \
	"movq %%xmm0, .Lslabd_bk(%%rcx)\n\t"                                                       \
	".endif\n\t" SLABD_RSEQ_COMMIT_HOOK "movl %%edx, (%%rax)\n\t"

#define SLABD_RSEQ_BULK_N_CLOBBERS "rax", "rcx", "rdx", "xmm0", "xmm1", SLABD_RSEQ_INJECT_CLOBBER "memory", "cc"

#define SLABD_RSEQ_BULK_CLOBBERS "rax", "rcx", "rdx", "r8", "r9", "xmm0", "xmm1", "xmm2", SLABD_RSEQ_INJECT_CLOBBER "memory", "cc"

/* (Compiled for the inline calls and for lib/percpu.h, whose includers do not define
 * SLABD_NO_INLINE; a program that does gets no asm from this header.) */
#if defined(__x86_64__) && (!defined(SLABD_NO_INLINE) || defined(SLABD_BUILDING_LIBRARY))
/*
 * The bulk sequences, written once for the inline calls below and for libslabclient's and
 * slabd's own (lib/percpu.h). @ncpus and @delta are pointers so that, inlined, the asm's
 * "rm" operands can still read them straight from slabd_fast_v2, as they did when each
 * caller had its own copy of the asm (callgrind: the same instructions per object). *@delta
 * is added to each slot popped and subtracted from each object pushed: the region base
 * for pointers, 0 (NULL) for offsets.
 *
 * slabd_rseq_pop_bulk: up to @max objects from this CPU's stack in @stacks into @out; how
 * many (0 when the stack is empty or the thread is not registered).
 */
static inline __attribute__((always_inline)) unsigned int slabd_rseq_pop_bulk(long roff, const uint32_t *ncpus,
									       char *stacks, void *out,
									       uint64_t max,
									       char *const *delta)
{
	uint64_t n;
#if SLABD_ASM_GOTO_OUTPUTS
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_POP_BULK_BODY SLABD_RSEQ_EPILOGUE
			      : [n] "=&r"(n)
			      : [roff] "r"(roff), [ncpus] "rm"(*ncpus), [base] "r"(stacks), [out] "r"(out),
				[max] "r"(max), [delta] "rm"(*delta)
			      : SLABD_RSEQ_BULK_CLOBBERS
			      : slow, abort);
	SLABD_ASM_GOTO_OUTPUT_FENCE();
	return (unsigned int)n;
abort:
	SLABD_RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return 0;
#else
	__asm__ volatile(SLABD_RSEQ_PROLOGUE_TO("", SLABD_RSEQ_FAIL) SLABD_RSEQ_POP_BULK_BODY_TO(SLABD_RSEQ_FAIL)
			 SLABD_RSEQ_EPILOGUE_RETRY SLABD_RSEQ_FAIL_STUB("n")
			 : [n] "=&r"(n)
			 : [roff] "r"(roff), [ncpus] "rm"(*ncpus), [base] "r"(stacks), [out] "r"(out),
			   [max] "r"(max), [delta] "rm"(*delta)
			 : SLABD_RSEQ_BULK_CLOBBERS);
	return (unsigned int)n;
#endif
}

/* slabd_rseq_push_bulk: up to @n objects of @in (in[0] deepest) onto this CPU's stack in
 * @stacks; how many fit (0 when the stack is full or the thread is not registered). */
static inline __attribute__((always_inline)) unsigned int slabd_rseq_push_bulk(long roff, const uint32_t *ncpus,
										char *stacks, const void *in,
										uint64_t n,
										char *const *delta)
{
	uint64_t done;
#if SLABD_ASM_GOTO_OUTPUTS
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_PUSH_BULK_BODY SLABD_RSEQ_EPILOGUE
			      : [done] "=&r"(done)
			      : [roff] "r"(roff), [ncpus] "rm"(*ncpus), [base] "r"(stacks), [in] "r"(in),
				[n] "r"(n), [delta] "rm"(*delta)
			      : SLABD_RSEQ_BULK_CLOBBERS
			      : slow, abort);
	SLABD_ASM_GOTO_OUTPUT_FENCE();
	return (unsigned int)done;
abort:
	SLABD_RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return 0;
#else
	__asm__ volatile(SLABD_RSEQ_PROLOGUE_TO("", SLABD_RSEQ_FAIL) SLABD_RSEQ_PUSH_BULK_BODY_TO(SLABD_RSEQ_FAIL)
			 SLABD_RSEQ_EPILOGUE_RETRY SLABD_RSEQ_FAIL_STUB("done")
			 : [done] "=&r"(done)
			 : [roff] "r"(roff), [ncpus] "rm"(*ncpus), [base] "r"(stacks), [in] "r"(in),
			   [n] "r"(n), [delta] "rm"(*delta)
			 : SLABD_RSEQ_BULK_CLOBBERS);
	return (unsigned int)done;
#endif
}
#endif /* __x86_64__, inline or library */

#if defined(__x86_64__) && !defined(SLABD_NO_INLINE) && !defined(SLABD_BUILDING_LIBRARY)
#define SLABD_HAVE_INLINE 1

/* After a pop's commit (outside the critical section, in the same asm): prefetch the
 * object the next pop on this CPU will return, slot count - 2 (%%rcx: the count before the
 * pop), so that the caller's first writes to it find it in the cache. Only a hint: the
 * slot may change under us (or be the stack's header when the pop took the last one) and
 * a prefetch of any address never faults. Define SLABD_NO_PREFETCH to leave it out. */
#ifndef SLABD_NO_PREFETCH
#define SLABD_RSEQ_PREFETCH_NEXT                                                                   \
	"movq -8(%%rax,%%rcx,8), %%rdx\n\t"                                                        \
	"prefetcht0 (%[obase],%%rdx)\n\t"
#else
#define SLABD_RSEQ_PREFETCH_NEXT ""
#endif

/* slabd_fast_pop: *@ret = an object of cache @cache from this CPU's stack, 0; -1 when the
 * stack is empty or the thread or process is not set up (the caller then calls the
 * library). Cache 0 has no stacks (capacity 0): an unknown handle's id 0 fails here. */
static inline __attribute__((always_inline)) int slabd_fast_pop_from(char *stacks, void **ret)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	char *p;
#if SLABD_ASM_GOTO_OUTPUTS
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_POP_BODY SLABD_RSEQ_EPILOGUE
			      "addq %[obase], %[val]\n\t" SLABD_RSEQ_PREFETCH_NEXT
			      : [val] "=&r"(p)
			      : [roff] "r"(f->rseq_off), [ncpus] "rm"(f->ncpus), [base] "r"(stacks),
				[obase] "r"(f->base)
			      : "rax", "rcx", "rdx", SLABD_RSEQ_INJECT_CLOBBER "memory", "cc"
			      : slow, abort);
	SLABD_ASM_GOTO_OUTPUT_FENCE();
	*ret = p;
	return 0;
abort:
	SLABD_RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
#else
	/* p is 0 after a miss: an object's address never is */
	__asm__ volatile(SLABD_RSEQ_PROLOGUE_TO("", SLABD_RSEQ_FAIL) SLABD_RSEQ_POP_BODY_TO(SLABD_RSEQ_FAIL)
			 SLABD_RSEQ_EPILOGUE_RETRY "addq %[obase], %[val]\n\t" SLABD_RSEQ_PREFETCH_NEXT
			 SLABD_RSEQ_FAIL_STUB("val")
			 : [val] "=&r"(p)
			 : [roff] "r"(f->rseq_off), [ncpus] "rm"(f->ncpus), [base] "r"(stacks),
			   [obase] "r"(f->base)
			 : "rax", "rcx", "rdx", SLABD_RSEQ_INJECT_CLOBBER "memory", "cc");
	if (__builtin_expect(!p, 0))
		return -1;
	*ret = p;
	return 0;
#endif
}

/* slabd_fast_pop_bulk: up to @n objects from this CPU's stack in @stacks into @p
 * (pointers); how many (0 when empty or not set up). */
static inline __attribute__((always_inline)) unsigned int slabd_fast_pop_bulk(char *stacks, void **p, uint64_t n)
{
	const struct slabd_fast *f = &slabd_fast_v2;

	return slabd_rseq_pop_bulk(f->rseq_off, &f->ncpus, stacks, p, n, &f->base);
}

/* slabd_fast_push_bulk: up to @n objects of @p onto this CPU's stack in @stacks; how many
 * fit (0 when full or not set up). Single-node regions only (the caller checks). */
static inline __attribute__((always_inline)) unsigned int slabd_fast_push_bulk(char *stacks, void *const *p,
										uint64_t n)
{
	const struct slabd_fast *f = &slabd_fast_v2;

	return slabd_rseq_push_bulk(f->rseq_off, &f->ncpus, stacks, p, n, &f->base);
}

#ifdef __OPTIMIZE__
/* The unrolled sequences need @n as an immediate ("i"), which only an optimising build
 * propagates through the inlining; without optimisation the callers use the loops. */
#define SLABD_HAVE_BULK_N 1

/* slabd_fast_pop_bulk_n: exactly @n (a compile-time constant, 2..32) objects from this
 * CPU's stack in @stacks into @p, in one unrolled sequence; 0, or -1 (nothing taken) when
 * the stack holds fewer or the thread or process is not set up. */
static inline __attribute__((always_inline)) int slabd_fast_pop_bulk_n(char *stacks, void **p, uint64_t n)
{
	const struct slabd_fast *f = &slabd_fast_v2;
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_POP_BULK_N_BODY SLABD_RSEQ_EPILOGUE
			      :
			      : [roff] "r"(f->rseq_off), [ncpus] "rm"(f->ncpus), [base] "r"(stacks), [out] "r"(p),
				[cnt] "i"(n), [delta] "rm"((uint64_t)(uintptr_t)f->base)
			      : SLABD_RSEQ_BULK_N_CLOBBERS
			      : slow, abort);
	return 0;
abort:
	SLABD_RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
}

/* slabd_fast_push_bulk_n: exactly @n (a compile-time constant, 2..32) objects of @p onto
 * this CPU's stack in @stacks, unrolled; 0, or -1 (nothing pushed) when they do not all
 * fit or the thread or process is not set up. Single-node regions only (the caller
 * checks). */
static inline __attribute__((always_inline)) int slabd_fast_push_bulk_n(char *stacks, void *const *p, uint64_t n)
{
	const struct slabd_fast *f = &slabd_fast_v2;
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_PUSH_BULK_N_BODY SLABD_RSEQ_EPILOGUE
			      :
			      : [roff] "r"(f->rseq_off), [ncpus] "rm"(f->ncpus), [base] "r"(stacks), [in] "r"(p),
				[cnt] "i"(n), [delta] "rm"((uint64_t)(uintptr_t)f->base)
			      : SLABD_RSEQ_BULK_N_CLOBBERS
			      : slow, abort);
	return 0;
abort:
	SLABD_RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
}
#endif

/* slabd_fast_push_to: put @p (an object of the cache whose per-CPU stacks are @stacks,
 * on a single-node region) on this CPU's stack; 0, or -1 when full or not set up. */
static inline __attribute__((always_inline)) int slabd_fast_push_to(char *stacks, const void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	uint64_t off = (uint64_t)((const char *)p - f->base);
retry:
	__asm__ volatile goto(SLABD_RSEQ_PROLOGUE("") SLABD_RSEQ_PUSH_BODY SLABD_RSEQ_EPILOGUE
			      :
			      : [roff] "r"(f->rseq_off), [ncpus] "rm"(f->ncpus), [base] "r"(stacks), [off] "r"(off)
			      : "rax", "rcx", SLABD_RSEQ_INJECT_CLOBBER "memory", "cc"
			      : slow, abort);
	return 0;
abort:
	SLABD_RSEQ_INJECT_ABORTED();
	goto retry;
slow:
	return -1;
}

/* slabd_fast_free: kfree's fast path: a slab object of a single-node region onto this
 * CPU's stack of its cache (from the page descriptor); -1 for anything else. */
static inline __attribute__((always_inline)) int slabd_fast_free(const void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;
	uint64_t zoff = (uint64_t)((const char *)p - f->zones);
	uint64_t guess = __atomic_load_n(&slabd_fast_guess_v2, __ATOMIC_RELAXED); /* one load */
	char *stacks = f->pcpu + (guess >> 32); /* not on p's chain */
	uint32_t head;

	if (__builtin_expect(zoff >= f->zones_size, 0))
		return -1;
	head = (uint32_t)f->pages[zoff >> SLABD_FAST_PAGE_SHIFT];
	if (__builtin_expect(head != (uint32_t)guess, 0)) {
		/* another cache (or zone) than last time: the descriptor decides */
		uint64_t off = (uint64_t)(head >> 16) * f->cache_stride;

		if (__builtin_expect((uint8_t)head != SLABD_FAST_PAGE_SLAB || off >> 32, 0))
			return -1;
		__atomic_store_n(&slabd_fast_guess_v2, off << 32 | head, __ATOMIC_RELAXED);
		stacks = f->pcpu + off;
		/* keep this a branch: a conditional move would put the descriptor load back
		 * on the push's address */
		__asm__ volatile("" : "+r"(stacks));
	}
	return slabd_fast_push_to(stacks, p);
}

/* slabd_fast_kmalloc: kmalloc of a size known only at run time, up to 1 KiB, from this
 * CPU's stack; -1 for anything else (larger sizes, a miss, not set up: before attach
 * ncpus is 0 and the sequence fails its CPU check before it touches a stack). */
static inline __attribute__((always_inline)) int slabd_fast_kmalloc(size_t size, void **ret)
{
	const struct slabd_fast *f = &slabd_fast_v2;

	if (__builtin_expect(size - 1 >= 1024, 0))
		return -1;
	return slabd_fast_pop_from(f->kstacks[f->size_index[(size - 1) >> 3]], ret);
}

/* slabd_fast_pop: from the stacks of kmalloc cache @cache (below SLABD_FAST_KSTACKS). */
static inline __attribute__((always_inline)) int slabd_fast_pop(unsigned int cache, void **ret)
{
	return slabd_fast_pop_from(slabd_fast_v2.kstacks[cache], ret);
}

/* Whether @handle is in this process's kmem_cache table (false before attach): only then
 * does the inline code read its stacks; anything else goes to the library, which refuses
 * a bad handle. The table's size is a constant, so the check costs one load. */
static inline __attribute__((always_inline)) int slabd_fast_handle_ok(const void *handle)
{
	return __builtin_expect((uint64_t)((const char *)handle - slabd_fast_v2.handles) < SLABD_FAST_HANDLES_SIZE, 1);
}

/* The per-CPU stacks behind a handle that passed slabd_fast_handle_ok (handles not handed
 * out yet, and handles of a destroyed cache once the library saw them, have cache 0's:
 * always empty, capacity 0). */
static inline __attribute__((always_inline)) char *slabd_fast_handle_stacks(const void *handle)
{
	return ((const struct slabd_fast_handle *)handle)->stacks;
}

/* slabd_fast_cache_free: kmem_cache_free's fast path: @p onto this CPU's stack of the
 * cache behind @handle, trusted as the kernel trusts it (the object must come from that
 * cache); -1 for a pointer outside the zones (NULL too), a bad handle, a multi-node
 * region, a full stack. */
static inline __attribute__((always_inline)) int slabd_fast_cache_free(const void *handle, const void *p)
{
	const struct slabd_fast *f = &slabd_fast_v2;

	if (!slabd_fast_handle_ok(handle) || __builtin_expect((uint64_t)((const char *)p - f->zones) >= f->zones_size, 0))
		return -1;
	return slabd_fast_push_to(slabd_fast_handle_stacks(handle), p);
}
#endif

#ifdef __cplusplus
}
#endif
#endif /* SLABD_FAST_H */
