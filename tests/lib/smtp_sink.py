#!/usr/bin/python3
"""tests/lib/smtp_sink.py - a real SMTP server for the mail tests (Debian's
python3-aiosmtpd): every message it receives is written to DIR/NNNN.eml
(envelope sender and recipients in X-Envelope-* lines, then the data as
received).  With --user/--password it offers AUTH LOGIN/PLAIN without TLS
and refuses other credentials; accepted logins are counted in DIR/auth.log
(the user name only).  It writes its port to DIR/port once it listens.

usage: smtp_sink.py DIR [--user U --password P]
"""
import argparse
import os
import signal
import socket
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Sink:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            path = os.path.join(self.outdir, "%04d.eml" % self.n)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\n")
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\n")
            f.write(data)
        os.rename(tmp, path)
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--user")
    ap.add_argument("--password")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    kwargs = {}
    if args.user:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (auth_data.login.decode() == args.user and auth_data.password.decode() == args.password)
            if ok:
                with open(os.path.join(args.dir, "auth.log"), "a") as f:
                    f.write(args.user + "\n")
            return AuthResult(success=ok)
        kwargs = dict(authenticator=authenticator, auth_require_tls=False, auth_required=True)
    ctl = Controller(Sink(args.dir), hostname="127.0.0.1", port=port, **kwargs)
    ctl.start()
    with open(os.path.join(args.dir, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(args.dir, "port.tmp"), os.path.join(args.dir, "port"))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    ctl.stop()


if __name__ == "__main__":
    main()
