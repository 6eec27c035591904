#!/bin/sh
# Runs every benchmark one after another (never in parallel: they share two cores) and keeps
# each one's output in $BENCH_LOG_DIR/<name>.out (/tmp/bench-logs). Arguments go to every script:
# `bench/run_all.sh --smoke` runs each at a tiny size, as CI does (.ci/run). Exit status: the
# number of scripts that failed.
cd "$(dirname "$0")/.." || exit 1
logs="${BENCH_LOG_DIR:-/tmp/bench-logs}"
mkdir -p "$logs"
failed=0
for name in queue_drain slow_receiver webhooks growth memory consent caller_numbers scale_out; do
    echo "== $name $*" >&2
    started=$(date +%s)
    if ! .venv/bin/python "bench/$name.py" "$@" >"$logs/$name.out" 2>&1; then
        failed=$((failed + 1))
        echo "== $name FAILED" >&2
    fi
    tail -n 40 "$logs/$name.out"
    echo "== $name: $(($(date +%s) - started)) s" >&2
done
exit "$failed"
