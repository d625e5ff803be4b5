"""Helpers for the Python SDK's end-to-end tests (fixtures are in conftest.py).

Every test talks through the generated `kiln_client` package to a live
`kiln serve` in its embedded mode (SQLite, local storage, mail written to
`{data_dir}/outbox`), started once per session from the binary named by
KILN_BIN on a free port of 127.0.0.1, with a fresh data folder that is
removed afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from kiln_client import AuthenticatedClient, Client
from kiln_client.api.auth import auth_login, auth_register
from kiln_client.models import CredentialsIn, ErrorBody, TokenOut, UserOut

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "jobs" / "tests" / "fixtures"
PHOTO = FIXTURES / "photo_1200x900.jpg"

# A password that passes Kiln's rules (length, not the email, not one character).
PASSWORD = "correct horse battery staple"

# The operator made with `kiln user create` before the server starts.
OPERATOR_EMAIL = "ops@example.com"
OPERATOR_PASSWORD = "operator passphrase for the sdk tests"

READY_TIMEOUT_S = 90.0

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kiln_bin() -> Path:
    value = os.environ.get("KILN_BIN")
    if not value:
        pytest.fail(
            "KILN_BIN is not set: point it at a kiln binary (e.g. target/debug/kiln); "
            "these tests drive a live `kiln serve` and cannot run without one",
            pytrace=False,
        )
    path = Path(value)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"KILN_BIN={value} is not an executable file", pytrace=False)
    return path


def server_env(data_dir: Path, listen: str) -> dict[str, str]:
    """The environment of the server: the caller's, less anything that would
    point Kiln elsewhere than its embedded defaults, plus the test settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KILN_") and k not in {"DATABASE_URL", "REDIS_URL", "STORAGE_URL", "SMTP_URL"}
    }
    env.update(
        {
            "KILN__DATA_DIR": str(data_dir),
            "KILN__HTTP__LISTEN": listen,
            # The webhook test's receiver listens on loopback.
            "KILN__WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
            # Every test registers and logs in from 127.0.0.1.
            "KILN__RATE_LIMIT__AUTH_PER_MINUTE": "6000",
            "KILN__RATE_LIMIT__AUTH_BURST": "1000",
            "RUST_LOG": env.get("RUST_LOG", "info"),
        }
    )
    return env


def poll(fetch: Callable[[], T], done: Callable[[T], bool], *, what: str, timeout_s: float = 60.0) -> T:
    """Calls fetch until done(result) holds, waiting 50 ms, then twice as long
    each time, up to 1 s between calls; fails after timeout_s with the last result."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not done after {timeout_s:.0f} s; last answer: {result!r}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class KilnServer:
    base_url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self) -> str:
        return log_tail(self.log_path)

    def client(self) -> Client:
        return Client(base_url=self.base_url, timeout=httpx.Timeout(30.0))

    def bearer(self, token: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=self.base_url, token=token, timeout=httpx.Timeout(30.0))

    def api_key(self, key: str) -> AuthenticatedClient:
        return AuthenticatedClient(
            base_url=self.base_url,
            token=key,
            prefix="",
            auth_header_name="X-API-Key",
            timeout=httpx.Timeout(30.0),
        )


@dataclass
class Session:
    """A logged-in account."""

    email: str
    password: str
    user: UserOut
    tokens: TokenOut
    client: AuthenticatedClient


def login(server: KilnServer, email: str, password: str) -> Session:
    resp = auth_login.sync_detailed(client=server.client(), body=CredentialsIn(email=email, password=password))
    assert resp.status_code == 200, f"login of {email}: {resp.status_code} {resp.content!r}"
    assert isinstance(resp.parsed, TokenOut), resp.parsed
    return Session(
        email=email,
        password=password,
        user=resp.parsed.user,
        tokens=resp.parsed,
        client=server.bearer(resp.parsed.access_token),
    )


def register_and_login(server: KilnServer) -> Session:
    email = f"sdk-py-{uuid.uuid4().hex[:12]}@example.com"
    resp = auth_register.sync_detailed(client=server.client(), body=CredentialsIn(email=email, password=PASSWORD))
    assert resp.status_code == 201, f"register {email}: {resp.status_code} {resp.content!r}"
    assert isinstance(resp.parsed, UserOut), resp.parsed
    return login(server, email, PASSWORD)


def assert_error(resp, status: int, code: str) -> ErrorBody:
    """The answer is `status` with the typed error body of `code`, whose
    request id is the one in the x-request-id header."""
    assert resp.status_code == status, f"expected {status} {code}, got {resp.status_code} {resp.content!r}"
    err = resp.parsed
    assert isinstance(err, ErrorBody), f"expected an ErrorBody, got {err!r}"
    assert err.code == code, err
    assert err.message, err
    assert err.request_id, err
    assert err.request_id == resp.headers.get("x-request-id"), (err.request_id, dict(resp.headers))
    return err
