"""SAM2 as xforge uses it: the official ``sam2`` image encoder, prompt encoder and mask decoder.

The flow is SAM2ImagePredictor's (``sam2/sam2_image_predictor.py``): encode the image once, project the two
high-resolution FPN levels with the decoder's ``conv_s0``/``conv_s1``, add ``no_mem_embed`` to the lowest
resolution level, then run the mask decoder per prompt. The prompts are not clicks but the projected
``<SEG>`` hidden states, passed as sparse prompt embeddings next to the dense "no mask" embedding.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

# SAM2's input normalisation (``sam2.utils.transforms.SAM2Transforms.mean``/``std``, ImageNet's statistics):
# the processor's transform applies it, the model undoes it to give the forensic stream raw [0, 1] pixels.
SAM2_PIXEL_MEAN = (0.485, 0.456, 0.406)
SAM2_PIXEL_STD = (0.229, 0.224, 0.225)


def build_sam2_base(
    config_name: str, overrides: list[str], image_size: int, checkpoint: str | None = None
) -> nn.Module:
    """A ``sam2.modeling.sam2_base.SAM2Base`` from a config of the ``sam2`` package.

    ``checkpoint`` is a local SAM2 ``.pt`` file or one of sam2's Hub ids (``facebook/sam2.1-hiera-large``);
    sam2 loads it with ``torch.load(weights_only=True)``. ``None`` gives random weights (tiny test models;
    xforge checkpoints, whose safetensors carry the SAM2 weights).
    """
    from sam2.build_sam import HF_MODEL_ID_TO_FILENAMES, build_sam2, build_sam2_hf

    hydra_overrides = [*overrides, f"++model.image_size={image_size}"]
    # No video postprocessing: xforge predicts one mask per prompt from one image.
    kwargs = dict(
        device="cpu", mode="eval", hydra_overrides_extra=hydra_overrides, apply_postprocessing=False
    )
    if checkpoint is None or Path(checkpoint).is_file():
        return build_sam2(config_name, ckpt_path=checkpoint, **kwargs)
    if checkpoint in HF_MODEL_ID_TO_FILENAMES:
        return build_sam2_hf(checkpoint, **kwargs)
    raise ValueError(
        f"SAM2 checkpoint {checkpoint!r} is neither a file nor one of {', '.join(HF_MODEL_ID_TO_FILENAMES)}"
    )


class Sam2Segmenter(nn.Module):
    """The image-segmentation part of a SAM2 model (its video memory modules are dropped)."""

    def __init__(self, sam2_base: nn.Module):
        super().__init__()
        self.image_encoder = sam2_base.image_encoder
        self.prompt_encoder = sam2_base.sam_prompt_encoder
        self.mask_decoder = sam2_base.sam_mask_decoder
        self.no_mem_embed = sam2_base.no_mem_embed
        self.directly_add_no_mem_embed = sam2_base.directly_add_no_mem_embed
        self.use_high_res_features = sam2_base.use_high_res_features_in_sam
        self.num_feature_levels = sam2_base.num_feature_levels
        self.image_size = sam2_base.image_size
        self.embed_dim = sam2_base.hidden_dim

    @classmethod
    def build(
        cls, config_name: str, overrides: list[str], image_size: int, checkpoint: str | None = None
    ) -> Sam2Segmenter:
        return cls(build_sam2_base(config_name, overrides, image_size, checkpoint))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(B, 3, S, S)`` normalised images -> image embedding ``(B, C, S/16, S/16)`` and high-res features."""
        dtype = self.no_mem_embed.dtype
        # The encoder is frozen in every xforge stage: skip its autograd graph unless someone unfroze it.
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.image_encoder.parameters())
        with torch.set_grad_enabled(needs_grad):
            out = self.image_encoder(images.to(dtype))
        # Some of sam2's encoder arithmetic is float32 whatever the weights are; the decoder wants its own dtype.
        levels = [level.to(dtype) for level in out["backbone_fpn"][-self.num_feature_levels :]]
        if self.use_high_res_features:
            levels[0] = self.mask_decoder.conv_s0(levels[0])
            levels[1] = self.mask_decoder.conv_s1(levels[1])
        embedding = levels[-1]
        if self.directly_add_no_mem_embed:
            embedding = embedding + self.no_mem_embed.view(1, -1, 1, 1)
        return embedding, levels[:-1]

    def dense_pe(self) -> torch.Tensor:
        """SAM2's dense positional encoding of the embedding grid, in the weights' dtype.

        sam2 builds the coordinate grid in float32; when the weights were cast to bf16/fp16 (``torch_dtype``,
        DeepSpeed) so was its random-feature matrix, so that one product runs under autocast.
        """
        matrix = self.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
        with torch.autocast(matrix.device.type, dtype=matrix.dtype, enabled=matrix.dtype != torch.float32):
            return self.prompt_encoder.get_dense_pe().to(matrix.dtype)

    def decode(
        self, embedding: torch.Tensor, high_res: list[torch.Tensor], prompts: torch.Tensor
    ) -> torch.Tensor:
        """Mask logits ``(n, 1, S/4, S/4)``; row i uses ``embedding[i]`` and sparse prompt ``prompts[i]``."""
        n = prompts.shape[0]
        dtype = self.no_mem_embed.dtype
        _, dense = self.prompt_encoder(points=None, boxes=None, masks=None)
        logits, _iou, _tokens, _obj = self.mask_decoder(
            image_embeddings=embedding.to(dtype),
            image_pe=self.dense_pe(),
            sparse_prompt_embeddings=prompts.to(dtype),
            dense_prompt_embeddings=dense.expand(n, -1, -1, -1).to(dtype),
            multimask_output=False,
            repeat_image=False,
            high_res_features=[h.to(dtype) for h in high_res] if self.use_high_res_features else None,
        )
        return logits.float()

    @contextmanager
    def capture_pixel_embeddings(self, enabled: bool = True) -> Iterator[list[torch.Tensor]]:
        """Collect, during the block, the mask decoder's upscaled per-pixel embeddings ``(n, C/8, S/4, S/4)``:
        the features each mask logit is a dot product with (the output of ``output_upscaling``'s last
        activation, which sam2 runs on both of its upscaling paths). Gradients flow through them."""
        captured: list[torch.Tensor] = []
        if not enabled:
            yield captured
            return
        last = self.mask_decoder.output_upscaling[-1]
        handle = last.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
        try:
            yield captured
        finally:
            handle.remove()
