"""README.md stays true: every Python example runs as written, the two commands are what
.ci/run runs, and what it says about the repository's root holds (a source folder without
compiled kernels is a clear ImportError)."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import fastopt

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, tmp_path, monkeypatch, capsys):
    if "import torch" in code:              # the PyTorch section (torch is an extra; CI
        pytest.importorskip("torch")        # installs it and requires it)
    monkeypatch.chdir(tmp_path)             # examples may write files (plots)
    exec(compile(code, str(README), "exec"), {"__name__": "__main__"})   # guarded code too


def test_two_commands():
    """The "Two commands" section holds exactly two one-line bash blocks (.ci/run runs them
    verbatim), the first through the console script pyproject.toml declares."""
    section = TEXT.split("\n## Two commands\n", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert commands == ['pip install . && fastopt compare\n',
                        'pip install ".[test]" && pytest\n']
    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]\n", 1)[1]
    assert scripts.startswith('fastopt = "fastopt.compare:main"\n')


def _python(args, cwd):
    """Run this Python in ``cwd`` with nothing else on its path (no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


@pytest.mark.parametrize("tree", ["source", "copy"])
def test_package_folder_without_kernels_is_a_clear_import_error(tree, tmp_path):
    """Importing fastopt from a folder of its sources without the compiled kernels (the
    clone's root, where python -m looks first) says where and what to do, instead of a bare
    ModuleNotFoundError; without setup.py next to it, it is an incomplete installation."""
    package = tmp_path / "fastopt"
    shutil.copytree(pathlib.Path(fastopt.__file__).parent, package,
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__"))
    if tree == "source":
        shutil.copy(ROOT / "setup.py", tmp_path)
    for args in (["-c", "import fastopt"], ["-m", "fastopt", "compare", "--help"]):
        out = _python(args, tmp_path)
        assert out.returncode == 1
        assert "ModuleNotFoundError" not in out.stderr
        last = out.stderr.strip().splitlines()[-1]
        if tree == "source":
            assert last.startswith(f"ImportError: fastopt was imported from the source tree "
                                   f"at {package}, which has no compiled kernels")
            for advice in ("run from another folder", "`fastopt compare`",
                           "`pip install -e .`", "`python setup.py build_ext --inplace`"):
                assert advice in last
        else:
            assert last.startswith(f"ImportError: fastopt was imported from {package}, which "
                                   "has no compiled kernels")
            assert "reinstall" in last


def test_console_script_runs_from_the_repository_root():
    """The `fastopt` command (README's first command) from the clone's root imports the
    installed package: a script's sys.path[0] is its own folder, not the current one."""
    script = shutil.which("fastopt", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the fastopt console script is not installed next to this Python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([script, "compare", "--help"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: fastopt compare")
