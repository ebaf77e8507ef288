"""A task that fails after its agent committed (here: while the launcher makes the patch of its
branch) is reported with what its branch really holds: `head_sha` is the branch's tip and
`files` the files it changed, in the report and in `status --json`; the message says in the
launcher's words what went wrong and what to do, never git's raw error alone."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import git, launcher_cli, run_shell, task

# The agent commits `work.txt`, then damages that file's object in the repository: `git diff
# --raw` (ids only) still lists the change, `git diff --binary` cannot read it and fails.
_UNREADABLE = (
    "test -e work.txt && exit 0; "  # its corrective round (it gives no contract) changes nothing
    "printf 'agent work\\n' > work.txt && git add work.txt && git commit -qm 'agent: work' && "
    "blob=$(git rev-parse HEAD:work.txt) && "
    'obj="$(git rev-parse --git-common-dir)/objects/$(echo $blob | cut -c1-2)/$(echo $blob | cut -c3-)" && '
    'chmod u+w "$obj" && echo \'not an object\' > "$obj"'
)


def test_a_patch_git_cannot_make_reports_the_branch_head_and_its_files(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    report = run_shell(repo, _UNREADABLE, "lost")
    lost = task(report, "lost")
    tip = git(repo, "rev-parse", f"launcher/{report.run_id}/lost").strip()
    assert lost.state == "failed"
    assert tip != base and lost.head_sha == tip  # not the base it started from
    assert lost.files == ["work.txt"]
    assert "the task's change cannot be collected: git could not make its patch" in lost.message
    assert f"the agent's commits stay on branch launcher/{report.run_id}/lost ({tip[:12]})" in lost.message
    assert f"launcher resume {report.run_id} --retry-failed" in lost.message

    status = launcher_cli(repo, "status", report.run_id, "--json")
    (shown,) = json.loads(status.stdout)["tasks"]
    assert (shown["head_sha"], shown["files"]) == (tip, ["work.txt"])


def test_a_file_of_2_gib_names_the_file_and_why_git_cannot_diff_it(repo: Path) -> None:
    # A sparse file: little real disk; stored uncompressed so that git's hashing is quick.
    script = (
        "test -e big.bin && exit 0; truncate -s 2G big.bin && "
        "git -c core.compression=0 -c core.looseCompression=0 add big.bin && git commit -qm 'agent: big file'"
    )
    report = run_shell(repo, script, "huge")
    huge = task(report, "huge")
    tip = git(repo, "rev-parse", f"launcher/{report.run_id}/huge").strip()
    assert huge.state == "failed"
    assert (huge.head_sha, huge.files) == (tip, ["big.bin"])
    assert "it commits big.bin (2.0 GiB), and git cannot make a diff of a file of 2 GiB or more" in huge.message
    assert "keep files that large out of the repository" in huge.message
    assert "malloc" not in huge.message.split("git:")[0]  # git's own words only as a quote, last
