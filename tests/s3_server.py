"""A real S3-compatible HTTP endpoint for the photo store tests: moto's server (`moto[server]`)
started as a separate process on a loopback port, spoken to over HTTP by boto3 as a MinIO or
Ceph RGW would be; nothing in the test process is patched."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import boto3
import httpx
from botocore.config import Config

ACCESS_KEY = "gridwatch-test"
SECRET_KEY = "gridwatch-test-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the S3 server exited with {self.process.returncode}")
            try:
                if httpx.get(self.endpoint, timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the S3 server did not answer within 30 s")
            time.sleep(0.1)

    def client(self) -> Any:
        """A client of our own, to look into the bucket past gridwatch's code."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        name = f"photos-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
