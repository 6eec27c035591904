"""A request settles only through CallRequest.objects.status_move, which announces it (the
post-call webhook): no code writes a request's status with a plain UPDATE."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["calls", "leads", "webhooks", "api", "config"]


def chain_names(node) -> list[str]:
    names = []
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        if isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        else:
            node = node.func if isinstance(node, ast.Call) else node.value
    if isinstance(node, ast.Name):
        names.append(node.id)
    return names


def test_no_code_writes_a_request_status_but_status_move():
    wrong = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in ("update", "bulk_update"):
                    continue
                names = chain_names(node.func.value)
                sets_status = any(k.arg == "status" for k in node.keywords)
                if sets_status and ({"CallRequest", "requests"} & set(names)):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert wrong == []
