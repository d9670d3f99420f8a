// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * agent/link/linkwatch.c against the real kernel, in a private network namespace
 * with a veth pair: down and up, deletion and re-creation under the same
 * name, a rename, root qdisc replacement and deletion, and notifications lost
 * to a full socket. Needs root, veth, HTB and TBF; exits 77 (skip) without
 * them.
 *
 * Every wait is for a note the watch must deliver, bounded by WAIT_MS; a note
 * that must not come is checked after a later one that must.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <cmocka.h>

#include "linkwatch.h"

#define DEV	 "mslw"
#define PEER	 "mslwp"
#define OTHER	 "mslwo" /* another interface, with its peer OTHER "p" */
#define RENAMED	 "mslwr"
#define WAIT_MS	 5000
#define MAX_NOTE 4096

#define HTB_ROOT "tc qdisc replace dev " DEV " root handle 1: htb default 30"
#define TBF_ROOT \
	"tc qdisc replace dev " DEV " root handle 2: tbf rate 1mbit burst 32kbit latency 400ms"
#define NEW_VETH "ip link add " DEV " type veth peer name " PEER
#define VETH_UP	 "ip link set " DEV " up && ip link set " PEER " up"

struct env {
	struct ms_linkwatch *lw;
	int ifindex; /* of DEV when the test began */
	int n;
	struct ms_link_note notes[MAX_NOTE];
};

/* What a note must be; ifindex 0 and kind NULL match any. */
struct want {
	enum ms_link_event event;
	int ifindex;
	unsigned int flags_set;
	unsigned int flags_clear;
	const char *kind;
	bool deleted;
};

#define LINK(ev, idx, set, clear) \
	((struct want){.event = (ev), .ifindex = (idx), .flags_set = (set), .flags_clear = (clear)})
#define QDISC(idx, k, del) \
	((struct want){    \
	    .event = MS_LINK_ROOT_QDISC, .ifindex = (idx), .kind = (k), .deleted = (del)})

static void on_note(void *ctx, const struct ms_link_note *note)
{
	struct env *env = ctx;

	if (env->n == MAX_NOTE)
		fail_msg("more than %d notes", MAX_NOTE);
	env->notes[env->n++] = *note;
}

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	if (rc != 0)
		fail_msg("'%s' exited %d", cmd, rc);
}

static int ifindex_of(const char *name)
{
	int ifindex = (int)if_nametoindex(name);

	if (!ifindex)
		fail_msg("no interface %s", name);
	return ifindex;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool matches(const struct ms_link_note *n, const struct want *w)
{
	if (n->event != w->event || (w->ifindex && n->ifindex != w->ifindex))
		return false;
	if (w->event == MS_LINK_ROOT_QDISC)
		return n->qdisc_deleted == w->deleted &&
		       (!w->kind || strcmp(n->qdisc_kind, w->kind) == 0);
	return (n->ifi_flags & w->flags_set) == w->flags_set && !(n->ifi_flags & w->flags_clear);
}

/* Dispatches until a note from index from on matches w; returns its index. */
static int wait_for(struct env *env, int from, struct want w)
{
	struct pollfd pfd = {.fd = ms_linkwatch_fd(env->lw), .events = POLLIN};
	long long deadline = now_ms() + WAIT_MS;

	for (;;) {
		for (int i = from; i < env->n; i++)
			if (matches(&env->notes[i], &w))
				return i;
		from = env->n;
		if (poll(&pfd, 1, (int)(deadline - now_ms())) != 1)
			fail_msg("no note %d for ifindex %d within %d ms", w.event, w.ifindex,
				 WAIT_MS);
		assert_int_equal(ms_linkwatch_dispatch(env->lw), 0);
	}
}

static int count(const struct env *env, int from, int to, enum ms_link_event event, int ifindex)
{
	int n = 0;

	for (int i = from; i < to; i++)
		n += env->notes[i].event == event && env->notes[i].ifindex == ifindex;
	return n;
}

/*
 * A change of DEV's own after the ones a test checks: once its note has come,
 * so have theirs (a dispatch reads all that is queued).
 */
static void marker(struct env *env)
{
	sh("ip link set " DEV " mtu 1400");
	wait_for(env, env->n, LINK(MS_LINK_CHANGED, ifindex_of(DEV), 0, 0));
}

static void test_down_up(void **state)
{
	struct env *env = *state;
	int i;

	sh("ip link set " DEV " down");
	i = wait_for(env, 0, LINK(MS_LINK_CHANGED, env->ifindex, 0, IFF_UP));
	sh("ip link set " DEV " up");
	wait_for(env, i, LINK(MS_LINK_CHANGED, env->ifindex, IFF_UP | IFF_RUNNING, 0));
}

static void test_other_interfaces_ignored(void **state)
{
	struct env *env = *state;
	int other;

	sh("ip link add " OTHER " type veth peer name " OTHER "p && ip link set " OTHER " up");
	other = ifindex_of(OTHER);
	sh("tc qdisc replace dev " OTHER " root handle 1: htb");
	sh("ip link del " OTHER);
	marker(env);
	for (int i = 0; i < env->n; i++)
		assert_int_equal(env->notes[i].ifindex, env->ifindex);
	assert_int_equal(count(env, 0, env->n, MS_LINK_CHANGED, other), 0);
}

static void test_delete_and_recreate(void **state)
{
	struct env *env = *state;
	int i, created, recreated;

	sh("ip link del " DEV);
	i = wait_for(env, 0, LINK(MS_LINK_DELETED, env->ifindex, 0, 0));
	assert_int_equal(ms_linkwatch_ifindex(env->lw), 0);

	/* Another name first: not ours. */
	sh("ip link add " OTHER " type veth peer name " OTHER "p");
	sh(NEW_VETH);
	recreated = ifindex_of(DEV);
	assert_int_not_equal(recreated, env->ifindex);
	created = wait_for(env, i, LINK(MS_LINK_CREATED, 0, 0, 0));
	assert_int_equal(env->notes[created].ifindex, recreated);
	assert_int_equal(ms_linkwatch_ifindex(env->lw), recreated);
	assert_int_equal(count(env, 0, env->n, MS_LINK_CREATED, recreated), 1);

	/* The watch follows the new one. */
	sh(VETH_UP);
	wait_for(env, created, LINK(MS_LINK_CHANGED, recreated, IFF_UP | IFF_RUNNING, 0));
	sh("ip link del " OTHER);
}

/* A renamed interface is still the one watched; its old name is not followed. */
static void test_rename(void **state)
{
	struct env *env = *state;

	sh("ip link set " DEV " down && ip link set " DEV " name " RENAMED);
	wait_for(env, 0, LINK(MS_LINK_CHANGED, env->ifindex, 0, IFF_UP));
	sh("ip link add " DEV " type veth peer name " DEV "q");
	sh("ip link set " RENAMED " mtu 1300");
	wait_for(env, env->n, LINK(MS_LINK_CHANGED, env->ifindex, 0, 0));
	assert_int_equal(count(env, 0, env->n, MS_LINK_CREATED, ifindex_of(DEV)), 0);
	assert_int_equal(ms_linkwatch_ifindex(env->lw), env->ifindex);
	sh("ip link del " DEV " && ip link set " RENAMED " name " DEV " && " VETH_UP);
}

/*
 * A bridge reports its ports' changes as RTM_NEWLINK and RTM_DELLINK of
 * family AF_BRIDGE: leaving a bridge is not a deletion.
 */
static void test_bridge_port(void **state)
{
	struct env *env = *state;

	sh("ip link add " OTHER " type bridge && ip link set " DEV " master " OTHER);
	sh("ip link set " DEV " nomaster && ip link del " OTHER);
	marker(env);
	assert_int_equal(count(env, 0, env->n, MS_LINK_DELETED, env->ifindex), 0);
	assert_int_equal(ms_linkwatch_ifindex(env->lw), env->ifindex);
}

static void test_root_qdisc(void **state)
{
	struct env *env = *state;
	int i, j;

	sh(HTB_ROOT);
	i = wait_for(env, 0, QDISC(env->ifindex, "htb", false));
	assert_int_equal(env->notes[i].qdisc_handle, 0x10000);

	/* A replacement: the old one goes, then the new one comes. */
	sh(TBF_ROOT);
	j = wait_for(env, i + 1, QDISC(env->ifindex, "tbf", false));
	assert_int_equal(env->notes[j].qdisc_handle, 0x20000);
	assert_int_equal(count(env, i + 1, j, MS_LINK_ROOT_QDISC, env->ifindex), 1);
	assert_true(env->notes[j - 1].qdisc_deleted);
	assert_string_equal(env->notes[j - 1].qdisc_kind, "htb");

	/* Neither ingress nor a child qdisc is the root. */
	sh("tc qdisc add dev " DEV " clsact");
	sh("tc qdisc del dev " DEV " root");
	i = wait_for(env, j + 1, QDISC(env->ifindex, "tbf", true));
	assert_int_equal(env->notes[i].qdisc_handle, 0x20000);
	assert_int_equal(count(env, j + 1, i, MS_LINK_ROOT_QDISC, env->ifindex), 0);
	sh("tc qdisc del dev " DEV " clsact");

	/* A resync reports the default the kernel put back. */
	i = env->n;
	assert_int_equal(ms_linkwatch_resync(env->lw), 0);
	assert_int_equal(env->n, i + 2);
	assert_true(matches(&env->notes[i], &LINK(MS_LINK_CHANGED, env->ifindex, IFF_UP, 0)));
	assert_true(matches(&env->notes[i + 1], &QDISC(env->ifindex, "noqueue", false)));
	assert_int_equal(env->notes[i + 1].qdisc_handle, 0);
}

/* What changed between the caller's lookup and its first resync is reported. */
static void test_resync(void **state)
{
	struct env *env = *state;
	int recreated;

	sh("ip link del " DEV " && " NEW_VETH " && " TBF_ROOT);
	recreated = ifindex_of(DEV);
	assert_int_equal(ms_linkwatch_resync(env->lw), 0);
	assert_int_equal(env->n, 3);
	assert_true(matches(&env->notes[0], &LINK(MS_LINK_DELETED, env->ifindex, 0, 0)));
	assert_true(matches(&env->notes[1], &LINK(MS_LINK_CREATED, recreated, 0, IFF_UP)));
	assert_true(matches(&env->notes[2], &QDISC(recreated, "tbf", false)));

	/* Gone, and nothing of the name: one deletion, then nothing. */
	sh("ip link del " DEV);
	assert_int_equal(ms_linkwatch_resync(env->lw), 0);
	assert_int_equal(ms_linkwatch_resync(env->lw), 0);
	assert_int_equal(env->n, 4);
	assert_true(matches(&env->notes[3], &LINK(MS_LINK_DELETED, recreated, 0, 0)));
	assert_int_equal(ms_linkwatch_ifindex(env->lw), 0);
	sh(NEW_VETH " && " VETH_UP);
}

/* Messages the kernel dropped for the watch's socket, from /proc/net/netlink. */
static long socket_drops(int fd)
{
	struct sockaddr_nl addr;
	socklen_t len = sizeof(addr);
	unsigned int proto, pid;
	long drops = -1, d;
	char line[512];
	FILE *f;

	assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	f = fopen("/proc/net/netlink", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		/* sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode */
		if (sscanf(line, "%*s %u %u %*s %*s %*s %*s %*s %ld", &proto, &pid, &d) == 3 &&
		    proto == NETLINK_ROUTE && pid == addr.nl_pid)
			drops = d;
	fclose(f);
	return drops;
}

/* The watch's socket at its smallest: a few notifications fill it. */
static void shrink_rcvbuf(struct env *env)
{
	int rcvbuf = 1; /* the kernel rounds it up to its minimum */

	assert_int_equal(
	    setsockopt(ms_linkwatch_fd(env->lw), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)),
	    0);
}

/* Toggles DEV's IFF_UP n times, many more changes than the socket can hold. */
static void flood(int n)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {0};

	assert_true(fd >= 0);
	strcpy(ifr.ifr_name, DEV);
	assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	for (int i = 0; i < n; i++) {
		ifr.ifr_flags ^= IFF_UP;
		assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	}
	close(fd);
}

/*
 * Lost notifications: the final state is reported last, after what was
 * queued before the loss. Here an HTB root is queued, then what is lost ends
 * with the interface down and a TBF root.
 */
static void test_lost_keeps_final_state(void **state)
{
	struct env *env = *state;
	int last_link = -1, last_qdisc = -1, htb = -1;

	shrink_rcvbuf(env);
	sh(HTB_ROOT);
	flood(101);
	sh(TBF_ROOT);
	assert_true(socket_drops(ms_linkwatch_fd(env->lw)) > 0);
	assert_int_equal(ms_linkwatch_dispatch(env->lw), 0);
	for (int i = 0; i < env->n; i++) {
		if (env->notes[i].event != MS_LINK_ROOT_QDISC)
			last_link = i;
		else if (matches(&env->notes[i], &QDISC(env->ifindex, "htb", false)))
			htb = i;
		else
			last_qdisc = i;
	}
	assert_true(htb >= 0 && last_link >= 0 && last_qdisc > htb);
	assert_true(
	    matches(&env->notes[last_link], &LINK(MS_LINK_CHANGED, env->ifindex, 0, IFF_UP)));
	assert_true(matches(&env->notes[last_qdisc], &QDISC(env->ifindex, "tbf", false)));
}

/* Lost notifications around a deletion and re-creation: reported as such. */
static void test_lost_recreation(void **state)
{
	struct env *env = *state;
	int created, recreated;

	shrink_rcvbuf(env);
	flood(100);
	sh("ip link del " DEV " && " NEW_VETH " && " VETH_UP);
	recreated = ifindex_of(DEV);
	assert_true(socket_drops(ms_linkwatch_fd(env->lw)) > 0);
	assert_int_equal(ms_linkwatch_dispatch(env->lw), 0);
	assert_int_equal(count(env, 0, env->n, MS_LINK_DELETED, env->ifindex), 1);
	created = wait_for(env, 0, LINK(MS_LINK_CREATED, recreated, 0, 0));
	/* The old interface is not mentioned after its deletion, nor before it was seen gone. */
	for (int i = created; i < env->n; i++)
		assert_int_equal(env->notes[i].ifindex, recreated);
	assert_true(matches(&env->notes[env->n - 1], &QDISC(recreated, "noqueue", false)));
	assert_int_equal(ms_linkwatch_ifindex(env->lw), recreated);
}

static int setup(void **state)
{
	static struct env env;

	/* Whatever a failed test left behind. */
	if (system("ip link del " OTHER " 2>/dev/null; ip link del " RENAMED " 2>/dev/null; "
		   "ip link del " DEV " 2>/dev/null; " NEW_VETH " && " VETH_UP) != 0)
		return -1;
	env.n = 0;
	env.ifindex = (int)if_nametoindex(DEV);
	if (!env.ifindex || ms_linkwatch_open(DEV, env.ifindex, on_note, &env, &env.lw))
		return -1;
	/*
	 * The kernel reports carrier later, from a work queue, and the peer's
	 * too. Once DEV is seen running, a root qdisc change, which waits for
	 * that work to finish, is the last note: a test starts with an empty
	 * socket.
	 */
	if (ms_linkwatch_resync(env.lw))
		return -1;
	wait_for(&env, 0, LINK(MS_LINK_CHANGED, env.ifindex, IFF_RUNNING, 0));
	if (system("tc qdisc replace dev " DEV " root pfifo && tc qdisc del dev " DEV " root"))
		return -1;
	wait_for(&env, 0, QDISC(env.ifindex, "pfifo", true));
	env.n = 0;
	*state = &env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;

	ms_linkwatch_close(env->lw);
	return 0;
}

static int skip_run(const char *why)
{
	printf("test_linkwatch: skipped: %s\n", why);
	return 77;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_down_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_interfaces_ignored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_and_recreate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bridge_port, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_root_qdisc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_keeps_final_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_recreation, setup, teardown),
	};

	if (geteuid() != 0)
		return skip_run("needs root");
	if (unshare(CLONE_NEWNET) != 0)
		return skip_run("cannot create a network namespace");
	if (system("ip link set lo up && " NEW_VETH " && " VETH_UP) != 0)
		return skip_run("cannot create a veth pair");
	if (system(HTB_ROOT " && " TBF_ROOT " && tc qdisc del dev " DEV " root") != 0)
		return skip_run("no HTB or TBF in this kernel");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
