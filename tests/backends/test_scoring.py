"""The anomaly score is P(Yes) / (P(Yes) + P(No)) of the first answer token: checked by hand from known
logits, and end to end on checkpoints whose answer is known (tests/scripted_model.py)."""

from __future__ import annotations

import math

import pytest
import torch

from monitor.inference.registry import InferenceRequest, create_backend
from monitor.backends.scoring import YesNoScorer, answer_token_ids
from monitor.config.models import ModelConfig
from monitor.inference.prompts import Prompt
from tests.backends.conftest import make_clip

ANOMALY = Prompt("anomaly", "Is anything abnormal or dangerous happening? Answer Yes or No first.", scored=True)
ROAD = Prompt("road", "Describe the road situation.")


@pytest.fixture(scope="module")
def tokenizer():
    """The tiny checkpoint's tokenizer (a byte-level BPE like Llama 3's), built without the model."""
    from monitor.backends.llava_next_video.tiny import build_tokenizer

    return build_tokenizer()


def softmax_ratio(row: list[float], yes: list[int], no: list[int]) -> float:
    """P(Yes) / (P(Yes) + P(No)) written out: a full softmax over the vocabulary, then the ratio."""
    top = max(row)
    exp = [math.exp(v - top) for v in row]
    total = sum(exp)
    p_yes = sum(exp[i] for i in yes) / total
    p_no = sum(exp[i] for i in no) / total
    return p_yes / (p_yes + p_no)


def test_yes_and_no_ids_are_every_single_token_spelling(tokenizer):
    scorer = YesNoScorer(tokenizer)
    vocab = tokenizer.get_vocab()
    assert scorer.yes_ids == sorted({vocab["Yes"], vocab["yes"], vocab["\u0120Yes"], vocab["\u0120yes"]})
    assert scorer.no_ids == sorted({vocab["No"], vocab["no"], vocab["\u0120No"], vocab["\u0120no"]})


def test_the_score_is_the_softmax_ratio_of_yes_to_yes_plus_no(tokenizer):
    scorer = YesNoScorer(tokenizer)
    yes, no = scorer.yes_ids, scorer.no_ids
    vocab = len(tokenizer)
    rows = []
    # Yes spellings clearly ahead; No clearly ahead; close; other tokens dominating the softmax.
    for yes_logits, no_logits, rest in ((3.0, 0.5, 0.0), (-1.0, 2.0, 0.0), (1.0, 1.0, 0.0), (0.2, -0.3, 9.0)):
        row = [rest] * vocab
        for k, i in enumerate(yes):
            row[i] = yes_logits + 0.1 * k
        for k, i in enumerate(no):
            row[i] = no_logits - 0.2 * k
        rows.append(row)
    rows.append([0.0] * vocab)  # every token alike: as likely Yes as No
    got = scorer.scores(torch.tensor(rows)).tolist()
    want = [softmax_ratio(row, yes, no) for row in rows]
    assert len(got) == len(want) == 5
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-6)
    assert got[0] > 0.9 and got[1] < 0.1 and got[4] == pytest.approx(0.5, abs=1e-6)
    assert got[3] == pytest.approx(softmax_ratio(rows[3], yes, no), abs=1e-6)  # the other tokens' mass cancels


def test_the_score_holds_in_half_precision_and_extreme_logits(tokenizer):
    scorer = YesNoScorer(tokenizer)
    row = torch.full((1, len(tokenizer)), -60000.0, dtype=torch.float16)
    row[0, scorer.yes_ids[0]] = 20.0
    row[0, scorer.no_ids[0]] = 18.0
    score = float(scorer.scores(row)[0])
    assert score == pytest.approx(1 / (1 + math.exp(-2.0)), abs=1e-3)


class ScriptedTokenizer:
    """Stands in for tokenizers this machine cannot load (SentencePiece Llama, odd vocabularies) beside the
    real byte-level one above: `single` maps a text to its one token id; anything else encodes to two."""

    unk_token_id = 0
    bos_token_id = 1

    def __init__(self, single: dict[str, int], vocab: dict[str, int]):
        self.single, self.vocab = single, vocab

    def encode(self, text, add_special_tokens=True):
        ids = [self.single[text]] if text in self.single else [98, 99]
        return [self.bos_token_id, *ids] if add_special_tokens else ids

    def get_vocab(self):
        return dict(self.vocab)


def test_answer_ids_come_from_encoding_with_and_without_a_leading_space():
    tok = ScriptedTokenizer({"Yes": 10, " Yes": 11, " No": 21}, {})
    assert answer_token_ids(tok, ("Yes",)) == [10, 11]
    assert answer_token_ids(tok, ("No",)) == [21]


def test_answer_ids_come_from_the_vocabulary_where_encoding_splits_them():
    tok = ScriptedTokenizer({}, {"\u2581Yes": 30, "\u0120yes": 31, "No": 40, "<unk>": 0})
    assert answer_token_ids(tok, ("Yes", "yes")) == [30, 31]
    assert answer_token_ids(tok, ("No",)) == [40]


def test_the_unknown_token_is_never_an_answer():
    tok = ScriptedTokenizer({}, {"Yes": 0, "\u2581Yes": 5})
    assert answer_token_ids(tok, ("Yes",)) == [5]


@pytest.mark.parametrize("single, vocab", [
    ({}, {}),                                  # neither answer
    ({"Yes": 10}, {}),                         # Yes only
    ({"No": 20}, {}),                          # No only
    ({"Yes": 10, "No": 10}, {}),               # one id for both
])
def test_a_tokenizer_without_clean_answer_tokens_is_refused(single, vocab):
    with pytest.raises(ValueError, match="no clean Yes/No tokens"):
        YesNoScorer(ScriptedTokenizer(single, vocab))


def test_the_answer_ids_are_logged_for_whoever_debugs_a_new_tokenizer(caplog):
    with caplog.at_level("DEBUG", logger="monitor.backends.scoring"):
        scorer = YesNoScorer(ScriptedTokenizer({"Yes": 10, " Yes": 11, "No": 20}, {}))
    assert caplog.messages == ["yes ids [10, 11], no ids [20]"]
    assert scorer.yes_ids == [10, 11] and scorer.no_ids == [20]


def test_the_id_tensors_live_on_the_device_of_the_logits(tokenizer):
    scorer = YesNoScorer(tokenizer)
    scores = scorer.scores(torch.zeros((3, len(tokenizer)), device="meta"))
    assert scores.shape == (3,) and scores.device.type == "meta"
    # Ids made once per device, on that device (CPU ids indexing a CUDA tensor would copy them every call).
    assert list(scorer._index) == [torch.device("meta")]
    assert all(t.device.type == "meta" for t in scorer._index[torch.device("meta")])


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("answer", ["Yes", "No"])
def test_a_model_that_answers_yes_scores_near_one_and_no_near_zero(request, engine, answer):
    model_dir = request.getfixturevalue("yes_model_dir" if answer == "Yes" else "no_model_dir")
    backend = create_backend(ModelConfig(id=str(model_dir), engine=engine, max_new_tokens=4, max_batch=2))
    requests = [InferenceRequest(clip=make_clip(i, frames=2), prompts=(ANOMALY, ROAD), describe=bool(i % 2))
                for i in range(3)]
    try:
        results = backend.infer(requests)
    finally:
        backend.close()
    assert len(results) == len(requests)
    for result, req in zip(results, requests, strict=True):
        assert result.request is req
        anomaly, road = result.results
        assert road.score is None
        if answer == "Yes":
            assert anomaly.score > 0.99
        else:
            assert anomaly.score < 0.01
        if req.describe:
            assert anomaly.text.lower().startswith(answer.lower())  # greedy: the answer word first
