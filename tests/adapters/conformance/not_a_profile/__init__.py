"""An adapter package whose ``conformance.PROFILE`` is not a ConformanceProfile, for the discovery tests."""

from ..kit_fake import KitFakeAdapter

__all__ = ["KitFakeAdapter"]
