"""What a workflow runner that died (kill -9) left running besides its phase's run: the test and
coverage commands it runs for a phase's `test/results.json` / `coverage.json`, journaled under
the workflow's id (`artifacts.write_phase_artifacts`). The workflow's `resume` and `cancel` reap
them; so does `launcher clean`, as it reaps a dead run's agents."""

from __future__ import annotations

from pathlib import Path

from launcher.app.workflow import artifacts
from launcher.app.workflow.runner import runner_alive
from launcher.app.workflow.session import WorkflowSession
from launcher.engine import site_installs


async def reap_dead_runners(cwd: Path, run_ids: set[str] | None) -> list[str]:
    """Kill what dead runners left running, for every workflow (`run_ids` None: `clean --all`)
    or the workflows one of whose phases ran one of `run_ids`; what was killed, one line each.
    Under each workflow's claim, and never while its runner lives."""
    session = await WorkflowSession.open(cwd)
    done = []
    for state in session.store.all(10_000):
        if run_ids is not None and not run_ids & {row.run_id for row in state.phases if row.run_id}:
            continue
        installs = (session.folder(state.id) / site_installs.RECORD).exists()  # kept while a test command runs
        if not (installs or session.journal().live_processes(state.id)) or runner_alive(state):
            continue
        async with session.claim(state.id):
            state = session.load(state.id)
            if runner_alive(state):
                continue
            if killed := artifacts.reap_left_behind(session.journal(), state.id):
                done.append(f"killed {len(killed)} process(es) workflow {state.id}'s dead runner "
                            f"(pid {state.runner_pid}) left running (a phase's test or coverage command)")
            put_back = await artifacts.put_back_installs(session.scratch_root(state.id), session.folder(state.id))
            done += [f"{line} (a test command of workflow {state.id} installed the project there from its scratch "
                     "tree)" for line in put_back]
    return done
