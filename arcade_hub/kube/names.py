"""Kubernetes-safe names, label values and path components, without collisions.

Everything goes through `kubespawner.slugs.safe_slug`: a name that is already valid is kept,
anything else (upper case, punctuation, `--`, too long) becomes a readable slug plus a hash of
the original, so `Alice` and `alice` or `a.b` and `a-b` never share a name (GHSA-v7m9-9497-p9gr).
"""

from __future__ import annotations

from kubespawner.slugs import is_valid_label, safe_slug

LABEL_PREFIX = "arcade-hub.org/"
"""Namespace of the labels and annotations Arcade Hub puts on Kubernetes objects."""


def object_name(prefix: str, raw: str) -> str:
    """`<prefix><slug>`: a valid object / volume name (DNS label, at most 63 characters)."""
    return prefix + safe_slug(raw, max_length=63 - len(prefix))


def label_value(raw: str) -> str:
    """A valid label value for `raw` (empty stays empty)."""
    return safe_slug(raw, is_valid=is_valid_label, max_length=63) if raw else ""


def path_component(raw: str) -> str:
    """A single, safe directory name (label rules: `[A-Za-z0-9._-]`, alphanumeric ends)."""
    if not raw:
        raise ValueError("an empty name cannot be a directory")
    return safe_slug(raw, is_valid=is_valid_label, max_length=63)
