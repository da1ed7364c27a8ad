"""Generate the Python gRPC code beside the .proto files.

The protos are laid out like the package they generate (``protos/permis/identity/v1``
holds ``package permis.identity.v1``), so the output imports as ``permis.identity.v1``
with ``protos/`` on the path, which pyproject.toml arranges.

    python protos/generate.py            # regenerate in place
    python protos/generate.py --out DIR  # generate elsewhere (the staleness test does)
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = "permis"


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((root / PACKAGE).rglob("*.proto"))


def generate(out: Path) -> None:
    files = proto_files()
    include = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *(str(f.relative_to(PROTO_ROOT)) for f in files),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Every folder on the way down is a regular package, so imports work everywhere.
    for proto in files:
        folder = out / proto.parent.relative_to(PROTO_ROOT)
        while folder != out:
            (folder / "__init__.py").touch()
            folder = folder.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=PROTO_ROOT)
    out = parser.parse_args().out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    generate(out)
    print(f"generated {len(proto_files())} protos into {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
