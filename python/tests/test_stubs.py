"""The generated modules in src/ofs/_proto are what generate.sh makes now."""

import filecmp
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]


def _diff(a: Path, b: Path) -> list[str]:
    out: list[str] = []
    c = filecmp.dircmp(a, b, ignore=["__pycache__"])

    def walk(c: filecmp.dircmp, rel: str) -> None:
        out.extend(f"only in committed: {rel}{n}" for n in c.left_only)
        out.extend(f"only in regenerated: {rel}{n}" for n in c.right_only)
        for n in c.common_files:
            if (Path(c.left) / n).read_bytes() != (Path(c.right) / n).read_bytes():
                out.append(f"differs: {rel}{n}")
        for n, sub in c.subdirs.items():
            walk(sub, f"{rel}{n}/")

    walk(c, "")
    return out


def test_generated_stubs_are_current() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "_proto"
        subprocess.run([str(PYTHON_DIR / "generate.sh"), str(out)], check=True, env=dict(os.environ, PYTHON=sys.executable))
        stale = _diff(PYTHON_DIR / "src" / "ofs" / "_proto", out)
        assert not stale, "src/ofs/_proto is stale; run python/generate.sh:\n" + "\n".join(stale)
