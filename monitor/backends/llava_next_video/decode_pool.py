"""Continuous batching: clips join the decoding batch as rows free up and leave as they finish.

A batch decoded start to finish makes every clip that arrives meanwhile wait for all of it: with
descriptions for every clip of 50 cameras, batches of 100 steps kept clips waiting 4 to 7 s (H100,
2026-11-26). Here the pool holds R rows of clip-major KV slabs (shared_prefix.py). A new clip is
prefilled straight into a free row, gets its scores and first tokens at once, and then decodes
beside whatever is already decoding; every few steps finished rows are handed back and the rows
still decoding are moved down into the holes, so the busy rows are always [0, active) and each
step runs only the smallest bucket of rows that covers them.

Each step has static shapes per bucket and is replayed as a CUDA graph. Every row carries its own
positions, K/V columns and step count: a row that has finished (or was never filled) keeps still,
writing its K/V into the last column of its own row, which no live row ever attends, and its
token into a scratch column of the output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from monitor.backends.llava_next_video.shared_prefix import Layout

logger = logging.getLogger(__name__)
STEPS_PER_ADVANCE = 8  # decoding steps between looks at which rows finished (each look syncs the device)


def bucket(rows: int) -> int:
    """Row counts that get a decoding graph: powers of two to 16, then multiples of 8."""
    if rows <= 16:
        return 1 << (max(rows, 1) - 1).bit_length()
    return -(-rows // 8) * 8


@dataclass
class Finished:
    tag: Any
    tokens: list[list[int]]  # [slot] the generated ids (pads after EOS)


class DecodePool:
    def __init__(self, runner, layout: Layout, rows: int, max_new: int, ignore_eos: bool, use_graphs: bool):
        self.runner, self.layout, self.rows = runner, layout, rows
        self.max_new, self.ignore_eos, self.use_graphs = max_new, ignore_eos, use_graphs
        dtype, device = runner.embed.weight.dtype, runner.embed.weight.device
        slabs = runner.slabs(rows, layout.capacity, device, dtype)
        self.k = [s[:, :, : layout.capacity] for s in slabs.k]
        self.v = [s[:, :, : layout.capacity] for s in slabs.v]
        slots, cap = layout.slots, layout.capacity
        self.park = cap - 1  # the column finished rows write to: beyond every block (see Layout)
        self.state = {
            "token": torch.full((rows, slots), runner.pad_id, dtype=torch.long, device=device),
            "position": torch.zeros(rows, slots, dtype=torch.long, device=device),
            "cols": torch.full((rows, slots), self.park, dtype=torch.long, device=device),
            "count": torch.full((rows,), max_new, dtype=torch.long, device=device),  # steps taken; max_new: still
            "done": torch.ones(rows, slots, dtype=torch.bool, device=device),
            "mask": torch.zeros(rows, 1, slots, cap, dtype=torch.bool, device=device),
            "out": torch.zeros(rows, slots, max_new + 1, dtype=torch.long, device=device),  # last: scratch
        }
        self.eos = torch.tensor(runner.eos_ids or [-1], device=device)
        self.tags: list[Any] = []    # tag of each busy row, rows [0, active)
        self.counts: list[int] = []  # steps each busy row has taken, known here without asking the device
        self.graphs: dict[int, torch.cuda.CUDAGraph] = {}

    # -- occupancy ----------------------------------------------------------------------------
    @property
    def active(self) -> int:
        return len(self.tags)

    @property
    def free(self) -> int:
        return self.rows - self.active

    def fits(self, layout: Layout) -> bool:
        return (layout.prefix_len, layout.block, layout.slots) == (self.layout.prefix_len, self.layout.block,
                                                                   self.layout.slots)

    # -- joining --------------------------------------------------------------------------------
    @torch.inference_mode()
    def admit(self, prepared, tags: list) -> list[list[float]]:
        """Prefill n prepared clips (forward.Prepared, of this pool's layout) into the next free rows;
        returns their scores [clip][slot]. They decode from the next advance()."""
        x, n, lo = prepared.x, prepared.x.shape[0], self.active
        if n > self.free:
            raise ValueError(f"{n} clips for {self.free} free rows")
        rows = slice(lo, lo + n)
        run = self.runner.first_pass(prepared, [s[rows] for s in self.k], [s[rows] for s in self.v])
        slots, t, mask, pos = self.layout.slots, run.t, run.mask, run.positions
        first = run.logits.argmax(-1)
        empty = torch.tensor([[s is None for s in row] for row in prepared.suffixes], device=x.device)
        st = self.state
        st["mask"][rows] = mask.view(n, 1, slots, t, -1)[:, :, :, -1]   # what each slot's last token saw
        st["token"][rows] = first
        st["position"][rows] = pos.view(n, slots, t)[:, :, -1] + 1
        st["cols"][rows] = torch.tensor([self.layout.start(p) + t for p in range(slots)], device=x.device)
        st["out"][rows] = self.runner.pad_id  # what a row never reaches (it ended at EOS) reads as padding
        st["out"][rows, :, 0] = first
        st["count"][rows] = 1
        st["done"][rows] = empty | (torch.isin(first, self.eos) if not self.ignore_eos else empty)
        self.tags.extend(tags)
        self.counts.extend([1] * n)
        return run.scores

    # -- decoding -------------------------------------------------------------------------------
    @torch.inference_mode()
    def advance(self, steps: int = STEPS_PER_ADVANCE) -> list[Finished]:
        """Run `steps` decoding steps over the busy rows; hand back (and free) the rows that finished."""
        if not self.tags:
            return []
        # Stop when the first row reaches max_new, so it is handed back at once (0: one already has).
        steps = min(steps, self.max_new - max(self.counts))
        size = min(bucket(self.active), self.rows)
        for _ in range(steps):  # no look in between: that would sync the device every step
            self._replay(size)
        self.counts = [min(self.max_new, c + steps) for c in self.counts]
        return self._harvest()

    def capture_all(self) -> None:
        """Capture the graph of every bucket now (start-up), rather than on first use mid-stream."""
        if self.use_graphs:
            for size in sorted({min(bucket(n), self.rows) for n in range(1, self.rows + 1)}):
                if size not in self.graphs:
                    self.graphs[size] = self._capture(size)

    def _replay(self, size: int) -> None:
        if not self.use_graphs:
            self._step(size)
            return
        if size not in self.graphs:
            self.graphs[size] = self._capture(size)
        self.graphs[size].replay()

    def _step(self, b: int) -> None:
        st = {name: t[:b] for name, t in self.state.items()}
        slots = self.layout.slots
        live = st["count"] < self.max_new                                       # (b,)
        write = torch.where(live[:, None], st["cols"], self.park)               # (b, slots)
        st["mask"].scatter_(3, write.view(b, 1, slots, 1), live.view(b, 1, 1, 1).expand(b, 1, slots, 1))
        hidden = self.runner.shared.forward(self.runner.embed(st["token"]), st["position"], write, st["mask"],
                                            [s[:b] for s in self.k], [s[:b] for s in self.v])
        token = self.runner.lm_head(hidden).argmax(-1)
        if not self.ignore_eos:
            token = torch.where(st["done"], torch.full_like(token, self.runner.pad_id), token)
            st["done"] |= torch.isin(token, self.eos)
        at = torch.where(live, st["count"], self.max_new)                       # still rows: scratch column
        st["out"].scatter_(2, at.view(b, 1, 1).expand(b, slots, 1), token[..., None])
        st["token"].copy_(token)
        step = live.long()
        st["position"] += step[:, None]
        st["cols"] += step[:, None]
        st["count"] += step

    def _capture(self, size: int) -> torch.cuda.CUDAGraph:
        # Kernel selection and lazy initialisation must run before capture, on the real tensors;
        # those warm-up steps must not move the rows being decoded, so their state is put back.
        saved = {name: t.clone() for name, t in self.state.items() if name != "mask"}
        self.state["count"][:size] = self.max_new  # every row still: nothing advances, K/V go to the park
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._step(size)
        torch.cuda.current_stream().wait_stream(stream)
        for name, t in saved.items():
            self.state[name].copy_(t)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step(size)
        logger.info("decoding graph for %d rows x %d prompts captured", size, self.layout.slots)
        return graph

    def _harvest(self) -> list[Finished]:
        n = self.active
        st = self.state
        finished = (st["count"][:n] >= self.max_new)
        if not self.ignore_eos:
            finished |= st["done"][:n].all(-1)
        flags = finished.tolist()
        if not any(flags):
            return []
        rows = [r for r, f in enumerate(flags) if f]
        tables = st["out"][rows, :, : self.max_new].tolist()
        out = [Finished(self.tags[r], table) for r, table in zip(rows, tables)]
        self._compact(rows)
        return out

    def _compact(self, finished_rows: list[int]) -> None:
        """Free the finished rows; the busy rows beyond the new end move down into the holes."""
        n = self.active
        keep = n - len(finished_rows)
        gone = set(finished_rows)
        holes = [r for r in finished_rows if r < keep]
        movers = [r for r in range(keep, n) if r not in gone]
        if holes:
            device = self.state["count"].device
            dst, src = torch.tensor(holes, device=device), torch.tensor(movers, device=device)
            for t in [*self.k, *self.v, *self.state.values()]:
                t[dst] = t[src]
            for h, m in zip(holes, movers):
                self.tags[h], self.counts[h] = self.tags[m], self.counts[m]
        del self.tags[keep:], self.counts[keep:]
        self.state["count"][keep:n] = self.max_new   # still
        self.state["done"][keep:n] = True
