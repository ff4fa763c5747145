"""Answer generation: one verdict, a mask for every ``<SEG>``, and where-sentences written from the masks.

How an answer is made (``generate_answers``, batched; ``XForgePredictor.generate`` is a batch of one):

1. The language model answers freely (greedy by default). The prompt's last hidden state, with the probe
   mask's statistics when the model has them, gives the detection score P(not authentic) and, with a
   synthetic head, P(generated as a whole | not authentic). The *decision*: authentic when
   ``score < 0.5``, else synthetic when the second probability is ``>= 0.5``, else tampered.
2. The decision is the verdict. When the free answer contradicts it (states the other verdict, emits
   ``<SEG>`` for an authentic decision, or, on the first answer about the image, states no verdict or
   gives no ``<SEG>`` for a tampered one)
   the answer is restarted from the canonical verdict sentence of ``xforge.location.VERDICT_SENTENCES``
   (followed by ``<SEG>`` when a mask is required) and generated on from there; an authentic or synthetic
   decision bans ``<SEG>`` (a generated image has no edited region). ``GenerationOutput.forced`` says so.
3. At each ``<SEG>`` the mask decoder runs on its hidden state. A ``<SEG>`` that opens a sentence announces
   the mask, as in the training answers (``data_builders.explain``): the sentence after it is written from
   the decoded mask (``xforge.location.where_sentence``) and generation continues after it. So the location
   words of a detection answer always describe the mask that comes with it.
4. A tampered answer always has a region: if no pixel of a decoded mask reaches 0.5, the map is divided by
   its peak (the model's most likely region, at low confidence) and ``low_confidence_mask`` is set.

An authentic or synthetic answer ends before its first sentence that names a place (the text never points
at a region that has no mask). The first answer about an image (no assistant turn yet) must state the
verdict, and a tampered one must come with its mask (``require_mask``). Follow-ups ("why?", "how sure?")
may answer without either. Each round of generation re-reads the prompt (no key-value cache across rounds): one extra prefill per
``<SEG>``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from xforge.location import VERDICT_SENTENCES, parse_location, verdict_from_text, where_sentence

if TYPE_CHECKING:
    from xforge.model.modeling import XForgeModel
    from xforge.model.predictor import ImageFeatures

DECISION_THRESHOLD = 0.5
MASK_THRESHOLD = 0.5
_MAX_ROUNDS = 8  # rounds of generation per answer: the first, then one after each <SEG>


@dataclass
class GenerationOutput:
    """``text``: the decoded answer with ``<SEG>`` kept (other special tokens stripped);
    ``masks``: one float32 HxW array in ``[0, 1]`` at the image's size per ``<SEG>``, in order;
    ``score``: probability that the image is not authentic; ``synthetic_score``: probability that it was
    generated as a whole, given that it is not authentic (0 without a synthetic head); ``verdict``: the
    decision (module docstring, item 1): what the text states and what the masks show.
    ``forced``: the free answer contradicted the score and was restarted from the verdict sentence;
    ``low_confidence_mask``: a mask was rescaled by its peak (see the module docstring)."""

    text: str
    masks: list[np.ndarray]
    score: float
    verdict: str = "authentic"
    synthetic_score: float = 0.0
    forced: bool = False
    low_confidence_mask: bool = False
    token_ids: list[int] = field(default_factory=list)

    @property
    def scores(self) -> dict[str, float]:
        """The three class probabilities: authentic, tampered, synthetic."""
        return class_probabilities(self.score, self.synthetic_score)


def class_probabilities(score: float, synthetic_score: float) -> dict[str, float]:
    """P(authentic), P(tampered), P(synthetic) from P(not authentic) and P(generated | not authentic)."""
    return {
        "authentic": 1.0 - score,
        "tampered": score * (1.0 - synthetic_score),
        "synthetic": score * synthetic_score,
    }


def decide(score: float, synthetic_score: float) -> str:
    """The verdict of a score pair (module docstring, item 1)."""
    if score < DECISION_THRESHOLD:
        return "authentic"
    return "synthetic" if synthetic_score >= DECISION_THRESHOLD else "tampered"


@dataclass
class _Row:
    conversation: Sequence[Mapping[str, Any]]
    features: ImageFeatures
    require_mask: bool
    answer: str = ""
    token_ids: list[int] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)
    score: float = 0.0
    synthetic_score: float = 0.0
    forced: bool = False
    low_confidence: bool = False
    open: bool = True  # more text to generate
    pending_seg: torch.Tensor | None = None  # hidden state of a <SEG> whose mask is not decoded yet
    final_seg: bool = False  # the answer ends on a <SEG> whose hidden state is still to be computed

    @property
    def decision(self) -> str:
        return decide(self.score, self.synthetic_score)


@dataclass
class _Piece:
    text: str
    token_ids: list[int]
    ended: bool  # end of turn or token budget
    seg_hidden: torch.Tensor | None  # set when the piece stopped right after a <SEG>
    seg_last: bool = False  # the piece ends on a <SEG> whose hidden state was never computed


class _BanTokenInRows(LogitsProcessor):
    """Forbid one token in the rows of a batch marked True."""

    def __init__(self, token_id: int, rows: torch.Tensor):
        self.token_id = token_id
        self.rows = rows

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores[self.rows.to(scores.device), self.token_id] = float("-inf")
        return scores


class _StopAfterToken(StoppingCriteria):
    """Stop a row once ``token_id`` was generated and fed back (its hidden state then exists)."""

    def __init__(self, token_id: int, prompt_len: int):
        self.token_id = token_id
        self.prompt_len = prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        if input_ids.shape[1] < self.prompt_len + 2:
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return input_ids[:, -2] == self.token_id


def generate_answers(
    model: XForgeModel,
    processor,
    conversations: Sequence[Sequence[Mapping[str, Any]]],
    features: Sequence[ImageFeatures],
    *,
    max_new_tokens: int = 128,
    require_mask: bool | None = None,
    **generate_kwargs: Any,
) -> list[GenerationOutput]:
    """Answer the last user turn of each conversation about its image (see the module docstring).

    ``require_mask``: whether the answer must state the verdict and bring a mask when tampered; ``None``
    means "on the first answer about the image". ``generate_kwargs`` go to transformers' ``generate`` (greedy by default).
    """
    if len(conversations) != len(features):
        raise ValueError(f"{len(conversations)} conversations but {len(features)} image features")
    rows = []
    for conversation, feats in zip(conversations, features):
        first = not any(m.get("role") == "assistant" for m in conversation)
        rows.append(_Row(conversation, feats, first if require_mask is None else require_mask))
    generate_kwargs.setdefault("do_sample", False)
    seg_id = model.config.seg_token_id

    pieces, scores = _generate_round(model, processor, rows, max_new_tokens, generate_kwargs, score=True)
    restarted = []
    for row, piece, (score, synthetic) in zip(rows, pieces, scores):
        row.score, row.synthetic_score = score, synthetic
        if _agrees(piece, row, seg_id):
            _append(row, piece, max_new_tokens)
        else:
            row.forced = True
            row.answer = VERDICT_SENTENCES[row.decision]
            if row.decision == "tampered" and row.require_mask:
                row.answer += f" {model.config.seg_token}"
                restarted.append(row)
    for row in restarted:
        row.final_seg = True

    for _ in range(_MAX_ROUNDS):
        _prefill_final_segs(model, processor, rows)
        for row in rows:
            if row.pending_seg is not None:
                _decode_pending(model, row)
        active = [r for r in rows if r.open]
        if not active:
            break
        budget = max_new_tokens - min(len(r.token_ids) for r in active)
        pieces, _ = _generate_round(model, processor, active, max(budget, 1), generate_kwargs)
        for row, piece in zip(active, pieces):
            _append(row, piece, max_new_tokens)
    for row in rows:
        row.pending_seg = None
        if row.decision != "tampered":
            row.answer = _without_places(row.answer) or VERDICT_SENTENCES[row.decision]
    return [
        GenerationOutput(
            text=row.answer.strip(),
            masks=row.masks,
            score=row.score,
            verdict=row.decision,
            synthetic_score=row.synthetic_score,
            forced=row.forced,
            low_confidence_mask=row.low_confidence,
            token_ids=row.token_ids,
        )
        for row in rows
    ]


def _without_places(text: str) -> str:
    """The answer up to its first sentence that names a place: an authentic or generated image has no edited
    region, so no sentence about it may point at one (the language model may wander after a restart)."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    kept = []
    for sentence in sentences:
        if parse_location(sentence):
            break
        kept.append(sentence)
    return " ".join(kept)


def _agrees(piece: _Piece, row: _Row, seg_id: int) -> bool:
    """Whether a free first piece of an answer fits the decision (module docstring, item 2)."""
    stated = verdict_from_text(piece.text.replace("<SEG>", " "))
    has_seg = seg_id in piece.token_ids
    if stated != row.decision and (stated is not None or row.require_mask):
        return False
    if row.decision != "tampered":
        return not has_seg
    return has_seg or not row.require_mask


def _append(row: _Row, piece: _Piece, max_new_tokens: int) -> None:
    row.answer += piece.text
    row.token_ids += piece.token_ids
    row.pending_seg = piece.seg_hidden
    row.final_seg = piece.seg_last
    row.open = not piece.ended and len(row.token_ids) < max_new_tokens


def _decode_pending(model: XForgeModel, row: _Row) -> None:
    """Decode the mask of the row's pending ``<SEG>``; write its where-sentence when the ``<SEG>`` opens one."""
    feats = row.features
    index = torch.zeros(1, dtype=torch.long, device=model.device)
    low_res = model._decode_masks(feats.sam_embedding, feats.sam_high_res, index, row.pending_seg[None])
    prob = F.interpolate(low_res, size=feats.size, mode="bilinear", align_corners=False)[0, 0]
    prob = prob.sigmoid().float().cpu().numpy()
    row.pending_seg = None
    if row.decision == "tampered" and not (prob >= MASK_THRESHOLD).any():
        peak = float(prob.max())
        prob = prob / peak if peak > 0 else np.ones_like(prob)
        row.low_confidence = True
    row.masks.append(prob)
    before = row.answer.rsplit("<SEG>", 1)[0].rstrip()
    if not before or before[-1] in ".!?:":
        sentence = where_sentence(prob >= MASK_THRESHOLD)
        if sentence:
            row.answer += " " + sentence


def _batch_inputs(model: XForgeModel, processor, rows: Sequence[_Row]):
    """Left-padded backbone inputs for the rows' prompts (conversation + answer so far) and their vision
    outputs in image order, so the vision tower does not run again."""
    texts = [processor.render(r.conversation, add_generation_prompt=True) + r.answer for r in rows]
    inputs = processor.hf_processor(
        text=texts,
        images=[r.features.image for r in rows],
        padding=True,
        padding_side="left",
        return_tensors="pt",
    ).to(model.device)
    for key in inspect.signature(model.image_feature_fn()).parameters:
        if key.startswith("pixel_values"):
            inputs.pop(key, None)
    first = rows[0].features.vision
    vision = type(first)(pooler_output=tuple(e for r in rows for e in r.features.vision.pooler_output))
    return inputs, {"image": vision}


def _prefill_final_segs(model: XForgeModel, processor, rows: Sequence[_Row]) -> None:
    """Hidden states of ``<SEG>`` tokens that end an answer so far (forced, or at the token budget)."""
    waiting = [r for r in rows if r.final_seg]
    if waiting:
        for row, hidden in zip(waiting, _prefill_last_hidden(model, processor, waiting)):
            row.pending_seg, row.final_seg = hidden, False


def _prefill_last_hidden(model: XForgeModel, processor, rows: Sequence[_Row]) -> list[torch.Tensor]:
    """Last-layer hidden state of each row's last prompt token (a forced ``<SEG>``)."""
    inputs, mm = _batch_inputs(model, processor, rows)
    out = model.hf_model(**inputs, mm_encoder_outputs=mm, output_hidden_states=True, return_dict=True)
    return list(out.hidden_states[-1][:, -1])


def _generate_round(
    model: XForgeModel,
    processor,
    rows: Sequence[_Row],
    max_new_tokens: int,
    generate_kwargs: dict[str, Any],
    *,
    score: bool = False,
) -> tuple[list[_Piece], list[tuple[float, float]]]:
    """One batched ``generate`` over the rows, each stopping at its end of turn or right after a ``<SEG>``.

    With ``score``, also the detection score of each row from its prompt's last hidden state.
    """
    seg_id = model.config.seg_token_id
    inputs, mm = _batch_inputs(model, processor, rows)
    prompt_len = inputs["input_ids"].shape[1]
    ban = torch.tensor([r.decision != "tampered" and not score for r in rows])
    gen = model.hf_model.generate(
        **inputs,
        mm_encoder_outputs=mm,
        max_new_tokens=max_new_tokens,
        output_hidden_states=True,
        return_dict_in_generate=True,
        logits_processor=LogitsProcessorList([_BanTokenInRows(seg_id, ban)]),
        stopping_criteria=StoppingCriteriaList([_StopAfterToken(seg_id, prompt_len)]),
        **generate_kwargs,
    )
    scores: list[tuple[float, float]] = []
    if score:
        # Left padding puts every prompt's last token at the last prompt position.
        hidden = gen.hidden_states[0][-1][:, -1]
        embedding = torch.cat([r.features.sam_embedding for r in rows])
        high_res = [torch.cat(level) for level in zip(*(r.features.sam_high_res for r in rows))]
        index = torch.arange(len(rows), device=embedding.device)
        logits, synthetic, _ = model.detection_logits(hidden, embedding, high_res, index)
        synthetic = torch.sigmoid(synthetic) if synthetic is not None else torch.zeros_like(logits)
        scores = list(zip(torch.sigmoid(logits).tolist(), synthetic.tolist()))
    eos = model.hf_model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    pieces = []
    for b in range(len(rows)):
        tokens = gen.sequences[b, prompt_len:].tolist()
        stop = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
        seg_at = next((i for i, t in enumerate(tokens) if t == seg_id and i + 1 < len(tokens)), None)
        if seg_at is not None and (stop is None or seg_at < stop):
            kept = tokens[: seg_at + 1]
            hidden = gen.hidden_states[seg_at + 1][-1][b, -1]
            pieces.append(_Piece(_decode(processor, kept), kept, ended=False, seg_hidden=hidden))
        else:
            kept = tokens if stop is None else tokens[:stop]
            # The token budget can end on a <SEG>: its mask still comes (hidden state by one more prefill).
            last = bool(kept) and kept[-1] == seg_id
            pieces.append(_Piece(_decode(processor, kept), kept, ended=True, seg_hidden=None, seg_last=last))
    return pieces, scores


def _decode(processor, tokens: list[int]) -> str:
    return processor.tokenizer.decode(tokens, skip_special_tokens=True)
