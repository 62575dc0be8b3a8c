"""Demo backend: a small JSON API over PostgreSQL, used by the demo deploy and the pipeline tests.

Routes: GET /health (200 when the database answers SELECT 1), GET /livez (200 while the
process serves), GET /api/version, GET and POST /api/items. Every response carries
X-App-Version. SIGTERM stops accepting, lets in-flight requests finish, then exits.

FAIL_MODE (baked in at build time) makes deliberately broken images for failure tests:
  health  /health answers 500 forever: the Docker healthcheck (on /health) turns unhealthy
  smoke   /livez (the Docker healthcheck) stays 200, /health answers 503: smoke tests fail
  crash   the process exits 1 at start
and, for apps as they are found in the wild, what it does on SIGTERM:
  ignore-term   ignores it (like many images whose PID 1 is a server without a signal handler):
                only SIGKILL stops it
  drop-on-term  exits at once, cutting the requests in flight
"""

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

VERSION = os.environ.get("APP_VERSION") or "unknown"
FAIL_MODE = os.environ.get("FAIL_MODE", "")
PORT = 3000
DRAIN_SECONDS = 1.5
QUIET_PATHS = ("/health", "/livez")
GET_ONLY = ("/health", "/livez", "/api/version")


def log(message: str) -> None:
    print(f"demo-backend {VERSION}: {message}", file=sys.stderr, flush=True)


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        raise LookupError("DATABASE_URL is not set")
    return url


def query(sql: str, params=(), fetch: bool = True):
    """Run one statement on a fresh connection (commits on success); return its rows."""
    connection = psycopg2.connect(database_url(), connect_timeout=2)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if fetch else []
    finally:
        connection.close()


class InFlight:
    """Counts requests being handled so shutdown can wait for them."""

    def __init__(self):
        self.count = 0
        self.idle = threading.Condition()

    def __enter__(self):
        with self.idle:
            self.count += 1

    def __exit__(self, *exc):
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def wait(self, seconds: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.count == 0, timeout=seconds)


IN_FLIGHT = InFlight()
STOPPING = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-backend"
    timeout = 30  # idle keep-alive connections are closed after this

    def send_json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-App-Version", VERSION)
        if STOPPING.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        """Malformed requests and unsupported methods get JSON too, with the version header."""
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_request(self, code="-", size="-"):
        path = getattr(self, "path", "").split("?", 1)[0]
        if path not in QUIET_PATHS or str(code) != "200":
            super().log_request(code, size)

    def database_error(self, error: Exception) -> None:
        reason = str(error) if isinstance(error, LookupError) else "database unavailable"
        log(f"{self.command} {self.route}: {type(error).__name__}")  # never the URL or its parts
        self.send_json(500, {"status": "error", "version": VERSION, "error": reason})

    @property
    def route(self) -> str:
        return self.path.split("?", 1)[0]

    def do_GET(self):
        with IN_FLIGHT:
            if self.route == "/livez":
                self.send_json(200, {"status": "alive", "version": VERSION})
            elif self.route == "/health":
                self.health()
            elif self.route == "/api/version":
                self.send_json(200, {"version": VERSION})
            elif self.route == "/api/items":
                self.list_items()
            else:
                self.send_json(404, {"error": "not found", "path": self.route})

    do_HEAD = do_GET

    def do_POST(self):
        with IN_FLIGHT:
            body = self.read_body()
            if self.route in GET_ONLY:
                self.send_json(405, {"error": "method not allowed", "path": self.route})
            elif self.route != "/api/items":
                self.send_json(404, {"error": "not found", "path": self.route})
            elif body is not None:
                self.create_item(body)

    def do_PUT(self):
        self.read_body()
        self.send_json(405, {"error": "method not allowed"})

    do_PATCH = do_DELETE = do_PUT

    def read_body(self):
        """The JSON request body, or None after answering 400."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "bad Content-Length")
            return None
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            self.send_json(400, {"error": "body is not JSON"})
            return None

    def health(self):
        if FAIL_MODE == "health":
            self.send_json(500, {"status": "error", "version": VERSION, "error": "FAIL_MODE=health"})
            return
        if FAIL_MODE == "smoke":
            self.send_json(503, {"status": "error", "version": VERSION, "error": "FAIL_MODE=smoke"})
            return
        try:
            query("SELECT 1")
        except (LookupError, psycopg2.Error) as error:
            self.database_error(error)
            return
        self.send_json(200, {"status": "ok", "version": VERSION})

    def list_items(self):
        try:
            rows = query("SELECT id, name, created_at FROM items ORDER BY id")
        except (LookupError, psycopg2.Error) as error:
            self.database_error(error)
            return
        items = [{"id": i, "name": n, "created_at": c.isoformat()} for i, n, c in rows]
        self.send_json(200, {"items": items})

    def create_item(self, body):
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            self.send_json(400, {"error": "'name' must be a non-empty string"})
            return
        try:
            ((item_id, created_at),) = query(
                "INSERT INTO items (name) VALUES (%s) RETURNING id, created_at", (name.strip(),))
        except (LookupError, psycopg2.Error) as error:
            self.database_error(error)
            return
        self.send_json(201, {"id": item_id, "name": name.strip(), "created_at": created_at.isoformat()})


def main() -> int:
    if FAIL_MODE == "crash":
        log("FAIL_MODE=crash: exiting with status 1")
        return 1
    if FAIL_MODE not in ("", "health", "smoke", "ignore-term", "drop-on-term"):
        log(f"unknown FAIL_MODE {FAIL_MODE!r} (expected health, smoke, crash, ignore-term or drop-on-term)")
        return 2
    ThreadingHTTPServer.request_queue_size = 128  # socketserver's default of 5 drops connections under load
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True

    def stop(signum, frame):
        if not STOPPING.is_set():
            STOPPING.set()
            log(f"{signal.Signals(signum).name}: no new connections, finishing in-flight requests")
            threading.Thread(target=server.shutdown, daemon=True).start()

    if FAIL_MODE == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif FAIL_MODE == "drop-on-term":
        signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
    else:
        signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"listening on :{PORT}" + (f" (FAIL_MODE={FAIL_MODE})" if FAIL_MODE else ""))
    server.serve_forever(poll_interval=0.2)
    serve_pending(server)
    server.server_close()
    drained = IN_FLIGHT.wait(DRAIN_SECONDS)
    log("stopped" if drained else f"stopped with requests still running after {DRAIN_SECONDS}s")
    return 0


def serve_pending(server) -> None:
    """Serve connections the kernel accepted already: closing the socket would reset them."""
    server.socket.setblocking(False)
    while True:
        try:
            request, address = server.socket.accept()
        except OSError:
            return
        request.setblocking(True)
        # In this thread, not a new one: main() must not return before these are answered.
        server.finish_request(request, address)
        server.shutdown_request(request)


if __name__ == "__main__":
    sys.exit(main())
