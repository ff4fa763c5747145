"""Dataset key -> adapter (the keys of ``xforge data build`` and ``--root KEY=PATH``)."""

from __future__ import annotations

import importlib

from data_builders.adapters.base import DatasetAdapter

# key -> "module:Class"; imported on demand so `xforge data build casia2` loads one adapter.
ADAPTERS: dict[str, str] = {
    "casia1": "casia1:Casia1Adapter",
    "casia2": "casia2:Casia2Adapter",
    "columbia": "columbia:ColumbiaAdapter",
    "coverage": "coverage:CoverageAdapter",
    "nist16": "nist16:Nist16Adapter",
    "imd2020": "imd2020:Imd2020Adapter",
    "dso1": "dso1:Dso1Adapter",
    "cocoglide": "cocoglide:CocoGlideAdapter",
    "tampcoco": "tampcoco:TampCocoAdapter",
    "compraise": "compraise:CompRaiseAdapter",
    "fantastic_reality": "fantastic_reality:FantasticRealityAdapter",
    "autosplice": "autosplice:AutoSpliceAdapter",
    "tgif": "tgif:TgifAdapter",
    "safire_ms": "safire_ms:SafireMsAdapter",
    "safire_ms_auto": "safire_ms_auto:SafireMsAutoAdapter",
    "dolos": "dolos:DolosAdapter",
    "miml": "miml:MimlAdapter",
    "korus": "korus:KorusAdapter",
    "comofod": "comofod:ComofodAdapter",
    "grip": "grip:GripAdapter",
    # test sets of TruFor's lists beyond the seed datasets
    "vipp": "vipp:VippAdapter",
    "openforensics": "openforensics:OpenForensicsAdapter",
}


def get_adapter(key: str) -> DatasetAdapter:
    """The adapter for a dataset key; unknown keys raise KeyError listing the known ones."""
    try:
        module, cls = ADAPTERS[key.lower()].split(":")
    except KeyError:
        raise KeyError(f"unknown dataset {key!r}; known: {', '.join(ADAPTERS)}") from None
    return getattr(importlib.import_module(f"data_builders.adapters.{module}"), cls)()
