"""The environment the launcher's own git runs with: the parent's minus GIT_* variables, the
user's identity and config files kept, and config pinned so that git runs no command of an
agent's (hooks, fsmonitor), no housekeeping, prints what the launcher parses and merges only as
asked (`git_env`); the flags that switch off what config cannot (`SAFE_FLAGS`)."""

from __future__ import annotations

import os

from launcher.git.git_vars import USER_CONFIG_VARS, without_git_vars

# Config that makes git run a command, forced off for the launcher's own git: an agent can write
# a hook or set these in the shared git dir, and the launcher's git runs with its whole
# environment. (Changes to the config itself are undone after each agent round: git/guard.py.)
# git 2.54 and later also run hooks named in the config (`hook.<name>.command` with
# `hook.<name>.event`: the user's global config, or an agent's in the shared one), whatever
# core.hooksPath says: each event is switched off by `hook.<event>.enabled` (older gits ignore it).
HOOK_EVENTS = (
    "applypatch-msg", "pre-applypatch", "post-applypatch", "pre-commit", "pre-merge-commit",
    "prepare-commit-msg", "commit-msg", "post-commit", "pre-rebase", "post-checkout", "post-merge",
    "pre-push", "pre-receive", "update", "proc-receive", "post-receive", "post-update",
    "reference-transaction", "push-to-checkout", "pre-auto-gc", "post-rewrite", "sendemail-validate",
    "fsmonitor-watchman", "p4-changelist", "p4-prepare-changelist", "p4-post-changelist",
    "p4-pre-submit", "post-index-change",
)
SAFE_CONFIG = (("core.hooksPath", "/dev/null"), ("core.fsmonitor", "false"),
               *((f"hook.{event}.enabled", "false") for event in HOOK_EVENTS))
# Housekeeping the launcher's own git skips: after each commit, merge or update-ref git would
# spawn `git maintenance run --auto` (and possibly gc), one more process per branch while a
# run's tasks and landings are timed. No object or ref changes meaning; the user's own git
# still does this housekeeping.
SPEED_CONFIG = (("maintenance.auto", "false"), ("gc.auto", "0"))
# The user's taste in what git prints, pinned to git's defaults for the launcher's own git: the
# patches it stores and shows (diff.patch, `launcher diff`, the grader's packet) must apply with
# `git apply` (no colour, a/ b/ prefixes, gitlinks as `Subproject commit` lines), and the output
# it parses (status, log, show, diff) must have the shape it was written for (no signature check
# lines in a `log --format`, untracked files listed, paths quoted as by default, UTF-8 messages).
# A diff's hunks and file pairs are git's default too: its context (`diff.context`, and
# `diff.interHunkContext`, which would join `-U0` hunks with unchanged lines between them, so a
# line count of `+` lines goes wrong), its rename detection (`diff.renames`; also the default of
# merge.renames, so the launcher's merges detect renames as git's do by default) and its file
# order (`diff.orderFile`: an empty order file keeps git's). Not diff.renameLimit nor
# diff.algorithm: the launcher's merges take their defaults from them (git's own are different
# there), and neither changes how a diff reads, only which lines it pairs.
# (diff.external and textconv are switched off by flags: SAFE_FLAGS.)
# The commits it writes take the user's commit.gpgsign (git/signing.py); nothing else of theirs.
OUTPUT_CONFIG = (
    ("color.ui", "never"), ("color.diff", "never"), ("color.status", "never"), ("color.branch", "never"),
    ("diff.noprefix", "false"), ("diff.mnemonicPrefix", "false"), ("diff.srcPrefix", "a/"),
    ("diff.dstPrefix", "b/"), ("diff.relative", "false"), ("diff.submodule", "short"),
    ("diff.context", "3"), ("diff.interHunkContext", "0"), ("diff.renames", "true"),
    ("diff.orderFile", "/dev/null"),
    ("diff.suppressBlankEmpty", "false"), ("log.showSignature", "false"),
    ("status.showUntrackedFiles", "normal"), ("core.quotePath", "true"),
    ("i18n.commitEncoding", "UTF-8"), ("i18n.logOutputEncoding", "UTF-8"),
)
# What makes the launcher's own checkouts and merges do more than it asked for: it checks
# submodules out itself (git/submodules.py), merges the target into a task's branch for the
# agent to resolve: never with the user's signature policy (the target's tip is often the
# launcher's own landing commit), their recorded resolutions (a conflict rerere settles silently
# is one nobody looked at) or an autostash of what the worktree holds. The messages it commits
# are kept as written (git's own default for `commit -m`): a user's commit.cleanup=strip would
# drop a task title starting with `#` ("#42 fix the login") as a comment line.
BEHAVIOUR_CONFIG = (
    ("submodule.recurse", "false"), ("merge.verifySignatures", "false"), ("rerere.enabled", "false"),
    ("merge.autoStash", "false"), ("commit.cleanup", "whitespace"),
    # git 2.48+: a user's worktree.useRelativePaths would make the launcher's `git worktree add`
    # write relative paths and turn on `extensions.relativeWorktrees` in the shared config (a
    # change of it taken for an agent's, put back, and a repository older gits refuse). Its
    # worktrees live in its cache, named by absolute paths; older gits ignore the key.
    ("worktree.useRelativePaths", "false"),
)
# diff.external and textconv drivers cannot be switched off by config, only by flags.
SAFE_FLAGS = {"diff": ("--no-ext-diff", "--no-textconv"), "log": ("--no-ext-diff", "--no-textconv"),
              "show": ("--no-ext-diff", "--no-textconv")}


def _config_env(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env



def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for git: the parent's, minus every GIT_* variable (GIT_DIR, GIT_INDEX_FILE,
    GIT_CONFIG_PARAMETERS... would point it elsewhere) but those naming the user's config files
    (USER_CONFIG_VARS), plus safe defaults (no hooks, no fsmonitor: see SAFE_CONFIG), no
    automatic housekeeping (SPEED_CONFIG), git's default output (OUTPUT_CONFIG) and no recursion
    into submodules, signature checks or rerere in its own merges, and its commit messages as
    written whatever the user's commit.cleanup (BEHAVIOUR_CONFIG). The system
    and global config are read, as the user's own git reads them: their filters (git-lfs) and
    safe.directory apply to the launcher's git too. Replace refs (`git replace`) are not
    honoured: the launcher reads, restores and lands the objects themselves, never what a ref
    under refs/replace/ (an agent's, say) swaps in."""
    env = without_git_vars(os.environ, keep=USER_CONFIG_VARS)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_NO_REPLACE_OBJECTS": "1",
            "LC_ALL": "C",
            "GIT_AUTHOR_NAME": env.get("LAUNCHER_GIT_NAME", "launcher"),
            "GIT_AUTHOR_EMAIL": env.get("LAUNCHER_GIT_EMAIL", "launcher@localhost"),
            "GIT_COMMITTER_NAME": env.get("LAUNCHER_GIT_NAME", "launcher"),
            "GIT_COMMITTER_EMAIL": env.get("LAUNCHER_GIT_EMAIL", "launcher@localhost"),
            **_config_env(SAFE_CONFIG + SPEED_CONFIG + OUTPUT_CONFIG + BEHAVIOUR_CONFIG),
        }
    )
    if extra:
        env.update(extra)
    return env
