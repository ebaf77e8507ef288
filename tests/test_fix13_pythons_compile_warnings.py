"""Reading a project's Python to mutate it prints nothing about that code: the compiler's own
warnings (`x is 1` is a SyntaxWarning on every Python; from 3.12 on so is an invalid escape like
`"\\d"`) were printed once per mutant compiled, to the user's terminal and into the equivalence
probe's output, where they buried what a failure said."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import git, write_files
from helpers import launcher_cli

from launcher.mutation.equivalence import PROBE

# Valid Python that the compiler warns about: an identity test against a literal (3.8+) and an
# invalid escape sequence (a SyntaxWarning, printed by default, from 3.12 on).
MODULE = ('import re\n\n\ndef digits(s, x):\n    if x is 1:\n        return re.findall("\\d+", s)\n'
          '    return [s, x + 1]\n')
TESTS = 'from pkg.mod import digits\n\n\ndef test_digits():\n    assert digits("a", 2) == ["a", 3]\n'


def _repo(root: Path) -> Path:
    write_files(root, {"pkg/__init__.py": "", "pkg/mod.py": MODULE, "tests/test_mod.py": TESTS,
                       ".gitignore": ".launcher/\n",
                       "pyproject.toml": '[tool.pytest.ini_options]\npythonpath = ["."]\n'})  # fmt: skip
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "init")
    return root


def test_counting_the_mutants_of_code_the_compiler_warns_about_prints_no_compiler_warning(tmp_path: Path) -> None:
    root = _repo(tmp_path / "p")
    done = launcher_cli(root, "mutation", "sweep", "--dry-run", "pkg/mod.py", env={"PYTHONWARNINGS": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "mutants in 1 file(s)" in done.stdout + done.stderr
    assert "SyntaxWarning" not in done.stderr, done.stderr
    assert "DeprecationWarning" not in done.stderr, done.stderr


def test_the_equivalence_probe_prints_only_its_answer(tmp_path: Path) -> None:
    start = MODULE.index("x + 1")
    request = {"files": [{"path": "pkg/mod.py", "source": MODULE,
                          "mutants": [{"id": "m1", "start": start + 4, "end": start + 5, "replacement": "2"}]}]}
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = subprocess.run([sys.executable, str(PROBE), str(tmp_path / "request.json")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    answer = json.loads(done.stdout)["files"]["pkg/mod.py"]
    assert answer["original"] is not None and answer["mutants"]["m1"] is not None
    assert answer["original"][0] != answer["mutants"]["m1"][0]  # the mutant really compiled to other code
