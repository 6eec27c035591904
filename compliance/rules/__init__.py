"""The calling rules by jurisdiction and purpose: the data files beside this module (one per
country, read and checked by `book`) and the one decision every path asks (`decision`)."""

from compliance.rules.book import (
    PURPOSES,
    Rule,
    RuleFileError,
    Source,
    rule_by_id,
    rule_file_problems,
    rulebook,
    rules_all,
)
from compliance.rules.decision import (
    Decision,
    call_decision,
    callee_jurisdictions,
    region_problem,
    validate_region,
)

__all__ = [
    "PURPOSES",
    "Decision",
    "Rule",
    "RuleFileError",
    "Source",
    "call_decision",
    "callee_jurisdictions",
    "region_problem",
    "rule_by_id",
    "rule_file_problems",
    "rulebook",
    "rules_all",
    "validate_region",
]
