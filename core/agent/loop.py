"""The agent loop: look (our windows blacked out) → ask the model → parse → policy → ask the user when
the policy says so → execute → wait for the screen to settle → again, until the model says done or
fail, the user stops it, or the step cap is reached. `run` yields each `Step` every time it changes
and ends with one `TaskEnded`.

`stop()` may be called from any thread (the Stop button, the emergency hotkey): it cancels the
model call in flight, makes the executor let go of everything, and answers a pending question
"deny". A denied action ends the task: the user's no is not something to work around. After the
model answers, the screen is captured again; if it moved on, the action is re-planned, not run.
Each step's model prompt holds the task, the steps so far in words and only the newest screenshot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from core.agent.look import Desktop, LiveDesktop, Look, Rect, changed, look, thumbnail, to_screen
from core.agent.parse import parse_reply
from core.agent.policy import Situation, judge, needs_asking, resolve, screen_request
from core.agent.steps import Consent, ConsentRequest, Rejected, Step, TaskEnded
from core.agent.tool import COMPUTER_TOOL, system_prompt
from core.desktop.actions import Action
from core.engine.options import GenerateOptions
from core.engine.protocol import Engine
from core.events import Finished, MalformedToolCall, ReasoningDelta, TextDelta, ToolCall
from core.messages import ImagePart, Message, Source, TextPart


class Executor(Protocol):
    def perform(self, action: Action) -> None: ...

    def release(self) -> None: ...

    def stop(self) -> None: ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class AgentConfig:
    max_steps: int = 30
    max_malformed: int = 3  # replies in a row that are not actions before the task ends
    max_tokens: int = 512
    grammar: str = "auto"  # how to read replies without a tool call (core.agent.parse.GRAMMARS)
    offer_tool: bool = True  # offer the `computer` tool; off for models that only speak a text grammar
    settle_first: float = 0.025  # seconds after an action before the first look
    settle_interval: float = 0.025  # between the looks that must agree (a late change is caught as stale)
    settle_timeout: float = 2.0
    dry_run: bool = False  # judge, never execute (the bundle's self-test)


class Stopped(Exception):
    pass


class ModelFailed(Exception):
    pass


class Agent:
    def __init__(
        self,
        engine: Engine,
        executor: Executor,
        *,
        consent: Consent | None,
        desktop: Desktop | None = None,
        own_windows: Callable[[], Sequence[Rect]] = tuple,
        config: AgentConfig = AgentConfig(),
        options: GenerateOptions | None = None,
    ) -> None:
        self.engine, self.executor, self.consent = engine, executor, consent
        self.desktop = desktop or LiveDesktop()
        self.own_windows, self.config = own_windows, config
        tools = (COMPUTER_TOOL,) if config.offer_tool else ()
        self.options = replace(options or GenerateOptions(max_tokens=config.max_tokens), tools=tools)
        self._stopped = threading.Event()
        self._model_done = threading.Event()  # clear while a model call is in flight
        self._model_done.set()

    def stop(self) -> None:
        """End the task now (any thread)."""
        self._stopped.set()
        self.engine.cancel()
        if not self._model_done.is_set():
            threading.Thread(target=self._cancel_until_done, name="spyglass-agent-stop", daemon=True).start()
        self.executor.stop()
        if self.consent is not None:
            self.consent.cancel()

    def _cancel_until_done(self) -> None:
        """Cancel the model call in flight every 20 ms until it ends: an engine clears its cancel
        flag when a call starts, so a cancel just before that would be lost."""
        while not self._model_done.wait(0.02):
            self.engine.cancel()

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def run(self, task: str) -> Iterator[Step | TaskEnded]:
        """Carry out `task`, yielding every step as it changes and then the ending."""
        self.executor.reset()
        try:
            yield from self._steps(task)
        except Stopped:
            yield TaskEnded("stopped", "stopped by the user", self._index)
        except ModelFailed as error:
            yield TaskEnded("error", f"the model failed: {error}", self._index)
        finally:
            self.executor.release()

    def _steps(self, task: str) -> Iterator[Step | TaskEnded]:
        self._index, allowed, asked, malformed = 0, False, "", 0
        notes: list[str] = []
        size_for = _engine_resize(self.engine)
        while True:
            self._check()
            if self._index >= self.config.max_steps:
                yield TaskEnded("step_cap", f"the task reached its cap of {self.config.max_steps} steps", self._index)
                return
            self._index += 1
            seen = look(self.desktop, self.own_windows(), size_for=size_for)
            started = time.time()
            parsed, thought = self._ask_model(task, notes, seen)
            if isinstance(parsed, Rejected):
                malformed += 1
                yield Step(
                    self._index,
                    started,
                    seen.frame.screenshot_id,
                    "malformed",
                    rejected=parsed,
                    detail=parsed.reason,
                    thumbnail=thumbnail(seen.shot.pixels, seen.frame, None),
                )
                notes.append(f"step {self._index}: your reply was not an action ({parsed.reason})")
                if malformed >= self.config.max_malformed:
                    yield TaskEnded(
                        "error", f"the model's reply was not an action {malformed} times in a row", self._index
                    )
                    return
                continue
            malformed = 0
            asked = asked or screen_request(f"{parsed.note}\n{thought}")
            action = to_screen(parsed, seen.frame)
            latest = self._latest(seen)
            situation = Situation(
                task,
                latest,
                tuple(self.desktop.monitors()),
                tuple(self.own_windows()),
                *self.desktop.focused(),
                steps_taken=self._index - 1,
                max_steps=self.config.max_steps,
                screen_asked=asked,
            )
            verdict = judge(action, situation)
            step = Step(
                self._index,
                started,
                seen.frame.screenshot_id,
                "proposed",
                action,
                parsed,
                verdict=verdict,
                thumbnail=thumbnail(seen.shot.pixels, seen.frame, action),
            )
            yield step
            if action.kind in ("done", "fail"):
                outcome, ending = ("done", "done") if action.kind == "done" else ("gave_up", "gave_up")
                yield replace(step, outcome=outcome, detail=action.text)
                yield TaskEnded(ending, action.text or ending, self._index)
                return
            answer = None
            if needs_asking(verdict, allowed_for_task=allowed):
                answer = self._ask_user(task, step)
                allowed = allowed or answer == "task"
            decision = resolve(verdict, allowed_for_task=allowed, answer=answer)
            if decision == "deny":
                self._check()
                detail = "the user said no" if answer == "deny" else "no one could be asked, so no"
                yield replace(step, outcome="denied", detail=detail)
                yield TaskEnded("denied", f"step {self._index} was not allowed: {detail}", self._index)
                return
            if decision in ("refuse", "replan"):
                yield replace(
                    step, outcome="refused" if decision == "refuse" else "replanned", detail="; ".join(verdict.reasons)
                )
                notes.append(f"step {self._index}: {describe(parsed)} was not run: {'; '.join(verdict.reasons)}")
                continue
            yield self._execute(step, parsed)
            notes.append(f"step {self._index}: {describe(parsed)}")

    def _execute(self, step: Step, parsed: Action) -> Step:
        self._check()
        assert step.action is not None
        if self.config.dry_run:
            return replace(step, outcome="dry_run", detail="allowed; not executed (dry run)")
        try:
            self.executor.perform(step.action)
        except Exception as error:  # noqa: BLE001 - any executor failure is the step's outcome, shown
            self._check()
            return replace(step, outcome="failed", detail=f"{type(error).__name__}: {error}")
        self._settle()
        return replace(step, outcome="executed")

    def _ask_model(self, task: str, notes: list[str], seen: Look) -> tuple[Action | Rejected, str]:
        w, h = seen.frame.model
        history = "\n".join(notes[-20:])
        text = f"Task: {task}\n" + (f"Steps so far:\n{history}\n" if history else "") + "The screen now:"
        source = Source("screenshot", geometry=seen.shot.source.geometry)
        messages = [
            Message.text("system", system_prompt(w, h)),
            Message("user", (TextPart(text), ImagePart(seen.shown, source))),
        ]
        calls: list[ToolCall | MalformedToolCall] = []
        reply, thought = [], []
        self._model_done.clear()  # before the check: a stop after it sees the call in flight
        events = None
        try:
            self._check()
            events = self.engine.generate(messages, self.options)
            for event in events:
                if self._stopped.is_set():
                    raise Stopped
                if isinstance(event, ToolCall | MalformedToolCall):
                    calls.append(event)
                elif isinstance(event, TextDelta):
                    reply.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    thought.append(event.text)
                elif isinstance(event, Finished) and event.reason == "cancelled":
                    raise Stopped
                elif isinstance(event, Finished) and event.reason == "error":
                    raise ModelFailed(event.error or "no reason given")
        finally:
            self._model_done.set()
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return parse_reply(calls, "".join(reply), seen.frame, grammar=self.config.grammar), "".join(thought)

    def _ask_user(self, task: str, step: Step) -> str | None:
        if self.consent is None:
            return None
        assert step.action is not None and step.verdict is not None
        try:
            answer = self.consent.ask(ConsentRequest(task, step.index, step.action, step.verdict, step.thumbnail))
        except Exception:  # noqa: BLE001 - a consent dialog that fails is a no (fail closed)
            return None
        self._check()
        return answer if answer in ("once", "task", "deny") else None

    def _latest(self, seen: Look) -> str:
        """The id of what the screen shows now: the model's screenshot, unless the screen moved on."""
        now = self.desktop.capture(self.own_windows())
        return (
            seen.frame.screenshot_id
            if not changed(seen.shot.pixels, now.pixels)
            else f"{seen.frame.screenshot_id}+moved"
        )

    def _settle(self) -> None:
        """Wait until two looks in a row agree (or settle_timeout passes)."""
        c = self.config
        self._sleep(c.settle_first)
        before = self.desktop.capture(self.own_windows()).pixels
        deadline = time.monotonic() + c.settle_timeout
        while time.monotonic() < deadline:
            self._sleep(c.settle_interval)
            now = self.desktop.capture(self.own_windows()).pixels
            if not changed(before, now):
                return
            before = now

    def _sleep(self, seconds: float) -> None:
        if self._stopped.wait(seconds):
            raise Stopped

    def _check(self) -> None:
        if self._stopped.is_set():
            raise Stopped


def describe(action: Action) -> str:
    """An action in words, in the coordinates of the image the model saw."""
    where = f" at ({action.point.x:.0f}, {action.point.y:.0f})" if action.point else ""
    to = f" to ({action.end.x:.0f}, {action.end.y:.0f})" if action.end else ""
    way = ("right", "left") if action.horizontal else ("down", "up")
    what = {
        "type": f" {action.text[:60]!r}",
        "key": f" {'+'.join(action.keys)}",
        "hotkey": f" {'+'.join(action.keys)}",
        "scroll": f" {way[0] if action.amount > 0 else way[1]} {abs(action.amount)}",
        "wait": f" {action.seconds:g} s",
    }.get(action.kind, "")
    return f"{action.kind.replace('_', ' ')}{what}{where}{to}"


def _engine_resize(engine: Engine) -> Callable[[int, int], tuple[int, int]] | None:
    """The engine's own image resize, when its media plan says exactly what it does."""
    media = engine.info().media
    size = getattr(media, "image_size", None)
    return size if callable(size) else None
