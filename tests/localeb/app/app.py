"""The test application: `serve LABEL` answers LABEL on every path; `crash` exits at once; `fail LABEL` answers 500;
`sick LABEL` answers 200 on / but 500 on /health. /env/NAME answers the value of the environment variable NAME."""

import http.server
import os
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "serve"
LABEL = sys.argv[2] if len(sys.argv) > 2 else "app"

if MODE == "crash":
    print("boom: the application cannot start (missing DATABASE_URL)", flush=True)
    sys.exit(3)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = 200, LABEL
        if self.path.startswith("/env/"):
            body = os.environ.get(self.path[5:], "<unset>")
        if MODE == "fail" or (MODE == "sick" and self.path == "/health"):
            status = 500
        data = (body + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


print(f"listening on {os.environ.get('PORT', '80')} as {LABEL} ({MODE})", flush=True)
http.server.ThreadingHTTPServer(("", int(os.environ.get("PORT", "80"))), Handler).serve_forever()
