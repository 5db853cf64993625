"""Sampling: greedy, temperature law, top-k and top-p cut-offs, seeds, bad parameters."""

import pytest
import torch

from core.engine.options import SamplingParams
from core.model.sampling import sample

LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0])


def draws(params, n=20000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bincount(torch.tensor([sample(LOGITS, params, g) for _ in range(n)]), minlength=5).float() / n


def test_greedy_is_argmax():
    assert sample(torch.tensor([0.1, 3.0, 2.9]), SamplingParams()) == 1
    assert sample(torch.tensor([0.1, 3.0, 2.9]), SamplingParams(temperature=0.0)) == 1


def test_temperature_follows_the_softmax_law():
    for t in (0.5, 1.0, 2.0):
        expected = torch.softmax(LOGITS / t, dim=0)
        assert (draws(SamplingParams(temperature=t)) - expected).abs().max() < 0.015


def test_top_k_and_top_p_cut_the_tail():
    freq = draws(SamplingParams(temperature=1.0, top_k=2), n=5000)
    assert freq[2:].sum() == 0 and freq[0] > freq[1] > 0
    p = torch.softmax(LOGITS, dim=0)  # [0.55, 0.20, 0.12, 0.07, 0.03]
    freq = draws(SamplingParams(temperature=1.0, top_p=float(p[0] + p[1]) - 0.01), n=5000)
    assert freq[2:].sum() == 0 and freq[1] > 0  # the nucleus is the first two tokens
    assert draws(SamplingParams(temperature=1.0, top_p=0.01), n=200)[0] == 1.0


def test_a_seed_reproduces_the_same_tokens():
    params = SamplingParams(temperature=1.0)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    first = [sample(LOGITS, params, g1) for _ in range(50)]
    assert first == [sample(LOGITS, params, g2) for _ in range(50)]
    assert len(set(first)) > 1  # it did sample, not fall back to greedy


@pytest.mark.parametrize("kwargs,message", [
    (dict(temperature=-1), "temperature=-1"), (dict(top_k=-2), "top_k=-2"), (dict(top_p=0.0), "top_p=0.0"),
])
def test_bad_parameters_name_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingParams(**kwargs)
