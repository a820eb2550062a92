"""The material gate (QMS-10): the movements (``Movement``), the rule table of which status
lets which movement pass (``rules.py``), the gate every path asks before it moves material
(``MaterialGate.check`` / ``refusals``, as ``Services.gate``), and QA's holds on material with
what recalls place and close (``HoldService``, as ``Services.holds``). ``docs/GATES.md``."""

from trace_core.gates.rules import MaterialRefused, Movement, Refusal

__all__ = ["MaterialRefused", "Movement", "Refusal"]
