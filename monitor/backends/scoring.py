"""The anomaly score: P(Yes) / (P(Yes) + P(No)) of the first answer token."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

YES_WORDS = ("Yes", "yes")
NO_WORDS = ("No", "no")
# How tokenizers mark a leading space: SentencePiece (Llama) and byte-level BPE.
_SPACE_MARKS = ("\u2581", "\u0120")


def answer_token_ids(tokenizer, words) -> list[int]:
    """Every single-token spelling of `words`, with and without a leading space."""
    ids: set[int] = set()
    unk = tokenizer.unk_token_id
    for word in words:
        for text in (word, " " + word):
            enc = tokenizer.encode(text, add_special_tokens=False)
            if len(enc) == 1:
                ids.add(enc[0])
        vocab = tokenizer.get_vocab()
        for piece in (word, *(mark + word for mark in _SPACE_MARKS)):
            tid = vocab.get(piece)
            if tid is not None and tid != unk:
                ids.add(tid)
    return sorted(ids)


class YesNoScorer:
    """Holds the Yes and No token ids of one tokenizer and turns next-token logits into scores."""

    def __init__(self, tokenizer):
        self.yes_ids = answer_token_ids(tokenizer, YES_WORDS)
        self.no_ids = answer_token_ids(tokenizer, NO_WORDS)
        if not self.yes_ids or not self.no_ids or set(self.yes_ids) & set(self.no_ids):
            raise ValueError(f"tokenizer has no clean Yes/No tokens: yes={self.yes_ids} no={self.no_ids}")
        logger.debug("yes ids %s, no ids %s", self.yes_ids, self.no_ids)
        self._index: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """logits: (N, vocab) -> (N,) float32 scores. The softmax denominator cancels, so the score
        is sigmoid(logsumexp(yes logits) - logsumexp(no logits)), stable in any dtype."""
        yes, no = self._ids(logits.device)
        lg = logits.float()
        return torch.sigmoid(torch.logsumexp(lg[:, yes], -1) - torch.logsumexp(lg[:, no], -1))

    def _ids(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._index:
            self._index[device] = (torch.tensor(self.yes_ids, device=device), torch.tensor(self.no_ids, device=device))
        return self._index[device]
