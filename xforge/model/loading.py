"""Loading, building, saving and placing an :class:`~xforge.model.modeling.XForgeModel`.

:class:`LoadOptions` is how device, dtype, quantisation and remote-code settings travel from the command line
to the loader as one object. :func:`build_model` makes a fresh model from base model ids (stage 1),
:func:`load_model` a saved checkpoint (safetensors only, never pickle), :func:`save_model` writes one.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from xforge.model.checkpoint import ADAPTER_DIR, HEADS_NAME, refuse_pickle, resolve_checkpoint
from xforge.model.config import XForgeConfig
from xforge.model.registry import get_family
from xforge.model.segmenter import Sam2Segmenter

if TYPE_CHECKING:
    from xforge.model.modeling import XForgeModel

logger = logging.getLogger(__name__)


@dataclass
class LoadOptions:
    """Where and how to load: ``device`` (None: where it lands), ``torch_dtype`` (None: the weights'),
    bitsandbytes 4/8-bit quantisation of the backbone (CUDA only), and whether to run a Hub repo's own code
    (``trust_remote_code``, off unless asked)."""

    device: str | torch.device | None = None
    torch_dtype: torch.dtype | str | None = None  # a dtype, its name ("bfloat16"), or "auto"
    load_in_4bit: bool = False
    load_in_8bit: bool = False
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.torch_dtype, str) and self.torch_dtype != "auto":
            value = getattr(torch, self.torch_dtype, None)
            if not isinstance(value, torch.dtype):
                raise ValueError(
                    f"unknown dtype {self.torch_dtype!r}: use bfloat16, float16, float32 or auto"
                )
            self.torch_dtype = value

    @property
    def quantized(self) -> bool:
        return self.load_in_4bit or self.load_in_8bit

    def for_inference(self) -> LoadOptions:
        """These options with inference's defaults filled in: the GPU when there is one (unless quantised:
        bitsandbytes places the weights itself), and bfloat16 there when the dtype is unset or ``"auto"``."""
        device, dtype = self.device, self.torch_dtype
        if device is None and not self.quantized and torch.cuda.is_available():
            device = "cuda"
        on_gpu = device is not None and torch.device(device).type == "cuda"
        if dtype in (None, "auto"):
            dtype = torch.bfloat16 if on_gpu and torch.cuda.is_bf16_supported() else None
        return dataclasses.replace(self, device=device, torch_dtype=dtype)

    def quantization_config(self):
        """transformers' ``BitsAndBytesConfig`` for these options, or None."""
        if not self.quantized:
            return None
        if self.load_in_4bit and self.load_in_8bit:
            raise ValueError("choose one of load_in_4bit and load_in_8bit")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise RuntimeError("4/8-bit loading needs bitsandbytes: pip install 'xforge[quant]'")
        if not torch.cuda.is_available():
            raise RuntimeError("4/8-bit loading with bitsandbytes needs a CUDA GPU")
        from transformers import BitsAndBytesConfig

        if self.load_in_8bit:
            return BitsAndBytesConfig(load_in_8bit=True)
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=self.torch_dtype or torch.bfloat16,
            bnb_4bit_use_double_quant=True,
        )


def resolve_base(base_model: str, root: Path | None) -> str:
    """``base_model`` as a loadable name: a folder relative to the checkpoint ``root`` when it exists there."""
    path = Path(base_model)
    if not path.is_absolute() and root is not None and (root / path).is_dir():
        return str(root / path)
    return base_model


def _load_backbone(base: str, options: LoadOptions, quantization_config) -> nn.Module:
    from transformers import AutoModelForImageTextToText

    kwargs: dict[str, Any] = dict(use_safetensors=True, trust_remote_code=options.trust_remote_code)
    if options.torch_dtype not in (None, "auto"):
        kwargs["dtype"] = options.torch_dtype
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
        # bitsandbytes places the weights itself; everything on the current GPU.
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return AutoModelForImageTextToText.from_pretrained(base, **kwargs)


def _trainable_token_targets(hf_model: nn.Module, seg_token_id: int) -> dict[str, list[int]]:
    """peft ``trainable_token_indices``: the <SEG> row of the input embedding and, when the output
    projection is not tied to it, of the LM head too (the model must learn to *emit* <SEG>)."""
    targets = {"embed_tokens": [seg_token_id]}
    text_config = hf_model.config.get_text_config()
    tied = getattr(hf_model.config, "tie_word_embeddings", False) or getattr(
        text_config, "tie_word_embeddings", False
    )
    if not tied:
        targets["lm_head"] = [seg_token_id]
    return targets


def _sam2(config: XForgeConfig, with_checkpoint: bool) -> Sam2Segmenter:
    s = config.sam2
    return Sam2Segmenter.build(s.config, s.overrides, s.image_size, s.checkpoint if with_checkpoint else None)


def build_model(
    cls: type[XForgeModel],
    config: XForgeConfig,
    processor=None,
    *,
    root: str | os.PathLike | None = None,
    options: LoadOptions | None = None,
    backbone: nn.Module | None = None,
    **option_fields: Any,
) -> XForgeModel:
    """A fresh model: the base VLM from ``config.base_model``, SAM2 from ``config.sam2.checkpoint``, new
    LoRA / projector / score head / forensic stream. ``config`` gets ``seg_token_id`` and ``vocab_size``
    filled in. Every parameter starts frozen. ``backbone``: an already instantiated transformers model to use
    instead of loading ``config.base_model`` (tiny test models); ``processor`` is then required.
    ``option_fields`` make a :class:`LoadOptions` when ``options`` is not given."""
    from peft import LoraConfig, get_peft_model

    from xforge.model.processing import XForgeProcessor

    options = options or LoadOptions(**option_fields)
    root_path = Path(root) if root is not None else None
    base = resolve_base(config.base_model, root_path)
    if backbone is not None and processor is None:
        raise ValueError("build(backbone=...) needs the matching processor")
    if processor is None:
        processor = XForgeProcessor.build(
            base,
            family=config.family,
            sam2_image_size=config.sam2.image_size,
            seg_token=config.seg_token,
            trust_remote_code=options.trust_remote_code,
        )
    quant = options.quantization_config()
    hf_model = backbone if backbone is not None else _load_backbone(base, options, quant)
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        # Casts norms to fp32 and makes inputs require grad, as peft's QLoRA recipe does.
        hf_model = prepare_model_for_kbit_training(hf_model, use_gradient_checkpointing=False)
    rows = hf_model.get_input_embeddings().weight.shape[0]
    if len(processor.tokenizer) > rows:
        hf_model.resize_token_embeddings(len(processor.tokenizer))
    config.seg_token_id = processor.seg_token_id
    config.vocab_size = hf_model.get_input_embeddings().weight.shape[0]
    logger.info(
        "%s is token %d; embedding rows %d (was %d)",
        config.seg_token,
        config.seg_token_id,
        config.vocab_size,
        rows,
    )
    lora = LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=config.lora.target_modules or get_family(config.family).lora_target_modules,
        trainable_token_indices=_trainable_token_targets(hf_model, config.seg_token_id),
    )
    model = cls(config, get_peft_model(hf_model, lora), _sam2(config, True), root=root_path)
    place_model(model, options)
    model.set_trainable([])
    return model


def load_model(cls: type[XForgeModel], path_or_id: str | os.PathLike, options: LoadOptions | None = None):
    """A checkpoint folder or Hub id saved by :func:`save_model`, in eval mode with every parameter frozen."""
    from peft import PeftModel
    from safetensors.torch import load_file

    options = options or LoadOptions()
    local = resolve_checkpoint(path_or_id)
    refuse_pickle(local)
    config = XForgeConfig.from_pretrained(local)
    base = resolve_base(config.base_model, local)
    hf_model = _load_backbone(base, options, options.quantization_config())
    if config.vocab_size and hf_model.get_input_embeddings().weight.shape[0] != config.vocab_size:
        # The new rows' values come from the adapter's trainable tokens, so no costly mean init.
        hf_model.resize_token_embeddings(config.vocab_size, mean_resizing=False)
    adapter = local / ADAPTER_DIR
    if not (adapter / "adapter_model.safetensors").is_file():
        raise FileNotFoundError(f"{adapter}: no adapter_model.safetensors")
    vlm = PeftModel.from_pretrained(hf_model, adapter, is_trainable=True)
    model = cls(config, vlm, _sam2(config, False), root=local)
    heads_path = local / HEADS_NAME
    if not heads_path.is_file():
        raise FileNotFoundError(f"{heads_path}: missing")
    heads = load_file(heads_path)
    expected = heads_state_dict(model)
    missing = sorted(set(expected) - set(heads))
    unexpected = sorted(set(heads) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{heads_path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    model.load_state_dict(heads, strict=False)
    place_model(model, options)
    model.set_trainable([])
    model.eval()
    logger.info("loaded xforge checkpoint %s (family %s, base %s)", local, config.family, base)
    return model


def place_model(model: XForgeModel, options: LoadOptions) -> None:
    """Move to ``options.device`` / ``torch_dtype``; a bitsandbytes backbone is already placed and must not
    be cast, so only the xforge heads and SAM2 follow it."""
    device, dtype = options.device, options.torch_dtype
    if dtype == "auto":
        dtype = None
    if not options.quantized:
        model.to(device=device, dtype=dtype)
        return
    target = device or model.hf_model.device
    for name in ("sam2", "projector", "score_head", "synthetic_head", "forensic_stream"):
        module = getattr(model, name)
        if module is not None:
            module.to(device=target, dtype=dtype)
    model.to_sam_device(target)


def heads_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every weight that is not the (peft-wrapped) backbone's: SAM2, projector, score head, forensic stream."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("vlm.")}


def save_model(model: XForgeModel, directory: str | os.PathLike) -> Path:
    """Write config, peft adapter and the other weights (safetensors) into ``directory``.

    The processor is saved separately (``processor.save_pretrained(directory)``) into the same folder.
    A base model that lives inside the source checkpoint (``backbone/``) is copied along.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    base, root = Path(model.config.base_model), model.root
    if not base.is_absolute() and root is not None and (root / base).is_dir():
        target = directory / base
        if (root / base).resolve() != target.resolve():
            shutil.copytree(root / base, target, dirs_exist_ok=True)
    model.config.save_pretrained(directory)
    # The embedding rows of <SEG> are saved by the trainable-tokens adapter, not as whole matrices.
    model.vlm.save_pretrained(directory / ADAPTER_DIR, save_embedding_layers=False)
    heads = {k: v.detach().contiguous().cpu() for k, v in heads_state_dict(model).items()}
    save_file(heads, directory / HEADS_NAME, metadata={"format": "pt"})
    return directory
