"""Every benchmark runs in CI at a smoke size, so a change that breaks one fails CI instead of
leaving bench/README.md quoting figures of code that no longer exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELPERS = {"common", "baseline_wsgi"}


def test_every_benchmark_script_is_run_by_run_all_and_takes_smoke():
    scripts = {path.stem for path in (ROOT / "bench").glob("*.py")} - HELPERS
    run_all = (ROOT / "bench" / "run_all.sh").read_text()
    (listed,) = re.findall(r"^for name in ([\w ]+); do$", run_all, re.MULTILINE)
    assert set(listed.split()) == scripts
    for name in scripts:
        source = (ROOT / "bench" / f"{name}.py").read_text()
        assert '"--smoke"' in source, f"bench/{name}.py has no --smoke size"


def test_ci_runs_them_all_at_the_smoke_size():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bench/run_all.sh --smoke" in ci
