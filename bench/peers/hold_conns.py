#!/usr/bin/env python3
"""Opens many idle HTTP/1.1 keep-alive connections to one proxy and holds them.

Used by bench/proxy-vs-peers to measure a proxy's memory per idle client connection.
Every connection makes exactly one GET (a distinct path, as in the throughput run),
reads the whole response, and then stays open and idle.

Protocol on stdin/stdout, one line each, so a shell script can drive it as a coprocess:
  prints  "OPEN <ok> <failed> <bodies> <first error or ->"   once every connection was tried;
          <bodies> is the number of distinct response bodies (each bench backend names itself
          in its body, so this counts the backends the proxy spread the paths over)
  reads   "check"  -> prints "ALIVE <n>": connections the proxy has not closed
  reads   "close" or end of input -> closes everything and exits 0
With --once it exits right after the OPEN line. Exit status 2 on bad arguments.

With --requests K (K > 1) every connection then makes K - 1 more requests, one every --every
seconds, the connections spread evenly over each interval (a steady trickle, as from many
clients that each send a request every second), and the holder prints
        "DONE <ok> <failed> <first error or ->"  once every connection made its last request
before it reads commands.
"""

import argparse
import asyncio
import sys


class HeldConnection:
    """One client connection; keeps its reader so a later check can see an EOF."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes):
        self.reader = reader
        self.writer = writer
        self.body = body

    def alive(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()


async def readResponse(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Reads one HTTP/1.1 response. Returns (status, server wants to close, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    closing = headers.get("connection", "").lower() == "close"
    return status, closing, body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int,
                   path: str, timeout: float) -> bytes:
    """One GET on a keep-alive connection; returns the body. Raises on anything but a kept 200."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    status, closing, body = await asyncio.wait_for(readResponse(reader), timeout)
    if status != 200:
        raise ValueError(f"status {status}")
    if closing:
        raise ValueError("proxy answered Connection: close")
    return body


async def openOne(host: str, port: int, path: str, timeout: float) -> HeldConnection:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        body = await exchange(reader, writer, host, port, path, timeout)
    except BaseException:
        writer.close()
        raise
    return HeldConnection(reader, writer, body)


async def pace(held: list[HeldConnection], args: argparse.Namespace) -> list[str]:
    """The --requests mode: K - 1 more requests per connection, spread evenly; returns the errors."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    errors: list[str] = []

    async def one(index: int, connection: HeldConnection) -> None:
        offset = args.every * index / max(len(held), 1)
        for turn in range(1, args.requests):
            await asyncio.sleep(max(0.0, start + turn * args.every + offset - loop.time()))
            try:
                path = f"/bench/item/{(index + turn) % args.paths:05d}"
                await exchange(connection.reader, connection.writer, args.host, args.port, path, args.timeout)
            except Exception as error:  # the connection is spent; the first error is reported
                errors.append(f"{type(error).__name__}: {error}".replace("\n", " ") or "error")
                connection.writer.close()
                return

    await asyncio.gather(*(one(i, c) for i, c in enumerate(held)))
    return errors


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True, help="connections to hold")
    parser.add_argument("--paths", type=int, default=10000, help="distinct paths to cycle")
    parser.add_argument("--parallel", type=int, default=128,
                        help="connections being opened at once (keeps the accept queue short)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per connection")
    parser.add_argument("--once", action="store_true", help="exit after the OPEN line")
    parser.add_argument("--requests", type=int, default=1, help="requests per connection (K)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between a connection's requests")
    args = parser.parse_args()
    if args.count < 1 or args.paths < 1 or args.parallel < 1 or args.requests < 1:
        parser.error("--count, --paths, --parallel and --requests must be positive")
    if args.every <= 0:
        parser.error("--every must be positive")

    held: list[HeldConnection] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(args.parallel)

    async def attempt(index: int) -> None:
        async with gate:
            try:
                path = f"/bench/item/{index % args.paths:05d}"
                held.append(await openOne(args.host, args.port, path, args.timeout))
            except Exception as error:  # any failure counts; the first is reported
                errors.append(f"{type(error).__name__}: {error}".replace("\n", " ") or "error")

    await asyncio.gather(*(attempt(i) for i in range(args.count)))
    first = errors[0] if errors else "-"
    bodies = len({c.body for c in held})
    print(f"OPEN {len(held)} {len(errors)} {bodies} {first}", flush=True)
    if args.once:
        for connection in held:
            connection.writer.close()
        return 0
    if args.requests > 1:
        paceErrors = await pace(held, args)
        ok = len(held) - len(paceErrors)
        print(f"DONE {ok} {len(paceErrors)} {paceErrors[0] if paceErrors else '-'}", flush=True)

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = (await stdin.readline()).decode().strip()
        if line == "check":
            # Let pending EOFs from the proxy be delivered before counting.
            await asyncio.sleep(0.2)
            print(f"ALIVE {sum(1 for c in held if c.alive())}", flush=True)
        elif line in ("close", ""):
            break
    for connection in held:
        connection.writer.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the script cleans up
        sys.exit(130)
