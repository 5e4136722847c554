"""A throw-away PostgreSQL cluster on 127.0.0.1 for the receiver's storage tests.

``initdb`` and ``pg_ctl`` refuse to run as root, so when the tests run as root the cluster is
made and started as the ``postgres`` system user (``runuser``), in a directory that user owns.
Trust authentication, listening on 127.0.0.1 only, on a free port; stopped and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time


class Unavailable(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self) -> None:
        self.initdb = shutil.which("initdb")
        self.pg_ctl = shutil.which("pg_ctl")
        if not self.initdb or not self.pg_ctl:
            raise Unavailable("initdb/pg_ctl not on PATH")
        self.as_root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix="dakoku-pg-")
        self.data = os.path.join(self.dir, "data")
        self.port = _free_port()
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(self.dir, 0o700)
        self.url = "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def _run(self, *argv: str) -> None:
        cmd = list(argv)
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise Unavailable("%s failed: %s" % (argv[0], (done.stderr or done.stdout)[-800:]))

    def start(self) -> Cluster:
        self._run(self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")  # fmt: skip
        options = (
            "-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
            "-c fsync=on -c max_connections=200 -c shared_buffers=64MB"
        ) % (self.port, self.dir)
        self._run(self.pg_ctl, "-D", self.data, "-o", options, "-w", "-t", "60",
                  "-l", os.path.join(self.dir, "log"), "start")  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise Unavailable("PostgreSQL did not listen on port %d" % self.port)

    def new_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "%s"' % name)
            conn.execute('CREATE DATABASE "%s"' % name)
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, name)

    def stop(self) -> None:
        try:
            self._run(self.pg_ctl, "-D", self.data, "-m", "immediate", "-w", "stop")
        except Unavailable:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
