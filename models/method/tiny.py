"""Tiny random models with the real architectures, built from small configs, for tests only.

Nothing here downloads: the tokenizers are built in code from a word list, every module from a
config with a fixed seed. `python -m models.method make-tiny --out DIR` saves them as local
diffusers folders, so the stages load them exactly as they load real weights (by path). A tiny
random model is a test fixture: its outputs are noise-shaped colours, not a look.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

# The words the tests' prompts use; anything else maps to <unk>.
WORDS = (
    "a photo of the street city in heavy rain at dusk fog foggy morning snow night golden hour clear "
    "sky photoreal make it look like real footage turn this into with wet ground lights"
).split()
TEXT_DIM = 32
Z_DIM = 4


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)


def word_tokenizer(max_len: int = 64):  # noqa: ANN201 - transformers type
    """A word-level fast tokenizer (pad=0, eos=1, unk=2) built in memory; T5-style `</s>` end."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=max_len
    )


def umt5_encoder(vocab_size: int, seed: int = 0):  # noqa: ANN201
    from transformers import UMT5Config, UMT5EncoderModel

    seed_all(seed)
    cfg = UMT5Config(vocab_size=vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
                     relative_attention_num_buckets=8, relative_attention_max_distance=16, decoder_start_token_id=0)
    return UMT5EncoderModel(cfg).eval()


def wan_vae(seed: int = 0):  # noqa: ANN201
    from diffusers import AutoencoderKLWan

    seed_all(seed)
    return AutoencoderKLWan(base_dim=8, z_dim=Z_DIM, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True],
                            latents_mean=[0.0] * Z_DIM, latents_std=[1.0] * Z_DIM).eval()


WAN_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=Z_DIM,
                       out_channels=Z_DIM, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=32, num_layers=2,
                       cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)


def wan_transformer(seed: int = 0):  # noqa: ANN201
    from diffusers import WanTransformer3DModel

    seed_all(seed)
    return WanTransformer3DModel(**WAN_TRANSFORMER).eval()


def wan_vace_transformer(seed: int = 0):  # noqa: ANN201
    from diffusers import WanVACETransformer3DModel

    seed_all(seed)
    # VACE's control input: inactive + reactive latents (2·z) and the 8x8 mask folded into 64 channels.
    return WanVACETransformer3DModel(**WAN_TRANSFORMER, vace_layers=[0, 1], vace_in_channels=2 * Z_DIM + 64).eval()


def scheduler(shift: float = 3.0):  # noqa: ANN201
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=shift)


def wan_pipeline(seed: int = 0):  # noqa: ANN201
    """Text-to-video Wan: the base the IC-LoRA trains on (its transformer, VAE, text encoder)."""
    from diffusers import WanPipeline

    tok = word_tokenizer()
    return WanPipeline(tokenizer=tok, text_encoder=umt5_encoder(len(tok), seed), vae=wan_vae(seed),
                       transformer=wan_transformer(seed + 1), scheduler=scheduler())


def wan_vace_pipeline(seed: int = 0):  # noqa: ANN201
    from diffusers import WanVACEPipeline

    tok = word_tokenizer()
    return WanVACEPipeline(tokenizer=tok, text_encoder=umt5_encoder(len(tok), seed), vae=wan_vae(seed),
                           transformer=wan_vace_transformer(seed + 2), scheduler=scheduler())


def save_all(out: Path, seed: int = 0) -> dict[str, Path]:
    """Writes wan/, wan_vace/ and image_edit/ under `out` (local diffusers folders)."""
    from .tiny_qwen import qwen_image_edit_pipeline

    out.mkdir(parents=True, exist_ok=True)
    paths = {"wan": out / "wan", "wan_vace": out / "wan_vace", "image_edit": out / "image_edit"}
    wan_pipeline(seed).save_pretrained(paths["wan"])
    wan_vace_pipeline(seed).save_pretrained(paths["wan_vace"])
    qwen_image_edit_pipeline(seed).save_pretrained(paths["image_edit"])
    # The processor is saved as the real Qwen2VLProcessor's parts; name that class, not the fixture's.
    idx = paths["image_edit"] / "model_index.json"
    mi = json.loads(idx.read_text())
    mi["processor"] = ["transformers", "Qwen2VLProcessor"]
    idx.write_text(json.dumps(mi, indent=2) + "\n")
    for d in [out, *paths.values()]:
        (d / "TINY_RANDOM_TEST_FIXTURE.txt").write_text(
            "Tiny random models built from configs by models/method/tiny.py: a test fixture, not a model.\n")
    return paths
