"""Drives onecard's simulated UHPPOTE controllers with the real PyPI client (`uhppoted`).

usage: uhppote_ops.py PORT PROTOCOL SERIAL OTHER_SERIAL

Talks only to 127.0.0.1:PORT. Discovery is UDP whatever PROTOCOL says (it is a broadcast): the
library's "broadcast" address is pointed at the simulator, so nothing leaves the host. Prints
one `key=value` line per result for the Rust test to check.
"""

import datetime
import ipaddress
import sys

from uhppoted import uhppote

port = int(sys.argv[1])
protocol = sys.argv[2]
serial = int(sys.argv[3])
other = int(sys.argv[4])

addr = f"127.0.0.1:{port}"
u = uhppote.Uhppote(bind="127.0.0.1", broadcast=addr, listen="127.0.0.1:0")
c = (serial, addr, protocol)


def out(key, value):
    print(f"{key}={value}", flush=True)


found = sorted(r.controller for r in u.get_all_controllers(timeout=0.5))
out("discovered", ",".join(str(s) for s in found))

info = u.get_controller(c)
out("controller", info.controller)
out("version", info.version)

status = u.get_status(c)
out("status.controller", status.controller)
out("status.date", status.system_date)

t = datetime.datetime(2026, 5, 6, 7, 8, 9)
out("set_time", u.set_time(c, t).datetime)
out("get_time.date", u.get_time(c).datetime.date())

start, end = datetime.date(2026, 1, 1), datetime.date(2026, 12, 31)
out("put_card", u.put_card(c, 8165537, start, end, 1, 0, 29, 1, 7531).stored)
out("put_card.other", u.put_card(c, 10058400, start, end, 1, 1, 1, 1, 0).stored)
card = u.get_card(c, 8165537)
out("get_card", f"{card.card_number} {card.start_date} {card.end_date} "
    f"{card.door_1} {card.door_2} {card.door_3} {card.door_4} {card.pin}")
out("get_card.missing", u.get_card(c, 12345).card_number)
out("get_cards", u.get_cards(c).cards)
out("get_card_by_index.1", u.get_card_by_index(c, 1).card_number)
out("delete_card", u.delete_card(c, 10058400).deleted)
out("get_card_by_index.2", u.get_card_by_index(c, 2).card_number)
out("get_cards.after_delete", u.get_cards(c).cards)

out("set_door_control", "{0.door} {0.mode} {0.delay}".format(u.set_door_control(c, 2, 3, 7)))
out("get_door_control", "{0.door} {0.mode} {0.delay}".format(u.get_door_control(c, 2)))

out("open_door", u.open_door(c, 2).opened)
status = u.get_status(c)
out("status.event", f"{status.event_index} {status.event_type} {status.event_door} {status.event_reason}")
event = u.get_event(c, status.event_index)
out("get_event", f"{event.index} {event.event_type} {event.access_granted} {event.door} {event.reason}")
out("get_event.missing", u.get_event(c, status.event_index + 1000).event_type)

out("record_special_events", u.record_special_events(c, True).updated)
out("set_event_index", u.set_event_index(c, status.event_index).updated)
out("get_event_index", u.get_event_index(c).event_index)

out("set_listener", u.set_listener(c, ipaddress.IPv4Address("127.0.0.1"), 60123, 0).ok)
listener = u.get_listener(c)
out("get_listener", f"{listener.address}:{listener.port} {listener.interval}")

# The other controller on the same port answers for itself only.
out("other.controller", u.get_controller((other, addr, protocol)).controller)
