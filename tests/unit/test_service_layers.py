"""calls/services/ imports run one way: each module imports only from layers below its own
(the layers calls/services/__init__.py lists), so there is no cycle to untangle later."""

import re
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "calls" / "services"
LAYERS = [
    {"locks"},
    {
        "task_queue",
        "call_facts",
        "action_log",
        "erasure",
        "retention",
        "calling_rules",
        "do_not_call",
        "invitations",
    },
    {
        "status",
        "enqueue",
        "pauses",
        "machines",
        "prices",
        "campaign_finishing",
        "caller_numbers",
        "dial_tokens",
    },
    {
        "callbacks",
        "reconcile",
        "placing",
        "operator_actions",
        "campaign_numbers",
        "number_health",
    },
    {"hang_ups", "dispatch", "cleanup"},
]


def layer_of(module: str) -> int:
    for n, layer in enumerate(LAYERS):
        if module in layer:
            return n
    raise AssertionError(f"calls/services/{module}.py is in no layer: add it to __init__.py's")


def test_each_service_module_imports_only_from_layers_below_its_own():
    wrong = []
    for path in sorted(SERVICES.glob("*.py")):
        if path.stem == "__init__":
            continue
        imported = set(
            re.findall(r"^\s*from calls\.services\.(\w+) import", path.read_text(), re.M)
        )
        wrong += [
            f"{path.stem} imports {other}"
            for other in imported
            if layer_of(other) >= layer_of(path.stem)
        ]
    assert wrong == []
