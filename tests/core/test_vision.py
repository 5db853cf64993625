"""The M3 vision side against transformers' `minimax_m3_vl` processors and model on a tiny
random checkpoint: pixel values, grids and token ids identical; features and logits within
tolerance for one image, two images interleaved with text, and a video; the cache across turns
with a new image; bad media refused before any heavy work."""

import numpy as np
import pytest
import torch

from core.engine.msa import MsaEngine
from core.messages import ImagePart, Message, Source, TextPart, VideoPart
from core.model.cache import PagedCache, Sequence
from core.engine.protocol import ContextTooLongError
from core.vision.preprocess import ImageBudget, preprocess_image, preprocess_video
from core.vision.sizes import MediaError


RNG = np.random.default_rng(7)
FPS = 2.0


def image(h, w):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def video(n=5, h=90, w=160):
    """Frames of a square moving over noise, sampled at FPS."""
    frames = np.repeat(image(h, w)[None], n, axis=0)
    for i in range(n):
        frames[i, 10:40, 10 + 12 * i:40 + 12 * i] = (255, 20 * i, 0)
    return frames, tuple(i / FPS for i in range(n))


@pytest.fixture(scope="module")
def processor(tiny_vl_dir):
    from transformers import PreTrainedTokenizerFast
    from transformers.models.minimax_m3_vl.image_processing_minimax_m3_vl import MiniMaxM3VLImageProcessor
    from transformers.models.minimax_m3_vl.processing_minimax_m3_vl import MiniMaxM3VLProcessor
    from transformers.models.minimax_m3_vl.video_processing_minimax_m3_vl import MiniMaxM3VLVideoProcessor

    tok = PreTrainedTokenizerFast(tokenizer_file=str(tiny_vl_dir / "tokenizer.json"))
    return MiniMaxM3VLProcessor(image_processor=MiniMaxM3VLImageProcessor(), tokenizer=tok,
                                video_processor=MiniMaxM3VLVideoProcessor())


def reference_inputs(processor, text, images=(), videos=()):
    from transformers.video_utils import VideoMetadata

    meta = [VideoMetadata(total_num_frames=len(f), fps=FPS, frames_indices=[round(t * FPS) for t in ts],
                          width=f.shape[2], height=f.shape[1]) for f, ts in videos]
    return processor(text=[text], images=list(images) or None, videos=[f for f, _ in videos] or None,
                     video_metadata=meta or None, do_resize=True, return_tensors="pt")


@pytest.fixture(scope="module")
def engine(tiny_vl_dir, device):
    eng = MsaEngine(tiny_vl_dir, device=device, dtype=torch.float32)
    eng.load()
    assert eng.vision is not None
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def theirs(tiny_vl_dir):
    from transformers.models.minimax_m3_vl.modeling_minimax_m3_vl import MiniMaxM3SparseForConditionalGeneration

    return MiniMaxM3SparseForConditionalGeneration.from_pretrained(tiny_vl_dir, dtype=torch.float32).eval()


@pytest.mark.parametrize("h,w", [(60, 90), (5, 3), (37, 500), (900, 700), (28, 28), (431, 217)])
def test_image_preprocessing_is_identical(processor, h, w):
    pixels = image(h, w)
    ref = processor.image_processor(images=[pixels], return_tensors="pt")
    ours = preprocess_image(pixels)
    assert [list(g) for g in ours.grids] == ref["image_grid_thw"].tolist()
    assert torch.equal(ours.patches, ref["pixel_values"])
    assert ours.tokens == ref["image_grid_thw"].prod().item() // 4


@pytest.mark.parametrize("n", [4, 5, 11])  # 11 frames: 6 steps, two attention segments (4 + 2)
def test_video_preprocessing_is_identical(processor, n):
    frames, times = video(n)
    ref = reference_inputs(processor, "]<]video[>[", videos=[(frames, times)])
    ours = preprocess_video(frames, times)
    assert [list(g) for g in ours.grids] == ref["video_grid_thw"].tolist()
    assert torch.equal(ours.patches, ref["pixel_values_videos"])


def chat(*parts):
    return [Message("user", tuple(TextPart(p) if isinstance(p, str) else p for p in parts))]


def img_part(pixels):
    return ImagePart(pixels, Source("file", "test.png"))


def vid_part(frames, times):
    return VideoPart(frames, times, Source("file", "test.mp4"))


CASES = {
    "one image": lambda: ((image(60, 90),), ()),
    "two images": lambda: ((image(60, 90), image(100, 50)), ()),
    "video": lambda: ((), (video(5),)),
    "long video": lambda: ((), (video(11),)),  # 6 temporal steps: two attention segments (4 + 2)
}


def messages_for(case, images, videos):
    if case == "one image":
        return chat("what is this? ", img_part(images[0]))
    if case == "two images":
        return chat("compare ", img_part(images[0]), " with ", img_part(images[1]), " please")
    return chat(vid_part(*videos[0]), " what happens?")  # a video, or a long video


def our_features_and_logits(engine, ids, parts, layouts):
    """Vision embeddings and all logits of `ids` on a fresh cache (the engine's own is kept)."""
    kept = engine.seq, engine.cache
    engine.seq = Sequence()
    engine.cache = PagedCache(engine.model.cfg, num_pages=64, dtype=torch.float32, device=engine.device)
    try:
        embeds = engine._embeds(ids, parts, layouts)
        logits = engine.model.forward(torch.tensor(ids, device=engine.device), engine.cache, engine.seq,
                                      embeds=embeds)
    finally:
        engine.seq, engine.cache = kept
    return embeds.cpu(), logits.cpu()


@pytest.mark.parametrize("case", list(CASES))
def test_tokens_features_and_logits_match_transformers(engine, theirs, processor, case):
    images, videos = CASES[case]()
    messages = messages_for(case, images, videos)
    ids, text, parts, layouts, _ = engine._prompt(messages, engine_options())
    ref = reference_inputs(processor, text, images, videos)
    assert ids == ref["input_ids"][0].tolist()  # token for token, placeholders and timestamps included
    with torch.no_grad():
        if images:
            feats = torch.cat(theirs.model.get_image_features(ref["pixel_values"], ref["image_grid_thw"]).pooler_output)
        else:
            feats = torch.cat(theirs.model.get_video_features(ref["pixel_values_videos"],
                                                              ref["video_grid_thw"]).pooler_output)
        ref_logits = theirs(**ref).logits[0]
    mine, out = our_features_and_logits(engine, ids, parts, layouts)
    torch.testing.assert_close(mine, feats, rtol=1e-4, atol=1e-5)
    err = (out - ref_logits).abs().max() / ref_logits.abs().max()
    assert err < 1e-4, f"max error {float(err):.2e} relative to the largest logit"


def engine_options():
    from core.engine import GenerateOptions
    from core.engine.options import SamplingParams

    return GenerateOptions(sampling=SamplingParams(temperature=0.0), max_tokens=4)


def run_turns(engine, turns):
    """Greedy replies to each growing conversation on the engine's own cache; the held keys."""
    usage = []
    for messages in turns:
        events = list(engine.generate(messages, engine_options()))
        usage.append(events[-2])
    return usage, list(engine.seq.ids)


def test_second_turn_with_a_new_image_reuses_the_cache_correctly(engine):
    a, b = image(60, 90), image(60, 90)  # same size: the same placeholder ids, different content
    turn1 = chat("look ", img_part(a))
    turn2 = turn1 + [Message.text("assistant", "ok"), *chat("and now ", img_part(b))]
    engine.cache.truncate(engine.seq, 0)
    usage, held = run_turns(engine, [turn1, turn2])
    assert usage[1].cached_tokens > engine.count_tokens(turn1) - 2  # turn 1 and its image were not redone
    engine.cache.truncate(engine.seq, 0)
    fresh_usage, fresh = run_turns(engine, [turn2])
    assert fresh_usage[0].cached_tokens == 0 and fresh == held
    # swapping the first image for another of the same size must not reuse its cached tokens
    swapped = chat("look ", img_part(b)) + turn2[1:]
    usage, _ = run_turns(engine, [swapped])
    assert usage[0].cached_tokens < len(engine._prompt(chat("look "), engine_options())[0])


def test_bad_media_are_refused_before_heavy_work(engine, monkeypatch):
    def no_tower(*_):
        raise AssertionError("the tower ran")

    monkeypatch.setattr(engine.vision, "forward", no_tower)
    with pytest.raises(MediaError, match="more than 200 times longer than wide"):
        engine.generate(chat("hi ", img_part(image(2, 500))))
    with pytest.raises(MediaError, match="more than the 1,000 accepted"):
        preprocess_image(image(40, 40), ImageBudget(max_input_pixels=1000))
    with pytest.raises(ValueError, match="video has no pixels"):
        vid_part(np.zeros((0, 32, 32, 3), np.uint8), ())
    many = chat(*[img_part(image(672, 672)) for _ in range(8)])  # 8 x 576 tokens > the 4096 context
    with pytest.raises(ContextTooLongError, match=r"tokens \(4608 of them for 8 images and videos\)"):
        engine.generate(many)


def test_text_only_folder_refuses_images_clearly(tiny_chat_dir, tmp_path, device):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "text_only"
    shutil.copytree(tiny_chat_dir, folder)
    weights = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in weights.items() if k.startswith("language_model.")}, folder / "model.safetensors")
    eng = MsaEngine(folder, device=device, dtype=torch.float32)
    eng.load()
    assert eng.vision is None
    with pytest.raises(ValueError, match="has a ImagePart, which this model cannot read"):
        eng.generate(chat("hi ", img_part(image(30, 30))))
