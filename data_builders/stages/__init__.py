"""Conversation builders for the three training stages, and importers of public explanation corpora."""

from data_builders.stages.build import build_file, build_records
from data_builders.stages.samples import Skipped, StageSample, load_sample
from data_builders.stages.stage1 import build_stage1
from data_builders.stages.stage2 import build_stage2
from data_builders.stages.stage3 import build_stage3

__all__ = [
    "Skipped",
    "StageSample",
    "build_file",
    "build_records",
    "build_stage1",
    "build_stage2",
    "build_stage3",
    "load_sample",
]
