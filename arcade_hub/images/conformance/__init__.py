"""The container conformance suite behind `arcade-hub image check`."""

from arcade_hub.images.conformance.results import CheckResult, Report, Status

__all__ = ["CheckResult", "Report", "Status"]
