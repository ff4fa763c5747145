"""Synthetic forgeries with exact masks: splice, copy-move, removal, multi-source, plus post-processing; and
whole images re-rendered by an upsampling-artefact simulator (``generated``, label synthetic, no mask)."""

from data_builders.synth.config import KINDS, SynthConfig, SynthConfigError
from data_builders.synth.edits import EditError, Forgery, Source, copy_move, multi_source, removal, splice
from data_builders.synth.generated import generated, simulate
from data_builders.synth.generator import generate, make_sample
from data_builders.synth.postprocess import postprocess
from data_builders.synth.sources import SourceError, SourcePool, list_folder, list_manifest

__all__ = [
    "KINDS",
    "EditError",
    "Forgery",
    "Source",
    "SourceError",
    "SourcePool",
    "SynthConfig",
    "SynthConfigError",
    "copy_move",
    "generate",
    "generated",
    "list_folder",
    "list_manifest",
    "make_sample",
    "multi_source",
    "postprocess",
    "removal",
    "simulate",
    "splice",
]
