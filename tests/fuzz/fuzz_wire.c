/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wire.c - libFuzzer target for the wire decoder: slabd_wire_validate and
 * slabd_wire_request, the functions every received message goes through before the
 * daemon (or the client) reads a field of it.
 *
 * Input: byte 0 chooses the connection state (bit 0: attached) and whether the header's
 * magic, version and len are set right (bit 1: so that the fuzzer reaches the checks of
 * each type without having to guess them); the rest is one message.
 * Besides "no crash, no sanitizer report", each accepted message must satisfy what the
 * daemon's dispatch relies on; a violation aborts (a finding):
 *   - its length is exactly slabd_wire_size(type) and the header's len says so;
 *   - the request rules: HELLO only before attach, LARGE_ALLOC and CACHE_CREATE only
 *     after, replies never accepted as requests;
 *   - every string field it carries is NUL-terminated inside the message;
 *   - a request whose reserved field is not 0 (or a name with bytes after its NUL) is
 *     refused (-EINVAL) whatever the state, and one whose reserved fields are 0 is not
 *     (the fields listed here from the structs, apart from proto.c's table, so that a
 *     row missing there shows);
 *   - likewise a HELLO or VERIFY with a flag bit this version does not know.
 *
 * Built twice: with clang -fsanitize=fuzzer (tests/fuzz/meson.build, when available) and
 * with FUZZ_REPLAY_MAIN as a plain unit test that feeds it a fixed, seeded stream of
 * mutated valid messages, so the invariants are checked by every build.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slabd_shm.h"
#include "slabd_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_wire: invariant broken: %s\n", what);
		abort();
	}
}

static int is_request(int type)
{
	return type == SLABD_MSG_HELLO || type == SLABD_MSG_LARGE_ALLOC ||
	       type == SLABD_MSG_CACHE_CREATE || type == SLABD_MSG_CACHE_OP ||
	       type == SLABD_MSG_STATS || type == SLABD_MSG_CACHE_INFO ||
	       type == SLABD_MSG_CPU_INFO || type == SLABD_MSG_NODE_INFO ||
	       type == SLABD_MSG_CLIENT_INFO || type == SLABD_MSG_VERIFY || type == SLABD_MSG_POOL_CREATE ||
	       type == SLABD_MSG_DEBUG;
}

union msg {
	struct slabd_wire_hdr h;
	struct slabd_wire_hello hello;
	struct slabd_wire_cache_create cc;
	struct slabd_wire_pool_create pc;
	struct slabd_wire_cache_op op;
	struct slabd_wire_stats_req stats;
	struct slabd_wire_info_req info;
	struct slabd_wire_verify_req verify;
	struct slabd_wire_debug_req debug;
	struct slabd_wire_error e;
	struct slabd_wire_cache_info ci;
	struct slabd_wire_verify vr;
	char raw[SLABD_WIRE_MAX + 64];
};

static long reserved_refused; /* requests refused for a reserved field (the replay says) */

/* Whether the @size bytes of @name after its first NUL (there is one) are not all 0. */
static int padding_set(const char *name, size_t size)
{
	const char *nul = memchr(name, 0, size);
	size_t i;

	for (i = (size_t)(nul - name); i < size; i++)
		if (name[i])
			return 1;
	return 0;
}

/* Whether request @m of @type (validated) has a reserved field that is not 0 (a name's
 * bytes after its NUL count as one). */
static int reserved_set(const union msg *m, int type)
{
	switch (type) {
	case SLABD_MSG_HELLO:
		return m->hello.reserved != 0;
	case SLABD_MSG_CACHE_CREATE:
		return m->cc.reserved != 0 || padding_set(m->cc.name, sizeof(m->cc.name));
	case SLABD_MSG_POOL_CREATE:
		return m->pc.reserved != 0 || padding_set(m->pc.name, sizeof(m->pc.name));
	case SLABD_MSG_CACHE_OP:
		return m->op.reserved != 0;
	case SLABD_MSG_STATS:
		return m->stats.reserved != 0;
	case SLABD_MSG_CACHE_INFO:
	case SLABD_MSG_CPU_INFO:
	case SLABD_MSG_NODE_INFO:
	case SLABD_MSG_CLIENT_INFO:
		return m->info.reserved != 0;
	case SLABD_MSG_VERIFY:
		return m->verify.reserved != 0;
	case SLABD_MSG_DEBUG:
		return m->debug.reserved != 0;
	default: /* LARGE_ALLOC has none; replies are not checked */
		return 0;
	}
}

/* Whether request @m of @type (validated) has a flag bit this version does not know:
 * HELLO knows REATTACH only, VERIFY AUDIT only (written apart from proto.c's table). */
static int unknown_flags(const union msg *m, int type)
{
	if (type == SLABD_MSG_HELLO)
		return (m->hello.flags & ~SLABD_HELLO_REATTACH) != 0;
	if (type == SLABD_MSG_VERIFY)
		return (m->verify.flags & ~SLABD_VERIFY_AUDIT) != 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	union msg *m;
	int attached, v, r;
	size_t len;

	if (!size)
		return 0;
	attached = data[0] & 1;
	len = size - 1;
	/* a heap copy of exactly len bytes: ASan sees any read past the message */
	m = malloc(len ? len : 1);
	if (!m)
		return 0;
	memcpy(m, data + 1, len);
	if ((data[0] & 2) && len >= sizeof(struct slabd_wire_hdr)) {
		m->h.magic = SLABD_WIRE_MAGIC;
		m->h.version = SLABD_WIRE_VERSION;
		m->h.len = (uint32_t)len;
	}

	v = slabd_wire_validate(m, len);
	r = slabd_wire_request(m, len, attached);
	check(v > 0 || v == -EBADMSG || v == -EPROTO || v == -EMSGSIZE,
	      "validate returns a known error");
	if (v < 0) {
		check(r == v, "request passes the validation error on");
		goto out;
	}
	check(len == slabd_wire_size((uint16_t)v) && m->h.len == len && m->h.type == (uint16_t)v,
	      "accepted length is the type's size");
	check(m->h.magic == SLABD_WIRE_MAGIC && m->h.version == SLABD_WIRE_VERSION,
	      "magic and version");
	if (v == SLABD_MSG_CACHE_CREATE)
		check(memchr(m->cc.name, 0, sizeof(m->cc.name)) && m->cc.name[0],
		      "cache name terminated");
	if (v == SLABD_MSG_POOL_CREATE)
		check(memchr(m->pc.name, 0, sizeof(m->pc.name)) && m->pc.name[0], "pool name terminated");
	if (v == SLABD_MSG_ERROR)
		check(memchr(m->e.msg, 0, sizeof(m->e.msg)) != NULL, "error text terminated");
	if (v == SLABD_MSG_CACHE_INFO_REPLY)
		check(memchr(m->ci.name, 0, sizeof(m->ci.name)) != NULL,
		      "cache info name terminated");
	if (v == SLABD_MSG_VERIFY_REPLY)
		check(memchr(m->vr.first, 0, sizeof(m->vr.first)) != NULL,
		      "verify text terminated");
	if (!is_request(v)) {
		check(r == -EOPNOTSUPP, "a reply type is never a request");
		check(!slabd_wire_reserved(m, (uint16_t)v, &(uint32_t){0}),
		      "a reply's reserved fields are not checked");
	} else if (reserved_set(m, v)) {
		uint32_t val = 0;
		check(r == -EINVAL, "a reserved field not 0 is refused");
		check(slabd_wire_reserved(m, (uint16_t)v, &val) && val != 0,
		      "the refusal names the field and its value");
		reserved_refused++;
	} else if (unknown_flags(m, v)) {
		uint32_t known = 0;
		check(r == -EINVAL, "an unknown flag is refused");
		check(slabd_wire_unknown_flags(m, (uint16_t)v, &known) != 0 && known != 0,
		      "the refusal gives the unknown and the known bits");
	} else if (v == SLABD_MSG_HELLO) {
		check(r == (attached ? -EISCONN : v), "HELLO once");
	} else if (v == SLABD_MSG_LARGE_ALLOC || v == SLABD_MSG_CACHE_CREATE ||
		   v == SLABD_MSG_POOL_CREATE ||
		   (v == SLABD_MSG_CACHE_OP && m->op.op != SLABD_CACHE_OP_SHRINK)) {
		check(r == (attached ? v : -ENOTCONN), "needs HELLO first");
	} else {
		check(r == v, "request accepted in any state");
	}
	if (is_request(v) && !reserved_set(m, v))
		check(!slabd_wire_reserved(m, (uint16_t)v, &(uint32_t){0}),
		      "no reserved field named when all are 0");
	if (!unknown_flags(m, v))
		check(!slabd_wire_unknown_flags(m, (uint16_t)v, &(uint32_t){0}),
		      "no unknown flag named when there is none");
out:
	free(m);
	return 0;
}

#ifdef FUZZ_REPLAY_MAIN
/* xorshift64*: a fixed stream, the same on every run */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

int main(int argc, char **argv)
{
	static const uint16_t types[] = {SLABD_MSG_HELLO,
					 SLABD_MSG_ATTACH,
					 SLABD_MSG_ERROR,
					 SLABD_MSG_LARGE_ALLOC,
					 SLABD_MSG_LARGE_REPLY,
					 SLABD_MSG_CACHE_CREATE,
					 SLABD_MSG_CACHE_OP,
					 SLABD_MSG_CACHE_REPLY,
					 SLABD_MSG_STATS,
					 SLABD_MSG_STATS_REPLY,
					 SLABD_MSG_CACHE_INFO,
					 SLABD_MSG_CACHE_INFO_REPLY,
					 SLABD_MSG_CPU_INFO,
					 SLABD_MSG_NODE_INFO,
					 SLABD_MSG_CLIENT_INFO,
					 SLABD_MSG_CLIENT_INFO_REPLY,
					 SLABD_MSG_VERIFY,
					 SLABD_MSG_VERIFY_REPLY,
					 SLABD_MSG_POOL_CREATE,
					 SLABD_MSG_DEBUG,
					 SLABD_MSG_DEBUG_REPLY,
					 0,
					 SLABD_MSG_MAX + 1,
					 0xffff};
	long iters = argc > 1 ? atol(argv[1]) : 200000, i;
	union {
		struct slabd_wire_hdr h;
		uint8_t b[SLABD_WIRE_MAX + 32];
	} msg; /* built aligned, then copied behind the state byte */
	uint8_t buf[1 + sizeof(msg)];
	long accepted = 0;

	for (i = 0; i < iters; i++) {
		uint16_t t = types[rng() % (sizeof(types) / sizeof(types[0]))];
		size_t size = slabd_wire_size(t), len, k, flips;

		if (!size)
			size = sizeof(struct slabd_wire_hdr) + rng() % 64;
		memset(&msg, 0, sizeof(msg));
		for (k = 0; k < size; k++)
			msg.b[k] = rng() % 4 ? 0 : (uint8_t)rng();
		slabd_wire_init(&msg.h, t, (uint32_t)size, (uint32_t)i);
		if (rng() % 2)
			memset(msg.b + size - 8, 0, 8); /* often a terminated string at the end */
		len = size;
		switch (rng() % 6) {
		case 0:
			len = rng() % (size + 1); /* truncated */
			break;
		case 1:
			len = size + 1 + rng() % 32; /* oversized */
			break;
		case 2:
			for (flips = rng() % 4 + 1; flips; flips--)
				msg.b[rng() % size] ^= (uint8_t)(1u << (rng() % 8));
			break;
		default:
			break;
		}
		if (len > sizeof(msg))
			len = sizeof(msg);
		if (slabd_wire_validate(&msg, len) > 0)
			accepted++;
		buf[0] = (uint8_t)rng();
		memcpy(buf + 1, &msg, len);
		LLVMFuzzerTestOneInput(buf, len + 1);
	}
	printf("1..1\nok 1 - fuzz_wire replay: %ld inputs, %ld valid messages (%ld requests "
	       "refused for a reserved field), invariants held\n",
	       iters, accepted, reserved_refused);
	return accepted && reserved_refused ? 0 : 1;
}
#endif
