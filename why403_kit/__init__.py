"""why403_kit: say why OpenAI, Azure OpenAI or a gateway refuses a call, with evidence and the fix."""

from ._logs import install_log_redaction
from ._secret import Secret
from .classify import Diagnosis, classify
from .diagnose import adiagnose, diagnose, support_bundle, write_bundle
from .errors import InputError, StepError, Why403Error
from .lab import Lab
from .model import Finding, Report, Target, Verdict
from .redact import redact
from .triage import triage

__all__ = [
    "Diagnosis", "Finding", "InputError", "Lab", "Report", "Secret", "StepError", "Target", "Verdict", "Why403Error",
    "adiagnose", "classify", "diagnose", "redact", "support_bundle", "triage", "write_bundle",
]

install_log_redaction()  # every log record of the process is masked from here on (see why403_kit._logs)
