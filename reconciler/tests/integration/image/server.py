"""A tiny web service for the reconciler's integration tests (not shipped anywhere).

GET /healthz answers 200, or 500 when FAIL_HEALTH=1 (to exercise rollbacks); GET / answers
with the VERSION env var and the content of /etc/app/config.txt and /run/secrets/token's
length, so tests can tell which container and which files are serving.
"""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            failing = os.environ.get("FAIL_HEALTH") == "1"
            self._send(500 if failing else 200, {"ok": not failing})
            return
        config = Path("/etc/app/config.txt")
        token = Path("/run/secrets/token")
        self._send(
            200,
            {
                "version": os.environ.get("VERSION", ""),
                "config": config.read_text() if config.exists() else None,
                "token_length": len(token.read_text()) if token.exists() else None,
                "hostname": os.uname().nodename,
            },
        )

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        sys.stderr.write("request " + (args[0] % args[1:] if args else "") + "\n")


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if os.environ.get("EXIT_CODE"):  # one-shot job mode
        print(f"job done, version {os.environ.get('VERSION', '')}", flush=True)
        sys.exit(int(os.environ["EXIT_CODE"]))
    print("serving on :8000", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()


if __name__ == "__main__":
    main()
