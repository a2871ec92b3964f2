"""The distribution a user installs: build the sdist and the wheel, install the wheel in a fresh venv, use it.

What the install test proves: the wheel (built from the sdist, as pip would from PyPI) installs into an empty venv
with pip resolving every ``Requires-Dist`` of the engine (no extra) from what is already installed, with no index
(``--no-index``); its ``saliency-studio`` entry point runs; and the README's Python example (its step and sample
counts scaled down, see ``readme_example``) runs on the installed ``xai_core`` (not this checkout) seeing only the
engine's declared dependencies. So a dependency the engine imports but does not declare, a range the locked
versions do not satisfy, a missing data file or a broken entry point fails.

How it stays fast: installing PyTorch into a new venv costs minutes and gigabytes, so the fresh venv does not
download anything. Its site-packages gets a ``.pth`` line pointing to a folder of symbolic links to the
distributions of this environment that the wheel's requirements reach (their transitive closure, no extras), and
pip sees those as installed. What it does not prove: that the dependencies themselves install from an index on
this platform (the lock files and ``make test`` in a fresh clone, as .ci/run does, cover that), nor the extras'
closures (the app, PostgreSQL and Ray tests run on the full environment).
"""

from __future__ import annotations

import email
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import xai_core

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = (
    "xai_core/py.typed",
    "xai_core/imagenet_classes.txt",
    "xai_core/study/migrations/env.py",
    "xai_core/study/migrations/script.py.mako",
    "xai_core/study/migrations/versions/v0001_initial.py",
)

pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    """This environment without pip's configuration (no index, no find-links, no constraint) or PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run(command: list[str], cwd: Path, timeout: float = 300) -> str:
    result = subprocess.run(command, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` on a copy of this checkout's files (tracked and untracked, not ignored): sdist, wheel."""
    work = tmp_path_factory.mktemp("build")
    listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is still listed
            (work / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / "src" / name)
    # --no-isolation: the build backend (setuptools, from the dev lock) is this environment's; nothing downloads
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "dist"), str(work / "src")], work)
    return work / "dist"


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("saliency_studio-*.whl")
    return wheel


def _metadata(dist: Path) -> Message:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def test_wheel_metadata_declares_dependencies_extras_licence_and_version(dist: Path) -> None:
    metadata = _metadata(dist)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["Name"] == "saliency-studio" and metadata["Version"] == xai_core.__version__
    assert metadata["License-Expression"] == "Apache-2.0" and metadata.get_all("License-File") == ["LICENSE"]
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist")]
    core = {r.name for r in requires if r.marker is None}
    assert core == {Requirement(r).name for r in project["dependencies"]}
    assert {"torch", "torchvision", "numpy", "pyarrow", "pandas"} <= core
    assert "streamlit" not in core and "ray" not in core  # the app's and the Ray engine's, not the engine's
    assert set(metadata.get_all("Provides-Extra")) == {"app", "postgres", "ray", "dev"}
    by_extra = {
        extra: {r.name for r in requires if r.marker is not None and r.marker.evaluate({"extra": extra})}
        for extra in project["optional-dependencies"]
    }
    assert "streamlit" in by_extra["app"] and by_extra["postgres"] == {"psycopg"}
    assert by_extra["ray"] == {"ray"} and {"pytest", "saliency-studio", "mkdocs"} <= by_extra["dev"]
    assert metadata["Requires-Python"] == project["requires-python"]


def test_wheel_and_sdist_carry_licence_typing_marker_and_package_data(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as archive:
        wheel_files = set(archive.namelist())
        entry_points = archive.read(next(n for n in wheel_files if n.endswith(".dist-info/entry_points.txt")))
    assert set(PACKAGE_DATA) <= wheel_files
    assert any(re.fullmatch(r"saliency_studio-[^/]+\.dist-info/licenses/LICENSE", n) for n in wheel_files)
    assert "saliency-studio = xai_core.cli:main" in entry_points.decode()
    assert not [n for n in wheel_files if n.split("/")[0] in ("tests", "pages", "bench", "app.py")]
    (sdist,) = dist.glob("saliency_studio-*.tar.gz")
    with tarfile.open(sdist) as archive:
        sdist_files = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", *PACKAGE_DATA} <= sdist_files


def _closure(requirements: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions that ``requirements`` reach, transitively (markers evaluated, extras followed)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        key = f"{requirement.name}[{','.join(sorted(requirement.extras))}]".lower().replace("_", "-")
        if key in found:
            continue
        found[key] = distribution = importlib.metadata.distribution(requirement.name)
        for line in distribution.requires or []:
            todo.extend((Requirement(line), e) for e in ("", *requirement.extras))
    return list({d.metadata["Name"].lower(): d for d in found.values()}.values())


def _link_view(distributions: list[importlib.metadata.Distribution], view: Path) -> None:
    """Symbolic links in ``view`` to the top-level files and folders of ``distributions`` (from their RECORD)."""
    view.mkdir()
    for distribution in distributions:
        site = Path(str(distribution.locate_file("")))
        for top in {Path(str(f)).parts[0] for f in distribution.files or []} - {"..", "__pycache__"}:
            if not (view / top).exists() and (site / top).exists():
                (view / top).symlink_to(site / top)


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no pip, no packages) with the wheel installed by pip and the engine's dependencies visible."""
    root = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], root).strip())
    core = [r for r in _metadata(dist).get_all("Requires-Dist") if Requirement(r).marker is None]
    _link_view(_closure(core), root / "view")
    (site / "dependencies.pth").write_text(f"{root / 'view'}\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", str(_wheel(dist))], root)
    return root / "venv" / "bin"


def test_the_installed_command_answers(installed: Path) -> None:
    work = installed.parent.parent
    assert "saliency-studio app" in _run([str(installed / "saliency-studio"), "--help"], work)
    version = _run([str(installed / "saliency-studio"), "--version"], work).strip()
    assert version == f"saliency-studio {xai_core.__version__}"
    listed = _run([str(installed / "saliency-studio"), "methods"], work).split()
    assert {"saliency", "integrated_gradients", "grad_cam"} <= set(listed)
    result = subprocess.run(
        [str(installed / "saliency-studio"), "app"], cwd=work, env=_clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 2 and "runs from a clone of the repository" in result.stderr  # the wheel is the engine


def readme_example(steps: int = 4, samples: int = 2) -> str:
    """The README's Python example with its numbers of path steps and noise samples scaled down.

    The calls, names and arguments are the README's; only ``steps=N`` and ``samples=N`` become small, so that the
    example runs in seconds on a CPU (as written it computes Integrated Gradients under SmoothGrad, 64 x 25
    gradients, which takes minutes). What it checks is that the example's API exists and works as installed.
    """
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    example = re.sub(r"\bsteps(=|\"\s*:\s*)\d+", lambda m: f"steps{m.group(1)}{steps}", example)
    return re.sub(r"\bsamples=\d+", f"samples={samples}", example)


def test_the_readme_python_example_runs_on_the_installed_wheel(installed: Path) -> None:
    example = readme_example()
    assert "steps=4" in example and "samples=2" in example
    check = (
        "\nimport importlib.util, pathlib, sys\n"
        "assert pathlib.Path(xai_core.__file__).is_relative_to(sys.prefix), xai_core.__file__\n"
        "assert importlib.util.find_spec('streamlit') is None  # only the engine's dependencies are visible\n"
        "print('ok', result.method, maps.shape)\n"
    )
    out = _run([str(installed / "python"), "-c", example + check], installed.parent.parent, timeout=600)
    assert out.split() == ["ok", "integrated_gradients", "(1,", "224,", "224)"]
