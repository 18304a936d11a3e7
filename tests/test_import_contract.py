"""`make lint` fails on a forbidden import: lint-imports over a copy of the packages, once as they are
(every contract kept) and once with a module in harness.core that imports harness.platform."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # installed by the [dev] extra next to python


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def core_contract() -> str:
    """The contract that keeps harness.core at the bottom, found by what it says rather than its wording."""
    [name] = [c["name"] for c in contracts() if c["type"] == "forbidden" and c["source_modules"] == ["harness.core"]]
    return name


@pytest.fixture
def checkout_copy(tmp_path: Path) -> Path:
    """harness/, reference_bot/ and pyproject.toml, copied (asset symlinks stay symlinks: no data needed)."""
    for package in ("harness", "reference_bot"):
        shutil.copytree(ROOT / package, tmp_path / package, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    # The copy first on the path, so the graph is built from it and not from the installed package;
    # wide columns so that no contract name is wrapped in the output.
    path = [str(where), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "COLUMNS": "400"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=where, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_package_keeps_every_contract(checkout_copy: Path) -> None:
    done = lint_imports(checkout_copy)
    assert done.returncode == 0, done.stdout + done.stderr
    for contract in contracts():
        assert f"{contract['name']} KEPT" in done.stdout
    assert "0 broken" in done.stdout


def test_core_importing_the_platform_breaks_the_contract(checkout_copy: Path) -> None:
    (checkout_copy / "harness" / "core" / "leak.py").write_text("import harness.platform  # not allowed in core\n")
    done = lint_imports(checkout_copy)
    assert done.returncode != 0
    assert f"{core_contract()} BROKEN" in done.stdout, done.stdout
    assert "harness.core.leak -> harness.platform" in done.stdout
