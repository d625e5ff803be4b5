"""A webhook receiver that verifies with PyPI's `standardwebhooks` package.

    python standardwebhooks_receiver.py whsec_...

Prints the port it listens on (127.0.0.1), then answers each POST with
200 "verified" or 401 and the verification error. Used by the ignored test
`python_standardwebhooks_accepts_our_deliveries` (scripts/check-standard-webhooks.sh).
"""

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

WEBHOOK = Webhook(sys.argv[1])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            WEBHOOK.verify(body, dict(self.headers.items()))
            status, answer = 200, b"verified"
        except WebhookVerificationError as e:
            status, answer = 401, str(e).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
