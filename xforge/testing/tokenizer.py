"""A small byte-level BPE tokenizer trained in-process, with a family's special tokens and chat template.

Tiny test models need a real fast tokenizer (offsets, added tokens, chat templates) but no download: a
byte-level BPE can encode any text, and a few hundred merges learned from the corpus below keep sequences
short.
"""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from xforge.location import CELL_NAMES

_CORPUS = """
You are a helpful assistant. Is this image edited? Where? Is the image authentic or tampered?
Yes. The image has been edited. No. The image looks authentic and unedited; no manipulation was found.
The region in the upper left, top centre, upper right, centre left, centre, centre right, lower left,
bottom centre and lower right was spliced, copied, moved, removed or inpainted. A small, tiny, medium-sized,
large or very large compact, elongated or irregular region shows inconsistent noise, blur, lighting,
shadows, JPEG compression, resampling and colour. The edges of the pasted object are too sharp.
Describe the manipulation and explain why. Segment the forged area. The mask covers the edited pixels.
Copy-move duplicates a region of the same picture. Splicing pastes content from another photograph.
Inpainting fills the removed object with synthesised texture. The answer is grounded in the mask.
"""


def corpus() -> list[str]:
    lines = [line.strip() for line in _CORPUS.strip().splitlines()]
    return lines + list(CELL_NAMES.values())


def build_bpe_tokenizer(
    special_tokens: list[str],
    *,
    chat_template: str,
    vocab_size: int = 512,
    bos_token: str | None = None,
    eos_token: str,
    pad_token: str,
    unk_token: str | None = None,
    add_bos: bool = False,
    extra: dict[str, str] | None = None,
    texts: list[str] | None = None,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on the built-in corpus (plus ``texts``); ``special_tokens`` get the first ids."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus() + list(texts or []), trainer)
    if add_bos and bos_token is not None:
        # Llama-style: every encoded sequence starts with BOS.
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos_token} $A",
            pair=f"{bos_token} $A {bos_token} $B",
            special_tokens=[(bos_token, tok.token_to_id(bos_token))],
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos_token,
        eos_token=eos_token,
        pad_token=pad_token,
        unk_token=unk_token,
        **(extra or {}),
    )
    tokenizer.chat_template = chat_template
    return tokenizer
