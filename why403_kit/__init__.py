"""why403_kit: say why OpenAI, Azure OpenAI or a gateway refuses a call, with evidence and the fix."""

from typing import TYPE_CHECKING

from ._secret import Secret
from .classify import Diagnosis, classify
from .diagnose import adiagnose, diagnose, support_bundle, write_bundle
from .errors import InputError, StepError, Why403Error
from .lab import Lab
from .model import Finding, Report, Target, Verdict
from .redact import redact

if TYPE_CHECKING:  # type checkers see the function that `triage(path)` calls
    from .triage import triage as triage
else:  # at run time the package itself, which is callable: why403_kit.triage(path) and why403_kit.triage.TriageReport both work
    from . import triage

__all__ = [
    "Diagnosis", "Finding", "InputError", "Lab", "Report", "Secret", "StepError", "Target", "Verdict", "Why403Error",
    "adiagnose", "classify", "diagnose", "redact", "support_bundle", "triage", "write_bundle",
]
