"""pyzk 0.9 live_capture() against the simulator: waits for punches the Rust test triggers.

usage: zk_live.py PORT PASSWORD COUNT DEADLINE_SECS   (host is always 127.0.0.1)
Prints one JSON line per attendance event, then {"done": n}.
"""
import json
import sys
import time

from zk import ZK


def main():
    port, password, want, deadline = (int(a) for a in sys.argv[1:5])
    zk = ZK('127.0.0.1', port=port, timeout=10, password=password, force_udp=False, ommit_ping=True)
    conn = zk.connect()
    got = 0
    end = time.monotonic() + deadline
    for att in conn.live_capture(new_timeout=1):
        if att is not None:
            got += 1
            print(json.dumps(dict(uid=att.uid, user_id=att.user_id, verify=att.status, state=att.punch,
                                  time=att.timestamp.strftime('%Y-%m-%d %H:%M:%S'))), flush=True)
        if got >= want or time.monotonic() > end:
            conn.end_live_capture = True
    print(json.dumps(dict(done=got)), flush=True)
    conn.disconnect()


if __name__ == '__main__':
    main()
