/* SPDX-License-Identifier: MIT */
/*
 * test_config.c - daemon/config.c: sizes, every key with good and bad values, and
 * config files (comments, blank lines, bad lines reported with their line number).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "log.h"
#include "slabd_shm.h"
#include "slabd_wire.h"

/* ----------------------------------------------------------------- parse_size -- */

Test(config, parse_size_reads_plain_numbers_and_binary_suffixes)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"4096", 4096},
	    {"32k", 32768},
	    {"32K", 32768},
	    {"64M", 64ull << 20},
	    {"64m", 64ull << 20},
	    {"2G", 2ull << 30},
	    {"1MiB", 1ull << 20},
	    {"1MB", 1ull << 20},
	    {"1kb", 1024},
	    {"4KiB", 4096},
	    {"1024G", 1ull << 40},
	    {"18446744073709551615", UINT64_MAX},
	    {"17179869183G", UINT64_MAX - (1ull << 30) + 1}, /* the largest G that fits */
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 0xdeadbeef;

		cr_expect_eq(parse_size(good[i].s, &v), 0, "parse_size(\"%s\") failed", good[i].s);
		cr_expect_eq(v, good[i].v, "parse_size(\"%s\") = %lu, expected %lu", good[i].s, v,
			     good[i].v);
	}
}

Test(config, parse_size_rejects_what_is_not_a_size)
{
	static const char *const bad[] = {
	    "",
	    "abc",
	    "12Q",
	    "M",
	    "-1",
	    "+5",
	    " 5",
	    "5 ",
	    "64 M",
	    "1.5G",
	    "1iB",
	    "1MiBx",
	    "1MBB",
	    "1T",
	    "99999999999999999999999", /* does not fit 64 bits */
	    "18446744073709551616",    /* 2^64 */
	    "17179869184G",	       /* 2^64 after the shift */
	    "18014398509481984k",      /* 2^64 after the shift */
	    "17592186044416M",	       /* 2^64 after the shift */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v;

		cr_expect_eq(parse_size(bad[i], &v), -EINVAL, "parse_size(\"%s\") was accepted",
			     bad[i]);
	}
}

/* ----------------------------------------------------------------- config_set -- */

static struct config cfg;

static void init_cfg(void)
{
	config_defaults(&cfg);
}

TestSuite(config_set, .init = init_cfg);

/* @value is accepted for @key; the key's field then differs from the defaults unless
 * @value is the default itself. */
static void expect_good(const char *key, const char *value)
{
	const char *why = NULL;
	int r = config_set(&cfg, key, value, &why);

	cr_expect_eq(r, 0, "%s = '%s' rejected (%d): expected %s", key, value, r, why ? why : "?");
}

/* @value is rejected for @key with a reason, and nothing in the config changes. */
static void expect_bad(const char *key, const char *value)
{
	struct config before = cfg;
	const char *why = NULL;
	int r = config_set(&cfg, key, value, &why);

	cr_expect_lt(r, 0, "%s = '%s' was accepted", key, value);
	if (r < 0) {
		cr_expect_not_null(why, "%s = '%s': no reason given", key, value);
		if (why)
			cr_expect_gt(strlen(why), 0, "%s = '%s': empty reason", key, value);
	}
	cr_expect_arr_eq(&before, &cfg, sizeof(cfg),
			 "%s = '%s' changed the config although rejected", key, value);
}

Test(config_set, the_defaults_are_the_documented_ones)
{
	cr_assert_str_eq(cfg.socket_path, SLABD_DEFAULT_SOCKET);
	cr_assert_eq(cfg.zone_size, 256ull << 20);
	cr_assert_geq(cfg.max_cache_size, 32768,
		      "the default maximum cache size is at least 32 KiB");
	cr_assert_eq(cfg.max_cache_size & (cfg.max_cache_size - 1), 0);
	cr_assert_eq(cfg.hugepages, HUGEPAGES_AUTO);
	cr_assert_eq(cfg.hugepage_size, 2ull << 20);
	cr_assert_eq(cfg.nr_mags, 0);
	cr_assert_eq(cfg.foreground, 0);
}

Test(config_set, socket_takes_an_absolute_path_that_fits_sun_path)
{
	char path[200];

	expect_good("socket", "/tmp/slabd-test.sock");
	cr_assert_str_eq(cfg.socket_path, "/tmp/slabd-test.sock");
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = 0; /* 107 bytes + NUL: the largest sun_path */
	expect_good("socket", path);
	cr_assert_str_eq(cfg.socket_path, path);

	path[107] = 'a';
	path[108] = 0;
	expect_bad("socket", path);
	expect_bad("socket", "relative/slabd.sock");
	expect_bad("socket", "");
}

Test(config_set, zone_size_takes_a_size_from_2m_to_1t)
{
	expect_good("zone_size", "2M");
	cr_assert_eq(cfg.zone_size, 2ull << 20);
	expect_good("zone_size", "1024G");
	cr_assert_eq(cfg.zone_size, 1ull << 40);
	expect_good("zone_size", "64M");
	cr_assert_eq(cfg.zone_size, 64ull << 20);

	expect_bad("zone_size", "1M");
	expect_bad("zone_size", "2097151");
	expect_bad("zone_size", "1025G");
	expect_bad("zone_size", "lots");
	expect_bad("zone_size", "");
}

Test(config_set, zone_size_of_one_node_overrides_the_default_for_that_node_only)
{
	expect_good("zone_size.1", "64M");
	cr_assert_eq(cfg.node_zone_size[1], 64ull << 20);
	cr_assert_eq(cfg.node_zone_size[0], 0, "node 0 keeps the default");
	cr_assert_eq(cfg.zone_size, 256ull << 20, "the default is untouched");
	expect_good("zone_size.63", "2M");
	cr_assert_eq(cfg.node_zone_size[63], 2ull << 20);

	expect_bad("zone_size.64", "64M");
	expect_bad("zone_size.", "64M");
	expect_bad("zone_size.x", "64M");
	expect_bad("zone_size.1x", "64M");
	expect_bad("zone_size.-1", "64M");
	expect_bad("zone_size.1", "1M");
	expect_bad("zone_size.1", "");
}

Test(config_set, max_cache_size_takes_a_power_of_two_from_32k_to_32m)
{
	expect_good("max_cache_size", "32M");
	cr_assert_eq(cfg.max_cache_size, 32u << 20);
	expect_good("max_cache_size", "64k");
	cr_assert_eq(cfg.max_cache_size, 65536);
	expect_good("max_cache_size", "32768");
	cr_assert_eq(cfg.max_cache_size, 32768);

	expect_bad("max_cache_size", "16k");
	expect_bad("max_cache_size", "64M");
	expect_bad("max_cache_size", "48k");
	expect_bad("max_cache_size", "4G"); /* 2^32: must not wrap to 0 in a uint32_t */
	expect_bad("max_cache_size", "x");
	expect_bad("max_cache_size", "");
}

Test(config_set, max_caches_takes_a_number_from_64_to_1024)
{
	expect_good("max_caches", "64");
	cr_assert_eq(cfg.max_caches, 64);
	expect_good("max_caches", "1024");
	cr_assert_eq(cfg.max_caches, 1024);

	expect_bad("max_caches", "63");
	expect_bad("max_caches", "1025");
	expect_bad("max_caches", "0");
	expect_bad("max_caches", "many");
	expect_bad("max_caches", "");
}

Test(config_set, magazines_takes_0_or_a_number_from_64_to_1m)
{
	expect_good("magazines", "64");
	cr_assert_eq(cfg.nr_mags, 64);
	expect_good("magazines", "1048576");
	cr_assert_eq(cfg.nr_mags, 1048576);
	expect_good("magazines", "0");
	cr_assert_eq(cfg.nr_mags, 0);

	expect_bad("magazines", "1");
	expect_bad("magazines", "63");
	expect_bad("magazines", "1048577");
	expect_bad("magazines", "auto");
	expect_bad("magazines", "");
}

Test(config_set, hugepages_takes_auto_on_or_off)
{
	expect_good("hugepages", "on");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_ON);
	expect_good("hugepages", "off");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_OFF);
	expect_good("hugepages", "auto");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_AUTO);
	expect_good("hugepages", "yes");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_ON);
	expect_good("hugepages", "false");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_OFF);
	expect_good("hugepages", "true");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_ON);
	expect_good("hugepages", "no");
	cr_assert_eq(cfg.hugepages, HUGEPAGES_OFF);

	expect_bad("hugepages", "maybe");
	expect_bad("hugepages", "1");
	expect_bad("hugepages", "");
}

Test(config_set, hugepage_size_takes_2m_or_1g)
{
	expect_good("hugepage_size", "1G");
	cr_assert_eq(cfg.hugepage_size, 1ull << 30);
	expect_good("hugepage_size", "2097152");
	cr_assert_eq(cfg.hugepage_size, 2ull << 20);

	expect_bad("hugepage_size", "4k");
	expect_bad("hugepage_size", "1M");
	expect_bad("hugepage_size", "4M");
	expect_bad("hugepage_size", "2G");
	expect_bad("hugepage_size", "");
}

Test(config_set, base_address_takes_0_or_a_1g_aligned_user_address)
{
	expect_good("base_address", "0x40000000");
	cr_assert_eq(cfg.base_address, 0x40000000ull);
	expect_good("base_address", "0x7fffc0000000");
	cr_assert_eq(cfg.base_address, 0x7fffc0000000ull);
	expect_good("base_address", "0");
	cr_assert_eq(cfg.base_address, 0);

	expect_bad("base_address", "0x5a0000001000"); /* not 1 GiB-aligned */
	expect_bad("base_address", "0x800000000000"); /* the kernel's half */
	expect_bad("base_address", "0xffffffffc0000000");
	expect_bad("base_address", "-1");
	expect_bad("base_address", "0x5a0000000000x");
	expect_bad("base_address", "high");
}

Test(config_set, an_empty_base_address_is_rejected)
{
	/* "base_address =" must not silently mean 0 ("let the kernel choose") */
	expect_bad("base_address", "");
}

Test(config_set, worker_interval_ms_takes_1_to_10000)
{
	expect_good("worker_interval_ms", "1");
	cr_assert_eq(cfg.worker_interval_ms, 1);
	expect_good("worker_interval_ms", "10000");
	cr_assert_eq(cfg.worker_interval_ms, 10000);

	expect_bad("worker_interval_ms", "0");
	expect_bad("worker_interval_ms", "10001");
	expect_bad("worker_interval_ms", "fast");
	expect_bad("worker_interval_ms", "");
}

Test(config_set, log_level_takes_a_syslog_level_name)
{
	static const struct {
		const char *name;
		int level;
	} lv[] = {
	    {"error", LOG_LVL_ERR}, {"warning", LOG_LVL_WARN}, {"notice", LOG_LVL_NOTICE},
	    {"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG},
	};
	size_t i;

	for (i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		expect_good("log_level", lv[i].name);
		cr_assert_eq(cfg.log_level, lv[i].level, "log_level = %s", lv[i].name);
	}
	expect_bad("log_level", "verbose");
	expect_bad("log_level", "3");
	expect_bad("log_level", "");
}

Test(config_set, an_unknown_key_is_rejected_with_the_list_of_known_keys)
{
	struct config before = cfg;
	const char *why = NULL;

	cr_assert_lt(config_set(&cfg, "zone-size", "64M", &why), 0);
	cr_assert_not_null(why);
	cr_assert(strstr(why, "zone_size") != NULL, "the reason does not list the known keys: %s",
		  why);
	cr_assert_arr_eq(&before, &cfg, sizeof(cfg));
	cr_assert_lt(config_set(&cfg, "", "1", &why), 0);
}

/* ---------------------------------------------------------------- config_load -- */

static char tmp_path[64];

/* Write @text to a fresh temporary file; its path is in tmp_path. */
static void write_file(const char *text)
{
	int fd;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/slabd-unit-config-XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void remove_file(void)
{
	if (tmp_path[0])
		unlink(tmp_path);
}

/* Run config_load on tmp_path with stderr captured into @log (NUL-terminated). */
static int load_captured(char *log, size_t size)
{
	char log_path[] = "/tmp/slabd-unit-config-log-XXXXXX";
	int fd = mkstemp(log_path), saved, r;
	ssize_t n;

	cr_assert_geq(fd, 0);
	unlink(log_path);
	saved = dup(STDERR_FILENO);
	cr_assert_geq(saved, 0);
	dup2(fd, STDERR_FILENO);
	r = config_load(&cfg, tmp_path);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, log, size - 1, 0);
	log[n > 0 ? n : 0] = 0;
	close(fd);
	return r;
}

Test(config_set, the_dma_zone_keys_take_good_values_and_refuse_bad_ones)
{
	cr_expect_eq(cfg.dma_zone_size, 64ull << 20, "dma_zone_size defaults to 64M");
	cr_expect_eq(cfg.iova_mode, IOVA_MODE_AUTO);
	cr_expect_str_empty(cfg.vfio_group);
	cr_expect_str_eq(cfg.vfio_container, "/dev/vfio/vfio");
	expect_good("dma_zone_size", "0");
	cr_expect_eq(cfg.dma_zone_size, 0);
	expect_good("dma_zone_size", "1G");
	cr_expect_eq(cfg.dma_zone_size, 1ull << 30);
	expect_bad("dma_zone_size", "1M");
	expect_bad("dma_zone_size", "65G");
	expect_bad("dma_zone_size", "lots");
	cr_expect_eq(cfg.dma_node, 0, "dma_node defaults to 0");
	expect_good("dma_node", "1");
	cr_expect_eq(cfg.dma_node, 1);
	expect_bad("dma_node", "64");
	expect_bad("dma_node", "-1");
	expect_bad("dma_node", "1k");
	expect_bad("dma_node", "");
	expect_good("iova_mode", "pa");
	cr_expect_eq(cfg.iova_mode, IOVA_MODE_PA);
	expect_good("iova_mode", "vfio");
	cr_expect_eq(cfg.iova_mode, IOVA_MODE_VFIO);
	expect_good("iova_mode", "va");
	cr_expect_eq(cfg.iova_mode, IOVA_MODE_VA);
	expect_bad("iova_mode", "iommu");
	expect_bad("iova_mode", "");
	expect_good("vfio_group", "42");
	cr_expect_str_eq(cfg.vfio_group, "/dev/vfio/42", "a group number names /dev/vfio/N");
	expect_good("vfio_group", "/dev/vfio/noiommu-0");
	cr_expect_str_eq(cfg.vfio_group, "/dev/vfio/noiommu-0");
	expect_good("vfio_group", "");
	cr_expect_str_empty(cfg.vfio_group);
	expect_bad("vfio_group", "vfio/42");
	expect_bad("vfio_group", "/dev/vfio/a-path-that-is-much-longer-than-the-sixty-four-bytes-allowed");
	expect_bad("vfio_container", "");
	expect_bad("vfio_container", "dev/vfio/vfio");
}

Test(config_set, region_dir_is_empty_by_default_and_takes_an_absolute_path)
{
	cr_expect_str_empty(cfg.region_dir,
			    "without region_dir the region is in memfds, as before");
	expect_good("region_dir", "/dev/shm/slabd-main");
	cr_expect_str_eq(cfg.region_dir, "/dev/shm/slabd-main");
	expect_bad("region_dir", "dev/shm/relative");
	cr_expect_str_eq(cfg.region_dir, "/dev/shm/slabd-main", "a rejected value changes nothing");
	expect_good("region_dir", "");
	cr_expect_str_empty(cfg.region_dir);
}

Test(config_set, fd_store_is_off_by_default_and_takes_yes_or_no)
{
	cr_expect_eq(cfg.fd_store, 0,
		     "without fd_store the region's memfds stay sealed, as before");
	expect_good("fd_store", "yes");
	cr_expect_eq(cfg.fd_store, 1);
	expect_bad("fd_store", "maybe");
	cr_expect_eq(cfg.fd_store, 1, "a rejected value changes nothing");
	expect_good("fd_store", "no");
	cr_expect_eq(cfg.fd_store, 0);
}

TestSuite(config_load, .init = init_cfg, .fini = remove_file);

Test(config_load, a_file_with_comments_blank_lines_and_good_keys_is_applied)
{
	char log[4096];

	log_level = LOG_LVL_INFO;
	write_file("# slabd.conf\n"
		   "\n"
		   "   \n"
		   "socket = /tmp/unit.sock\n"
		   "zone_size=64M   # per node\n"
		   "\tmax_cache_size =  1M\t\n"
		   "  # indented comment\n"
		   "max_caches = 256\n"
		   "magazines = 4096\n"
		   "hugepages = off\n"
		   "hugepage_size = 1G\n"
		   "base_address = 0x7f0000000000\n"
		   "worker_interval_ms = 25\n"
		   "log_level = debug\n"
		   "#\n");
	cr_assert_eq(load_captured(log, sizeof(log)), 0, "config_load failed; it logged: %s", log);
	cr_assert_str_empty(log, "a good file logged: %s", log);
	cr_assert_str_eq(cfg.socket_path, "/tmp/unit.sock");
	cr_assert_eq(cfg.zone_size, 64ull << 20);
	cr_assert_eq(cfg.max_cache_size, 1u << 20);
	cr_assert_eq(cfg.max_caches, 256);
	cr_assert_eq(cfg.nr_mags, 4096);
	cr_assert_eq(cfg.hugepages, HUGEPAGES_OFF);
	cr_assert_eq(cfg.hugepage_size, 1ull << 30);
	cr_assert_eq(cfg.base_address, 0x7f0000000000ull);
	cr_assert_eq(cfg.worker_interval_ms, 25);
	cr_assert_eq(cfg.log_level, LOG_LVL_DEBUG);
}

/* '#' starts a comment at the start of a line or after whitespace only: a path may
 * hold one ("/srv/slabd#2" is a directory name, not "/srv/slabd" and a comment). */
Test(config_load, a_hash_inside_a_value_is_kept_and_one_after_whitespace_is_a_comment)
{
	char log[4096];

	write_file("#region_dir = /commented/out\n"
		   "\t  # socket = /indented/comment\n"
		   "region_dir = /srv/slabd#2\n"
		   "socket = /run/slabd#a/s.sock # the socket\n"
		   "max_caches = 512\t#c\n"
		   "magazines = 4096 #\n");
	cr_assert_eq(load_captured(log, sizeof(log)), 0, "config_load failed; it logged: %s", log);
	cr_expect_str_eq(cfg.region_dir, "/srv/slabd#2");
	cr_expect_str_eq(cfg.socket_path, "/run/slabd#a/s.sock");
	cr_expect_eq(cfg.max_caches, 512);
	cr_expect_eq(cfg.nr_mags, 4096);
}

Test(config_load, a_last_line_without_newline_is_applied)
{
	char log[4096];

	write_file("max_caches = 512");
	cr_assert_eq(load_captured(log, sizeof(log)), 0, "it logged: %s", log);
	cr_assert_eq(cfg.max_caches, 512);
}

Test(config_load, an_empty_file_keeps_the_defaults)
{
	struct config defaults;
	char log[4096];

	config_defaults(&defaults);
	write_file("");
	cr_assert_eq(load_captured(log, sizeof(log)), 0);
	cr_assert_arr_eq(&cfg, &defaults, sizeof(cfg));
}

Test(config_load, a_bad_value_fails_and_names_its_line)
{
	char log[4096], want[128];

	log_level = LOG_LVL_INFO;
	write_file("# comment\n"
		   "zone_size = 64M\n"
		   "\n"
		   "max_cache_size = 48k\n"
		   "max_caches = 256\n");
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4:", tmp_path);
	cr_assert(strstr(log, want) != NULL, "the log does not name %s: '%s'", want, log);
	cr_assert(strstr(log, "max_cache_size") != NULL, "the log does not name the key: '%s'",
		  log);
	cr_assert(strstr(log, "power of two") != NULL,
		  "the log does not say what is expected: '%s'", log);
	cr_assert(strstr(log, ":2:") == NULL && strstr(log, ":5:") == NULL,
		  "good lines were reported: '%s'", log);
}

Test(config_load, every_bad_line_is_reported)
{
	char log[4096], want[128];

	log_level = LOG_LVL_INFO;
	write_file("hugepages = sometimes\n"
		   "max_caches = 256\n"
		   "this line has no equals sign\n"
		   "no_such_key = 1\n");
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1:", tmp_path);
	cr_expect(strstr(log, want) != NULL, "line 1 not reported: '%s'", log);
	snprintf(want, sizeof(want), "%s:3:", tmp_path);
	cr_expect(strstr(log, want) != NULL, "line 3 not reported: '%s'", log);
	snprintf(want, sizeof(want), "%s:4:", tmp_path);
	cr_expect(strstr(log, want) != NULL, "line 4 not reported: '%s'", log);
	snprintf(want, sizeof(want), "%s:2:", tmp_path);
	cr_expect(strstr(log, want) == NULL, "good line 2 reported: '%s'", log);
}

Test(config_load, an_overlong_line_is_rejected_and_the_next_line_is_counted_right)
{
	char text[2048], log[4096], want[128];

	log_level = LOG_LVL_INFO;
	memset(text, 0, sizeof(text));
	strcpy(text, "max_caches = 256\n# ");
	memset(text + strlen(text), 'x', 1200);
	strcat(text, "\nhugepages = bogus\n");
	write_file(text);
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2:", tmp_path);
	cr_expect(strstr(log, want) != NULL, "the long line 2 not reported: '%s'", log);
	snprintf(want, sizeof(want), "%s:3:", tmp_path);
	cr_expect(strstr(log, want) != NULL, "line 3 not reported with its number: '%s'", log);
}

Test(config_load, a_missing_file_fails_with_enoent)
{
	char log[4096];

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/slabd-unit-no-such-file-%d", (int)getpid());
	cr_assert_eq(load_captured(log, sizeof(log)), -ENOENT);
	cr_assert(strstr(log, tmp_path) != NULL, "the log does not name the file: '%s'", log);
	tmp_path[0] = 0;
}

/* ------------------------------------------------ socket ownership, metrics, reload -- */

Test(config_set, socket_owner_and_group_take_a_name_or_a_number)
{
	cr_assert_eq(cfg.socket_uid, -1, "by default the socket keeps the daemon's user");
	cr_assert_eq(cfg.socket_gid, -1);
	expect_good("socket_owner", "root");
	cr_assert_eq(cfg.socket_uid, 0);
	expect_good("socket_owner", "1234");
	cr_assert_eq(cfg.socket_uid, 1234);
	expect_good("socket_group", "root");
	cr_assert_eq(cfg.socket_gid, 0);
	expect_good("socket_group", "4321");
	cr_assert_eq(cfg.socket_gid, 4321);
	expect_bad("socket_owner", "no-such-user-slabd-test");
	expect_bad("socket_group", "no-such-group-slabd-test");
	expect_bad("socket_owner", "");
	expect_bad("socket_group", "-5");
}

Test(config_set, socket_mode_takes_octal_bits_up_to_0777)
{
	cr_assert_eq(cfg.socket_mode, 0660, "the default is the socket unit's SocketMode");
	expect_good("socket_mode", "0600");
	cr_assert_eq(cfg.socket_mode, 0600);
	expect_good("socket_mode", "666");
	cr_assert_eq(cfg.socket_mode, 0666);
	expect_bad("socket_mode", "1777");
	expect_bad("socket_mode", "0680");
	expect_bad("socket_mode", "rw");
	expect_bad("socket_mode", "");
}

Test(config_set, metrics_port_is_off_by_default_and_takes_a_port)
{
	cr_assert_eq(cfg.metrics_port, 0);
	expect_good("metrics_port", "9464");
	cr_assert_eq(cfg.metrics_port, 9464);
	expect_good("metrics_port", "0");
	expect_bad("metrics_port", "65536");
	expect_bad("metrics_port", "http");
}

Test(config_set, hugepages_reserve_is_off_by_default_and_takes_yes_or_no)
{
	cr_assert_eq(cfg.hugepages_reserve, 0);
	expect_good("hugepages_reserve", "yes");
	cr_assert_eq(cfg.hugepages_reserve, 1);
	expect_good("hugepages_reserve", "no");
	cr_assert_eq(cfg.hugepages_reserve, 0);
	expect_bad("hugepages_reserve", "128");
}

Test(config_set, config_diff_names_changed_keys_split_by_reloadability)
{
	struct config a = cfg, b = cfg;
	char buf[256];
	const char *why;

	config_diff(&a, &b, 0, buf, sizeof(buf));
	cr_assert_str_empty(buf);
	cr_assert_eq(config_set(&b, "log_level", "debug", &why), 0);
	cr_assert_eq(config_set(&b, "zone_size", "64M", &why), 0);
	cr_assert_eq(config_set(&b, "retain_free", "1M", &why), 0);
	cr_assert_eq(config_set(&b, "socket_mode", "0600", &why), 0);
	config_diff(&a, &b, 1, buf, sizeof(buf));
	cr_assert_str_eq(buf, "retain_free, log_level");
	config_diff(&a, &b, 0, buf, sizeof(buf));
	cr_assert_str_eq(buf, "zone_size, socket_mode");
	config_diff(&a, &b, 0, buf, 8); /* truncated, still terminated */
	cr_assert_eq(strlen(buf), 7);
}

Test(config_load, an_unknown_key_names_file_line_and_key)
{
	char log[4096], want[128];

	log_level = LOG_LVL_INFO;
	write_file("zone_size = 64M\n"
		   "sockt_mode = 0600\n");
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: unknown key 'sockt_mode'", tmp_path);
	cr_assert(strstr(log, want) != NULL, "no '%s' in '%s'", want, log);
	cr_assert(strstr(log, "socket_mode") != NULL, "the known keys are not listed: '%s'", log);
}

Test(config_set, allowed_users_and_groups_take_names_and_numbers)
{
	cr_assert_eq(cfg.allowed_users.n, 0, "anyone by default");
	cr_assert_eq(cfg.allowed_groups.n, 0, "anyone by default");
	expect_good("allowed_users", "root, 1001 nobody");
	cr_assert_eq(cfg.allowed_users.n, 3);
	cr_assert_eq(cfg.allowed_users.ids[0], 0);
	cr_assert_eq(cfg.allowed_users.ids[1], 1001);
	cr_assert_eq(cfg.allowed_users.ids[2], 65534);
	expect_good("allowed_groups", "nogroup,7");
	cr_assert_eq(cfg.allowed_groups.n, 2);
	cr_assert_eq(cfg.allowed_groups.ids[0], 65534);
	cr_assert_eq(cfg.allowed_groups.ids[1], 7);
	expect_good("allowed_users", "");
	cr_assert_eq(cfg.allowed_users.n, 0, "an empty value lifts the restriction");
}

Test(config_set, allowed_users_rejects_unknown_names_and_too_long_lists)
{
	char many[400] = "";
	int i;

	expect_bad("allowed_users", "no-such-user-here");
	expect_bad("allowed_groups", "no-such-group-here");
	expect_bad("allowed_users", "root, 12x");
	expect_bad("allowed_users", "4294967295");
	for (i = 0; i < 33; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%d,", i + 100);
	expect_bad("allowed_users", many);
}

/* Only an empty value lifts the restriction: separators without a name are a typo (a list
 * whose names were lost), and taking them for "anyone" would open the socket to all. */
Test(config_set, a_list_of_separators_only_is_no_empty_list)
{
	expect_good("allowed_users", "root");
	expect_bad("allowed_users", ",");
	expect_bad("allowed_groups", " , ,");
	cr_assert_eq(cfg.allowed_users.n, 1, "a refused value left the list changed");
	cr_assert_eq(cfg.allowed_users.ids[0], 0);
	expect_good("allowed_users", "");
	cr_assert_eq(cfg.allowed_users.n, 0);
}

Test(config_set, debug_is_off_by_default_and_takes_a_list_of_checks)
{
	cr_assert_eq(cfg.debug, 0);
	expect_good("debug", "poison,redzone,store_user");
	cr_assert_eq(cfg.debug, SLABD_DEBUG_POISON | SLABD_DEBUG_RED_ZONE | SLABD_DEBUG_STORE_USER);
	expect_good("debug", "poison");
	cr_assert_eq(cfg.debug, SLABD_DEBUG_POISON);
	expect_good("debug", "red_zone, store_user");
	cr_assert_eq(cfg.debug, SLABD_DEBUG_RED_ZONE | SLABD_DEBUG_STORE_USER);
	expect_good("debug", "all");
	cr_assert_eq(cfg.debug, SLABD_DEBUG_ALL);
	expect_good("debug", "off");
	cr_assert_eq(cfg.debug, 0);
	expect_bad("debug", "poisson");
	expect_bad("debug", "poison,everything");
}

/* A count, a port, milliseconds or an id is a plain decimal number: the size suffixes
 * (k, M, G, iB, B) belong to sizes only. "1001b" must not be uid 1001, nor "1k" uid 1024. */
Test(config_set, numbers_that_are_not_sizes_take_no_size_suffix)
{
	expect_bad("socket_owner", "1k");
	expect_bad("socket_group", "1000B");
	expect_bad("allowed_users", "1001b");
	expect_bad("allowed_groups", "root, 1K");
	expect_bad("metrics_port", "9k");
	expect_bad("max_caches", "1k");
	expect_bad("magazines", "1M");
	expect_bad("worker_interval_ms", "1k");
	expect_bad("release_delay_ms", "5k");
	expect_bad("idle_drain_ms", "1KiB");
	/* the plain numbers still are */
	expect_good("socket_owner", "1024");
	cr_assert_eq(cfg.socket_uid, 1024);
	expect_good("allowed_users", "1001");
	cr_assert_eq(cfg.allowed_users.ids[0], 1001);
	expect_good("release_delay_ms", "5000");
	cr_assert_eq(cfg.release_delay_ms, 5000);
}

/* A NUL byte (a binary file, a bad editor) is reported as what it is, on its own line,
 * and the next line is still read and judged. */
Test(config_load, a_nul_byte_is_reported_on_its_line_and_the_next_line_is_read)
{
	static const char text[] = "zone_size = 64M\0junk\nhugepages = bogus\nmax_caches = 256\n";
	char log[4096], want[128];
	int fd;

	log_level = LOG_LVL_INFO;
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/slabd-unit-config-XXXXXX");
	fd = mkstemp(tmp_path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: ", tmp_path);
	cr_expect(strstr(log, want) != NULL, "line 1 not reported: '%s'", log);
	cr_expect(strstr(log, "NUL") != NULL, "the NUL byte is not named: '%s'", log);
	cr_expect(strstr(log, "longer than") == NULL, "a short line called too long: '%s'", log);
	snprintf(want, sizeof(want), "%s:2: bad value 'bogus' for 'hugepages'", tmp_path);
	cr_expect(strstr(log, want) != NULL, "line 2 was swallowed: '%s'", log);
	cr_expect_eq(cfg.max_caches, 256, "line 3 was not read");
}

/* A key given twice in one file is a mistake (an edit appended instead of replacing, two
 * copies of a snippet): taking the last value silently would hide it, so it is an error
 * like any other bad line, naming the key and both lines. */
Test(config_load, a_key_given_twice_names_the_key_and_both_lines)
{
	char log[4096], want[160];

	log_level = LOG_LVL_INFO;
	write_file("zone_size = 64M\n"
		   "# more zones\n"
		   "max_caches = 256\n"
		   "  zone_size=128M  # again\n");
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL, "a duplicated key was accepted; it logged: '%s'",
		     log);
	snprintf(want, sizeof(want), "%s:4: 'zone_size' was already set on line 1", tmp_path);
	cr_assert(strstr(log, want) != NULL, "no '%s' in '%s'", want, log);
	snprintf(want, sizeof(want), "%s:3:", tmp_path);
	cr_assert(strstr(log, want) == NULL, "the good line 3 was reported: '%s'", log);
}

/* zone_size.N names node N however N is written; zone_size and zone_size.0 are two keys. */
Test(config_load, a_node_given_twice_is_a_duplicate_and_zone_size_is_not_zone_size_0)
{
	char log[4096], want[160];

	log_level = LOG_LVL_INFO;
	write_file("zone_size = 64M\n"
		   "zone_size.0 = 32M\n"
		   "zone_size.1 = 32M\n");
	cr_assert_eq(load_captured(log, sizeof(log)), 0, "it logged: '%s'", log);
	cr_assert_str_empty(log, "a good file logged: '%s'", log);
	remove_file();

	write_file("zone_size.1 = 32M\n"
		   "zone_size.01 = 64M\n");
	cr_assert_eq(load_captured(log, sizeof(log)), -EINVAL, "it logged: '%s'", log);
	snprintf(want, sizeof(want), "%s:2: 'zone_size.01' was already set on line 1", tmp_path);
	cr_assert(strstr(log, want) != NULL, "no '%s' in '%s'", want, log);
}

/* The command line's --set comes after the file and is meant to win: config_set (what
 * main and reload apply it with) stays silent about a key the file gave. */
Test(config_load, a_set_option_after_the_file_overrides_it_silently)
{
	const char *why = "";
	char log[4096];

	log_level = LOG_LVL_INFO;
	write_file("zone_size = 64M\n");
	cr_assert_eq(load_captured(log, sizeof(log)), 0, "it logged: '%s'", log);
	cr_assert_eq(config_set(&cfg, "zone_size", "128M", &why), 0);
	cr_assert_eq(cfg.zone_size, 128ull << 20);
	/* and a second load of the same file (SIGHUP) is not a duplicate of the first */
	cr_assert_eq(load_captured(log, sizeof(log)), 0, "it logged: '%s'", log);
	cr_assert_eq(cfg.zone_size, 64ull << 20);
}
