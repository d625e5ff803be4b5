"""The examples of sdk/python-README.md, run as they stand against embedded `kiln serve`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support import PHOTO, REPO_ROOT, KilnServer

README = REPO_ROOT / "sdk" / "python-README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


def test_readme_examples_run_embedded_sqlite(
    server: KilnServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 5, f"{README} should hold the examples; found {len(blocks)} python blocks"
    # The examples read the server's URL and the image from the environment
    # and write the variant they download into the working directory.
    monkeypatch.setenv("KILN_URL", server.base_url)
    monkeypatch.setenv("PHOTO", str(PHOTO))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for i, block in enumerate(blocks, 1):
        exec(compile(block, f"{README.name} (python block {i})", "exec"), namespace)

    # What the examples did, checked from outside.
    job = namespace["job"]
    assert str(job.status) == "succeeded", job
    written = tmp_path / "thumb.webp"
    assert written.is_file() and written.stat().st_size == namespace["thumb"].bytes_
