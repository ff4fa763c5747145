"""What differs between the supported backbone families, in one table.

Every family loads through ``AutoModelForImageTextToText`` / ``AutoProcessor``; the rest of xforge reads a
:class:`FamilySpec` instead of branching on the family name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# LoRA goes on the language model's projections only: the vision tower (and SAM2) are never adapted by
# default. The module names are those of transformers >= 5 (``model.language_model.layers.N...``).
_LM_PROJECTIONS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


@dataclass(frozen=True)
class FamilySpec:
    """Per-family facts.

    ``model_types``: ``config.model_type`` values of the family (to recognise a checkpoint);
    ``vision_tower``: attribute path of the vision encoder inside the transformers model;
    ``lora_target_modules``: default peft ``target_modules`` regex;
    ``image_processor_kwargs``: image-size limits applied when building a processor for real use (keeps
    the number of vision tokens bounded on large forensic images).
    """

    name: str
    model_types: tuple[str, ...]
    default_base_model: str
    vision_tower: str
    lora_target_modules: str = _LM_PROJECTIONS
    image_processor_kwargs: dict[str, Any] = field(default_factory=dict)


def _qwen_family(name: str, default_base_model: str) -> FamilySpec:
    """Qwen2-VL and Qwen2.5-VL differ only in name and weights, as far as xforge is concerned."""
    return FamilySpec(
        name=name,
        model_types=(name,),
        default_base_model=default_base_model,
        vision_tower="model.visual",
        # Qwen's processor resizes to multiples of 28 px; 1024 merged tokens max (Qwen's own guidance).
        image_processor_kwargs={"min_pixels": 256 * 28 * 28, "max_pixels": 1024 * 28 * 28},
    )


FAMILIES: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        _qwen_family("qwen2_5_vl", "Qwen/Qwen2.5-VL-3B-Instruct"),
        _qwen_family("qwen2_vl", "Qwen/Qwen2-VL-2B-Instruct"),
        FamilySpec(
            name="llava",
            model_types=("llava",),
            default_base_model="llava-hf/llava-1.5-7b-hf",
            vision_tower="model.vision_tower",
        ),
    )
}


def get_family(name: str) -> FamilySpec:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown backbone family {name!r}; supported: {', '.join(FAMILIES)}") from None


def family_for_model_type(model_type: str) -> FamilySpec:
    """The family whose transformers ``model_type`` is ``model_type``."""
    for spec in FAMILIES.values():
        if model_type in spec.model_types:
            return spec
    raise ValueError(
        f"backbone model_type {model_type!r} is not supported; supported families: {', '.join(FAMILIES)}"
    )


def get_submodule(module: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module
