"""pyzk 0.9 against onecard's simulated attendance machine: one operation per run, JSON out.

usage: zk_ops.py PORT PASSWORD OP [ARGS]   (host is always 127.0.0.1)
"""
import json
import sys
import time
from datetime import datetime

from zk import ZK
from zk.exception import ZKErrorResponse


def out(**kw):
    print(json.dumps(kw, default=str), flush=True)


def main():
    port, password, op, args = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    zk = ZK('127.0.0.1', port=port, timeout=10, password=password, force_udp=False, ommit_ping=True)
    if op == 'refused':
        try:
            zk.connect()
        except ZKErrorResponse as e:
            out(refused=str(e))
            return
        out(refused=None)
        return
    conn = zk.connect()
    if op == 'info':
        conn.read_sizes()
        out(firmware=conn.get_firmware_version(), serial=conn.get_serialnumber(),
            platform=conn.get_platform(), device=conn.get_device_name(),
            fp_version=conn.get_fp_version(), face_version=conn.get_face_version(),
            extend_fmt=conn.get_extend_fmt(), pin_width=conn.get_pin_width(),
            users=conn.users, records=conn.records, rec_cap=conn.rec_cap, rec_av=conn.rec_av,
            users_cap=conn.users_cap)
    elif op == 'users':
        # ARGS: uid:user_id:name:privilege:password:card ... to write first.
        for spec in args:
            uid, user_id, name, privilege, password_, card = spec.split(':')
            conn.set_user(uid=int(uid), name=name, privilege=int(privilege), password=password_,
                          group_id='', user_id=user_id, card=int(card))
        users = conn.get_users()
        out(users=[dict(uid=u.uid, user_id=u.user_id, name=u.name, privilege=u.privilege,
                        password=u.password, card=u.card) for u in users])
    elif op == 'attendance':
        started = time.monotonic()
        conn.disable_device()
        atts = conn.get_attendance()
        conn.enable_device()
        took = time.monotonic() - started
        pick = lambda a: dict(uid=a.uid, user_id=a.user_id, time=a.timestamp.strftime('%Y-%m-%d %H:%M:%S'),
                             verify=a.status, state=a.punch)
        out(count=len(atts), seconds=round(took, 3), first=pick(atts[0]) if atts else None,
            last=pick(atts[-1]) if atts else None, middle=pick(atts[len(atts) // 2]) if atts else None)
    elif op == 'time':
        conn.set_time(datetime.strptime(args[0], '%Y-%m-%d %H:%M:%S'))
        out(time=conn.get_time().strftime('%Y-%m-%d %H:%M:%S'))
    elif op == 'clear':
        conn.clear_attendance()
        conn.read_sizes()
        out(records=conn.records, attendance=len(conn.get_attendance()))
    elif op == 'unlock':
        out(unlocked=conn.unlock(int(args[0])))
    else:
        raise SystemExit('unknown op ' + op)
    conn.disconnect()


if __name__ == '__main__':
    main()
