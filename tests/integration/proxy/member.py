#!/usr/bin/env python3
"""A ring member for the proxy's integration tests.

Answers every request with its id (body "<id> <path>", header X-Served-By) and
appends every request it sees to a JSON-lines log, so tests can prove what
reached it. Paths with meaning:
  /bytes/N       a body of N bytes, streamed
  /status/N      answers status N
  /slow/MS       answers after MS milliseconds
  /close-after/MS  answers, keeps the connection open, then closes it once it
                 has been idle MS milliseconds (a keep-alive timeout), without
                 saying so in the response
  /upgrade/...   with an Upgrade header: answers 101 and switches to a line
                 echo ("<id>: <line>" for each line); when the peer half-closes,
                 sends "bye <id>" and closes. With a Sec-WebSocket-Key, a
                 WebSocket (RFC 6455) echo instead: each text message comes
                 back as "<id>: <message>", and a close is answered
  /reject-early/N  answers status N at once, without reading the request
                 body, and closes (the kernel then resets the connection)
  /reset-after/K/N  announces a body of N bytes, sends K of them, then resets
                 the connection (SO_LINGER 0): a reset in the middle of a response
  /early-hints/...  sends "103 Early Hints" (Link: </style.css>; rel=preload)
                 first, then the usual answer
  /events/N/MS   a chunked text/event-stream of N events, MS milliseconds
                 apart, each "data: <id> <i> <time.time() when sent>"
  /ringlb.test.Echo/METHOD  gRPC over HTTP/1.1 (what an HTTP/2 client's call
                 becomes through the proxy): a chunked application/grpc body
                 of length-prefixed messages "<id> <request bytes>", then the
                 status in chunked trailers (grpc-status, grpc-message,
                 x-served-by-trailer). Unary answers one message, Stream
                 three, Fail none with grpc-status 5, SlowStream one and
                 then nothing for a minute (a call to kill the member in).
Request bodies (Content-Length or chunked) are read in pieces and counted,
never held whole; the answer reports the count.
"""
import argparse
import base64
import hashlib
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, **event):
        with self.server.log_lock:
            self.server.log.write(json.dumps(event) + "\n")
            self.server.log.flush()

    def setup(self):
        super().setup()
        # Headers and body go out in separate sends: without this, Nagle and delayed ACKs add 40 ms.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.record(event="connect")

    def read_body(self):
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return total
                remaining = size
                while remaining:
                    got = len(self.rfile.read(min(CHUNK, remaining)))
                    if got == 0:
                        return total
                    remaining -= got
                    total += got
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0") or 0)
        while total < length:
            got = len(self.rfile.read(min(CHUNK, length - total)))
            if got == 0:
                break
            total += got
        return total

    def answer(self):
        if self.path.startswith("/reject-early/"):
            self.record(event="request", method=self.command, path=self.path, version=self.request_version,
                        headers={k: v for k, v in self.headers.items()}, body=None)
            body = b"refused before reading the body\n"
            self.send_response(int(self.path.split("/")[2]))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        if self.path.startswith("/ringlb.test.Echo/"):
            return self.grpc_answer()
        received = self.read_body()
        self.record(event="request", method=self.command, path=self.path, version=self.request_version,
                    headers={k: v for k, v in self.headers.items()}, body=received)
        parts = self.path.split("/")
        if len(parts) >= 2 and parts[1] == "upgrade" and self.headers.get("Upgrade"):
            if self.headers.get("Sec-WebSocket-Key"):
                self.websocket_echo()
            else:
                self.switch_to_echo()
            return
        status = 200
        if len(parts) >= 3 and parts[1] == "slow":
            time.sleep(int(parts[2]) / 1000)
        if len(parts) >= 3 and parts[1] == "close-after":
            # handle_one_request closes the connection when the next read times out.
            self.request.settimeout(int(parts[2].split("?")[0]) / 1000)
        if len(parts) >= 3 and parts[1] == "status":
            status = int(parts[2])
        if len(parts) >= 4 and parts[1] == "reset-after":
            sent, size = int(parts[2]), int(parts[3])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("X-Served-By", self.server.member_id)
            self.end_headers()
            self.wfile.write(b"x" * sent)
            self.wfile.flush()
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.request.close()
            self.close_connection = True
            return
        if len(parts) >= 4 and parts[1] == "events":
            count, gap = int(parts[2]), int(parts[3]) / 1000
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Served-By", self.server.member_id)
            self.end_headers()
            for i in range(count):
                if i:
                    time.sleep(gap)
                event = f"data: {self.server.member_id} {i} {time.time():.6f}\n\n".encode()
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        if len(parts) >= 3 and parts[1] == "bytes":
            size = int(parts[2])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.send_header("X-Served-By", self.server.member_id)
            self.end_headers()
            if self.command != "HEAD":
                block = b"x" * CHUNK
                sent = 0
                while sent < size:
                    n = min(CHUNK, size - sent)
                    self.wfile.write(block[:n])
                    sent += n
            return
        if len(parts) >= 2 and parts[1] == "early-hints":
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            self.wfile.flush()
        body = f"{self.server.member_id} {self.path} {received}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", self.server.member_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_grpc_request(self):
        data = b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        return data[5:] if len(data) >= 5 else data

    def grpc_answer(self):
        request = self.read_grpc_request()
        method = self.path.split("/")[2]
        self.record(event="request", method=self.command, path=self.path, version=self.request_version,
                    headers={k: v for k, v in self.headers.items()}, body=len(request))
        self.send_response(200)
        self.send_header("Content-Type", "application/grpc")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("X-Served-By", self.server.member_id)
        self.send_header("Trailer", "grpc-status, grpc-message, x-served-by-trailer")
        self.end_headers()
        count = {"Unary": 1, "Stream": 3, "SlowStream": 2}.get(method, 0)
        for i in range(count):
            if i == 1 and method == "SlowStream":
                time.sleep(60)
            payload = f"{self.server.member_id} {request.decode(errors='replace')} {i}".encode()
            message = b"\0" + len(payload).to_bytes(4, "big") + payload
            self.wfile.write(f"{len(message):x}\r\n".encode() + message + b"\r\n")
            self.wfile.flush()
        status, text = ("0", "ok") if count else ("5", "nothing here")
        self.wfile.write(f"0\r\ngrpc-status: {status}\r\ngrpc-message: {text}\r\n"
                         f"x-served-by-trailer: {self.server.member_id}\r\n\r\n".encode())
        self.wfile.flush()

    def switch_to_echo(self):
        self.send_response(101)
        self.send_header("Upgrade", self.headers["Upgrade"])
        self.send_header("Connection", "Upgrade")
        self.send_header("X-Served-By", self.server.member_id)
        self.end_headers()
        self.wfile.flush()
        while True:
            line = self.rfile.readline()
            if not line.endswith(b"\n"):
                break
            self.record(event="tunnel", line=line.decode().rstrip("\n"))
            self.wfile.write(f"{self.server.member_id}: ".encode() + line)
            self.wfile.flush()
        self.wfile.write(f"bye {self.server.member_id}\n".encode())
        self.wfile.flush()
        self.close_connection = True

    def websocket_echo(self):
        key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode())
        self.send_header("X-Served-By", self.server.member_id)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                break
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length >= 126:
                length = int.from_bytes(self.rfile.read(2 if length == 126 else 8), "big")
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(length)))
            if opcode == 0x8:  # close: answer it, then end the connection
                self.send_frame(0x8, payload[:2])
                break
            if opcode == 0x9:
                self.send_frame(0xA, payload)
            elif opcode == 0x1:
                self.record(event="websocket", message=payload.decode())
                self.send_frame(0x1, f"{self.server.member_id}: ".encode() + payload)
        self.close_connection = True

    def send_frame(self, opcode, payload):
        if len(payload) < 126:
            head = bytes([0x80 | opcode, len(payload)])
        elif len(payload) < 65536:
            head = bytes([0x80 | opcode, 126]) + len(payload).to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 127]) + len(payload).to_bytes(8, "big")
        self.wfile.write(head + payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = answer

    def send_error(self, code, message=None, explain=None):
        self.record(event="bad-request", code=code, raw=str(self.raw_requestline[:200]))
        super().send_error(code, message, explain)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    server.member_id = args.id
    server.log = open(args.log, "a")
    server.log_lock = threading.Lock()
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
