"""SafireMS-Auto (Kwon et al., SAFIRE, AAAI 2025): automatically generated forgeries for pretraining.

Expected layout (as SAFIRE's lists ``ForensicsEval/data/img_lists/SafireMSAuto_{sp,cm,rm,gn}_*.txt`` name
it; the Kaggle downloads "safire-safirems-auto-{splicing,copymove,removal-part-12,removal-part-22,
generative-reconstruction}" each hold one of the four folders)::

    <root>/sp/splicing_post_processing_{a}_{b}_imgs/<i>_<x>.png   spliced; the mask in ..._{a}_{b}_masks/
                                                                  shares only the 6-digit index <i>:
                                                                  000000_9_....png.png <-> 000000_202_....png.png
    <root>/cm/copy-move_post_processing_{a}_{b}_imgs/<name>       copy-move; ..._masks/<name> (same name)
    <root>/rm/inpainting[_pp]/<nnn>/<name>                        removal; inpainting[_pp]_mask/<nnn>/<name>
    <root>/gn/inpainting[_pp]_sd/<nnn>/<s>_<name>                 Stable-Diffusion regeneration;
                                                                  inpainting[_pp]_sd_mask/<nnn>/<name>

Masks are binary with any non-zero value forged (``nonzero_forged``, as SAFIRE's loader reads them), not
the grey-level sources of SafireMS-Expert. Splits follow SAFIRE's lists: the images its ``*_valid.txt`` and
``*_test.txt`` name (packaged in ``data_builders/adapters/safire_lists/``) are valid and test, every other
image is train -- for sp and cm, SAFIRE's ``*_train.txt`` is exactly its ``*_list.txt`` minus those two
(checked); the rm and gn train lists were not available to check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from importlib import resources

from data_builders.adapters.base import DatasetAdapter, FileIndex
from data_builders.probe import Candidate, Skip

_POST = re.compile(r"(splicing|copy-move)(_post_processing_\d+_\d+)_imgs", re.IGNORECASE)
_RM = re.compile(r"inpainting(_pp)?", re.IGNORECASE)
_GN = re.compile(r"inpainting(_pp)?_sd", re.IGNORECASE)
_INDEX = re.compile(r"(\d{6})_")
SUBSETS = {"sp": ["splice"], "cm": ["copy-move"], "rm": ["removal"], "gn": ["inpainting", "ai-edit"]}


def list_lines(file: str) -> list[str]:
    """Non-empty lines of one of SAFIRE's packaged lists, e.g. ``SafireMSAuto_sp_test.txt``."""
    text = resources.files("data_builders.adapters.safire_lists").joinpath(file).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


@functools.cache
def listed_splits() -> dict[str, str]:
    """Image path (from the subset's image folder on, e.g. ``inpainting/000/x.png``) -> valid | test."""
    out: dict[str, str] = {}
    for subset in SUBSETS:
        for split in ("valid", "test"):
            for line in list_lines(f"SafireMSAuto_{subset}_{split}.txt"):
                image = line.split(",")[0]
                out[image.partition("/")[2]] = split  # drop the leading sp/ cm/ rm/ gn/
    return out


def _key(folders: list[str], base: str, depth: int) -> str:
    return "/".join([*folders[len(folders) - depth :], base])


class SafireMsAutoAdapter(DatasetAdapter):
    key = "safire_ms_auto"
    title = "SafireMS-Auto"
    default_split = "train"
    mask_format = "nonzero_forged"

    def _pair(self, files: FileIndex, image: str, sp_masks: dict) -> tuple[str, str | list[str], str] | None:
        """(subset, mask path or the paths tried, split key) of an image, or None if it is not one."""
        *folders, base = image.split("/")
        if not folders:
            return None
        post = _POST.fullmatch(folders[-1])
        if post:
            mask_dir = "/".join([*folders[:-1], f"{post.group(1)}{post.group(2)}_masks"])
            if post.group(1).lower() == "copy-move":
                mask = f"{mask_dir}/{base}"
                return "cm", mask if mask in files else [mask], _key(folders, base, 1)
            index = _INDEX.match(base)
            mask = sp_masks.get((mask_dir, index.group(1))) if index else None
            tried = [f"{mask_dir}/{index.group(1) if index else '<6-digit index>'}_*"]
            return "sp", mask or tried, _key(folders, base, 1)
        if len(folders) < 2:
            return None
        if _GN.fullmatch(folders[-2]):
            stripped = base.partition("_")[2]  # "<s>_<name>": the mask drops the strength prefix
            mask = "/".join([*folders[:-2], f"{folders[-2]}_mask", folders[-1], stripped])
            return "gn", mask if mask in files else [mask], _key(folders, base, 2)
        if _RM.fullmatch(folders[-2]):
            mask = "/".join([*folders[:-2], f"{folders[-2]}_mask", folders[-1], base])
            return "rm", mask if mask in files else [mask], _key(folders, base, 2)
        return None

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        # sp masks share only the leading index with their image: index them by (folder, index).
        sp_masks: dict[tuple[str, str], str] = {}
        for path in files.images():
            folder, _, base = path.rpartition("/")
            if folder.lower().endswith("_masks") and "splicing_post_processing" in folder.lower():
                index = _INDEX.match(base)
                if index:
                    sp_masks.setdefault((folder, index.group(1)), path)
        splits = listed_splits()
        for image in files.images():
            found = self._pair(files, image, sp_masks)
            if found is None:
                continue
            subset, mask, key = found
            if isinstance(mask, list):
                yield Skip(image, f"no ground-truth mask found (looked for {', '.join(mask)})")
                continue
            cand = self.tampered(image, mask)
            cand.manipulation = list(SUBSETS[subset])
            cand.split = splits.get(key, "train")
            cand.meta = {"subset": subset}
            yield cand
