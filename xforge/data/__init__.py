"""Sample schema, manifests, image reading and mask decoding."""

from xforge.data.images import ImageReadError, load_image, read_image, read_image_info, read_image_size
from xforge.data.manifest import (
    ManifestError,
    iter_jsonl,
    load_as_dataset,
    parse_roots,
    read_manifest,
    resolve_path,
    root_for,
    write_jsonl,
)
from xforge.data.masks import MaskError, decode_mask, load_record_mask
from xforge.data.schema import LABELS, MANIPULATIONS, MASK_FORMATS, RecordError, SampleRecord

__all__ = [
    "LABELS",
    "MANIPULATIONS",
    "MASK_FORMATS",
    "ImageReadError",
    "ManifestError",
    "MaskError",
    "RecordError",
    "SampleRecord",
    "decode_mask",
    "iter_jsonl",
    "load_as_dataset",
    "load_image",
    "load_record_mask",
    "parse_roots",
    "read_image",
    "read_image_info",
    "read_image_size",
    "read_manifest",
    "resolve_path",
    "root_for",
    "write_jsonl",
]
