"""Receives onecard's simulated controller events with the real PyPI client's listener.

usage: uhppote_listen.py PORT PROTOCOL SERIAL

Binds the library's listener on a free 127.0.0.1 port, points the controller at it with
set-listener, opens door 1 and prints the pushed event. Talks only to 127.0.0.1.
"""

import ipaddress
import socket
import sys
import threading

from uhppoted import uhppote

port = int(sys.argv[1])
protocol = sys.argv[2]
serial = int(sys.argv[3])

# A free port for the listener (released just before the library binds it).
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.bind(("127.0.0.1", 0))
listen_port = probe.getsockname()[1]
probe.close()

addr = f"127.0.0.1:{port}"
u = uhppote.Uhppote(bind="127.0.0.1", broadcast=addr, listen=f"127.0.0.1:{listen_port}")
c = (serial, addr, protocol)

received = []
got = threading.Event()


def on_event(event):
    received.append(event)
    got.set()


# listen() blocks for ever: a daemon thread dies with the script.
threading.Thread(target=u.listen, args=(on_event,), daemon=True).start()
threading.Event().wait(0.3)

print(f"listen_port={listen_port}", flush=True)
print(f"set_listener={u.set_listener(c, ipaddress.IPv4Address('127.0.0.1'), listen_port).ok}", flush=True)
print(f"open_door={u.open_door(c, 1).opened}", flush=True)

if not got.wait(5):
    print("event=none", flush=True)
    sys.exit(1)

e = received[0]
print(f"event={e.controller} {e.event_index} {e.event_type} {e.event_access_granted} "
      f"{e.event_door} {e.event_reason} relays={e.relays}", flush=True)
