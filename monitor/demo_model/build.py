"""The demo checkpoint's parts before training: tokenizer, processor and a small model config.

Real classes throughout (LlavaNextVideoForConditionalGeneration, LlavaNextVideoProcessor, a fast
tokenizer, the real checkpoint's chat template); only the sizes are small: 168 px frames (CLIP
patches of 21, pooled to 16 tokens a frame) and a vocabulary made from the prompts and answers.
"""

from __future__ import annotations

from monitor.backends.llava_next_video.tiny import ANSWER_WORDS, CHAT_TEMPLATE, SPECIAL
from monitor.config.models import default_prompts
from monitor.demo_model.answers import all_answers
from monitor.inference.prompts import ANOMALY, ROAD, build_prompt

IMAGE_SIZE = 168
PATCH = 21  # 8 x 8 patches a frame, pooled to 4 x 4 = 16 video tokens a frame
VOCAB_SIZE = 900


def prompts(verdict: bool = True):
    """The demo cameras' prompts, exactly as the daemon builds them (default config, no context)."""
    config = default_prompts()
    return build_prompt(ANOMALY, config, verdict=verdict), build_prompt(ROAD, config)


def corpus() -> list[str]:
    texts = [p.question for v in (True, False) for p in prompts(v)] + all_answers()
    return ["USER: <video>\n" + t + " ASSISTANT:" for t in texts] + all_answers() * 4


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=1, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # Repeating the answer words makes their merges win, so each becomes a single token.
    tok.train_from_iterator(corpus() * 3 + [" ".join(ANSWER_WORDS * 50)] * 20
                         + [w + "." for w in ANSWER_WORDS] * 100, trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", bos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.add_special_tokens({"additional_special_tokens": ["<video>", "<image>"]})
    for word in ANSWER_WORDS:
        for text in (word, " " + word):
            if len(fast.encode(text, add_special_tokens=False)) != 1:
                raise RuntimeError(f"demo tokenizer: {text!r} is not a single token")
    return fast


def build_processor(tokenizer):
    from transformers import LlavaNextImageProcessor, LlavaNextVideoProcessor
    from transformers.models.llava_next_video.video_processing_llava_next_video import LlavaNextVideoVideoProcessor

    size, crop = {"shortest_edge": IMAGE_SIZE}, {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    return LlavaNextVideoProcessor(
        video_processor=LlavaNextVideoVideoProcessor(size=size, crop_size=crop),
        image_processor=LlavaNextImageProcessor(size=size, crop_size=crop), tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE, patch_size=PATCH, vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )


def build_config(tokenizer):
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextVideoConfig

    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                              image_size=IMAGE_SIZE, patch_size=PATCH, projection_dim=64)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=96, intermediate_size=192, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    return LlavaNextVideoConfig(
        vision_config=vision.to_dict(), text_config=text.to_dict(),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2, vision_feature_select_strategy="default",
        spatial_pool_stride=2, spatial_pool_mode="average", tie_word_embeddings=False,
    )
