"""One decode step without host syncs, replayed as a CUDA graph on the GPU.

A step of the ordinary forward builds its paging from Python lists and checks its inputs on the
host: a few hundred small launches and several device-to-host syncs per token, which is what
bounds decode (docs/benchmarks.md). Here the step reads everything from fixed device buffers
(the token, its position, the sequence length, a block table as wide as the cache), writes the
cache at device-computed slots, calls the Triton decode kernels without their host-side checks
and mixes experts with `layers.mix_gathered_experts` (the grouped-GEMV kernel reading the chosen
experts in place by id; kernels/moe). On CUDA the second step is captured in a graph and
every later step is one replay; elsewhere (the interpreter in tests) the same step runs eagerly.
"""

from __future__ import annotations

import torch

from .attention import Paging, StaticDecodeAttention, selection_width
from .cache import PagedCache, Sequence
from .step import Step


class StaticDecoder:
    def __init__(self, model, cache: PagedCache):
        if model.attention.name != "triton":
            raise ValueError("the static decode step needs the Triton attention backend")
        self.model, self.cache = model, cache
        dev, pages = model.device, cache.k[0].shape[0]
        self.token = torch.zeros(1, dtype=torch.long, device=dev)
        self.position = torch.zeros(1, dtype=torch.int32, device=dev)
        self.seq_len = torch.zeros(1, dtype=torch.int32, device=dev)
        self.table = torch.zeros(1, pages, dtype=torch.int32, device=dev)  # [1, P]
        self.cu = torch.tensor([0, 1], dtype=torch.int32, device=dev)
        self.width = selection_width(pages)  # the dense layers' selection covers the whole table
        self.attention = StaticDecodeAttention(pages, self.position, torch.zeros(1, dtype=torch.int32, device=dev))
        self.use_graph = dev.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None  # the captured graph's output
        self.steps = 0
        self._pages: list[int] = []  # the block table as last written

    def _compute(self) -> torch.Tensor:
        m, c = self.model, self.cache
        self.attention.nonfinite.zero_()
        pos = self.position.long()
        step_pages = self.table[0, pos // c.block].long()
        step = Step(
            pos,
            Paging(self.table, self.cu, self.seq_len),
            step_pages,
            pos % c.block,
            self.attention,
            m.cfg.num_kv_heads,
            c.block,
            dense_width=self.width,  # fixed: no host sync inside the captured graph
            gathered_experts=True,
        )
        return m.run(m.embed[self.token], c, step, last_only=True)

    def _sync_table(self, seq: Sequence) -> None:
        if seq.pages != self._pages:  # a new page, or another sequence: rewrite the table
            self.table[0, : len(seq.pages)] = torch.tensor(seq.pages, dtype=torch.int32, device=self.table.device)
            self._pages = list(seq.pages)

    @torch.no_grad()
    def step(self, token: int, seq: Sequence) -> torch.Tensor:
        """Logits `[vocab]` after appending `token` to `seq`."""
        self.cache.reserve(seq, 1)
        self._sync_table(seq)
        self.token.fill_(token)
        self.position.fill_(seq.length)
        self.seq_len.fill_(seq.length + 1)
        if not self.use_graph or self.steps == 0:  # the first step compiles the kernels, eagerly
            logits = self._compute()
        else:
            if self.graph is None:
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph):
                    self.logits = self._compute()
            self.graph.replay()
            assert self.logits is not None  # set by the capture
            logits = self.logits
        self.steps += 1
        seq.length += 1
        seq.ids.append(token)
        if bool(self.attention.nonfinite):  # the sampler waits for the step anyway: one scalar more
            raise ValueError(
                "non-finite index scores: an index query of this decode step (position "
                f"{seq.length - 1}) holds NaN/inf, so its block selection is undefined; the hidden state or the "
                "index projection before an MSA layer produced NaN/inf"
            )
        return logits[-1]
