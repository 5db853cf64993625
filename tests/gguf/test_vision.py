"""Images and video frames through llama.cpp's multimodal library, on the tiny M3 and the vision
projector llama.cpp's converter wrote for it: the same reply as llama-cpp-python's own
multimodal chat handler, the next turn reusing the cached image, the media plan counting what
the prompt takes, and projectors that are missing or belong to another model refused."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from core.engine import GREEDY, EngineError, GenerateOptions
from core.engine.gguf import GgufEngine
from core.events import Finished, TextDelta, Usage
from core.messages import ImagePart, Message, Source, TextPart, VideoPart
from core.settings import GgufSettings

from .conftest import convert, write_m3_folder

QUESTION = "what is in this picture?"
PICTURE = Source("file", "picture.png")


def pixels(seed: int, height: int = 56, width: int = 84) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def ask(image: np.ndarray, text: str = QUESTION) -> Message:
    return Message("user", (ImagePart(image, PICTURE), TextPart(text)))


def run(engine, messages, tokens=12):
    events = list(engine.generate(messages, GenerateOptions(sampling=GREEDY, max_tokens=tokens)))
    assert isinstance(events[-1], Finished) and events[-1].reason in ("length", "stop"), events[-1]
    usage = next(e for e in events if isinstance(e, Usage))
    return "".join(e.text for e in events if isinstance(e, TextDelta)), usage


@pytest.fixture(scope="module")
def seeing(m3_vision_gguf):
    eng = GgufEngine(m3_vision_gguf, context_tokens=1024)
    eng.load()
    yield eng
    eng.close()


def direct(model, projector, image: np.ndarray, tokens=12) -> tuple[str, int]:
    """llama-cpp-python called directly: its own multimodal chat handler, the image as a PNG."""
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import MTMDChatHandler

    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    llm = Llama(model_path=str(model), chat_handler=MTMDChatHandler(clip_model_path=str(projector), verbose=False),
                n_ctx=1024, flash_attn=True, verbose=False)
    out = llm.create_chat_completion(
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                               {"type": "text", "text": QUESTION}]}],
        temperature=0.0, top_k=1, repeat_penalty=1.0, max_tokens=tokens)
    llm.close()
    return out["choices"][0]["message"]["content"], out["usage"]["prompt_tokens"]


def test_an_image_prompt_answers_as_llama_cpp_python_does(seeing, m3_vision_gguf):
    assert seeing.projector == m3_vision_gguf.with_name("mmproj-tiny-m3-f32.gguf")  # found beside it
    image = pixels(1)
    ours, usage = run(seeing, [ask(image)])
    theirs, prompt_tokens = direct(m3_vision_gguf, seeing.projector, image)
    # the same tokens; llama-cpp-python drops bytes that are not UTF-8 where we show U+FFFD
    assert ours.replace("\ufffd", "") == theirs and len(theirs) > 3
    assert usage.prompt_tokens == prompt_tokens
    # the picture is seen: the prompt holds its tokens, and another picture gets another reply
    plan = seeing.info().media
    assert usage.prompt_tokens > plan.image_tokens(56, 84) > 0
    assert run(seeing, [ask(pixels(2))])[0] != ours


def test_the_media_plan_counts_what_the_prompt_takes(seeing):
    plan = seeing.info().media
    image = pixels(3, 90, 130)
    with_image = seeing.count_tokens([ask(image)])
    without = seeing.count_tokens([Message.text("user", QUESTION)])
    assert with_image - without == plan.image_tokens(90, 130)
    frames = np.stack([pixels(4 + i) for i in range(3)])
    video = Message("user", (VideoPart(frames, (0.0, 1.0, 2.0), Source("file", "clip.mp4")), TextPart(QUESTION)))
    counted = seeing.count_tokens([video])
    assert counted - without <= plan.video_tokens(3, 56, 84)  # stamps counted at their longest
    assert counted - without >= 3 * plan.image_tokens(56, 84)
    text, usage = run(seeing, [video])
    assert usage.prompt_tokens == counted and text


def test_a_plan_is_answered_while_a_reply_streams(seeing):
    """The window asks for a chip's estimate from other threads at any time: a second pipe."""
    want, _ = run(seeing, [ask(pixels(7))], tokens=40)
    stream = seeing.generate([ask(pixels(7))], GenerateOptions(sampling=GREEDY, max_tokens=40))
    got = [next(stream)]
    sizes = {(h, w): seeing.info().media.image_tokens(h, w) for h, w in ((61, 77), (300, 200), (28, 2000))}
    got += list(stream)
    assert "".join(e.text for e in got if isinstance(e, TextDelta)) == want
    assert all(n > 0 for n in sizes.values()) and len(set(sizes.values())) > 1


def test_the_next_turn_reuses_the_cached_image(seeing):
    first = [ask(pixels(5))]
    reply, usage = run(seeing, first)
    second = [*first, Message.text("assistant", reply), Message.text("user", "and the colours?")]
    counted = seeing.count_tokens(second)  # the reply counted as the tokens it was generated as
    _, again = run(seeing, second)
    # all of the last turn is reused: its image, its prompt and its reply as generated (but the last
    # reply token, which was sampled and never evaluated); only the new words are evaluated
    assert again.cached_tokens == usage.prompt_tokens + usage.completion_tokens - 1
    assert again.prompt_tokens == counted
    # a different image in the same place is not mistaken for the cached one
    changed = [ask(pixels(6)), *second[1:]]
    _, other = run(seeing, changed)
    assert other.cached_tokens < usage.prompt_tokens - seeing.info().media.image_tokens(56, 84)


def test_an_image_for_a_model_without_a_projector_is_refused(m3_gguf):
    with GgufEngine(m3_gguf, context_tokens=512) as eng:
        eng.load()
        assert eng.projector is None and eng.info().media is None
        with pytest.raises(ValueError, match="has no vision projector: put its mmproj-.*gguf beside it"):
            eng.generate([ask(pixels(1))])
        assert eng.state == "ready"  # the engine still answers text
        assert run(eng, [Message.text("user", QUESTION)], tokens=3)[1].completion_tokens > 0


def test_a_projector_of_another_model_is_refused(llama_cpp_dir, m3_gguf, tmp_path):
    wider = write_m3_folder(tmp_path / "wider", text={"hidden_size": 96})
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / m3_gguf.name).symlink_to(m3_gguf)
    convert(llama_cpp_dir, wider, folder / "mmproj-wider.gguf", "--mmproj")
    eng = GgufEngine(folder, context_tokens=256)
    with pytest.raises(EngineError) as err:
        eng.load()
    message = str(err.value)
    print(message)
    assert "mmproj-wider.gguf" in message and "mismatch between text model" in message, message
    assert eng.state == "failed"
    chosen = GgufEngine(folder, context_tokens=256, settings=GgufSettings(mmproj=str(tmp_path / "gone.gguf")))
    with pytest.raises(EngineError, match="gone.gguf .gguf.mmproj. does not exist"):
        chosen.load()
