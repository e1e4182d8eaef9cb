"""Shared fixtures of the Python package's tests.

The comparisons with the command-line tool need the `eigenformer` binary: `$EIGENFORMER_BIN`
(set by `cargo xtask test`), else `target/debug/eigenformer` of this checkout. Without it those
tests are skipped, except under CI (`CI` set), where a missing binary is a failure.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "crates" / "model" / "tests" / "fixtures" / "hf"


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def need(module: str):
    """Import `module` for a test file, skipping the file without it (failing under CI, which
    installs numpy, pytest, torch and transformers)."""
    try:
        return __import__(module)
    except ImportError as e:
        _missing(f"{module} is not installed: {e}")


@pytest.fixture(scope="session")
def cli() -> Path:
    path = Path(os.environ.get("EIGENFORMER_BIN") or REPO / "target" / "debug" / "eigenformer")
    if not path.is_file():
        _missing(f"no eigenformer binary at {path} (build it with cargo build -p eigenformer-cli)")
    return path


def run_cli(cli: Path, *args: str | os.PathLike) -> str:
    """Run the binary; returns stdout, fails the test with stderr on a non-zero exit."""
    p = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"eigenformer {' '.join(map(str, args))} failed:\n{p.stderr}")
    return p.stdout


def max_difference(a, b, at: str = "") -> tuple[float, str]:
    """The largest |a − b| over every number of two JSON values of the same structure;
    everything that is not a float (keys, lengths, integers, strings, null) must be equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{at}: keys {list(a)} vs {list(b)}"
        worst = (0.0, at)
        for k in a:
            worst = max(worst, max_difference(a[k], b[k], f"{at}.{k}"))
        return worst
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{at}: lengths differ"
        worst = (0.0, at)
        for i, (x, y) in enumerate(zip(a, b)):
            worst = max(worst, max_difference(x, y, f"{at}[{i}]"))
        return worst
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, f"{at}: {a} vs {b}"
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), f"{at}: {a} vs {b}"
            return (0.0, at)
        return (abs(a - b), at)
    assert a == b, f"{at}: {a!r} vs {b!r}"
    return (0.0, at)


def write_png(path: Path, pixels) -> None:
    """Write an 8-bit RGB PNG from a [height, width, 3] uint8 array (no imaging library)."""
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def load_json(path: Path):
    return json.loads(Path(path).read_text())
