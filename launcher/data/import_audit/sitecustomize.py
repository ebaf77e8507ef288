"""The launcher's import audit, loaded by every Python interpreter a check, setup command, rubric
check or integration check starts (its directory comes first on PYTHONPATH).

At exit it appends to $LAUNCHER_IMPORT_AUDIT the file of every loaded module that lives in the
main checkout ($LAUNCHER_MAIN_ROOT) instead of the worktree under test ($LAUNCHER_WORKTREE): the
command then tested code that is not the worktree's, and the launcher fails it. Then it hands over
to the next `sitecustomize` on sys.path (a distribution's own), as if this one were not there.
It must never break or slow the interpreter: every step swallows its own errors.
"""

import os
import sys


def _under(path: str, roots: "tuple[str, ...]") -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def _both(path: str) -> "tuple[str, ...]":
    return tuple({os.path.abspath(path), os.path.realpath(path)})


def _report() -> None:
    try:
        audit = os.environ.get("LAUNCHER_IMPORT_AUDIT")
        main = os.environ.get("LAUNCHER_MAIN_ROOT")
        tree = os.environ.get("LAUNCHER_WORKTREE")
        if not (audit and main and tree):
            return
        mains, trees = _both(main), _both(tree)
        # The interpreter's own environment (a .venv inside the checkout) is not the project's
        # code, and neither is this file (inside the checkout when the launcher works on itself).
        envs = _both(sys.prefix) + _both(sys.exec_prefix) + _both(os.path.dirname(__file__))
        found = set()
        for module in list(sys.modules.values()):
            name = getattr(module, "__file__", None)
            if not isinstance(name, str) or not _under(os.path.abspath(name), mains):
                continue  # the cheap test first: most modules are nowhere near the checkout
            real = os.path.realpath(name)
            if _under(real, mains) and not _under(real, trees) and not _under(real, envs):
                found.add(real)
        if found:
            with open(audit, "a", encoding="utf-8") as out:
                out.write("".join(f"{path}\n" for path in sorted(found)))
    except Exception:  # an audit that breaks the command would be worse than none
        pass


def _chain() -> None:
    """Load the next `sitecustomize` on sys.path, the one this file hides."""
    try:
        import importlib.machinery
        import importlib.util

        here = os.path.dirname(os.path.realpath(__file__))
        rest = [p for p in sys.path if os.path.realpath(p or os.curdir) != here]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
        if spec is None or spec.loader is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception:
        pass


try:
    import atexit

    atexit.register(_report)
except Exception:
    pass
_chain()
