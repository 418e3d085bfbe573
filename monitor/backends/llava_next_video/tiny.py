"""A tiny random-weight LLaVA-NeXT-Video checkpoint, built offline, for tests and the demo.

It has the real checkpoint's shape where it matters to the code around it: 336 px frames, 144 video
tokens a frame after pooling, the same chat template rendering, safetensors weights and a
processor saved beside them, so it loads through the same `from_pretrained` path as the 7B model.
Its words are noise.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)

SEED = 0
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>", "<video>", "<image>"]
# Words that must each be one token, with and without a leading space (byte-level BPE marks it).
ANSWER_WORDS = ["Yes", "No", "yes", "no"]

# The real LLaVA-NeXT-Video-7B-hf template: images, then videos, then text of each message;
# renders `USER: <video>\n{question} ASSISTANT:`. Plain-string contents and *_url items are
# accepted too, so `transformers serve` can render OpenAI-style messages with it.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% if message['content'] is string %}{{ message['content'] + ' ' }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] in ['image', 'image_url'] %}"
    "{{ '<image>\n' }}{% endif %}{% endfor %}"
    "{% for content in message['content'] %}{% if content['type'] in ['video', 'video_url'] %}"
    "{{ '<video>\n' }}{% endif %}{% endfor %}"
    "{% for content in message['content'] %}{% if content['type'] == 'text' %}"
    "{{ content['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_CORPUS = """\
USER: ASSISTANT: Yes. No. Yes, No, yes no Yes No yes no
You are watching a security camera. Is anything abnormal or dangerous happening in this video?
Answer Yes or No first, then describe what you see in one or two sentences.
You are watching a vehicle's dashcam. Describe the road situation: traffic, road layout, weather,
visibility and any hazards, in two or three sentences. What is normal at this camera:
A person walks across the street. Two cars wait at the red light. The road is wet and visibility
is poor because of rain and fog. A truck is parked on the shoulder. Nothing unusual is happening.
There is a fire, smoke, a fight, a crash, a fall, an intruder, a weapon, a crowd, a cyclist, a dog.
The highway has three lanes; traffic is light, the weather is clear and sunny, at night or by day.
0 1 2 3 4 5 6 7 8 9 the a an of to in on at is are was were it this that with for and or but not
"""


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024, min_frequency=1, special_tokens=SPECIAL, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    # Repeating the answer words makes their merges win, so each becomes a single token.
    corpus = [_CORPUS] * 2 + [" ".join(ANSWER_WORDS * 50)] * 20 + [w + "." for w in ANSWER_WORDS] * 50
    tok.train_from_iterator(corpus, trainer=trainer)
    bos = tok.token_to_id("<s>")
    # Like the Llama tokenizer of the real checkpoint: a BOS before every text.
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    return tok


def build_tokenizer():
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(), bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        pad_token="<pad>",
    )
    fast.add_special_tokens({"additional_special_tokens": ["<video>", "<image>"]})
    for word in ANSWER_WORDS:
        for text in (word, " " + word):
            ids = fast.encode(text, add_special_tokens=False)
            if len(ids) != 1:
                raise RuntimeError(f"tiny tokenizer: {text!r} is not a single token: {ids}")
    return fast


def build_processor(tokenizer):
    from transformers import LlavaNextImageProcessor, LlavaNextVideoProcessor
    from transformers.models.llava_next_video.video_processing_llava_next_video import LlavaNextVideoVideoProcessor

    # The class defaults are 224 px; the real checkpoint uses 336 (CLIP ViT-L/14-336).
    video = LlavaNextVideoVideoProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    image = LlavaNextImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    return LlavaNextVideoProcessor(
        video_processor=video, image_processor=image, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE,
        patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1,
    )


def build_config(tokenizer):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextVideoConfig

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=336, patch_size=14, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    return LlavaNextVideoConfig(
        vision_config=vision.to_dict(), text_config=text.to_dict(),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2, vision_feature_select_strategy="default",
        spatial_pool_stride=2, spatial_pool_mode="average", tie_word_embeddings=False,
    )


def make_tiny_checkpoint(path) -> Path:
    """Write a tiny random-weight LLaVA-NeXT-Video checkpoint (weights, tokenizer, processor) to `path`."""
    import torch
    from transformers import LlavaNextVideoForConditionalGeneration

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    config = build_config(tokenizer)
    torch.manual_seed(SEED)
    model = LlavaNextVideoForConditionalGeneration(config).eval()
    # One seeded normal init for every matrix (CLIP's own init differs); at std 0.02 greedy text
    # varies from token to token instead of repeating one token, which makes token tests meaningful.
    with torch.no_grad():
        g = torch.Generator().manual_seed(SEED)
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path, safe_serialization=True)
    processor.save_pretrained(path)
    logger.info("wrote tiny LLaVA-NeXT-Video checkpoint to %s", path)
    return path
