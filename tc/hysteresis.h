/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sch_htb's htb_hysteresis, which the multiqueue backend turns on, and the
 * host-wide record of who turned it on and what it was before.
 *
 * Why turn it on: with it, an HTB class keeps sending until it is a bucket
 * in debt instead of stopping as soon as its tokens run out. A backlogged
 * class at its rate (a migration held at its cap) then wakes HTB's watchdog
 * once per bucket instead of once per skb, and that timer is most of what
 * shaping costs where programming it traps (a VM: 15-25% of the CPU in
 * native_write_msr). Measured on the lab's 4-queue veth, a migration held
 * at 1 Gbit/s: default traffic 0.86x of no agent and CPU 1.17x per Gbit
 * without it, 0.95x and 1.06x with it, caps within 0.22% (README). What it
 * costs: every HTB class on the host may run a bucket ahead of its rate,
 * twice the burst tc/htb.c settles for; on the IFB only migrations pass
 * (management leaves by band 0 and never waits on it), so the agent turns
 * it on with the multiqueue backend only. With htb-root management shares
 * the tree, and the root running a bucket ahead fills the NIC's queue in
 * front of it: mgmt.json's heartbeat p99 under migrations went from
 * 0.32-0.35 ms to 1.25-1.44 ms with it on (two runs each, lab wire).
 *
 * Why a host-wide record: the parameter is one for the whole host, and
 * there is one agent per NIC (migshaperd@.service). The record is a file,
 * <run_dir>/htb_hysteresis, shared by every agent with that run directory
 * (the default one on a host). It holds the value found before the first
 * agent turned the parameter on, or nothing when no agent changed it. Every
 * agent that wants the parameter on holds a shared flock(2) on the file
 * while it runs; the kernel drops it when the agent dies, so a crashed
 * agent never counts as a holder. An agent that stops takes the lock
 * exclusively, without waiting: only the last holder gets it, and only it
 * puts the recorded value back and empties the record. The others leave
 * the parameter on for the agents still running. The record is kept in
 * place (emptied, never removed), so an agent that opened it a moment
 * earlier never holds a file that is no longer the record.
 *
 * Every function returns 0 or -errno.
 */
#ifndef MS_TC_HYSTERESIS_H
#define MS_TC_HYSTERESIS_H

#include <stddef.h>

#define MS_HYST_PARAM_PATH  "/sys/module/sch_htb/parameters/htb_hysteresis"
#define MS_HYST_RECORD_NAME "htb_hysteresis"

/* What ms_hyst_hold() found. */
enum ms_hyst_found {
	/* Off: recorded, then turned on. */
	MS_HYST_TURNED_ON,
	/* Recorded by an agent, running or not: the record stays; on again if it was turned off. */
	MS_HYST_RECORDED,
	/* On without a record: the admin's (or left by an agent whose record is lost); left as it
	   is. */
	MS_HYST_ALREADY_ON,
};

/* What ms_hyst_release() did. */
enum ms_hyst_done {
	/* Nothing recorded: the parameter is left as it is. */
	MS_HYST_NOTHING,
	/* Another agent holds it: left on, the record kept for the last one. */
	MS_HYST_SHARED,
	/* The last holder: the recorded value is back and the record is empty. */
	MS_HYST_PUT_BACK,
};

/* <run_dir>/htb_hysteresis; -ENAMETOOLONG if it does not fit. */
int ms_hyst_record_path(const char *run_dir, char *buf, size_t len);
/*
 * The parameter at param_path (MS_HYST_PARAM_PATH but in tests) into
 * *value (0: off); -ENOENT without sch_htb loaded, -EINVAL for anything but
 * a number.
 */
int ms_hyst_param_read(const char *param_path, unsigned int *value);
/* Writes value to the parameter at param_path. */
int ms_hyst_param_write(const char *param_path, unsigned int value);
/*
 * Turns the parameter on and holds it: *hold_fd is the record, locked
 * shared, which the caller owns until ms_hyst_release(). *found says what
 * was there, and *orig the value the last holder puts back (with
 * MS_HYST_ALREADY_ON: the value found, which nobody puts back). On error
 * nothing is held and the parameter is as it was (a record of its value
 * may be left, which is harmless): -EINVAL for a record or parameter that
 * is not a number, -EWOULDBLOCK when something held the record
 * exclusively for a second (an agent that stops holds it for one write).
 */
int ms_hyst_hold(const char *param_path, const char *record_path, int *hold_fd,
		 enum ms_hyst_found *found, unsigned int *orig);
/*
 * Gives up hold_fd (closed in every case; -1: hold nothing, as for an
 * agent that died, which --cleanup calls with the record path). As the last
 * holder, puts the recorded value back and empties the record; *done says
 * what happened and *orig the value put back. If the value cannot be
 * written, the record stays for a retry. record_path is the record's path
 * (opened only with hold_fd -1: no record there is MS_HYST_NOTHING).
 */
int ms_hyst_release(const char *param_path, const char *record_path, int hold_fd,
		    enum ms_hyst_done *done, unsigned int *orig);

#endif /* MS_TC_HYSTERESIS_H */
