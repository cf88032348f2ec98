"""Why a PostgreSQL server refused a connection, asked of the server itself.

libpq (through ADBC) reports a failed connection without its SQLSTATE, and csvdock never decides
from message text. So after a failed connect, ``refusal_sqlstate`` speaks the start of the wire
protocol (StartupMessage, then the password exchange: cleartext, MD5 or SCRAM-SHA-256) and
returns the SQLSTATE of the server's ErrorResponse: ``28P01`` a wrong password, ``28000`` no
such role or no pg_hba entry, ``3D000`` no such database, ``57P03`` starting up or shutting
down. None when the server cannot be reached or accepts the connection (then the failure was
something else, and transient).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import struct
from urllib.parse import parse_qs, unquote, urlsplit

PROTOCOL_3 = 196608
DEFAULT_PORT = 5432
SOCKET_DIRECTORY = "/var/run/postgresql"


def refusal_sqlstate(url: str, timeout: float = 5.0) -> str | None:
    """Return the SQLSTATE with which the server at ``url`` refuses a connection, or None."""
    try:
        params = _params(url)
        with _connected(params, timeout) as sock:
            return _startup(sock, params)
    except (OSError, ValueError, struct.error):
        return None


def _params(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    found = {
        "user": unquote(parts.username or "")
        or query.get("user", "")
        or os.environ.get("USER", ""),
        "password": unquote(parts.password or "") or query.get("password", ""),
        "host": unquote(parts.hostname or "") or query.get("host", ""),
        "port": str(parts.port or query.get("port", DEFAULT_PORT)),
        "database": unquote(parts.path.lstrip("/")) or query.get("dbname", ""),
    }
    found["database"] = found["database"] or found["user"]
    return found


def _connected(params: dict[str, str], timeout: float) -> socket.socket:
    host, port = params["host"], int(params["port"])
    if not host or host.startswith("/"):
        path = os.path.join(host or SOCKET_DIRECTORY, f".s.PGSQL.{port}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        return sock
    return socket.create_connection((host, port), timeout=timeout)


def _startup(sock: socket.socket, params: dict[str, str]) -> str | None:
    body = struct.pack("!i", PROTOCOL_3)
    for key in ("user", "database"):
        body += key.encode() + b"\0" + params[key].encode() + b"\0"
    body += b"\0"
    sock.sendall(struct.pack("!i", len(body) + 4) + body)
    scram: _Scram | None = None
    while True:
        kind, payload = _message(sock)
        if kind == b"E":
            return _error_code(payload)
        if kind == b"Z":
            return None  # ready for query: the server accepts this connection
        if kind != b"R":
            continue
        code = struct.unpack("!i", payload[:4])[0]
        password = params["password"].encode()
        if code == 3:
            _send(sock, b"p", password + b"\0")
        elif code == 5:
            inner = hashlib.md5(password + params["user"].encode()).hexdigest().encode()
            _send(
                sock, b"p", b"md5" + hashlib.md5(inner + payload[4:8]).hexdigest().encode() + b"\0"
            )
        elif code == 10:
            scram = _Scram(password)
            first = scram.client_first()
            _send(sock, b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
        elif code == 11 and scram is not None:
            _send(sock, b"p", scram.client_final(payload[4:]))
        elif code not in (0, 12):
            return None  # an authentication method not spoken here: no answer


def _message(sock: socket.socket) -> tuple[bytes, bytes]:
    head = _read(sock, 5)
    length = struct.unpack("!i", head[1:])[0]
    return head[:1], _read(sock, length - 4)


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("the server closed the connection")
        data += chunk
    return data


def _send(sock: socket.socket, kind: bytes, body: bytes) -> None:
    sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)


def _error_code(payload: bytes) -> str | None:
    for field in payload.split(b"\0"):
        if field[:1] == b"C":
            return field[1:].decode("ascii", errors="replace")
    return None


class _Scram:
    """The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), as PostgreSQL speaks it."""

    def __init__(self, password: bytes) -> None:
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"

    def client_first(self) -> bytes:
        return f"n,,{self.first_bare}".encode()

    def client_final(self, server_first: bytes) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256", self.password, base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={fields['r']}"
        message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored_key, message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
