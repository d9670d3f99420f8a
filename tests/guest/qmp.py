#!/usr/bin/env python3
"""Tiny QMP client for the migshaper test guest (no dependencies).

  qmp.py SOCK status                   -> prints the run state ("running", ...)
  qmp.py SOCK dirtyrate [CALC_SEC]     -> prints the dirty rate in MiB/s
                                          (calc-dirty-rate mode dirty-bitmap:
                                          an exact count of dirtied pages)
  qmp.py SOCK send-key KEY             -> QMP send-key with one qcode ("5")
  qmp.py SOCK quit

Exits 1 on a QMP error or timeout, printing it on stderr.
"""
import json
import socket
import sys
import time


class QMP:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rw")
        self._read()                      # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req) + "\n")
        self.f.flush()
        msg = self._read()
        if "error" in msg:
            raise RuntimeError("%s: %s" % (name, msg["error"].get("desc", msg["error"])))
        return msg.get("return")


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path, op = argv[1], argv[2]
    try:
        q = QMP(path)
        if op == "status":
            print(q.cmd("query-status")["status"])
        elif op == "dirtyrate":
            calc = int(argv[3]) if len(argv) > 3 else 2
            q.cmd("calc-dirty-rate", **{"calc-time": calc, "mode": "dirty-bitmap"})
            deadline = time.monotonic() + calc + 10
            time.sleep(calc)
            while True:
                r = q.cmd("query-dirty-rate")
                if r["status"] == "measured":
                    print(r["dirty-rate"])
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("calc-dirty-rate did not finish: %s" % r)
                time.sleep(0.1)
        elif op == "send-key":
            q.cmd("send-key", keys=[{"type": "qcode", "data": argv[3]}])
        elif op == "quit":
            q.cmd("quit")
        else:
            sys.stderr.write("unknown op %s\n" % op)
            return 2
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        sys.stderr.write("qmp.py: %s: %s\n" % (op, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
