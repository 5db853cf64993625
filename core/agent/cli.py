"""`spyglass act "task"`: the agent in a terminal.

The model and its options come from the same settings as `spyglass chat`; each step prints one line
(the action in words, its tier, what became of it). A step that needs consent asks on the terminal,
y/N (SAFETY.md): "a" allows the act steps of the rest of the task, never a dangerous one. Without a
terminal on standard input nobody can be asked, so everything that needs consent is refused (fail
closed) and the task ends at the first such step. Ctrl-C or the global emergency-stop hotkey stops
the task at once; without that hotkey (no X RECORD, Wayland) only a dry run starts, since the
terminal loses the focus as soon as the agent clicks elsewhere. Every step is logged in the
history file, as the window logs its own.
Exit status: 0 when the model said done, 1 for any other ending, 2 when the task could not start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import closing

from core.agent.steps import ConsentRequest, Step, TaskEnded
from core.settings import load_settings

ACT_FLAGS = {
    "model": "model_dir",
    "engine": "engine",
    "device": "msa.device",
    "dtype": "msa.dtype",
    "context": "context_tokens",
    "temperature": "temperature",
    "seed": "seed",
    "data_dir": "data_dir",
    "max_steps": "agent.max_steps",
    "monitor": "agent.monitor",
}


def add_act_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", help="what to do on the screen, in plain words")
    parser.add_argument(
        "--model", metavar="PATH", help="model folder, file or server URL (default: the model_dir setting)"
    )
    parser.add_argument("--engine", help="backend: auto or one the registry lists")
    parser.add_argument("--device", help="cuda, cuda:1 or cpu")
    parser.add_argument("--dtype", help="weights and cache dtype")
    parser.add_argument("--context", type=int, help="tokens of context to reserve")
    parser.add_argument("--temperature", type=float, help="0 for greedy")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--data-dir", metavar="DIR", help="where the history (and the step log) lives")
    parser.add_argument("--max-steps", type=int, help="hard cap on steps (default: agent.max_steps, 30)")
    parser.add_argument("--monitor", type=int, help="1..n for one monitor, 0 for all (default: agent.monitor, 0)")
    parser.add_argument(
        "--grammar",
        default="auto",
        choices=("auto", "normalized", "pixels"),
        help="coordinates of text-grammar replies (UI-TARS style): 0-1000 or image pixels",
    )
    parser.add_argument("--no-tool", action="store_true", help="do not offer the computer tool (text-grammar models)")
    parser.add_argument("--dry-run", action="store_true", help="judge each step, execute nothing")


class TerminalConsent:
    """Asks y/N on the terminal. The question is read on a helper thread so that a stop (Ctrl-C,
    the hotkey) answers "deny" at once instead of waiting for the user to press Enter."""

    def __init__(self, describe) -> None:
        self._describe = describe
        self._cancelled = threading.Event()

    def ask(self, request: ConsentRequest) -> str:
        dangerous = request.verdict.tier == "dangerous"
        lines = [f"step {request.step}: {self._describe(request.action)}"]
        lines += [f"  dangerous: {r}" for r in request.verdict.reasons]
        choices = "[y]es once / [N]o" if dangerous else "[y]es once / [a]ll act steps of this task / [N]o"
        print("\n".join(lines), file=sys.stderr)
        answer: list[str] = []
        done = threading.Event()

        def read() -> None:
            print(f"Allow? {choices}: ", end="", file=sys.stderr, flush=True)
            try:
                answer.append(sys.stdin.readline().strip().lower())
            except (OSError, ValueError):
                answer.append("")
            done.set()

        threading.Thread(target=read, name="spyglass-act-consent", daemon=True).start()
        while not done.wait(0.05):
            if self._cancelled.is_set():
                return "deny"
        reply = answer[0] if answer else ""
        if reply in ("y", "yes"):
            return "once"
        if reply in ("a", "all") and not dangerous:
            return "task"
        return "deny"

    def cancel(self) -> None:
        self._cancelled.set()


def act_main(args: argparse.Namespace) -> int:
    from core.agent.look import LiveDesktop
    from core.agent.loop import Agent, AgentConfig, describe
    from core.desktop.hotkey import DEFAULT_COMBO
    from core.desktop.input import Executor
    from core.engine import open_engine
    from core.history import HistoryStore

    try:
        settings = load_settings({key: getattr(args, flag) for flag, key in ACT_FLAGS.items()})
        if settings.agent.max_steps < 1:
            raise ValueError(f"the step cap is {settings.agent.max_steps}; it must be at least 1")
        store = HistoryStore(settings.history_path())
    except (ValueError, RuntimeError, OSError) as err:
        print(f"spyglass act: {err}", file=sys.stderr)
        return 2
    with closing(store):
        try:
            engine = open_engine(settings)
            engine.load()
        except (ValueError, RuntimeError, OSError) as err:
            print(f"spyglass act: {err}", file=sys.stderr)
            return 2
        with closing(engine):
            consent = TerminalConsent(describe) if sys.stdin.isatty() else None
            if consent is None:
                print("spyglass act: no terminal to ask on: steps that need consent will be refused", file=sys.stderr)
            config = AgentConfig(
                max_steps=settings.agent.max_steps,
                grammar=args.grammar,
                offer_tool=not args.no_tool,
                dry_run=args.dry_run,
            )
            agent = Agent(
                engine, Executor(), consent=consent, desktop=LiveDesktop(settings.agent.monitor), config=config
            )
            combo = settings.agent.stop_hotkey or DEFAULT_COMBO
            return _run(agent, args.task, store, engine.info().model, describe, combo)


def _run(agent, task: str, store, model: str, describe, hotkey_combo: str) -> int:
    from core.desktop.hotkey import EmergencyStop

    hotkey = EmergencyStop(hotkey_combo, on_press=agent.stop)
    try:
        hotkey.start()
        print(f"spyglass act: emergency stop: {hotkey.combo} (or Ctrl-C)", file=sys.stderr)
    except Exception as err:  # noqa: BLE001 - whatever keeps the listener from starting is said
        if not agent.config.dry_run:  # the terminal loses the focus once the agent clicks: no hotkey, no task
            print(
                f"spyglass act: the emergency-stop hotkey could not be registered ({err}); "
                "not starting a task that could not be stopped (--dry-run runs without it)",
                file=sys.stderr,
            )
            return 2
        print(f"spyglass act: no emergency-stop hotkey ({err}); a dry run executes nothing", file=sys.stderr)
    previous = signal.signal(signal.SIGINT, lambda *_: agent.stop())
    task_id = store.start_task(task, model)
    ending = TaskEnded("error", "the agent ended without saying why", 0)
    try:
        for event in agent.run(task):
            if isinstance(event, Step):
                store.save_step(task_id, event)
                if event.outcome != "proposed":
                    print(step_line(event, describe), flush=True)
            else:
                ending = event
    finally:
        signal.signal(signal.SIGINT, previous)
        hotkey.stop()
        store.end_task(task_id, ending.ending, ending.message)
    print(f"{ending.ending}: {ending.message} ({ending.steps} steps)", flush=True)
    return 0 if ending.ending == "done" else 1


def step_line(step: Step, describe) -> str:
    """One printed line per step: what, its tier, what became of it and why."""
    what = describe(step.action) if step.action is not None else "no action"
    tier = f" [{step.verdict.tier}]" if step.verdict is not None else ""
    detail = f": {step.detail}" if step.detail else ""
    return f"step {step.index}: {what}{tier} -> {step.outcome}{detail}"
