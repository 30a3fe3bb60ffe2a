"""An OpenAI-compatible server that fails on purpose, for the retry tests (127.0.0.1, free port).

`script` is a list of statuses to answer, in order, before answering normally (200): e.g.
[429, 500, 503]. A prompt containing 'REFUSE' gets a 400 (as a server does for a prompt over
its context). Answers echo the last user message, so results are checkable.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self, script=None, api_key: str | None = None):
        self.script = list(script or [])
        self.api_key = api_key
        self.calls = 0
        self.seen_auth: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with outer.lock:
                    outer.calls += 1
                    outer.seen_auth.append(self.headers.get("Authorization", ""))
                    status = outer.script.pop(0) if outer.script else 200
                if outer.api_key and self.headers.get("Authorization") != f"Bearer {outer.api_key}":
                    status = 401
                last = body["messages"][-1]["content"]
                if status == 200 and "REFUSE" in last:
                    status = 400
                if status != 200:
                    payload = json.dumps({"error": {"message": f"status {status}"}}).encode()
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                else:
                    text = f"echo({body['seed']}): {last[:40]}"
                    payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                       "finish_reason": "stop"}],
                                          "usage": {"prompt_tokens": len(last.split()), "completion_tokens": 7}}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
