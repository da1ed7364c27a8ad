"""The committed gRPC code is exactly what protos/generate.py makes from the .proto files."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

PROTOS = Path(__file__).resolve().parents[1] / "protos"


def generated_files(root: Path) -> set[str]:
    """Every file codegen owns under ``root/permis``: all but the .proto sources."""
    return {
        str(path.relative_to(root))
        for path in (root / "permis").rglob("*")
        if path.is_file() and path.suffix != ".proto" and "__pycache__" not in path.parts
    }


def regenerate(generator: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, str(generator), "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )


def differences(committed: Path, fresh: Path) -> list[str]:
    ours, theirs = generated_files(committed), generated_files(fresh)
    problems = [f"missing from the commit: {name}" for name in sorted(theirs - ours)]
    problems += [f"not produced by codegen: {name}" for name in sorted(ours - theirs)]
    problems += [
        f"stale: {name}"
        for name in sorted(ours & theirs)
        if not filecmp.cmp(committed / name, fresh / name, shallow=False)
    ]
    return problems


def test_committed_code_matches_a_fresh_generation(tmp_path: Path) -> None:
    regenerate(PROTOS / "generate.py", tmp_path)
    assert generated_files(tmp_path), "codegen produced nothing"
    assert differences(PROTOS, tmp_path) == [], "run `make protos` and commit the result"


def test_a_proto_changed_without_regeneration_is_caught(tmp_path: Path) -> None:
    # A copy of protos/ where one .proto gained a message nobody regenerated.
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    proto = sorted((copy / "permis").rglob("*.proto"))[0]
    proto.write_text(proto.read_text() + "\nmessage AddedWithoutRegenerating { string x = 1; }\n")
    fresh = tmp_path / "fresh"
    regenerate(copy / "generate.py", fresh)
    stale = differences(copy, fresh)
    assert stale and all(line.startswith("stale: ") for line in stale)
    assert any(Path(line.removeprefix("stale: ")).name.startswith(proto.stem) for line in stale)
