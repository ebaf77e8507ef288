"""What keeps the grading packet bounded whatever the size of the change.

The diff has its budget (packet.DIFF_BUDGET); everything else that grows with the number of
changed files is cut here: a list of paths (the files the diff leaves out, the contract's
`files_changed`, the facts' file lists) shows its first LIST_SHOWN items, how many there are and
how they spread over folders; a long string of the contract shows its first TEXT_SHOWN
characters. What was cut is said, with where the whole is (git, in the grader's working
directory, which holds the task's head; the task's artifacts for a person).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from launcher.models.markdown import code, code_paths

LIST_SHOWN = 50  # items of a long list shown (paths, claims, decisions)
TEXT_SHOWN = 20_000  # characters of one long string of the contract shown
FOLDERS_SHOWN = 20  # folders named with their counts


def folder_counts(paths: list[str], limit: int = FOLDERS_SHOWN) -> tuple[list[tuple[str, int]], int]:
    """How `paths` spread over folders: (folder, count) at the deepest level that names at most
    `limit` folders (the top level if even that names more: its `limit` largest), most first,
    and how many more folders there are. A file at the top is counted under "(top level)"."""
    split = [path.split("/")[:-1] for path in paths]
    deepest = max((len(parts) for parts in split), default=0)
    chosen: Counter[str] = Counter()
    for depth in range(1, max(deepest, 1) + 1):
        counts = Counter("/".join(parts[:depth]) + "/" if parts else "(top level)" for parts in split)
        if chosen and len(counts) > limit:
            break
        chosen = counts
        if len(counts) > limit:
            break
    ranked = sorted(chosen.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:limit], max(0, len(ranked) - limit)


def spread(paths: list[str]) -> str:
    """"by folder: `services/a/` 250, `services/b/` 250, and 3 more folders"."""
    counts, more = folder_counts(paths)
    named = ", ".join(f"{code(folder) if folder != '(top level)' else folder} {count:,}" for folder, count in counts)
    return f"by folder: {named}" + (f", and {more:,} more folder(s)" if more else "")


def paths_shown(paths: Any, empty: str = "none") -> str:
    """File names for a line of the packet: each quoted (models/markdown.code_paths), at most
    LIST_SHOWN of them, then how many more and how they spread over folders."""
    if not isinstance(paths, list | tuple):
        return code(str(paths)) if paths else empty
    if len(paths) <= LIST_SHOWN:
        return code_paths(paths, empty)
    names = [str(path) for path in paths]
    return (f"{code_paths(names[:LIST_SHOWN])} and {len(names) - LIST_SHOWN:,} more "
            f"({len(names):,} in all; {spread(names)})")


def bounded(value: Any, cuts: dict[str, str], where: str = "") -> Any:
    """`value` (JSON data) with every list longer than LIST_SHOWN cut to its first LIST_SHOWN
    items and every string longer than TEXT_SHOWN cut to its first TEXT_SHOWN characters; each
    cut recorded in `cuts` (key path -> what is shown)."""
    if isinstance(value, dict):
        return {key: bounded(item, cuts, f"{where}.{key}" if where else str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = list(value)
        if len(items) > LIST_SHOWN:
            cuts[where or "(the list)"] = f"the first {LIST_SHOWN} of {len(items):,} items"
            items = items[:LIST_SHOWN]
        return [bounded(item, cuts, f"{where}[{index}]") for index, item in enumerate(items)]
    if isinstance(value, str) and len(value) > TEXT_SHOWN:
        cuts[where or "(the text)"] = f"the first {TEXT_SHOWN:,} of {len(value):,} characters"
        return value[:TEXT_SHOWN]
    return value


def cuts_said(cuts: dict[str, str]) -> str:
    """"`files_changed`: the first 50 of 5,000 items; `summary`: ..." (at most LIST_SHOWN named)."""
    named = [f"{code(key)}: {shown}" for key, shown in list(cuts.items())[:LIST_SHOWN]]
    more = len(cuts) - len(named)
    return "; ".join(named) + (f"; and {more:,} more cut value(s)" if more > 0 else "")
