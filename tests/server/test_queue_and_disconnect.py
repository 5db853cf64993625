"""One engine, a bounded queue, and clients that leave: a request beyond the queue gets 429 with
Retry-After; a client that disconnects mid-stream, or while waiting for its reply, or while a
reply it did not stream is being made, cancels its generation (the fake engine records it), and
a request that was still queued when its client left never runs."""

import threading
import time

import openai
import pytest

from core.events import TextDelta

from .fake_engine import FakeEngine
from .harness import client, health

HI = [{"role": "user", "content": "hi"}]


def endless():
    return FakeEngine(lambda messages, options: [TextDelta(f"t{i} ") for i in range(100_000)], delay=0.005)


def wait_for(condition, what, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.02)


def idle(url):
    return lambda: health(url)["requests"] == 0


def test_a_client_that_disconnects_mid_stream_cancels_its_generation(serve):
    engine = endless()
    url = serve(engine)
    c = client(url)
    stream = c.chat.completions.create(model="fake-model", messages=HI, stream=True)
    for _, chunk in zip(range(5), stream, strict=False):
        assert chunk.choices
    stream.close()  # the connection goes; the server sees the disconnect
    wait_for(lambda: engine.finished == ["cancelled"], "the cancel")
    assert engine.cancels >= 1
    wait_for(idle(url), "the engine's release")
    # the engine serves the next request as usual
    assert c.chat.completions.create(model="fake-model", messages=HI, max_tokens=3).choices[0].finish_reason == "length"


def test_a_client_that_gives_up_on_a_reply_not_streamed_cancels_it(serve):
    engine = endless()
    url = serve(engine)
    with pytest.raises(openai.APITimeoutError):
        client(url, timeout=0.5).chat.completions.create(model="fake-model", messages=HI)
    wait_for(lambda: engine.finished == ["cancelled"], "the cancel")
    wait_for(idle(url), "the engine's release")


def test_beyond_the_queue_a_429_with_retry_after_and_a_queued_client_that_leaves_never_runs(serve):
    engine = endless()
    url = serve(engine, queue=1)
    c = client(url)
    running = c.chat.completions.create(model="fake-model", messages=HI, stream=True)
    next(iter(running))  # the first request holds the engine
    left = []

    def queued_then_leaves():
        with pytest.raises(openai.APITimeoutError):
            client(url, timeout=5.0).chat.completions.create(  # long enough for the 429 below, under load
                model="fake-model", messages=[{"role": "user", "content": "queued"}], stream=True
            )
        left.append(True)

    waiter = threading.Thread(target=queued_then_leaves)
    waiter.start()
    wait_for(lambda: health(url)["requests"] == 2, "the second request's place")
    with pytest.raises(openai.RateLimitError) as caught:  # running 1 + waiting 1: the third is refused
        c.chat.completions.create(model="fake-model", messages=HI)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.json()["error"]["type"] == "rate_limit_error"
    waiter.join(15)
    assert left == [True]
    running.close()
    wait_for(idle(url), "the queue to empty")
    assert [m[-1].parts[0].text for m, _ in engine.requests] == ["hi"]  # "queued" never reached the engine
    assert engine.finished == ["cancelled"]
