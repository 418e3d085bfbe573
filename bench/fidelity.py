"""Agreement of the engine with plain bf16 `generate` on the same inputs."""

from __future__ import annotations

import logging
import statistics

from bench.workload import PROMPTS
from monitor.inference.contract import InferenceRequest
from monitor.backends.llava_next_video.reference import ReferenceRunner

logger = logging.getLogger("bench.fidelity")


def fidelity(engine, reference: ReferenceRunner, clips) -> dict:
    """Share of clips whose first greedy token (every prompt) and score (within 1e-2) agree with
    plain `generate` in the same dtype on the HF processor's inputs."""
    tokens_ok = score_ok = 0
    diffs = []
    splits = [[engine.splitter.split(p) for p in PROMPTS] for _ in clips]
    out = engine.runner.run(engine.preprocess([c.frames for c in clips]), splits, max_new_tokens=1)
    n = len(clips)
    for i, clip in enumerate(clips):
        request = InferenceRequest(clip=clip, prompts=PROMPTS)
        same = True
        for j, prompt in enumerate(PROMPTS):
            ids, score = reference.run_prompt(request, prompt)  # transformers' own arithmetic
            same &= out.tokens[i][j][0] == ids[0]
            if prompt.scored:
                diffs.append(abs(out.scores[i][j] - score))
        tokens_ok += same
        score_ok += diffs[-1] <= 1e-2
    return {"clips": n, "first_token_agree": tokens_ok / n, "score_within_1e-2": score_ok / n,
            "score_abs_diff_max": max(diffs), "score_abs_diff_median": statistics.median(diffs)}


def decode_agreement(engine, model, processor, clips, new: int = 20) -> dict:
    """Greedy continuations of `new` tokens from the engine (shared prefix, static graph decoding)
    against plain `generate`, both in the model dtype: exact matches and mean agreeing prefix."""
    splits = [[engine.splitter.split(p) for p in PROMPTS] for _ in clips]
    out = engine.runner.run(engine.preprocess([c.frames for c in clips]), splits, max_new_tokens=new,
                            ignore_eos=True)
    reference = ReferenceRunner(model, processor, engine.device, next(model.parameters()).dtype, new)
    exact, prefix = 0, []
    for i, clip in enumerate(clips):
        for j, prompt in enumerate(PROMPTS):
            want, _ = reference.run_prompt(InferenceRequest(clip=clip, prompts=PROMPTS), prompt)
            got = out.tokens[i][j][: len(want)]
            exact += got == want
            prefix.append(next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), len(want)))
    return {"sequences": len(prefix), "new_tokens": new, "exact": exact / len(prefix),
            "mean_agreeing_prefix": statistics.mean(prefix)}


def report(engine, model, processor, clips, fidelity_clips: int) -> dict:
    """Both checks: first token and score over `fidelity_clips` clips, 20-token continuations over 4."""
    keep = engine.config.max_new_tokens
    engine.config.max_new_tokens = 1
    device, dtype = engine.device, next(model.parameters()).dtype
    out = {"fidelity": fidelity(engine, ReferenceRunner(model, processor, device, dtype, max_new_tokens=1),
                                clips[:fidelity_clips])}
    logger.info("fidelity %s", out["fidelity"])
    out["decode_agreement"] = decode_agreement(engine, model, processor, clips[: min(4, len(clips))])
    logger.info("decode agreement %s", out["decode_agreement"])
    engine.config.max_new_tokens = keep
    return out
