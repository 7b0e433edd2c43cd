"""The audit log: who asked what about whom, when, and the outcome; its keys, and the verifier of its chain."""

from __future__ import annotations

from ._keys import checkpoint_message, key_id, load_private_key, load_public_key, new_keys, subject_hash
from ._log import Auditor, build_auditor
from ._verify import ChainVerifier, add_audit_parser, audit_command, verify_store

__all__ = [
    "Auditor",
    "ChainVerifier",
    "add_audit_parser",
    "audit_command",
    "build_auditor",
    "checkpoint_message",
    "key_id",
    "load_private_key",
    "load_public_key",
    "new_keys",
    "subject_hash",
    "verify_store",
]
