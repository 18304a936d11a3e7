"""Stands in for the prometheus binary: reads the config a run wrote, then answers /-/ready and
/api/v1/rules on --web.listen-address with the groups of the first rule file only (a Prometheus that
lost most of the shipped rules)."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import yaml

flags = dict(arg.removeprefix("--").split("=", 1) for arg in sys.argv[1:] if "=" in arg)
config = Path(flags["config.file"])
first_file = sorted(config.parent.glob(yaml.safe_load(config.read_text())["rule_files"][0]))[0]
groups = [
    {"name": g["name"], "file": str(first_file), "rules": g["rules"]}
    for g in yaml.safe_load(first_file.read_text())["groups"]
]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "success", "data": {"groups": groups}} if "rules" in self.path else "ok")
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


host, port = flags["web.listen-address"].rsplit(":", 1)
HTTPServer((host, int(port)), Handler).serve_forever()
