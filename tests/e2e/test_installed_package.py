"""The package works installed, not only from a checkout.

A wheel built from this checkout is installed with its pinned dependencies (constraints.txt) into a
fresh virtual environment, and every command is run from an empty directory outside the checkout with
no PYTHONPATH: the shipped scenarios, rules, dashboards, runbooks and report templates must come from
the installed package (harness.core.assets), never from the source tree.

Slow on purpose (a venv install, a one-minute smoke run, the report benchmark): a few minutes in all.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.core.contract import ExitCode
from tests.tools import needs_tool

# Setup (wheel, venv install) and the smoke run are charged to the first test that needs them.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
ASSET_FOLDERS = ("scenarios", "dashboards", "runbooks")  # top-level data, symlinked under harness/assets/
PACKAGE_DATA = {  # other data the wheel must carry: folder in the checkout -> file pattern
    "harness/analysis/report/templates": "*.j2",
    "reference_bot": "*.json",
}
# Left out of the copy the wheel is built from: local state, caches, earlier builds and run folders.
NOT_SOURCE_AT_TOP = {".git", ".venv", "build", "dist", "reports", "runs", ".node"}
NOT_SOURCE_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis"}


@dataclass
class SmokeRun:
    result: subprocess.CompletedProcess[str]
    run_dir: Path


@dataclass
class Installed:
    venv: Path
    workdir: Path  # empty, outside the checkout: every command of the installed harness runs here
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def harness(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        """`harness ARGS` from the venv, in its own process group, which is gone when this returns."""
        proc = subprocess.Popen(
            [str(self.venv / "bin" / "harness"), *args],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)  # the harness stops its children on Ctrl-C
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
            pytest.fail(f"harness {' '.join(args)} did not finish in {timeout:.0f} s:\n{out[-3000:]}\n{err[-3000:]}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything it left behind
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _checked(
    argv: list[str], timeout: float, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _without_python_path(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _not_source(folder: str, names: list[str]) -> set[str]:
    """copytree's ignore: what a fresh clone would not have."""
    top = NOT_SOURCE_AT_TOP if Path(folder) == ROOT else set()
    return {n for n in names if n in top or n in NOT_SOURCE_ANYWHERE or n.endswith(".egg-info")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built from a copy: pip builds in the source tree, and setuptools' build/
    folder would keep (and ship) modules that no longer exist in the checkout."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_not_source)
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base), str(source)]
    _checked(pip_wheel, timeout=600, env=_without_python_path(dict(os.environ)))
    shutil.rmtree(source)
    [built] = base.glob("chatbot_harness-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    """A fresh venv with the wheel and its pinned dependencies (removed afterwards: it is large)."""
    venv = tmp_path_factory.mktemp("venv")
    env = _without_python_path(dict(os.environ))
    _checked([sys.executable, "-m", "venv", str(venv)], timeout=300, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    _checked([*pip, "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)], timeout=1200, env=env)
    workdir = tmp_path_factory.mktemp("empty-cwd")
    assert ROOT not in workdir.parents and not any(workdir.iterdir())
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield Installed(venv, workdir, env)
    shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture(scope="module")
def smoke_run(installed: Installed) -> SmokeRun:
    """`harness run smoke` from the empty directory: the run folder lands in its reports/."""
    done = installed.harness("run", "smoke", timeout=600)
    match = re.search(r"^run folder: (.+)$", done.stdout, re.MULTILINE)
    assert match, f"no run folder announced:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return SmokeRun(done, installed.workdir / match.group(1))


def _shipped(installed: Installed, function: str) -> Path:
    """A path from the installed harness.core.assets (e.g. rules_dir)."""
    code = f"from harness.core import assets; print(assets.{function}())"
    done = _checked([str(installed.python), "-c", code], timeout=60, cwd=installed.workdir, env=installed.env)
    return Path(done.stdout.strip())


def assert_prometheus_loaded_the_shipped_rules(run_dir: Path, shipped_rules: Path) -> None:
    """The run's Prometheus was available and was given every shipped rule file, byte for byte (the run
    folder's prometheus/rules/ is what its rule_files load). Stronger evidence from the manifest, such as
    a count of the rules Prometheus reports loaded, belongs here too."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["prometheus"].get("available"), manifest["prometheus"]
    expected = {p.name: p.read_bytes() for p in shipped_rules.glob("*.yml")}
    given = {p.name: p.read_bytes() for p in (run_dir / "prometheus" / "rules").glob("*.yml")}
    assert expected, f"no rule files shipped in {shipped_rules}"
    assert sorted(given) == sorted(expected)
    assert given == expected, "the run's rule files differ from the shipped ones"


def test_wheel_carries_the_assets_as_real_files(wheel: Path) -> None:
    expected: dict[str, Path] = {}
    for folder in ASSET_FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                expected[f"harness/assets/{path.relative_to(ROOT)}"] = path
    for folder, pattern in PACKAGE_DATA.items():
        expected |= {f"{folder}/{p.name}": p for p in (ROOT / folder).glob(pattern)}
    with zipfile.ZipFile(wheel) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        shipped_assets = {n for n in infos if n.startswith("harness/assets/") and not n.endswith(".py")}
        assert shipped_assets == {n for n in expected if n.startswith("harness/assets/")}
        for name, source in expected.items():
            assert name in infos, f"{name} is not in the wheel"
            assert not stat.S_ISLNK(infos[name].external_attr >> 16), f"{name} is a symlink in the wheel"
            assert archive.read(name) == source.read_bytes(), f"{name} differs from {source}"


def test_site_packages_gains_only_harness_and_reference_bot(installed: Installed, wheel: Path) -> None:
    code = (
        "import importlib.metadata as m, harness, reference_bot\n"
        "print(harness.__file__); print(reference_bot.__file__)\n"
        "for f in m.distribution('chatbot-harness').files: print(f)"
    )
    done = _checked([str(installed.python), "-c", code], timeout=60, cwd=installed.workdir, env=installed.env)
    harness_file, bot_file, *files = done.stdout.splitlines()
    site_packages = Path(harness_file).parents[1]
    assert installed.venv in site_packages.parents and Path(bot_file).parents[1] == site_packages
    top = {Path(f).parts[0] for f in files if not f.startswith("..")}  # ../../../bin/harness is the script
    [dist_info] = top - {"harness", "reference_bot"}
    assert top == {"harness", "reference_bot", dist_info} and re.fullmatch(r"chatbot_harness-.+\.dist-info", dist_info)
    version = installed.harness("--version", timeout=60).stdout.strip()
    assert version == f"harness {wheel.name.split('-')[1]}"


def test_smoke_run_passes_from_an_empty_directory(installed: Installed, smoke_run: SmokeRun) -> None:
    done, run_dir = smoke_run.result, smoke_run.run_dir
    report = json.loads((run_dir / "report.json").read_text())
    # this module shares the machine with another test (make test): a busy rig may make the run
    # INCONCLUSIVE, never FAIL
    rig_busy = report["verdict"] == "INCONCLUSIVE" and not report["rig"]["held"]
    assert done.returncode == ExitCode.OK or (rig_busy and done.returncode == ExitCode.INCONCLUSIVE), (
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    assert run_dir.parent == installed.workdir / "reports"  # the default run folder
    assert sorted(p.name for p in installed.workdir.iterdir()) == ["reports"]  # nothing else written here
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "completed"
    assert report["load"]["sent"] > 0 and report["load"]["replies_ok"] == report["load"]["sent"], report["load"]


@needs_tool("prometheus")
def test_the_smoke_run_loaded_the_shipped_rules(installed: Installed, smoke_run: SmokeRun) -> None:
    assert_prometheus_loaded_the_shipped_rules(smoke_run.run_dir, _shipped(installed, "rules_dir"))


def test_diagnose_and_report_read_the_run(installed: Installed, smoke_run: SmokeRun) -> None:
    run_dir = smoke_run.run_dir
    verdict_code = smoke_run.result.returncode  # OK, or INCONCLUSIVE on a busy machine
    diagnosed = installed.harness("diagnose", str(run_dir), timeout=300)
    # findings (exit 1) only where the rig was busy: a clean run of the reference bot has none
    expected_diagnosis = ExitCode.OK if verdict_code == ExitCode.OK else diagnosed.returncode
    assert diagnosed.returncode == expected_diagnosis and "Traceback" not in diagnosed.stderr, (
        diagnosed.stdout + diagnosed.stderr
    )
    outputs = ("report.json", "report.md", "report.html", "junit.xml")
    for name in outputs:
        (run_dir / name).unlink()
    reported = installed.harness("report", str(run_dir), timeout=300)
    assert reported.returncode == verdict_code, reported.stdout + reported.stderr
    assert all((run_dir / name).stat().st_size > 0 for name in outputs)
    assert "<html" in (run_dir / "report.html").read_text()[:500].lower()  # rendered from the shipped template


@needs_tool("promtool")
@needs_tool("amtool")
def test_dashboards_check_passes_on_the_shipped_assets(installed: Installed) -> None:
    done = installed.harness("dashboards", "check", timeout=600)
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    assert "dashboards check: ok" in done.stdout


def test_bench_runs_and_refuses_an_unknown_name(installed: Installed) -> None:
    quick = installed.harness("bench", "--quick", "report", timeout=600)
    assert quick.returncode == ExitCode.OK, quick.stdout[-3000:] + quick.stderr[-3000:]
    assert "== bench report" in quick.stdout and "ratio" in quick.stdout
    unknown = installed.harness("bench", "--quick", "nonexistent", timeout=120)
    assert unknown.returncode == ExitCode.USAGE and "unknown benchmark(s): nonexistent" in unknown.stderr
