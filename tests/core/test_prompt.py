"""Chat templates render sandboxed; tokenizers load from the model folder."""

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from core.model.prompt import ChatTemplate, PromptError, load_template, load_tokenizer

# The M3 layout of MSA.md §7, written as a checkpoint would ship it.
M3_STYLE = (
    "{% for m in messages %}"
    "{% if loop.first and m.role == 'system' %}]~!b[]~b]system\n{{ m.content }}[e~[\n"
    "{% elif m.role == 'user' %}]~b]user\n{{ m.content }}[e~[\n"
    "{% elif m.role == 'assistant' %}]~b]ai\n{{ m.content }}[e~[\n"
    "{% else %}{{ raise_exception('unknown role ' ~ m.role) }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}]~b]ai\n{% if enable_thinking %}<mm:think>{% endif %}{% endif %}"
)


def test_renders_the_m3_layout_with_options():
    template = ChatTemplate(M3_STYLE)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert template.render(messages, enable_thinking=True) == \
        "]~!b[]~b]system\nBe brief.[e~[\n]~b]user\nHi[e~[\n]~b]ai\n<mm:think>"
    assert template.render(messages, add_generation_prompt=False).endswith("Hi[e~[\n")


def test_template_errors_and_sandbox_escapes_are_refused(tmp_path):
    with pytest.raises(PromptError, match="unknown role robot"):
        ChatTemplate(M3_STYLE).render([{"role": "robot", "content": "x"}])
    escape = ChatTemplate("{{ messages.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(PromptError, match="failed to render"):
        escape.render([])
    mutate = ChatTemplate("{% set _ = messages.append(1) %}")
    with pytest.raises(PromptError, match="failed to render"):
        mutate.render([])
    with pytest.raises(PromptError, match="not a valid Jinja template"):
        ChatTemplate("{% for %}")
    with pytest.raises(PromptError, match="needs its chat template"):
        load_template(tmp_path)


def test_tokenizer_trained_here_loads_and_round_trips(tmp_path):
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["the quick brown fox jumps over the lazy dog"] * 20,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]", "]~b]"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path)
    ids = loaded.encode("the lazy fox").ids
    assert loaded.decode(ids).strip() == "the lazy fox"
    (tmp_path / "tokenizer.json").write_text("{broken")
    with pytest.raises(PromptError, match="not a valid tokenizer"):
        load_tokenizer(tmp_path)
