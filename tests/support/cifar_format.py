"""Archives in the real CIFAR-100 format (input_pipeline.cifar_format), and a tampered payload for reader tests."""
from input_pipeline.cifar_format import cifar_batch, cifar_meta, write_archive

__all__ = ["CallsFunction", "cifar_batch", "cifar_meta", "write_archive"]


class CallsFunction:
    """Pickles into a payload that calls os.system on load: what a tampered archive might hold."""

    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))
