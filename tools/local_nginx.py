"""deploy/'s nginx site made runnable here: the shipped file with only its ports and paths changed.

Used by tests/test_deploy.py and bench/cache.py, which run Debian's nginx unprivileged in the
foreground with a prefix of their own on free loopback ports.
"""

import re
from pathlib import Path

SITE = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "schedule-service.conf"

#: nginx.conf around the site: everything nginx writes stays under ``prefix``.
MAIN = """daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {connections}; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/site.conf;
}}
"""


def site_config(port: int, upstream: int, prefix: Path) -> str:
    """The deploy site listening on ``port``, in front of ``upstream``, caching and serving under ``prefix``."""
    text = SITE.read_text()
    for pattern, new in [
        (r"listen 80;", f"listen 127.0.0.1:{port};"),
        (r"listen \[::\]:80;\n", ""),
        (r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};"),
        (r"/var/cache/nginx/schedule-service", str(prefix / "cache")),
        (r"/srv/schedule-service/schedule_service/static/", f"{prefix / 'static'}/"),
        (r"root /srv/schedule-service/instance;", f"root {prefix};"),
    ]:
        text, count = re.subn(pattern, new, text)
        if count != 1:
            raise ValueError(f"deploy/nginx/schedule-service.conf no longer has {pattern!r}")
    return text


def main_config(prefix: Path, workers: str = "1", connections: int = 256) -> str:
    """nginx.conf for a run under ``prefix`` that includes ``prefix/site.conf``."""
    return MAIN.format(prefix=prefix, workers=workers, connections=connections)
