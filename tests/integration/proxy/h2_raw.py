"""A deliberately crude HTTP/2 client for the attack and limit tests: it writes
frames byte by byte (HPACK only as static-table indices and literals without
Huffman coding) so a test can send what no well-behaved client library would,
such as a rapid-reset burst or an endless CONTINUATION run. RFC 9113 §4 and
§6, RFC 7541 §5.1 and §6.2.2 are the whole of what it knows."""
import socket
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 0x7, 0x8, 0xB


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def integer(value, prefix_bits, first=0):
    """RFC 7541 §5.1 integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value % 128) + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A literal field without indexing, new name (RFC 7541 §6.2.2), no Huffman."""
    name, value = name.encode(), value.encode()
    return b"\x00" + integer(len(name), 7) + name + integer(len(value), 7) + value


def get_block(path="/", authority="127.0.0.1", extra=()):
    """:method GET, :scheme http (static indices 2 and 6), then :path and :authority as literals."""
    block = b"\x82\x86" + literal(":path", path) + literal(":authority", authority)
    for name, value in extra:
        block += literal(name, value)
    return block


class RawClient:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def send(self, data):
        self.sock.sendall(data)

    def handshake(self):
        """Reads frames until the server's SETTINGS, and acknowledges them."""
        while True:
            kind, flags, stream, payload = self.read_frame()
            if kind == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
                return payload

    def read_frame(self):
        """The next frame as (type, flags, stream, payload), or None at the end of the connection."""
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags = self.buffer[3], self.buffer[4]
        stream = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
        payload = self.buffer[9:9 + length]
        self.buffer = self.buffer[9 + length:]
        return kind, flags, stream, payload

    def frames_until_close(self):
        """Every frame until the server closes the connection (or resets it)."""
        frames = []
        try:
            while True:
                got = self.read_frame()
                if got is None:
                    break
                frames.append(got)
        except (ConnectionResetError, socket.timeout):
            pass
        return frames

    def close(self):
        self.sock.close()
