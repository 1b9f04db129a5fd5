/* SPDX-License-Identifier: MIT */
/* metrics.h - the optional Prometheus endpoint (metrics_port), driven by server.c's loop. */
#ifndef SLABD_DAEMON_METRICS_H
#define SLABD_DAEMON_METRICS_H

#include <stdint.h>

struct slabd;

/* metrics_listen: a listening TCP socket on 127.0.0.1:@port (non-blocking), or -errno
 * (logged, saying what to do). */
int metrics_listen(uint32_t port);
/* metrics_accept: take new connections from @lfd into the pool and @epfd. 0, or -errno
 * when accept failed for want of a resource (EMFILE, ENOMEM...): @lfd stays readable,
 * the caller leaves it alone for a while (logged here, rate-limited). */
int metrics_accept(int lfd, int epfd);
/* metrics_owns: @tag (an epoll data pointer) is one of the endpoint's connections. */
int metrics_owns(const void *tag);
/* metrics_handle: read the request, answer, close (control thread). */
void metrics_handle(struct slabd *d, void *tag, uint32_t events, int epfd);
void metrics_close_all(int epfd);

#endif
