"""An OpenAI-compatible server that fails on purpose, for the retry tests (127.0.0.1, free port).

`script` is a list of answers to give, in order, before answering normally (200). An entry is a
status (e.g. [429, 500, 503]: the body is a small JSON error) or a pair (status, body) whose body
(bytes, str, or anything JSON-serialisable) is sent as is: malformed 200s, long 400 texts; a
triple (status, body, headers) adds headers: (302, None, {"Location": url}) is a redirect. A prompt
containing 'REFUSE' gets a 400 (as a server does for a prompt over its context) and leaves the
script alone. Answers echo the last user message, so results are checkable.

`api_key` requires `Authorization: Bearer <key>`, `basic_auth=(user, password)` requires HTTP
Basic auth; either way a request without it gets a 401. `seen_auth` records every request's
Authorization header (or ""), and `methods` its method: a GET (what urllib makes of a redirected
POST) is recorded too, and answered 405. A 429 carries `Retry-After: <retry_after>`.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote


def _payload(body) -> bytes:
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


class FakeOpenAI:
    def __init__(self, script=None, api_key: str | None = None, basic_auth: tuple[str, str] | None = None,
                 retry_after: str = "0"):
        self.script = list(script or [])
        self.auth = f"Bearer {api_key}" if api_key else None
        if basic_auth:
            self.auth = "Basic " + base64.b64encode(":".join(basic_auth).encode()).decode()
        self.retry_after = retry_after
        self.calls = 0
        self.seen_auth: list[str] = []
        self.methods: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with outer.lock:
                    outer.methods.append("GET")
                    outer.seen_auth.append(self.headers.get("Authorization", ""))
                self._send(405, json.dumps({"error": {"message": "GET is not allowed"}}).encode(), {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                last = body["messages"][-1]["content"]
                with outer.lock:
                    outer.calls += 1
                    outer.methods.append("POST")
                    outer.seen_auth.append(self.headers.get("Authorization", ""))
                    entry = outer.script.pop(0) if outer.script and "REFUSE" not in last else 200
                status, raw, headers = (entry + ({},))[:3] if isinstance(entry, tuple) else (entry, None, {})
                if outer.auth and self.headers.get("Authorization") != outer.auth:
                    status, raw = 401, None
                if status == 200 and raw is None and "REFUSE" in last:
                    status = 400
                if raw is not None:
                    payload = _payload(raw)
                elif status != 200:
                    payload = json.dumps({"error": {"message": f"status {status}"}}).encode()
                else:
                    text = f"echo({body['seed']}): {last[:40]}"
                    payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                       "finish_reason": "stop"}],
                                          "usage": {"prompt_tokens": len(last.split()), "completion_tokens": 7}}).encode()
                if status == 429:
                    headers = {"Retry-After": outer.retry_after, **headers}
                self._send(status, payload, headers)

            def _send(self, status, payload, headers):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url_with(self, user: str, password: str) -> str:
        """The base URL with `user:password@` in it, percent-encoded (as a recipe would write it)."""
        return self.url.replace("http://", f"http://{quote(user, safe='')}:{quote(password, safe='')}@", 1)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
