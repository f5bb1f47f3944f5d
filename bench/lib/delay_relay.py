#!/usr/bin/env python3
"""bench/lib/delay_relay.py - a TCP relay that adds a fixed delay, for bench/wan_bench.sh.

The kernel here has no netem, so a WAN is simulated in user space: the relay
listens on 127.0.0.1:PORT and forwards every connection to a PostgreSQL
server (its Unix socket, or host:port), holding each piece of data for
RTT/2 in each direction before passing it on.  Bandwidth is not limited:
data is read as fast as it comes and every piece is released at its own
arrival time + RTT/2, so a stream of bytes is delayed, not slowed.

It also counts what crosses it, per direction: bytes, reads ("flushes":
one read is one burst the sender pushed), and turns.  A turn is data from
the client after the last data that crossed was the server's: one client
wait for an answer, i.e. one round trip the client paid.  A pipelined
client that sends again before the answer arrives pays fewer turns.

Signals: SIGUSR1 writes the counters (JSON) to --stats; SIGUSR2 zeroes
them.  SIGTERM/SIGINT: leave.

--trace FILE: one line per turn (time, connection number, the first
bytes the client sent), to see which statements cost the round trips.

Usage: delay_relay.py --listen PORT (--unix PATH | --to HOST:PORT)
                      --rtt-ms MS --stats FILE [--ready FILE] [--trace FILE]
"""
import argparse
import asyncio
import json
import os
import signal
import sys

CHUNK = 256 * 1024


class Counters:
    def __init__(self):
        self.reset()

    def reset(self):
        self.connections = 0
        self.bytes = {"c2s": 0, "s2c": 0}
        self.flushes = {"c2s": 0, "s2c": 0}
        self.turns = 0
        self.watch_turns = 0

    def as_dict(self):
        return {"connections": self.connections, "bytes": self.bytes, "flushes": self.flushes,
                "turns": self.turns, "watch_turns": self.watch_turns}


class Link:
    """One relayed connection: who sent last, for counting turns."""

    def __init__(self, number=0):
        self.last = "s2c"  # the server speaks first after the startup packet
        self.number = number
        self.turns = 0
        self.watch = False


TRACE = None
WATCH_MARK = b"AS ref, pg_catalog.pg_current_snapshot() AS cur"


async def pump(reader, writer, delay, direction, link, counters):
    """Read from reader, write each piece to writer delay seconds after it arrived."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def release():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            # Drain only when the buffer is large: no pacing of the stream.
            if writer.transport.get_write_buffer_size() > 4 * CHUNK:
                await writer.drain()
        try:
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError):
            pass

    task = asyncio.create_task(release())
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            counters.bytes[direction] += len(data)
            counters.flushes[direction] += 1
            if direction == "c2s" and not link.watch and WATCH_MARK in data:
                # The engine's autokick watcher (daemon/source_watch.c):
                # its polls are counted apart from the cycles' round trips.
                link.watch = True
                counters.turns -= link.turns
                counters.watch_turns += link.turns
            if direction == "c2s" and link.last == "s2c":
                link.turns += 1
                if link.watch:
                    counters.watch_turns += 1
                else:
                    counters.turns += 1
                if TRACE:
                    text = data[5:120].decode("utf-8", "replace") if data[:1] in (b"Q", b"P") else repr(data[:20])
                    TRACE.write("%.3f %d %s\n" % (loop.time(), link.number, text.replace("\n", " ")))
                    TRACE.flush()
            link.last = direction
            queue.put_nowait((loop.time() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    await task


async def handle(client_reader, client_writer, args, counters):
    counters.connections += 1
    try:
        if args.unix:
            server_reader, server_writer = await asyncio.open_unix_connection(args.unix)
        else:
            host, port = args.to.rsplit(":", 1)
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        client_writer.close()
        return
    delay = args.rtt_ms / 2000.0
    link = Link(counters.connections)
    await asyncio.gather(pump(client_reader, server_writer, delay, "c2s", link, counters),
                         pump(server_reader, client_writer, delay, "s2c", link, counters))
    for w in (client_writer, server_writer):
        try:
            w.close()
        except OSError:
            pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--unix")
    ap.add_argument("--to")
    ap.add_argument("--rtt-ms", type=float, required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--ready")
    ap.add_argument("--trace")
    args = ap.parse_args()
    if bool(args.unix) == bool(args.to):
        ap.error("give exactly one of --unix and --to")
    if args.rtt_ms < 0:
        ap.error("--rtt-ms must not be negative")
    global TRACE
    if args.trace:
        TRACE = open(args.trace, "a")
    counters = Counters()
    loop = asyncio.get_running_loop()

    def dump():
        tmp = args.stats + ".tmp"
        with open(tmp, "w") as f:
            json.dump(counters.as_dict(), f)
        os.replace(tmp, args.stats)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, dump)
    loop.add_signal_handler(signal.SIGUSR2, counters.reset)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    server = await asyncio.start_server(lambda r, w: handle(r, w, args, counters), "127.0.0.1", args.listen)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("%d\n" % os.getpid())
    async with server:
        await stop.wait()
    dump()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
