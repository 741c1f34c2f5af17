"""Check results, the pass/fail table and the JSON report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    passed = "pass"
    failed = "fail"
    skipped = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str = ""

    @classmethod
    def ok(cls, name: str, detail: str = "") -> CheckResult:
        return cls(name, Status.passed, detail)

    @classmethod
    def fail(cls, name: str, detail: str) -> CheckResult:
        return cls(name, Status.failed, detail)

    @classmethod
    def skip(cls, name: str, detail: str) -> CheckResult:
        return cls(name, Status.skipped, detail)

    @classmethod
    def expect(cls, name: str, passed: bool, ok: str, fail: str) -> CheckResult:
        return cls.ok(name, ok) if passed else cls.fail(name, fail)


@dataclass
class Report:
    image: str
    pinned: str | None = None
    kind: str | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.status != Status.failed for r in self.results)

    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == Status.failed]

    def result(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "pinned": self.pinned,
            "kind": self.kind,
            "ok": self.ok,
            "checks": [{**asdict(r), "status": r.status.value} for r in self.results],
        }

    def table(self) -> str:
        width = max([len(r.name) for r in self.results] + [5])
        lines = [f"{self.image}" + (f"\n  = {self.pinned}" if self.pinned else "")]
        lines.append(f"{'CHECK':<{width}}  RESULT  DETAIL")
        for r in self.results:
            lines.append(f"{r.name:<{width}}  {r.status.value.upper():<6}  {r.detail}")
        verdict = "PASSED" if self.ok else f"FAILED ({len(self.failed())} checks)"
        lines.append(f"{verdict}")
        return "\n".join(lines)
