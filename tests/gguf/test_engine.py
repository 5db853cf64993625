"""The GGUF engine on a real converted model through real llama.cpp: the same reply as
llama-cpp-python called directly, the next turn reusing the cache, cancel, stop strings, a killed
child turned into an error (the app's history keeps the partial reply), and bad files refused
with a message that names them."""

import os
import signal
import threading

import pytest

from core.chat import Conversation
from core.engine import GREEDY, EngineError, GenerateOptions, open_engine
from core.engine.gguf import GgufEngine
from core.engine.protocol import ContextTooLongError
from core.events import Finished, ReasoningDelta, TextDelta, Usage
from core.history import HistoryStore
from core.messages import Message
from core.model.prompt import ChatTemplate
from core.settings import GgufSettings, Settings
from tests.core.conftest import M3_TEMPLATE

from .conftest import GGUF_TEXT

HELLO = [Message.text("user", "the quick brown fox")]


@pytest.fixture(scope="module")
def engine(m3_gguf):
    eng = GgufEngine(m3_gguf, context_tokens=512)
    steps = []
    eng.load(on_progress=steps.append)
    assert eng.state == "ready" and steps[-1].step == steps[-1].total
    # llama.cpp's own progress over the file, then the context: more than a start and an end
    assert len(steps) > 3 and [s.step for s in steps] == sorted({s.step for s in steps})
    assert steps[-1].bytes_done == steps[-1].bytes_total == m3_gguf.stat().st_size
    yield eng
    eng.close()


def reply_text(events):
    return "".join(e.text for e in events if isinstance(e, (TextDelta, ReasoningDelta)))


def test_the_reply_is_what_llama_cpp_called_directly_gives(engine, m3_gguf):
    from llama_cpp import Llama

    events = list(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=12)))
    usage = next(e for e in events if isinstance(e, Usage))
    prompt = ChatTemplate(M3_TEMPLATE).render([{"role": "user", "content": "the quick brown fox"}],
                                              bos_token="]~!b[", eos_token="[e~[")
    llm = Llama(model_path=str(m3_gguf), n_ctx=512, flash_attn=True, verbose=False)
    ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    out = []
    for token in llm.generate(ids, temp=0.0, top_k=1, repeat_penalty=1.0):
        if llm._model.token_eos() == token or len(out) == 12:  # noqa: SLF001
            break
        out.append(token)
    want = llm.detokenize(out, special=True).decode("utf-8", errors="replace")
    llm.close()
    assert usage.prompt_tokens == len(ids) == engine.count_tokens(HELLO)
    assert usage.completion_tokens == len(out)
    for tag in ("<mm:think>", "</mm:think>"):
        want = want.replace(tag, "")
    assert reply_text(events) == want and events[-1] == Finished("length")


def test_the_next_turn_reuses_the_cached_prefix(engine):
    first = list(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=4)))
    p1 = next(e for e in first if isinstance(e, Usage)).prompt_tokens
    turn2 = HELLO + [Message.text("assistant", reply_text(first)), Message.text("user", "and the dog?")]
    second = next(e for e in engine.generate(turn2, GenerateOptions(sampling=GREEDY, max_tokens=2))
                  if isinstance(e, Usage))
    assert second.cached_tokens >= p1 and second.prompt_tokens > second.cached_tokens
    # the reply is reused as the tokens it was generated as, not re-tokenized from its text
    assert second.cached_tokens >= p1 + 4 - 1


def test_stop_strings_max_tokens_and_a_prompt_too_long(engine):
    events = list(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=3)))
    assert next(e for e in events if isinstance(e, Usage)).completion_tokens == 3
    text = reply_text(list(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=12))))
    stop = text[2:4] if len(text) >= 4 else text[:1]
    events = list(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=12, stop=(stop,))))
    assert events[-1] == Finished("stop_string") and stop not in reply_text(events)
    with pytest.raises(ContextTooLongError, match="of the 512-token context"):
        engine.generate([Message.text("user", "fox " * 600)])
    assert engine.state == "ready"


def test_cancel_from_another_thread_ends_the_reply(engine):
    stream = engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=400))
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 2:
            threading.Thread(target=engine.cancel).start()
    assert seen[-1] == Finished("cancelled")
    assert next(e for e in seen if isinstance(e, Usage)).completion_tokens < 400
    assert engine.state == "ready"


def test_a_killed_child_is_an_error_and_the_partial_reply_stays(m3_gguf, tmp_path):
    eng = GgufEngine(m3_gguf, context_tokens=2048)
    eng.load()
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        chat = Conversation(store)
        # this prompt's greedy reply runs to the full 1600 tokens (no end token), so the child is
        # still generating when it is killed however late this loop sees its third event
        turn = chat.send("please click the button and type hello")
        events = []
        for event in chat.reply(eng, GenerateOptions(sampling=GREEDY, max_tokens=1600), turn):
            events.append(event)
            if len(events) == 3:
                os.kill(eng._proc.pid, signal.SIGKILL)  # noqa: SLF001 - what a crash of llama.cpp does
        reply = store.messages(turn.conversation_id)[-1]
    assert events[-1].reason == "error" and str(m3_gguf) in events[-1].error and "signal 9" in events[-1].error
    assert eng.state == "failed" and reply.status == "error" and "signal 9" in reply.error
    assert reply.text == reply_text(events) and reply.text
    with pytest.raises(EngineError, match="the engine is failed"):
        eng.generate(HELLO)
    eng.close()
    fresh = GgufEngine(m3_gguf, context_tokens=512)  # the next load starts a new child
    fresh.load()
    assert list(fresh.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=2)))[-1] == Finished("length")
    fresh.close()
    assert fresh._proc is None  # noqa: SLF001 - closed: the child and its memory are gone


def test_the_registry_picks_it_for_a_gguf_file_or_folder(m3_gguf):
    engine = open_engine(Settings(model_dir=str(m3_gguf)))
    assert isinstance(engine, GgufEngine) and engine.settings.flash_attn is None
    assert isinstance(open_engine(Settings(model_dir=str(m3_gguf.parent))), GgufEngine)


def load_error(path, **kwargs):
    eng = GgufEngine(path, context_tokens=256, **kwargs)
    with pytest.raises(EngineError) as err:
        eng.load()
    assert eng.state == "failed"
    return str(err.value)


def test_bad_files_are_refused_with_their_name(m3_gguf, tmp_path, monkeypatch):
    data = m3_gguf.read_bytes()
    (tmp_path / "truncated.gguf").write_bytes(data[: len(data) // 3])
    message = load_error(tmp_path / "truncated.gguf")
    assert "truncated.gguf" in message and "llama.cpp" in message
    (tmp_path / "renamed.gguf").write_bytes(b"PK\x03\x04" + data[4:])
    assert load_error(tmp_path / "renamed.gguf") == (
        f"{tmp_path / 'renamed.gguf'} is not a GGUF file (it starts with b'PK\\x03\\x04', not b'GGUF')")
    arch = data.replace(b"minimax-m3", b"minimax-zz")  # an architecture llama.cpp does not know
    (tmp_path / "alien.gguf").write_bytes(arch)
    message = load_error(tmp_path / "alien.gguf")
    assert "alien.gguf" in message and "unknown model architecture: 'minimax-zz'" in message, message
    hostile = bytearray(data)
    hostile[24:32] = (1 << 62).to_bytes(8, "little")  # the first key's length: 4 EiB
    (tmp_path / "hostile.gguf").write_bytes(hostile)
    message = load_error(tmp_path / "hostile.gguf")
    assert "hostile.gguf" in message and "string length 4611686018427387904 exceeds maximum" in message, message
    monkeypatch.setattr("core.engine.gguf.available_memory", lambda: 1000)
    message = load_error(m3_gguf)
    size = m3_gguf.stat().st_size
    assert f"{m3_gguf} is {size / 1e6:.1f} MB but only 1,000 bytes of memory is free" in message
    (tmp_path / "two").mkdir()
    for name in ("a.gguf", "b.gguf", "mmproj-a.gguf"):
        (tmp_path / "two" / name).write_bytes(data[:8])
    assert "2 .gguf models (a.gguf, b.gguf)" in load_error(tmp_path / "two")


def test_spyglass_chat_answers_from_a_gguf_file(m3_gguf, engine):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    expected = reply_text(engine.generate([Message.text("user", "hello")],
                                          GenerateOptions(sampling=GREEDY, max_tokens=6)))
    run = subprocess.run([sys.executable, "-m", "app", "chat", "--model", str(m3_gguf), "--temperature", "0",
                          "--max-tokens", "6", "--context", "512", "hello"], capture_output=True, text=True,
                         cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.rstrip("\n") == expected


def test_tensors_matching_a_pattern_stay_in_host_memory(m3_gguf, engine):
    """`gguf.host_tensors` reaches llama.cpp (which llama-cpp-python 0.3.36 does not pass on): the
    MoE expert tensors it matches are placed by the override, and the model answers the same."""
    want = reply_text(engine.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=8)))
    with GgufEngine(m3_gguf, context_tokens=512, settings=GgufSettings(host_tensors=r"ffn_.*_exps")) as eng:
        eng.load()
        moe_layers = GGUF_TEXT["mlp_layer_types"].count("sparse")  # each with gate, up and down experts
        assert eng.host_tensors == 3 * moe_layers > 0
        assert reply_text(eng.generate(HELLO, GenerateOptions(sampling=GREEDY, max_tokens=8))) == want
    with GgufEngine(m3_gguf, context_tokens=512, settings=GgufSettings(host_tensors="no_such_tensor")) as eng:
        eng.load()
        assert eng.host_tensors == 0
    assert "is not a regular expression" in load_error(m3_gguf, settings=GgufSettings(host_tensors="ffn_(exps"))
