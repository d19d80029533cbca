"""Tiny random Qwen-Image-Edit pipeline (Qwen2.5-VL text encoder, byte-level tokenizer), built in code.

Test fixture only (see tiny.py). The tokenizer is byte-level BPE with no merges: every UTF-8 byte is
one token, plus Qwen's chat and vision special tokens, so the pipeline's prompt template (which drops
its first 64 tokens) and the processor's image-token expansion work as with the real tokenizer.
"""

from __future__ import annotations

import torch


SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]


def byte_tokenizer():  # noqa: ANN201
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast
    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    fast = Qwen2TokenizerFast(tokenizer_object=tok, unk_token=None, bos_token=None, eos_token="<|im_end|>",
                              pad_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": SPECIAL[1:]})
    return fast


def image_only_processor(image_processor, tokenizer):  # noqa: ANN001, ANN201
    """Qwen2VLProcessor without its video processor (which needs torchvision; editing never uses it)."""
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def check_argument_for_proper_class(self, argument_name, argument):  # noqa: ANN001, ANN201
            if argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

        def save_pretrained(self, save_directory, **kwargs):  # noqa: ANN001, ANN003, ANN201
            self.image_processor.save_pretrained(save_directory)
            self.tokenizer.save_pretrained(save_directory)
            return []

    return ImageOnlyQwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer, video_processor=None)


def load_processor(folder):  # noqa: ANN001, ANN201
    """A saved Qwen2-VL processor folder (the pipeline's processor/), read without torchvision."""
    from transformers import AutoTokenizer, Qwen2VLImageProcessor

    return image_only_processor(Qwen2VLImageProcessor.from_pretrained(folder), AutoTokenizer.from_pretrained(folder))


def qwen_processor():  # noqa: ANN201
    from transformers import Qwen2VLImageProcessor

    # A small pixel budget keeps the vision tower's token count tiny (the real one allows ~1 M pixels).
    ip = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2,
                               temporal_patch_size=2)
    # No video processor: image editing never passes video (and it would need torchvision).
    return image_only_processor(ip, byte_tokenizer())


def qwen_image_edit_pipeline(seed: int = 0):  # noqa: ANN201
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageEditPipeline, \
        QwenImageTransformer2DModel
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    processor = qwen_processor()
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL}
    torch.manual_seed(seed)
    cfg = Qwen2_5_VLConfig(
        text_config={"hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
                     "num_key_value_heads": 2, "vocab_size": len(tok), "max_position_embeddings": 4096,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0, "bos_token_id": None, "eos_token_id": ids["<|im_end|>"]},
        vision_config={"depth": 2, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16,
                       "fullatt_block_indexes": [1], "window_size": 56, "patch_size": 14, "spatial_merge_size": 2,
                       "temporal_patch_size": 2},
        vocab_size=len(tok), bos_token_id=None, eos_token_id=ids["<|im_end|>"], image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(cfg).eval()
    torch.manual_seed(seed + 1)
    transformer = QwenImageTransformer2DModel(patch_size=2, in_channels=16, out_channels=4, num_layers=2,
                                              attention_head_dim=16, num_attention_heads=3, joint_attention_dim=16,
                                              guidance_embeds=False, axes_dims_rope=(8, 4, 4)).eval()
    torch.manual_seed(seed + 2)
    vae = AutoencoderKLQwenImage(base_dim=4 * 6, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1,
                                 temperal_downsample=[False, True], latents_mean=[0.0] * 4,
                                 latents_std=[1.0] * 4).eval()
    return QwenImageEditPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                                 tokenizer=tok, processor=processor, transformer=transformer)
