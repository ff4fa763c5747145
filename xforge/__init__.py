"""xforge: explainable image-forgery detection and localization."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Detector pulls in torch and transformers; import it only when asked for.
    if name == "Detector":
        from xforge.inference import Detector

        return Detector
    raise AttributeError(f"module 'xforge' has no attribute {name!r}")
