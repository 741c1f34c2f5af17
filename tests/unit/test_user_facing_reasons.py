"""Why a choice is unavailable, as the person choosing reads it: the first sentence is in their
words (what is not available, and that operators can change it); the details an operator
needs (backends, podman, catalogue keys) come after, in parentheses addressed to operators."""

from __future__ import annotations

import re

from arcade_hub.config import CatalogueEntry, Kind, KubeBackend
from arcade_hub.kube.availability import KubeAvailability
from arcade_hub.local.availability import LocalAvailability
from arcade_hub.local.podman_apps import choose

OPERATOR_WORDS = re.compile(r"backend|podman|`|local block|catalogue|storage", re.IGNORECASE)


def user_part(reason: str) -> str:
    return reason.split("(for operators:")[0]


def entry(**local: object) -> CatalogueEntry:
    return CatalogueEntry(
        name="casa-6.7", title="CASA 6.7", kind=Kind.desktop_app, image="localhost/casa:6.7",
        **({"local": local} if local else {}),
    )  # fmt: skip


def test_reasons_speak_to_users_first() -> None:
    here = LocalAvailability(path="/nonexistent")
    reasons = [
        here.unavailable_reason(entry()),
        here.unavailable_reason(entry(cmd=["casa"], requires=["casa"])),
        here.no_command_reason(entry()),
        KubeAvailability(KubeBackend(commands={"headless": []})).no_command_reason(entry()),
        choose(entry(), containers=True, podman_reason=None, image_present=False,
               local_reason=None).reason,
        choose(entry(), containers=False, podman_reason=None, image_present=True,
               local_reason=None).reason,
    ]  # fmt: skip
    for reason in reasons:
        assert reason and reason.startswith("CASA 6.7 "), reason
        assert not OPERATOR_WORDS.search(user_part(reason)), reason
    assert "Ask your platform's operators to install it." in str(reasons[1])
