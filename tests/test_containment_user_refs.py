"""The user's own git in the main checkout while a run's agents work (`git pull --ff-only`
bringing a release tag, `git commit` then `git tag`, `git pull` with `pull.rebase`) fails no
agent and loses nothing; what an agent does to the shared refs is still put back, and a tag put
back is never deleted by a plain `launcher clean`.

Each agent here plays the user: it runs the user's command in the main checkout from inside its
round, so the ref guard sees the change while that agent's code runs, the worst case for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import git, launcher_cli, task
from test_containment_refs import assert_main_clean, hostile, run_id_of, subjects
from test_safety_contain import run_commands

USER = '"-c", "user.name=u", "-c", "user.email=u@b"'
WORK = 'pathlib.Path("w.txt").write_text("w\\n")\n'


def with_upstream(repo: Path, tmp_path: Path) -> Path:
    """`repo` tracks origin/main of a bare remote, which has one commit more, tagged `v2.0`
    (annotated) by someone else: the next `git pull` brings both."""
    remote, other = tmp_path / "remote.git", tmp_path / "other"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")
    git(repo, "branch", "-q", "--set-upstream-to=origin/main", "main")
    git(tmp_path, "clone", "-q", str(remote), str(other))
    (other / "upstream.txt").write_text("upstream\n")
    git(other, "add", "upstream.txt")
    git(other, "commit", "-qm", "upstream work")
    git(other, "tag", "-a", "v2.0", "-m", "release 2.0")
    git(other, "push", "-q", "origin", "main", "v2.0")
    return other


def test_a_pull_ff_only_bringing_a_release_tag_fails_no_agent_and_keeps_the_tag(
        repo: Path, tmp_path: Path) -> None:
    with_upstream(repo, tmp_path)
    report = run_commands(repo, [hostile("busy", 'G("pull", "-q", "--ff-only", cwd=MAIN)\n' + WORK)])
    busy = task(report, "busy")
    assert busy.state == "merged", busy.message
    assert git(repo, "tag", "--list").split() == ["v2.0"]
    assert git(repo, "cat-file", "-t", "v2.0").strip() == "tag"  # the annotated tag itself
    assert "upstream work" in subjects(repo) and (repo / "w.txt").exists()
    assert git(repo, "for-each-ref", "refs/launcher/") == ""  # nothing was taken aside
    assert_main_clean(repo)


def test_a_tag_fetched_on_a_commit_the_repository_already_had_is_the_user_s(
        repo: Path, tmp_path: Path) -> None:
    # Upstream tags an old commit: `git fetch` follows the tag without bringing any commit.
    other = with_upstream(repo, tmp_path)
    git(other, "tag", "v1.0", "HEAD~1")
    git(other, "push", "-q", "origin", "v1.0")
    git(repo, "pull", "-q", "--ff-only", "--no-tags")
    report = run_commands(repo, [hostile("busy", 'G("fetch", "-q", "origin", cwd=MAIN)\n' + WORK)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert sorted(git(repo, "tag", "--list").split()) == ["v1.0", "v2.0"]


def test_the_user_s_commit_then_tag_on_the_target_is_left(repo: Path) -> None:
    user = (f'G({USER}, "commit", "-q", "--allow-empty", "-m", "release", cwd=MAIN)\n'
            f'G({USER}, "tag", "-a", "v3.0", "-m", "the user\'s release", cwd=MAIN)\n' + WORK)
    report = run_commands(repo, [hostile("busy", user)])
    assert task(report, "busy").state == "merged", task(report, "busy").message
    assert git(repo, "log", "-1", "--format=%s", "v3.0").strip() == "release"


def test_a_pull_with_pull_rebase_over_a_local_commit_fails_no_agent(repo: Path, tmp_path: Path) -> None:
    with_upstream(repo, tmp_path)
    (repo / "mine.txt").write_text("mine\n")
    git(repo, "add", "mine.txt")
    git(repo, "commit", "-qm", "my local commit")
    report = run_commands(repo, [hostile("busy", f'G({USER}, "-c", "pull.rebase=true", "pull", "-q", cwd=MAIN)\n'
                                                 + WORK)])
    busy = task(report, "busy")
    assert busy.state == "merged", busy.message
    landed = subjects(repo)
    assert landed.index("my local commit") < landed.index("upstream work")  # rebased onto it, kept
    assert (repo / "upstream.txt").exists() and (repo / "mine.txt").exists() and (repo / "w.txt").exists()
    assert git(repo, "for-each-ref", "refs/launcher/") == ""
    assert_main_clean(repo)


def test_a_pull_rebase_whose_conflict_the_user_resolved_fails_no_agent(repo: Path, tmp_path: Path) -> None:
    # The rebased commit differs from the one it copies (the conflict's resolution): its
    # branch's reflog says a rebase finished there, and it brings no commit of an agent.
    other = with_upstream(repo, tmp_path)
    (other / "app.py").write_text("upstream version\n")
    git(other, "commit", "-qam", "upstream edit")
    git(other, "push", "-q", "origin", "main")
    (repo / "app.py").write_text("my version\n")
    git(repo, "commit", "-qam", "my edit")
    code = (f'subprocess.run(["git", {USER}, "-c", "pull.rebase=true", "pull", "-q"], cwd=MAIN)\n'
            '(MAIN / "app.py").write_text("both versions\\n")\n'
            'G("add", "app.py", cwd=MAIN)\n'
            f'subprocess.run(["git", {USER}, "rebase", "--continue"], cwd=MAIN, check=True, capture_output=True,\n'
            '               env={**os.environ, "GIT_EDITOR": "true"})\n' + WORK)
    report = run_commands(repo, [hostile("busy", code)])
    busy = task(report, "busy")
    # The task started from the commit the rebase replaced: its landing may conflict (that is
    # the rebase's doing), but its agent is not blamed, and main stays where the user put it.
    assert busy.state != "failed" and "moved refs" not in busy.message, busy.message
    assert subjects(repo)[:3] == ["my edit", "upstream edit", "upstream work"]
    assert git(repo, "show", "main:app.py") == "both versions\n"
    assert git(repo, "for-each-ref", "refs/launcher/") == ""
    assert_main_clean(repo)


def test_an_agent_tagging_its_own_commit_or_the_base_is_still_put_back(repo: Path, tmp_path: Path) -> None:
    # The repository has a remote and a FETCH_HEAD (a fetch before the run): neither makes an
    # agent's tag the user's.
    with_upstream(repo, tmp_path)
    report = run_commands(repo, [
        hostile("own", f'sha = commit_here("o.txt")\nG({USER}, "tag", "-a", "v-own", "-m", "m", sha)\n'),
        hostile("base", 'G("tag", "v-base", "HEAD")\n' + WORK)], max_parallel=1)
    for task_id, tag in (("own", "v-own"), ("base", "v-base")):
        failed = task(report, task_id)
        assert failed.state == "failed" and f"tags/{tag} created" in failed.message, failed.message
    assert git(repo, "tag", "--list") == ""


def test_an_agent_rebasing_the_target_onto_its_own_commit_is_put_back(repo: Path, tmp_path: Path) -> None:
    # It looks like a `git pull --rebase` (the new tip holds the upstream's tip and a copy of the
    # local commit), but it brings a commit made in the agent's worktree.
    with_upstream(repo, tmp_path)
    (repo / "mine.txt").write_text("mine\n")
    git(repo, "add", "mine.txt")
    git(repo, "commit", "-qm", "my local commit")
    mine = git(repo, "rev-parse", "main").strip()
    code = f'sha = commit_here("sneak.txt")\nG({USER}, "rebase", "-q", sha, cwd=MAIN)\n'
    report = run_commands(repo, [hostile("sneak", code)])
    sneak = task(report, "sneak")
    assert sneak.state == "failed" and "main moved from" in sneak.message, sneak.message
    assert git(repo, "rev-parse", "main").strip() == mine
    assert_main_clean(repo)


def test_clean_keeps_a_tag_the_run_took_aside_until_forced(repo: Path) -> None:
    code = f'G({USER}, "tag", "-a", "v-aside", "-m", "annotated", "HEAD")\n'
    report = run_commands(repo, [hostile("tagger", code)])
    assert task(report, "tagger").state == "failed"
    aside = f"refs/launcher/{run_id_of(repo)}/tagger/moved/tags/v-aside"
    tag_object = git(repo, "rev-parse", aside).strip()
    cleaned = launcher_cli(repo, "clean", "--all")
    assert cleaned.returncode == 0, cleaned.stderr
    assert git(repo, "rev-parse", aside).strip() == tag_object, cleaned.stdout
    assert f"git update-ref refs/tags/v-aside {aside}" in cleaned.stdout, cleaned.stdout
    forced = launcher_cli(repo, "clean", "--all", "--force")
    assert forced.returncode == 0, forced.stderr
    assert git(repo, "for-each-ref", "refs/launcher/") == ""


# --- what an agent can write itself excuses nothing -------------------------------------------

def with_local_commit(repo: Path, branch: str) -> str:
    """`branch` gets one commit of the user's own (a new branch off main, or main itself)."""
    if branch != "main":
        git(repo, "switch", "-q", "-c", branch)
    (repo / "mine.txt").write_text("mine\n")
    git(repo, "add", "mine.txt")
    git(repo, "commit", "-qm", "my local commit")
    git(repo, "switch", "-q", "main")
    return git(repo, "rev-parse", branch).strip()


def fake_rebase(branch: str, to: str) -> str:
    """Agent code: move `branch` to `to` with the reflog message a finished `git rebase` writes."""
    return (f'to = G("rev-parse", {to!r}, cwd=MAIN)\n'
            f'G("update-ref", "-m", "rebase (finish): refs/heads/{branch} onto " + to, "refs/heads/{branch}", to)\n')


REWIND_FEATURE = fake_rebase("feature", "main") + WORK  # drops the user's commit: no copy anywhere
REWIND_TO_UPSTREAM = fake_rebase("main", "origin/main") + WORK
# A real `git pull --rebase`, then a commit of the agent's own (`git commit-tree`: in no reflog of
# its worktree) put on top with a rebase's reflog message: it is no copy of a dropped commit.
REBASE_PLUS_OWN = (f'G({USER}, "-c", "pull.rebase=true", "pull", "-q", cwd=MAIN)\n'
                   'extra = subprocess.run(["git", "commit-tree", "-p", "main", "-m", "not a copy", "main^{tree}"],\n'
                   '    cwd=MAIN, check=True, capture_output=True, text=True,\n'
                   '    env={**os.environ, "GIT_AUTHOR_DATE": "2001-01-01T00:00:00Z"}).stdout.strip()\n'
                   'G("update-ref", "-m", "rebase (finish): refs/heads/main onto " + extra, "refs/heads/main", extra)\n'
                   + WORK)


@pytest.mark.parametrize(("branch", "code"), [("feature", REWIND_FEATURE), ("main", REWIND_TO_UPSTREAM),
                                              ("main", REBASE_PLUS_OWN)],
                         ids=["rewind-a-branch", "rewind-to-its-upstream", "rebase-plus-a-commit"])
def test_a_move_with_a_rebase_s_reflog_message_the_agent_wrote_is_still_put_back(
        repo: Path, tmp_path: Path, branch: str, code: str) -> None:
    # A reflog message is written by whoever moves the ref: it excuses no move that drops a
    # commit without a copy, or adds a commit that is neither the upstream's nor such a copy.
    with_upstream(repo, tmp_path)
    mine = with_local_commit(repo, branch)
    report = run_commands(repo, [hostile("sneak", code)])
    sneak = task(report, "sneak")
    assert sneak.state == "failed" and f"{branch} moved from" in sneak.message, sneak.message
    assert git(repo, "rev-parse", branch).strip() == mine
    assert_main_clean(repo)


FORWARD = 'to = G("rev-parse", "main", cwd=MAIN)\n'
BACK = 'to = G("rev-parse", "main~1", cwd=MAIN)\n'


@pytest.mark.parametrize("move", [FORWARD, BACK], ids=["forward", "back"])
def test_an_agent_moving_an_existing_tag_is_put_back_whatever_fetch_head_says(
        repo: Path, move: str) -> None:
    # A fetch never moves an existing tag without --force, and FETCH_HEAD is a file any process
    # may write: a moved tag is never the user's, not even one moved forward.
    (repo / "two.txt").write_text("two\n")
    git(repo, "add", "two.txt")
    git(repo, "commit", "-qm", "second")
    git(repo, "tag", "v1.0", "HEAD~1" if move == FORWARD else "HEAD")
    released = git(repo, "rev-parse", "v1.0").strip()
    code = (move + 'G("tag", "-f", "v1.0", to)\n'
            '(common_dir() / "FETCH_HEAD").write_text(to + "\\t\\ttag \'v1.0\' of https://example.invalid/x\\n")\n'
            + WORK)
    report = run_commands(repo, [hostile("sneak", code)])
    sneak = task(report, "sneak")
    assert sneak.state == "failed" and "tags/v1.0 moved from" in sneak.message, sneak.message
    assert git(repo, "rev-parse", "v1.0").strip() == released


def test_a_tag_fetched_then_another_fetch_in_the_same_round_is_still_the_user_s(
        repo: Path, tmp_path: Path) -> None:
    # The second fetch rewrites FETCH_HEAD without v2.0; origin/main, which moved meanwhile,
    # brought v2.0's commit, which no ref reached before.
    with_upstream(repo, tmp_path)
    fork = tmp_path / "fork.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(fork))
    git(repo, "remote", "add", "fork", str(fork))
    code = 'G("fetch", "-q", "origin", cwd=MAIN)\nG("fetch", "-q", "fork", cwd=MAIN)\n' + WORK
    report = run_commands(repo, [hostile("busy", code)])
    busy = task(report, "busy")
    assert busy.state == "merged", busy.message
    assert git(repo, "tag", "--list").split() == ["v2.0"]
    assert git(repo, "cat-file", "-t", "v2.0").strip() == "tag"
    assert git(repo, "for-each-ref", "refs/launcher/") == ""


FETCH_THEN_TAG_BASE = 'G("fetch", "-q", "--no-tags", "origin", cwd=MAIN)\nG("tag", "v-base", "main", cwd=MAIN)\n'
NEW_REMOTE_REF_THEN_TAG = 'G("update-ref", "refs/remotes/x/y", "HEAD")\nG("tag", "v-base", "HEAD")\n'


@pytest.mark.parametrize("code", [FETCH_THEN_TAG_BASE, NEW_REMOTE_REF_THEN_TAG],
                         ids=["after-a-fetch", "after-a-new-remote-ref"])
def test_an_agent_s_tag_on_a_commit_the_repository_had_is_put_back_though_a_remote_ref_moved(
        repo: Path, tmp_path: Path, code: str) -> None:
    with_upstream(repo, tmp_path)
    report = run_commands(repo, [hostile("sneak", code + WORK)])
    sneak = task(report, "sneak")
    assert sneak.state == "failed" and "tags/v-base created" in sneak.message, sneak.message
    assert git(repo, "tag", "--list") == ""
