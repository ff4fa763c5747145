"""Sample schema, manifests, image reading and mask decoding."""

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
from xforge.data.schema import LABELS, MANIPULATIONS, MASK_FORMATS, RecordError, SampleRecord

__all__ = [
    "LABELS",
    "MANIPULATIONS",
    "MASK_FORMATS",
    "ManifestError",
    "RecordError",
    "SampleRecord",
    "iter_jsonl",
    "load_as_dataset",
    "parse_roots",
    "read_manifest",
    "resolve_path",
    "root_for",
    "write_jsonl",
]
