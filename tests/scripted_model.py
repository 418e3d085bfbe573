"""A real tiny checkpoint whose weights are rigged so that one answer, Yes or No, always wins.

The tiny model's P(Yes) is noise around 0.5, so tests on it cannot tell a score from its opposite.
This one is the same architecture loaded through the same `from_pretrained` path; only its weights
are set so that the first answer token is known: one hidden dimension carries a large constant
(every text embedding and every projected video feature), and the lm_head reads that dimension
into the Yes logits (+) and the No logits (-), or the other way round. The other tokens' logits
stay the model's own.
"""

from __future__ import annotations

from pathlib import Path

CARRIER_DIM = 0      # the hidden dimension that carries the constant
CARRIER = 50.0       # its value in every input position, far above the other dimensions (~0.02)
READOUT = 2.0        # lm_head weight on it: after the final RMSNorm it reads about sqrt(64) = 8


def make_scripted_checkpoint(tiny_dir: Path, out_dir: Path, answer: str) -> Path:
    """Copy the tiny checkpoint at `tiny_dir` to `out_dir`, rigged so that `answer` ("Yes" or "No")
    is the model's first answer token for any clip and prompt."""
    import torch
    from transformers import AutoProcessor, LlavaNextVideoForConditionalGeneration

    from monitor.backends.scoring import NO_WORDS, YES_WORDS, answer_token_ids

    if answer not in ("Yes", "No"):
        raise ValueError(f"answer must be Yes or No, not {answer!r}")
    processor = AutoProcessor.from_pretrained(tiny_dir)
    model = LlavaNextVideoForConditionalGeneration.from_pretrained(tiny_dir).eval()
    yes = answer_token_ids(processor.tokenizer, YES_WORDS)
    no = answer_token_ids(processor.tokenizer, NO_WORDS)
    sign = 1.0 if answer == "Yes" else -1.0
    with torch.no_grad():
        model.model.language_model.embed_tokens.weight[:, CARRIER_DIM] = CARRIER
        projector = model.model.multi_modal_projector.linear_2
        projector.weight[CARRIER_DIM, :] = 0.0
        projector.bias[CARRIER_DIM] = CARRIER
        head = model.lm_head.weight
        head[:, CARRIER_DIM] = 0.0
        head[yes, CARRIER_DIM] = sign * READOUT
        head[no, CARRIER_DIM] = -sign * READOUT
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    processor.save_pretrained(out_dir)
    return out_dir
