"""The demo model: a small LLaVA-NeXT-Video checkpoint trained on the bundled cartoon scenes.

It ships in monitor/assets/demo-model/ (weights, config, tokenizer and processor) and loads through
the same `from_pretrained` path as the real checkpoint. `python -m monitor.demo_model.train` rebuilds
it from the scene generator; bench/demo_model_eval.py measures it on scenes the training never saw.
"""

from pathlib import Path

DEMO_MODEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "demo-model"
