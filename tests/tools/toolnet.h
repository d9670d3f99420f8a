/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What the lab's traffic tools (heartbeat, mgremu) share: the monotonic
 * clock, numeric address resolution, a listening socket, TCP_NODELAY and a
 * signalfd for SIGINT/SIGTERM. Header-only: each tool is one program.
 */
#ifndef MS_TOOLNET_H
#define MS_TOOLNET_H

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Resolves a numeric ADDR:PORT (IPv4 or IPv6); prog names the tool in errors. */
static inline int resolve(const char *prog, const char *addr, const char *port, bool passive,
			  struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0),
	};
	struct addrinfo *res;
	int err;

	err = getaddrinfo(addr, port, &hints, &res);
	if (err) {
		fprintf(stderr, "%s: bad address %s port %s: %s\n", prog, addr ? addr : "*", port,
			gai_strerror(err));
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* A non-blocking listening socket on ADDR:PORT, or -errno (said on stderr). */
static inline int listen_on(const char *prog, const char *addr, const char *port, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, err;

	err = resolve(prog, addr, port, true, &ss, &len);
	if (err)
		return err;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog)) {
		err = -errno;
		fprintf(stderr, "%s: cannot listen on %s port %s: %s\n", prog, addr ? addr : "*",
			port, strerror(-err));
		close(fd);
		return err;
	}
	return fd;
}

static inline void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Returns a signalfd for SIGINT and SIGTERM, or -errno. */
static inline int make_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

#endif /* MS_TOOLNET_H */
