"""why403_kit: say why OpenAI, Azure OpenAI or a gateway refuses a call, with evidence and the fix."""

from .classify import Diagnosis, classify
from ._secret import Secret
from .redact import redact

__all__ = ["Diagnosis", "Secret", "classify", "redact"]
