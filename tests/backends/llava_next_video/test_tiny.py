"""The tiny checkpoint looks like the real one to the code around it."""

from __future__ import annotations

import numpy as np
from transformers import AutoProcessor

from monitor.backends.llava_next_video.tiny import make_tiny_checkpoint
from monitor.inference.prompts import Prompt


def test_answer_words_are_single_tokens_in_both_spellings(tiny_model_dir):
    tok = AutoProcessor.from_pretrained(tiny_model_dir).tokenizer
    for word in ("Yes", "No", "yes", "no"):
        assert len(tok.encode(word, add_special_tokens=False)) == 1
        assert len(tok.encode(" " + word, add_special_tokens=False)) == 1
    assert tok.convert_tokens_to_ids("<video>") != tok.unk_token_id


def test_any_text_tokenizes_and_round_trips(tiny_model_dir):
    tok = AutoProcessor.from_pretrained(tiny_model_dir).tokenizer
    text = "Zebra crossing at 23:59, ünïcödé & emoji \U0001F697!"
    ids = tok.encode(text, add_special_tokens=False)
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_chat_template_renders_like_the_real_checkpoint(tiny_model_dir):
    proc = AutoProcessor.from_pretrained(tiny_model_dir)
    text = proc.apply_chat_template(Prompt("anomaly", "Is it on fire?").messages(), add_generation_prompt=True)
    assert text == "USER: <video>\nIs it on fire? ASSISTANT:"


def test_processor_uses_336_px_and_144_tokens_a_frame(tiny_model_dir):
    proc = AutoProcessor.from_pretrained(tiny_model_dir)
    video = np.random.default_rng(0).integers(0, 256, (3, 360, 640, 3), dtype=np.uint8)
    text = proc.apply_chat_template(Prompt("p", "What?").messages(), add_generation_prompt=True)
    out = proc(text=text, videos=[video], return_tensors="pt")
    assert tuple(out["pixel_values_videos"].shape) == (1, 3, 3, 336, 336)
    assert int((out["input_ids"] == proc.video_token_id).sum()) == 3 * 144


def test_build_is_deterministic(tmp_path):
    a = make_tiny_checkpoint(tmp_path / "a")
    b = make_tiny_checkpoint(tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "model.safetensors").stat().st_size < 5_000_000
