"""The README's nginx set-up, run on loopback: its ``nginx`` block read from README.md with
loopback backends, a port and a self-signed certificate in place of the lab's, inside a
minimal nginx.conf whose files all live in one folder."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .paths import ROOT

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# README's values -> what the test puts in their place
PLACES = {"backend 1": "server 10.0.0.11:5006;", "backend 2": "server 10.0.0.12:5006;",
          "listen": "listen 443 ssl;", "name": "server_name attviz.lab.org;",
          "certificate": "/etc/ssl/attviz.lab.org.pem", "key": "/etc/ssl/attviz.lab.org.key"}
WRAPPER = """daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format upstream '$request $status $upstream_addr $cookie_user';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{block}
}}
"""


def readme_block() -> str:
    """The nginx configuration README.md shows (its only ``nginx`` code block)."""
    blocks = re.findall(r"```nginx\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 1, "README.md should show exactly one nginx block"
    return blocks[0]


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), and its key."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def configuration(folder: Path, backends: tuple[int, int], port: int) -> str:
    """README's block for two backends on loopback ports, listening on ``port``."""
    cert, key = certificate(folder)
    block = readme_block()
    values = {"backend 1": f"server 127.0.0.1:{backends[0]};",
              "backend 2": f"server 127.0.0.1:{backends[1]};",
              "listen": f"listen 127.0.0.1:{port} ssl;", "name": "server_name 127.0.0.1;",
              "certificate": str(cert), "key": str(key)}
    for place, text in PLACES.items():
        assert block.count(text) == 1, f"README's nginx block no longer has {text!r}"
        block = block.replace(text, values[place])
    return WRAPPER.format(d=folder, block=block)


class Nginx:
    """nginx in the foreground, one process, on loopback ``port``; stopped by ``stop``."""

    def __init__(self, folder: Path, backends: tuple[int, int], port: int) -> None:
        self.folder, self.port = folder, port
        self.conf = folder / "nginx.conf"
        self.conf.write_text(configuration(folder, backends, port))
        self.proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(self.conf), "-e",
                                      str(folder / "error.log")], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not start:\n" + self.errors())

    def errors(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""

    def served(self) -> list[tuple[str, str, str, str]]:
        """(request line, status, backend, the cookie user) of each request so far."""
        rows = []
        for line in (self.folder / "access.log").read_text().splitlines():
            head, status, upstream, cookie = line.rsplit(" ", 3)
            rows.append((head, status, upstream, cookie))
        return rows

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
