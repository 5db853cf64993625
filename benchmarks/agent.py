"""Agent overhead per step and emergency-stop latency, on a real 1920x1080 X display (Xvfb).

    python benchmarks/agent.py [--steps 50] [--stops 50] [--save benchmarks/results/agent-<date>.json]

Overhead: the agent clicks the test target's button (tests/agent/target_app.py) step after step,
with a scripted model that answers at once, so a step's time is the agent's own: capture, encode
(the model's image, its digest, the marked thumbnail), parse, policy, execute (pyautogui) and
settle (two looks that agree). The total per step is measured around the real loop; the stages
are timed one by one on the same screen. Stop latency: a task whose model is still thinking, or
whose drag is still holding the button, is stopped by the global hotkey (xdotool presses it, the
pynput listener calls `Agent.stop`); the time runs from the key press to the task's end event.
Targets (issue 15): overhead median <= 150 ms; stop <= 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.agent.look import LiveDesktop, look, thumbnail, to_screen  # noqa: E402
from core.agent.loop import Agent, AgentConfig  # noqa: E402
from core.agent.parse import parse_reply  # noqa: E402
from core.agent.policy import Situation, judge  # noqa: E402
from core.agent.steps import Step, TaskEnded  # noqa: E402
from core.events import ToolCall  # noqa: E402
from core.messages import ImagePart, Message  # noqa: E402
from tests.agent.scripted import ScriptedEngine  # noqa: E402
from tests.agent.target import TargetApp  # noqa: E402
from tests.agent.test_on_screen import model_xy, tool  # noqa: E402


XDOTOOL = {"<ctrl>+<alt>+<end>": "ctrl+alt+End"}  # the default chord as xdotool names it


class Allow:
    def ask(self, request):
        return "task"

    def cancel(self):
        pass


def start_display(size: str) -> subprocess.Popen:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp",
                               "+extension", "RECORD"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    number = os.read(read, 16).decode().strip()
    os.close(read)
    os.environ["DISPLAY"] = f":{number}"
    return server


def overhead(app: TargetApp, steps: int) -> dict:
    from core.desktop.input import Executor

    button = lambda: app.center("button")  # noqa: E731
    engine = ScriptedEngine([tool("click", at=button) for _ in range(steps)])
    agent = Agent(engine, Executor(), consent=Allow(), config=AgentConfig(max_steps=steps))
    totals, started = [], {}
    for event in agent.run("click the button"):
        if isinstance(event, Step) and event.outcome == "proposed":
            started[event.index] = event.time
        elif isinstance(event, Step) and event.outcome == "executed":
            totals.append(time.time() - started[event.index])
    stages = stage_times(app, steps)
    return {"step_ms": ms(totals), "stages_ms": stages, "clicks": app.state()["clicks"]}


def stage_times(app: TargetApp, n: int) -> dict:
    from core.desktop.input import Executor

    desktop, executor = LiveDesktop(), Executor()
    agent = Agent(ScriptedEngine([]), executor, consent=Allow())
    times: dict[str, list[float]] = {k: [] for k in ("capture", "encode", "parse", "policy", "execute", "settle")}
    for _ in range(n):
        t0 = time.perf_counter()
        desktop.capture([])
        t1 = time.perf_counter()
        seen = look(desktop, [])  # capture again + resize + digest: encode = this minus a capture
        t2 = time.perf_counter()
        messages = [Message("user", (ImagePart(seen.shown, seen.shot.source),))]
        call = ToolCall("computer", {"action": "click", "coordinate": model_xy(messages, *app.center("button"))})
        t3 = time.perf_counter()
        action = parse_reply([call], "", seen.frame)
        t4 = time.perf_counter()
        screen_action = to_screen(action, seen.frame)
        situation = Situation("b", seen.frame.screenshot_id, tuple(desktop.monitors()), (), *desktop.focused())
        judge(screen_action, situation)
        thumbnail(seen.shot.pixels, seen.frame, screen_action)
        t5 = time.perf_counter()
        executor.perform(screen_action)
        t6 = time.perf_counter()
        agent._settle()
        t7 = time.perf_counter()
        times["capture"].append(t1 - t0)
        times["encode"].append((t2 - t1) - (t1 - t0))
        times["parse"].append(t4 - t3)
        times["policy"].append(t5 - t4)  # judge, the focused-window query and the marked thumbnail
        times["execute"].append(t6 - t5)
        times["settle"].append(t7 - t6)
    return {k: ms(v) for k, v in times.items()}


def stop_latency(app: TargetApp, trials: int) -> dict:
    from core.desktop.hotkey import DEFAULT_COMBO, EmergencyStop
    from core.desktop.input import Executor

    results = {"model_call": [], "drag": []}
    rng = random.Random(5)
    for trial in range(trials):
        during = "model_call" if trial % 2 == 0 else "drag"
        if during == "model_call":  # the model takes 60 s to answer
            engine = ScriptedEngine([tool("click", at=lambda: app.center("button"))], pace=60)
        else:
            drag = tool("drag", at=lambda: app.center("source"), end=lambda: app.center("target"), seconds=5)
            engine = ScriptedEngine([drag])
        agent = Agent(engine, Executor(), consent=Allow())
        ended = threading.Event()
        end_time = {}

        def consume(agent=agent, ended=ended, end_time=end_time):
            for event in agent.run("benchmark"):
                if isinstance(event, TaskEnded):
                    end_time["t"] = time.perf_counter()
                    end_time["ending"] = event.ending
            ended.set()

        with EmergencyStop(on_press=agent.stop):
            worker = threading.Thread(target=consume)
            worker.start()
            time.sleep(0.3 + rng.random() * 0.3)
            t0 = time.perf_counter()
            subprocess.run(["xdotool", "key", "--clearmodifiers", XDOTOOL[DEFAULT_COMBO]], check=True)
            ended.wait(30)
            worker.join(30)
        assert end_time.get("ending") == "stopped", end_time
        results[during].append(end_time["t"] - t0)
        app.ask("reset")
    both = results["model_call"] + results["drag"]
    return {"all_ms": ms(both), **{k: ms(v) for k, v in results.items()}}


def ms(values: list[float]) -> dict:
    return {"n": len(values), "median": round(statistics.median(values) * 1000, 1),
            "worst": round(max(values) * 1000, 1), "best": round(min(values) * 1000, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--stops", type=int, default=50)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--save", type=Path)
    args = parser.parse_args()
    server = start_display(args.size)
    try:
        with TargetApp(at=(700, 300)) as app:
            result = {"display": args.size, "cpu": platform.processor() or platform.machine(),
                      "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
                      "overhead": overhead(app, args.steps), "stop": stop_latency(app, args.stops)}
    finally:
        server.terminate()
        server.wait(10)
    o, s = result["overhead"], result["stop"]
    print(f"display {args.size}, {result['cores']} cores")
    print(f"{'per step (model excluded)':32} median {o['step_ms']['median']:7.1f} ms   worst {o['step_ms']['worst']:7.1f} ms")
    for stage, t in o["stages_ms"].items():
        print(f"  {stage:30} median {t['median']:7.1f} ms")
    for k in ("all_ms", "model_call", "drag"):
        print(f"{'stop latency ' + k.replace('_ms', ''):32} median {s[k]['median']:7.1f} ms   worst {s[k]['worst']:7.1f} ms  (n={s[k]['n']})")
    if args.save:
        args.save.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
