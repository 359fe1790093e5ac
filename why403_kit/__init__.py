"""why403_kit: say why OpenAI, Azure OpenAI or a gateway refuses a call, with evidence and the fix.

The public API is below (``__all__``); the modules behind it are:

- :mod:`.model`      the records: Target, Exchange, Finding, Verdict, Report
- :mod:`.runner`     the one runner (Session, Hooks, diagnose) over :mod:`.probes` (one module per step + registry)
- :mod:`.classify`   one answer -> a Diagnosis, with rules from :mod:`.knowledge` (validated TOML)
- :mod:`.render`     every view: text, Markdown, JSON, HTML, SVG, the support bundle; FORMATS
- :mod:`.triage`     a whole log grouped by cause: readers, signatures, engines (python, DuckDB, Spark)
- :mod:`.lab`        the training lab; :mod:`.ui` the notebooks' widgets; :mod:`.export` the offline pages
- :mod:`.errors`     the whole error tree
"""

from typing import TYPE_CHECKING

from ._logs import install_log_redaction
from ._secret import Secret
from .classify import Diagnosis, classify
from .errors import ExportError, InputError, KnowledgeError, LabError, StepError, Why403Error
from .lab import Lab
from .model import SCHEMA_VERSION, Exchange, Finding, Report, Target, Verdict
from .redact import redact
from .render import render, support_bundle, write_bundle
from .runner import Hooks, Session, adiagnose, diagnose

if TYPE_CHECKING:  # type checkers see the function that `triage(path)` calls
    from .triage import triage as triage
else:  # at run time the package itself, which is callable: why403_kit.triage(path) and why403_kit.triage.TriageReport both work
    from . import triage

__all__ = [
    "SCHEMA_VERSION", "Diagnosis", "Exchange", "ExportError", "Finding", "Hooks", "InputError", "KnowledgeError", "Lab", "LabError",
    "Report", "Secret", "Session", "StepError", "Target", "Verdict", "Why403Error", "adiagnose", "classify", "diagnose", "redact",
    "render", "support_bundle", "triage", "write_bundle",
]

install_log_redaction()  # every log record of the process is masked from here on (see why403_kit._logs)
