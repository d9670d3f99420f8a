#!/usr/bin/env bash
# A container on a macvlan over the shaped NIC (a network namespace of its
# own, root there) sets its socket's priority to migshaper's tag for the
# management class. Its packets reach the NIC without crossing a veth, so
# that priority reaches the classifier with them: it must not be believed.
# The container's bulk flow lands in the default class, and management's
# class carries none of it. (That the host's own tags are read:
# tests/bpf/test_skcache.c, test_tag_is_read.)
. "$(dirname "$0")/lib.sh"

t_setup need_agent
CT=$LAB_PREFIX-ct
CT_IP=198.18.0.50
SINK_PORT=5300
BYTES=$((8 << 20))
ct_teardown() { ip netns del "$CT" 2>/dev/null; }
T_TEARDOWN=ct_teardown

ip netns add "$CT" || t_fail "netns $CT"
ip -n "$LAB_NS_HV1" link add ctmv link "$LAB_HV1_IF" type macvlan mode bridge ||
	t_fail "no macvlan on $LAB_HV1_IF (CONFIG_MACVLAN)"
ip -n "$LAB_NS_HV1" link set ctmv netns "$CT" &&
	ip -n "$CT" addr add "$CT_IP/24" dev ctmv &&
	ip -n "$CT" link set ctmv up && ip -n "$CT" link set lo up || t_fail "container's macvlan"

t_config "$T_TMP/agent.conf"
t_agent_start "$T_TMP/agent.conf" "$T_TMP/agent.log" || t_fail "agent did not get ready"

# A sink on hv2 that reads one connection to its end.
t_bg "$LAB_NS_HV2" "$T_TMP/sink.out" timeout 60 python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'"$LAB_HV2_IP"'", '"$SINK_PORT"'))
s.listen(1)
c, _ = s.accept()
n = 0
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    n += len(b)
print(n, flush=True)'
t_wait_listen "$LAB_NS_HV2" "$SINK_PORT" || t_fail "sink not listening"

# The agent's own tag for management (migshaper.h: its major is 0x6000 plus
# the low 12 bits of the NIC's ifindex).
nic_ifindex=$(ip -n "$LAB_NS_HV1" -j link show dev "$LAB_HV1_IF" | jq '.[0].ifindex')
tag=$((((0x6000 | (nic_ifindex & 0xfff)) << 16) | (0x10 << 4)))
mgmt0=$(t_class_bytes 10)
def0=$(t_class_bytes 30)
ip netns exec "$CT" timeout 30 python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, '"$tag"')
s.connect(("'"$LAB_HV2_IP"'", '"$SINK_PORT"'))
s.sendall(b"x" * '"$BYTES"')
print(hex(s.getsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY)), flush=True)
s.close()' >"$T_TMP/ct.out" 2>&1 || t_fail "the container's flow failed: $(cat "$T_TMP/ct.out")"
# The sink has read it all once its process is gone.
t_wait_until 10 grep -q . "$T_TMP/sink.out" || t_fail "the sink did not finish"
mgmt=$(($(t_class_bytes 10) - mgmt0))
def=$(($(t_class_bytes 30) - def0))
t_log "container: priority $(cat "$T_TMP/ct.out") (the tag $(printf '%#x' "$tag")), $(cat "$T_TMP/sink.out") B received; management class +$mgmt B, default class +$def B"
[ "$(cat "$T_TMP/ct.out")" = "$(printf '%#x' "$tag")" ] ||
	t_fail "the container could not set the forged priority: $(cat "$T_TMP/ct.out")"
[ "$(cat "$T_TMP/sink.out")" -ge "$BYTES" ] || t_fail "the sink got $(cat "$T_TMP/sink.out") of $BYTES B"
[ "$mgmt" -lt $((BYTES / 10)) ] || t_fail "the forged tag put $mgmt B of the container's $BYTES B in the management class"
[ "$def" -ge "$BYTES" ] || t_fail "the default class carried $def B, less than the container's $BYTES B"

t_log "PASS"
