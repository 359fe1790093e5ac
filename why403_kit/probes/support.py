"""Step 6, support bundle: what the provider's support needs, gathered as the other steps ran.

The step itself only says what the bundle will hold; writing the bundle (JSON and Markdown) is a view of the
finished report, in :mod:`why403_kit.render.bundle`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Exchange, Finding
from ._step import StepContext, StepSpec


def support_checks(exchanges: Iterable[Exchange]) -> list[Finding]:
    """What the bundle will hold, as a finding: how many exchanges and which request ids support can look up."""
    recorded = list(exchanges)
    ids = sorted({e.request_id for e in recorded} - {""})
    return [Finding("support", "bundle", "pass", "", f"{len(recorded)} exchanges recorded; request ids: {', '.join(ids) or 'none'}")]


async def run(ctx: StepContext) -> list[Finding]:
    return support_checks(ctx.read_exchanges())


STEP = StepSpec("support", run, reads=("credentials", "permissions"))
