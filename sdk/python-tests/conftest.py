"""Fixtures for the Python SDK's end-to-end tests: a live embedded `kiln serve`
(see support.py), accounts and the test image."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import (
    OPERATOR_EMAIL,
    OPERATOR_PASSWORD,
    PHOTO,
    READY_TIMEOUT_S,
    KilnServer,
    Session,
    free_port,
    kiln_bin,
    log_tail,
    login,
    register_and_login,
    server_env,
)


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[KilnServer]:
    binary = kiln_bin()
    data_dir = Path(tempfile.mkdtemp(prefix="kiln-sdk-py-"))
    listen = f"127.0.0.1:{free_port()}"
    env = server_env(data_dir, listen)
    log_path = data_dir.parent / f"{data_dir.name}.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        made = subprocess.run(
            [str(binary), "user", "create", "--email", OPERATOR_EMAIL, "--role", "operator", "--password-stdin"],
            input=(OPERATOR_PASSWORD + "\n").encode(),
            env=env,
            capture_output=True,
            timeout=120,
        )
        if made.returncode != 0:
            pytest.fail(
                f"`kiln user create` failed ({made.returncode}):\n"
                f"{made.stdout.decode(errors='replace')}{made.stderr.decode(errors='replace')}",
                pytrace=False,
            )
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [str(binary), "serve"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        srv = KilnServer(base_url=f"http://{listen}", data_dir=data_dir, log_path=log_path, process=process)
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer yet"
        while True:
            if process.poll() is not None:
                pytest.fail(f"kiln serve exited with {process.returncode} before it was ready:\n{srv.log_tail()}")
            try:
                r = httpx.get(f"{srv.base_url}/health/ready", timeout=2.0)
                if r.status_code == 200:
                    break
                last = f"{r.status_code} {r.text}"
            except httpx.HTTPError as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"kiln serve on {listen} not ready after {READY_TIMEOUT_S:.0f} s (last: {last}):\n{srv.log_tail()}"
                )
            time.sleep(0.2)
        yield srv
    finally:
        if process is not None and request.session.testsfailed:
            # Past pytest's capture, so it shows whatever failed.
            sys.__stderr__.write(f"\n--- the last lines of the kiln serve log ---\n{log_tail(log_path)}\n")
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)
        log_path.unlink(missing_ok=True)


@pytest.fixture
def session(server: KilnServer) -> Session:
    """A new account (role user), logged in."""
    return register_and_login(server)


@pytest.fixture
def operator(server: KilnServer) -> Session:
    return login(server, OPERATOR_EMAIL, OPERATOR_PASSWORD)


@pytest.fixture(scope="session")
def photo_bytes() -> bytes:
    if not PHOTO.is_file():
        pytest.fail(f"the test image {PHOTO} is missing", pytrace=False)
    return PHOTO.read_bytes()
