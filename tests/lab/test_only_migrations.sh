#!/usr/bin/env bash
# Only migrations are capped as migrations, and only the host's management is
# management (issue 12), with the classifier's port rules applied by
# direction and to the host's own sockets:
#   A. mgmt_cidrs covering the whole lab subnet, destination included: a
#      migration-like flow to hv2's migration port stays in the unattributed
#      migration class, the manager's heartbeat stays in management;
#   B. a host socket whose local (ephemeral) port falls in the migration
#      range, talking to an ordinary port: default, not a migration;
#   C. hv1's uplink enslaved to a bridge with a guest tap: the guest's frames
#      to port 22 are bridged out in the default class (a guest's ssh is not
#      the host's management), while the host's own heartbeat answers,
#      through the same bridge, stay in management.
. "$(dirname "$0")/lib.sh"

t_setup need_agent
t_iperf_servers 1
t_bg "$LAB_NS_HV2" "$T_TMP/iperf-server-5201.out" iperf3 -s -p 5201
t_wait_listen "$LAB_NS_HV2" 5201 || t_fail "iperf3 server on 5201 not listening"
t_hb_server

MGMT=10 UNATTR=21 DEFAULT=30
delta() { echo $(($(t_class_bytes "$1") - $2)); }

# --- A: a management CIDR does not swallow a migration ---------------------
t_config "$T_TMP/a.conf" "mgmt_cidrs=198.18.0.0/24,fd00::/64"
t_agent_start "$T_TMP/a.conf" "$T_TMP/agent-a.log" || t_fail "A: agent did not get ready"
m0=$(t_class_bytes $MGMT) u0=$(t_class_bytes $UNATTR)
t_iperf_start 0 4
mig=$T_LAST_PID
hb=$(t_hb_run 4)
t_iperf_wait "$mig"
dm=$(delta $MGMT "$m0") du=$(delta $UNATTR "$u0")
t_log "A: mgmt class +$dm bytes, unattributed migration class +$du bytes; heartbeat $hb"
t_num_gt "$du" 20000000 || t_fail "A: the migration flow did not land in the migration class (+$du bytes)"
t_num_le "$dm" 2000000 || t_fail "A: the management class carried $dm bytes: the CIDR swallowed the migration"
t_num_gt "$dm" 0 || t_fail "A: the heartbeat did not land in management"
[ "$(echo "$hb" | jq -r .missed)" = 0 ] || t_fail "A: heartbeats missed: $hb"
t_agent_stop "$T_AGENT_PID"

# --- B: an ephemeral local port inside the range is not a migration --------
t_config "$T_TMP/b.conf"
t_agent_start "$T_TMP/b.conf" "$T_TMP/agent-b.log" || t_fail "B: agent did not get ready"
d0=$(t_class_bytes $DEFAULT) u0=$(t_class_bytes $UNATTR)
ip netns exec "$LAB_NS_HV1" timeout 20 iperf3 -c "$LAB_HV2_IP" -p 5201 --cport 49160 -t 3 \
	-C "$LAB_TCP_CC" --json >"$T_TMP/iperf-cport.json" 2>"$T_TMP/iperf-cport.err" ||
	t_fail "B: iperf3 with local port 49160 failed: $(cat "$T_TMP/iperf-cport.err")"
dd=$(delta $DEFAULT "$d0") du=$(delta $UNATTR "$u0")
t_log "B: local port 49160 -> hv2:5201: default +$dd bytes, unattributed migration +$du bytes"
t_num_gt "$dd" 20000000 || t_fail "B: the flow did not land in default (+$dd bytes)"
t_num_le "$du" 100000 || t_fail "B: $du bytes of an ordinary flow were capped as a migration"
t_agent_stop "$T_AGENT_PID"

# --- C: a guest's frames bridged through the shaped NIC --------------------
hv1() { ip netns exec "$LAB_NS_HV1" "$@"; }
br=$LAB_PREFIX-hv1-br tap=$LAB_PREFIX-gtap
hv1 ip link add "$br" type bridge || t_fail "C: cannot create a bridge"
hv1 ip link set "$br" up
hv1 ip addr flush dev "$LAB_HV1_IF"
hv1 ip link set "$LAB_HV1_IF" master "$br"
hv1 ip addr add "$LAB_HV1_IP/24" dev "$br"
hv1 ip addr add "$LAB_HV1_IP6/64" dev "$br" nodad
hv1 ip tuntap add dev "$tap" mode tap || t_fail "C: cannot create a tap"
hv1 ip link set "$tap" master "$br" up
t_wait_until 10 lab_reachable "$LAB_NS_MGR" "$LAB_HV1_IP" || t_fail "C: hv1 unreachable through its bridge"
hv2_mac=$(ip -n "$LAB_NS_HV2" -j link show dev "$LAB_HV2_IF" | jq -r '.[0].address')
# No management CIDR: the heartbeat is management by its port alone, so its
# answers prove the host's socket is still seen after the bridge.
t_config "$T_TMP/c.conf" "mgmt_cidrs="
t_agent_start "$T_TMP/c.conf" "$T_TMP/agent-c.log" || t_fail "C: agent did not get ready"

m0=$(t_class_bytes $MGMT) d0=$(t_class_bytes $DEFAULT) tx0=$(t_tx_bytes "$LAB_NS_HV1" "$LAB_HV1_IF")
FRAMES=2000 FRAME_LEN=1014
# The guest: TCP segments from 198.18.0.50 to hv2:22, written to the tap the
# way QEMU writes a guest's frames, 50 at a time: a tap has no back-pressure,
# and a burst beyond the kernel's input backlog (netdev_max_backlog) is
# dropped before the bridge.
hv1 python3 - "$tap" "$hv2_mac" "$FRAMES" "$FRAME_LEN" <<'PY' || t_fail "C: writing the guest's frames failed"
import fcntl, os, socket, struct, sys, time
tap, dst_mac, n, frame_len = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", tap.encode(), IFF_TAP | IFF_NO_PI))
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
payload = bytes(frame_len - 14 - 20 - 20)
tcp = struct.pack("!HHIIBBHHH", 40022, 22, 1, 0, 5 << 4, 0x18, 65535, 0, 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                 socket.inet_aton("198.18.0.50"), socket.inet_aton("198.18.0.2"))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex("525400000050") + b"\x08\x00"
for i in range(n):
    os.write(fd, eth + ip + tcp)
    if i % 50 == 49:
        time.sleep(0.002)
PY
hb=$(t_hb_run 2)
dm=$(delta $MGMT "$m0") dd=$(delta $DEFAULT "$d0") sent=$(($(t_tx_bytes "$LAB_NS_HV1" "$LAB_HV1_IF") - tx0))
t_log "C: $FRAMES guest frames to port 22 and a 2 s heartbeat: the uplink sent $sent bytes: mgmt +$dm, default +$dd; heartbeat $hb"
# Frames the kernel dropped before the bridge never reach the classifier:
# judged on what the uplink sent, most of the frames, and of those all but
# management's heartbeat answers in default.
t_num_gt "$sent" $((FRAMES * FRAME_LEN / 2)) || t_fail "C: fewer than half of the guest's frames left the uplink ($sent bytes of $((FRAMES * FRAME_LEN)))"
t_num_gt "$dd" $(((sent - dm) * 9 / 10)) || t_fail "C: the guest's frames did not land in default (+$dd bytes of the $sent sent)"
t_num_le "$dm" $((FRAMES * FRAME_LEN / 4)) || t_fail "C: the guest's port-22 frames went to management (+$dm bytes)"
t_num_gt "$dm" 0 || t_fail "C: the host's heartbeat answers through the bridge left management"
[ "$(echo "$hb" | jq -r .missed)" = 0 ] || t_fail "C: heartbeats missed: $hb"
t_log "PASS"
