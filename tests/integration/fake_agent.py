#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A scriptable delivery agent for qmgr's tests: it speaks the qmgr↔agent protocol of
libshared/ipc.h on the connection systemd-socket-activate --accept passes as fd 3, and answers
by the recipient's local part:
  bounce-*       bounced 5.1.1 "unknown user"
  defer-*        deferred 4.2.0 "try again"
  deferonce-*    deferred the first time, sent afterwards (state in $FAKE_AGENT_STATE)
  down-*         deferred 4.4.1 "connection refused" (a destination failure)
  crash-*        the agent exits without answering
  anything else  sent 2.0.0
Every request is appended as one JSON line to $FAKE_AGENT_LOG, with the message content read
from the queue file and the agent's process id, for the test to inspect. With
$FAKE_AGENT_MAX_USE set, the agent serves that many requests, ends the last reply with
"end last" as the real agents do at max_use, then waits a moment: a request that still comes
on that connection is logged as {"after_last": ...} before it exits."""

import json
import os
import re
import socket
import sys

LOG = os.environ.get("FAKE_AGENT_LOG", "/dev/null")
STATE = os.environ.get("FAKE_AGENT_STATE", "/dev/null")
QUEUE = os.environ.get("FAKE_AGENT_QUEUE", "")
MAX_USE = int(os.environ.get("FAKE_AGENT_MAX_USE", "0"))


def xdecode(s):
    raw = re.sub(rb"\+([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), s.encode())
    return raw.decode("utf-8", "surrogateescape")


def xencode(s):
    out = []
    for b in s.encode("utf-8", "surrogateescape"):
        out.append(chr(b) if 33 <= b <= 126 and b not in (43, 61) else "+%02X" % b)
    return "".join(out)


def read_content(queue, qid, off, size):
    try:
        with open(os.path.join(QUEUE, queue, qid), "rb") as f:
            f.seek(off)
            return f.read(size).decode("utf-8", "replace")
    except OSError as e:
        return f"<cannot read: {e}>"


def main():
    sock = socket.socket(fileno=3)
    f = sock.makefile("rb")
    served = 0
    while True:
        req = {"rcpts": []}
        while True:
            line = f.readline()
            if not line:
                return
            fields = line.rstrip(b"\r\n").decode().split(" ")
            kw = fields[0]
            if kw == "request":
                req.update(queue=fields[2], id=fields[3], offset=int(fields[4]),
                           size=int(fields[5]))
            elif kw == "rcpt":
                req["rcpts"].append({"index": int(fields[1]), "notify": fields[2],
                                     "address": xdecode(fields[3]),
                                     "original": xdecode(fields[4])})
            elif kw == "end":
                break
            else:
                req[kw] = [xdecode(x) for x in fields[1:]]
        req["content"] = read_content(req["queue"], req["id"], req["offset"], req["size"])
        req["pid"] = os.getpid()
        with open(LOG, "a") as log:
            log.write(json.dumps(req) + "\n")
        out = []
        for r in req["rcpts"]:
            local = r["address"].split("@")[0]
            if local.startswith("crash-"):
                os._exit(1)
            if local.startswith("bounce-"):
                out.append((r["index"], "bounced", "5.1.1", "unknown user"))
            elif local.startswith("defer-"):
                out.append((r["index"], "deferred", "4.2.0", "try again"))
            elif local.startswith("down-"):
                out.append((r["index"], "deferred", "4.4.1", "connection refused"))
            elif local.startswith("deferonce-"):
                key = req["id"] + " " + r["address"] + "\n"
                seen = open(STATE).read() if os.path.exists(STATE) else ""
                if key in seen:
                    out.append((r["index"], "sent", "2.0.0", "delivered at last"))
                else:
                    with open(STATE, "a") as st:
                        st.write(key)
                    out.append((r["index"], "deferred", "4.2.0", "not yet"))
            else:
                out.append((r["index"], "sent", "2.0.0", "delivered"))
        served += 1
        last = MAX_USE and served >= MAX_USE
        data = "".join(f"result {i} {st} {dsn} fake - {xencode(text)}\r\n"
                       for i, st, dsn, text in out) + ("end last\r\n" if last else "end\r\n")
        sock.sendall(data.encode())
        if last:
            sock.settimeout(0.5)
            try:
                late = sock.recv(65536)
            except socket.timeout:
                late = b""
            if late:
                with open(LOG, "a") as log:
                    log.write(json.dumps({"after_last": late.decode("utf-8", "replace"),
                                          "pid": os.getpid()}) + "\n")
            return


if __name__ == "__main__":
    sys.exit(main())
