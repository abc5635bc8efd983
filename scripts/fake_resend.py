"""A local stand-in for Resend's email API (https://resend.com), for tests.

Implements the documented subset of Resend's HTTP API used by Marquee's `resend`
transport: POST /emails, POST /emails/batch and GET /emails/<id>, with Bearer
auth, Resend's error bodies ({"statusCode", "name", "message"}) and its
Idempotency-Key rules (1-256 chars, kept 24 h; same key + same body replays the
first answer; different body -> 409 invalid_idempotent_request; first request
still in flight -> 409 concurrent_idempotent_requests).

Usage: python3 fake_resend.py PORT DIR [--api-key KEY] [--delay-ms N]
Each delivered email becomes DIR/<seq>-<id>.json ({"id", "idempotency_key",
"received_at", "body"}); sorted names are delivery order. FAKE_RESEND_LOG=1 logs.

Test controls (not part of Resend):
  POST /_control {"fail_next": n, "fail_status": 500|429|503, "delay_ms": n}:
    the next n sends (after auth) fail with fail_status; delay_ms replaces
    --delay-ms, the pause between reserving an idempotency key and delivering.
  GET /_stats: {"requests", "delivered", "replays", "conflicts", "failed",
    "rejected"} = sends, emails delivered, replays, 409s, 5xx/429, other 4xx.
"""
import argparse, base64, binascii, datetime, hashlib, http.server, json, os, re, sys, threading, time, uuid

MAX_BODY = 50 * 1024 * 1024
MAX_ATTACHMENTS = 40 * 1024 * 1024  # Resend's documented cap, measured on the base64 text
KEY_TTL = 24 * 3600
FAIL_NAMES = {500: "application_error", 503: "application_error", 429: "rate_limit_exceeded"}
CONTROLS = ("fail_next", "fail_status", "delay_ms")

lock = threading.Lock()  # guards all module state below
state = {"api_key": "re_test_key", "dir": ".", "delay_ms": 0, "fail_next": 0, "fail_status": 500, "seq": 0}
stats = dict.fromkeys(("requests", "delivered", "replays", "conflicts", "failed", "rejected"), 0)
keys = {}    # idempotency key -> {"hash", "expires", "done", "response"}
emails = {}  # id -> (received_at, request JSON), for GET /emails/<id>


class ApiError(Exception):
    def __init__(self, status, name, message, headers=None):
        super().__init__(message)
        self.status, self.name, self.message, self.headers = status, name, message, headers or {}


def invalid(message, name="validation_error"):
    return ApiError(422, name, message)


def check_email(e, batch):
    """Raise ApiError unless `e` is a send-email body Resend would accept."""
    if not isinstance(e, dict):
        raise invalid("The email must be a JSON object.")
    for field in ("from", "to", "subject"):
        if e.get(field) is None:
            raise invalid(f"Missing `{field}` field.", "missing_required_field")
    if not isinstance(e["from"], str) or not e["from"].strip() or not isinstance(e["subject"], str):
        raise invalid("`from` and `subject` must be strings.")
    for field in ("to", "cc", "bcc", "reply_to"):
        if field in e:
            v = [e[field]] if isinstance(e[field], str) else e[field]
            if not isinstance(v, list) or not all(isinstance(a, str) and a.strip() for a in v):
                raise invalid(f"`{field}` must be a string or a list of strings.")
            if field == "to" and not 1 <= len(v) <= 50:
                raise invalid("`to` must have between 1 and 50 addresses.")
    if not any(isinstance(e.get(f), str) for f in ("html", "text")):
        raise invalid("Either `html` or `text` must be provided.")
    if any(f in e and not isinstance(e[f], str) for f in ("html", "text")):
        raise invalid("`html` and `text` must be strings.")
    h = e.get("headers")
    if h is not None and not (isinstance(h, dict) and all(isinstance(v, str) for v in h.values())):
        raise invalid("`headers` must be an object of strings.")
    if batch and ("attachments" in e or "scheduled_at" in e):  # documented batch limitation
        raise invalid("`attachments` and `scheduled_at` are not supported in batch.")
    att = e.get("attachments")
    if att is None:
        return
    if not isinstance(att, list):
        raise invalid("`attachments` must be a list.", "invalid_attachment")
    total = 0
    for i, a in enumerate(att):
        if not isinstance(a, dict) or not isinstance(a.get("filename"), str) or not a["filename"]:
            raise invalid(f"Attachment {i} needs a `filename`.", "invalid_attachment")
        c = a.get("content")
        # SDKs send base64 text; the Python SDK also allows a list of byte values.
        if isinstance(c, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in c):
            total += len(c) * 4 // 3
            continue
        try:
            base64.b64decode(c, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise invalid(f"Attachment {i} `content` must be base64.", "invalid_attachment") from None
        total += len(c)
    if total > MAX_ATTACHMENTS:
        raise invalid("Attachments exceed 40 MB.", "invalid_attachment")


def deliver(bodies, idem_key):
    """Store each email as a file and for GET; returns the new ids in order."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    ids = [str(uuid.uuid4()) for _ in bodies]
    # Written under the lock so that seq order is delivery order and a test that
    # sees `delivered` go up in /_stats always finds the files already there.
    with lock:
        for i, b in zip(ids, bodies):
            state["seq"] += 1
            name = f"{state['seq']:06d}-{i}"
            tmp = os.path.join(state["dir"], f".{name}.tmp")  # dot: hidden from *.json globs
            with open(tmp, "w") as f:
                json.dump({"id": i, "idempotency_key": idem_key, "received_at": now, "body": b}, f)
            os.replace(tmp, os.path.join(state["dir"], name + ".json"))
            emails[i] = (now, b)
            stats["delivered"] += 1
    return ids


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive like the real API; every reply has a Content-Length

    def log_message(self, fmt, *args):
        if os.environ.get("FAKE_RESEND_LOG") == "1":
            sys.stderr.write("fake_resend: " + fmt % args + "\n")

    def reply(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # client gone (e.g. killed mid-request); any send has already completed

    def read_body(self):
        # Read it before anything can fail: an error answered with the body unread
        # would leave it in the stream, to be parsed as the next keep-alive request.
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = "Transfer-Encoding" in self.headers  # chunked: unsupported
            return b""
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True  # body left unread, so the connection is unusable
            raise (ApiError(400, "validation_error", "Bad Content-Length.") if not length.isdigit()
                   else ApiError(413, "validation_error", "Request body exceeds 50 MB."))
        return self.rfile.read(int(length))

    def json_body(self):
        try:
            return json.loads(self.raw)
        except ValueError:
            raise invalid("Body must be valid JSON.") from None

    def route(self, method):
        path = self.path.split("?", 1)[0].rstrip("/")
        is_send = path in ("/emails", "/emails/batch") and method == "POST"
        try:
            self.raw = self.read_body()
            allowed = ("POST" if path in ("/emails", "/emails/batch", "/_control") else
                       "GET" if path == "/_stats" or re.fullmatch(r"/emails/[^/]+", path) else None)
            if allowed is None:
                raise ApiError(404, "not_found", "The requested endpoint does not exist.")
            if method != allowed:
                raise ApiError(405, "method_not_allowed", f"Method {method} not allowed on {path}.")
            if is_send:
                return self.send(path)
            if path == "/_control":
                return self.control(self.json_body())
            with lock:
                found = dict(stats) if path == "/_stats" else emails.get(path.rsplit("/", 1)[1])
            if path == "/_stats":
                return self.reply(200, found)
            if not found:
                raise ApiError(404, "not_found", "Email not found.")
            self.reply(200, {"object": "email", "id": path.rsplit("/", 1)[1], **found[1],
                             "created_at": found[0], "last_event": "delivered"})
        except ApiError as e:
            if is_send and e.status != 409:  # 409s were already counted as conflicts
                with lock:
                    stats["failed" if e.name in FAIL_NAMES.values() else "rejected"] += 1
            self.reply(e.status, {"statusCode": e.status, "name": e.name, "message": e.message}, e.headers)

    def control(self, c):
        try:
            new = {k: int(c[k]) for k in CONTROLS if k in c}
        except (TypeError, ValueError):
            new = None
        if new is None or new.get("fail_status", 500) not in FAIL_NAMES:
            raise invalid("Expected {fail_next: int, fail_status: 500|429|503, delay_ms: int}.")
        with lock:
            state.update(new)
            current = {k: state[k] for k in CONTROLS}
        self.reply(200, current)

    def send(self, path):
        with lock:
            stats["requests"] += 1
        auth = self.headers.get("Authorization")
        if not auth:
            raise ApiError(401, "missing_api_key", "Missing API key in the authorization header.")
        if auth != f"Bearer {state['api_key']}":
            raise ApiError(403, "invalid_api_key", "API key is invalid.")
        with lock:  # injected failures come before validation, so they never reserve a key
            status = state["fail_status"] if state["fail_next"] > 0 else None
            state["fail_next"] -= status is not None
        if status:
            headers = {"retry-after": "1", "ratelimit-limit": "2", "ratelimit-remaining": "0",
                       "ratelimit-reset": "1"} if status == 429 else {}
            raise ApiError(status, FAIL_NAMES[status], f"Injected failure ({status}).", headers)
        key = self.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 256:
            raise ApiError(400, "invalid_idempotency_key", "Idempotency key must be between 1-256 chars.")
        body, batch = self.json_body(), path == "/emails/batch"
        if not batch:
            check_email(body, batch=False)
        elif not isinstance(body, list) or not 1 <= len(body) <= 100:
            raise invalid("Batch body must be an array of 1 to 100 emails.")
        for i, e in enumerate(body if batch else []):  # strict mode: one bad email fails all
            try:
                check_email(e, batch=True)
            except ApiError as err:
                raise invalid(f"emails[{i}]: {err.message}", err.name) from None
        # The path is hashed too, so one key cannot be reused across /emails and /emails/batch.
        canonical = path + json.dumps(body, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        if key is not None:
            with lock:  # look up and reserve atomically, so only one request can own a key
                now = time.monotonic()
                for k in [k for k, v in keys.items() if v["expires"] < now]:
                    del keys[k]
                entry = keys.get(key)
                outcome = ("reserved" if entry is None else "mismatch" if entry["hash"] != digest
                           else "replay" if entry["done"] else "in_progress")
                if entry is None:
                    entry = keys[key] = {"hash": digest, "expires": now + KEY_TTL, "done": False}
                stats["replays" if outcome == "replay" else "conflicts"] += outcome != "reserved"
            if outcome == "mismatch":
                raise ApiError(409, "invalid_idempotent_request",
                               "Same idempotency key used with a different request payload.")
            if outcome == "in_progress":
                raise ApiError(409, "concurrent_idempotent_requests",
                               "Same idempotency key used while original request is still in progress.")
            if outcome == "replay":
                return self.reply(200, entry["response"])
        # The send is now accepted: it completes even if the client disconnects meanwhile.
        time.sleep(state["delay_ms"] / 1000)
        try:
            ids = deliver(body if batch else [body], key)
        except OSError:
            with lock:  # nothing was delivered, so let a retry use the key
                keys.pop(key, None)
            raise ApiError(500, "application_error", "Could not store the email.") from None
        response = {"data": [{"id": i} for i in ids]} if batch else {"id": ids[0]}
        if key is not None:
            with lock:
                entry.update(done=True, response=response)
        self.reply(200, response)

    def __getattr__(self, name):
        # Serves do_GET, do_POST, do_PUT... so any method gets a JSON 404/405, not HTML.
        if name.startswith("do_"):
            return lambda: self.route(name[3:])
        raise AttributeError(name)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client killed mid-request (the crash tests do it on purpose)
        # leaves a broken pipe: not worth a traceback.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="Fake Resend email API for tests.")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p.add_argument("--api-key", default="re_test_key")
    p.add_argument("--delay-ms", type=int, default=0)
    a = p.parse_args()
    try:
        os.makedirs(a.dir, exist_ok=True)
        server = Server(("127.0.0.1", a.port), Handler)
    except OSError as e:
        print(f"fake_resend: cannot start: {e}", flush=True)
        sys.exit(1)
    server.daemon_threads = True  # a hung client must not keep the process alive
    state.update(api_key=a.api_key, dir=a.dir, delay_ms=a.delay_ms)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C when run by hand: exit quietly
        pass


if __name__ == "__main__":
    main()
