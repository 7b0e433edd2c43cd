"""An adapter package whose ``conformance`` module cannot be imported, for the discovery tests."""

from ..kit_fake import KitFakeAdapter

__all__ = ["KitFakeAdapter"]
