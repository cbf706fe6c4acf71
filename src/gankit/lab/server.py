"""The lab's local web server: one page, a few JSON endpoints and a WebSocket of frames.

Starlette serves the app and uvicorn runs it. Safe by default, as Jupyter is:

- it listens on 127.0.0.1 unless told otherwise;
- every request carries the session's random token (``secrets.token_urlsafe``),
  in the ``token`` query parameter or the ``X-Lab-Token`` header; without it, 403;
- the Host header must name this server (a loopback name, or the ``--host``
  given) and its port: a DNS-rebinding page, whose Host is its own name, gets 403;
- a POST or WebSocket whose Origin is not this server's is refused (403), so
  another site in the same browser can neither drive the lab nor read its frames;
- a dropped file is capped (`gankit.lab.problem.MAX_UPLOAD_BYTES`) and checked
  by `gankit.data.points.load_points`; a bad one is one message, never a crash;
- a request's headers and body must arrive within `REQUEST_SECONDS`, so half-sent
  requests cannot hold connections open (`timed_protocol`); a JSON body is checked
  (depth, numbers, type) before a handler reads it;
- the page loads nothing from elsewhere: its scripts and styles are in
  ``static/``, and a Content-Security-Policy of ``'self'`` keeps it so.

Endpoints (all under the token): ``GET /`` the page; ``GET /static/...``;
``POST /api/command`` ``{"action": ..., ...}`` (see `ACTIONS`); ``POST /api/points``
``{"points": [[x, y], ...]}``; ``POST /api/upload?name=FILE`` (the raw file);
``WS /ws`` problem and frame messages (`gankit.lab.session.LabSession.updates`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import socket
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketClose, WebSocketDisconnect

from gankit.errors import UserError
from gankit.lab.problem import MAX_UPLOAD_BYTES, DataFiles, display_name
from gankit.lab.session import LabSession, Seen

STATIC = Path(__file__).parent / "static"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
# Action -> the arguments it takes (checked before it reaches the training thread).
ACTIONS = {"play": set(), "pause": set(), "step": set(), "epoch": set(), "reset": {"problem"},
           "speed": {"speed"}, "lr": {"lr_d", "lr_g"}, "save": {"plots"}}
REQUEST_SECONDS = 20.0  # the longest a request's headers and body may take to arrive (see `timed_protocol`)
MAX_JSON_DEPTH = 4  # {"points": [[x, y], ...]} and {"action": "reset", "problem": {"g_hidden": [..]}} are the deepest
COMMAND_SECONDS = 300.0  # the longest a command may take (saving with figures takes seconds)
POLL_SECONDS = 0.01  # how often a WebSocket looks for a new frame
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store"),
]


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """``"name:port"`` or ``"[v6]:port"`` from a Host header -> (name, port), or None if malformed."""
    if not value:
        return None
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else (None if not rest else "x")
    else:
        name, _, port = value.rpartition(":") if ":" in value else (value, "", None)
    if port is not None and not port.isdigit():
        return None
    return name.lower(), (int(port) if port is not None else None)


class Guard:
    """ASGI middleware: host, origin and token checks, and security headers (see the module docstring).

    Args:
        app: the app it guards.
        token: the session's secret.
        port: the port this server listens on (None: any, for in-process tests).
        hosts: host names the Host header may carry; None: any (a wildcard ``--host``).
    """

    def __init__(self, app, token: str, port: int | None, hosts: Sequence[str] | None):
        self.app, self.token, self.port = app, token, port
        self.hosts = None if hosts is None else {h.lower().strip("[]") for h in hosts}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.refusal(scope)
        if problem is not None:
            if scope["type"] == "websocket":
                await WebSocketClose(code=1008, reason=problem)(scope, receive, send)  # uvicorn answers 403
            else:
                await PlainTextResponse(problem, status_code=403)(scope, receive, send)
            return

        host = Headers(scope=scope)["host"]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                policy = (f"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                          f"connect-src 'self' ws://{host}; base-uri 'none'; form-action 'none'; "
                          f"frame-ancestors 'none'")
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS,
                                      (b"content-security-policy", policy.encode())]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope) -> str | None:
        """Why a request is refused, or None."""
        headers = Headers(scope=scope)
        host = split_host(headers.get("host"))
        if host is None or (self.hosts is not None and host[0] not in self.hosts) or (
                self.port is not None and host[1] != self.port):
            return "refused: the Host header does not name this server"
        origin = headers.get("origin")
        if origin is not None and (scope["type"] == "websocket" or scope.get("method") not in ("GET", "HEAD")):
            scheme, _, rest = origin.partition("://")
            if scheme != "http" or split_host(rest) != host:
                return "refused: a request from another origin"
        given = QueryParams(scope.get("query_string", b"")).get("token") or headers.get("x-lab-token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "refused: this page needs the lab's token (open the URL gankit lab printed)"
        return None


def create_app(session: LabSession, token: str, port: int | None = None,
               hosts: Sequence[str] | None = LOOPBACK) -> Guard:
    """The lab's ASGI app around ``session``, guarded by `Guard`.

    Args:
        session: the training session the page drives (closed when the app shuts down).
        token: the secret every request must carry.
        port: the port the server listens on (the Host header must name it).
        hosts: names the Host header may carry (None: any).
    """
    page = (STATIC / "index.html").read_text()

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page.replace("__TOKEN__", token))

    async def command(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
        except UserError as err:
            return _error(str(err))
        action = body.pop("action", None)
        if not isinstance(action, str) or action not in ACTIONS:
            return _error(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        extra = sorted(set(body) - ACTIONS[action])
        if extra:
            return _error(f"{action} takes no argument {extra[0]!r}")
        future = session.command(action, **body)
        try:
            return JSONResponse(await asyncio.wait_for(asyncio.wrap_future(future), COMMAND_SECONDS))
        except UserError as err:
            return _error(str(err))
        except asyncio.TimeoutError:
            return _error(f"{action} is taking long; it goes on in the background", status=504)

    async def points(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            key = await run_in_threadpool(session.files.add_points, body.get("points"))
        except UserError as err:
            return _error(str(err))
        return JSONResponse(_described(session.files, key))

    async def upload(request: Request) -> JSONResponse:
        name = request.query_params.get("name", "file")
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                return _error(f"{display_name(name)}: file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB",
                              status=413)
        try:
            key = await run_in_threadpool(session.files.add_bytes, bytes(data), name)
        except UserError as err:
            return _error(str(err))
        return JSONResponse(_described(session.files, key))

    async def frames(websocket: WebSocket) -> None:
        await websocket.accept()
        seen = Seen(problem=-1, frame=-1)

        async def send_updates() -> None:
            while not session.closed:
                for text in session.updates(seen):
                    await websocket.send_text(text)
                await asyncio.sleep(POLL_SECONDS)

        sender = asyncio.ensure_future(send_updates())
        try:
            while True:  # the page sends nothing; this notices it leave
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await run_in_threadpool(session.close)

    app = Starlette(routes=[
        Route("/", index), Route("/api/command", command, methods=["POST"]),
        Route("/api/points", points, methods=["POST"]), Route("/api/upload", upload, methods=["POST"]),
        WebSocketRoute("/ws", frames), Mount("/static", StaticFiles(directory=STATIC)),
    ], lifespan=lifespan, max_body_size=MAX_UPLOAD_BYTES + 1024 * 1024)  # any body; uploads say it first
    return Guard(app, token, port, hosts)


async def _json(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object, checked before any handler reads it.

    Raises:
        UserError: larger than `MAX_UPLOAD_BYTES`, not JSON, not an object, nested deeper than
            `MAX_JSON_DEPTH`, or a number float64 cannot hold (a 401-digit integer, ``1e999``, ``NaN``).
    """
    raw = await request.body()
    if len(raw) > MAX_UPLOAD_BYTES:
        raise UserError(f"request body is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    try:
        body = json.loads(raw, parse_int=_finite_int, parse_float=_finite_float, parse_constant=_no_constant)
    except RecursionError:
        raise UserError(f"request body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as err:
        raise UserError(f"request body is not JSON ({str(err).splitlines()[0][:80]})") from None
    if not isinstance(body, dict):
        raise UserError(f"request body must be a JSON object, not {type(body).__name__}")
    if _depth(body) > MAX_JSON_DEPTH:
        raise UserError(f"request body is nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def _finite_int(text: str) -> int:
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise UserError(f"a number of {len(text.lstrip('-'))} digits in the request is out of range") from None
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UserError(f"the number {text[:40]} in the request is out of range")
    return value


def _no_constant(text: str):
    raise UserError(f"{text} in the request is not a number JSON allows")


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (a number or string: 0), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            break
        pending.extend((child, level + 1) for child in children)
    return deepest


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _described(files: DataFiles, key: str) -> dict[str, Any]:
    f = files.get(key)
    return {"data": key, "name": f.name, "n": f.n}


def timed_protocol() -> type:
    """uvicorn's HTTP/1.1 protocol with a deadline on each request's arrival.

    uvicorn times out idle keep-alive connections but not a request that is being
    sent: a client that opens a connection and sends half a header (or part of a
    body) holds it, and a file descriptor, for ever. Here a request's headers and
    body must arrive within `REQUEST_SECONDS` of its first byte (of the connection,
    for the first); otherwise the connection is closed. A WebSocket, once upgraded,
    is another protocol's and is left alone.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    receiving = (h11.IDLE, h11.SEND_BODY)

    class TimedH11Protocol(H11Protocol):
        deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.deadline = self.loop.call_later(REQUEST_SECONDS, self.too_slow)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            arriving = self.conn.their_state in receiving and self.transport.get_protocol() is self
            if arriving and self.deadline is None:
                self.deadline = self.loop.call_later(REQUEST_SECONDS, self.too_slow)
            elif not arriving and self.deadline is not None:  # complete (or upgraded): the app has it
                self.deadline.cancel()
                self.deadline = None

        def connection_lost(self, exc) -> None:
            if self.deadline is not None:
                self.deadline.cancel()
                self.deadline = None
            super().connection_lost(exc)

        def too_slow(self) -> None:
            self.deadline = None
            if self.conn.their_state in receiving and self.transport.get_protocol() is self \
                    and not self.transport.is_closing():
                self.transport.close()

    return TimedH11Protocol


def serve(host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True, runs: str | Path = "runs") -> None:
    """Run the lab until interrupted: bind, print the URL (with its token), open a browser.

    Args:
        host: the address to listen on; a wildcard (0.0.0.0) accepts any Host header, so the
            token is then the only guard: say so.
        port: the port (0: any free one).
        open_browser: open the page with `webbrowser`.
        runs: where "save as run" writes.

    Raises:
        UserError: the port is taken or the address cannot be bound.
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror} (choose another --port, or --port 0)") \
            from None
    sock.listen(64)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(32)
    hosts = None if host in WILDCARDS else (*LOOPBACK, host)
    shown = "127.0.0.1" if host in WILDCARDS else (f"[{host}]" if ":" in host else host)
    url = f"http://{shown}:{port}/?token={token}"
    session = LabSession(runs=runs)
    app = create_app(session, token, port, hosts)
    print(f"gankit lab: serving on {url}", flush=True)
    print("  (Ctrl-C stops it; the token keeps other users and web pages out)", file=sys.stderr, flush=True)
    if hosts is None:
        print(f"gankit lab: warning: listening on {host or 'every address'}, any Host header is accepted; "
              "anyone who can reach this port and has the URL can use the lab", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio",
                                           http=timed_protocol()))
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        session.close()
        sock.close()


__all__ = ["ACTIONS", "Guard", "LOOPBACK", "create_app", "serve", "split_host"]
