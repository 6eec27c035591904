#!/bin/sh
# Runs the four benchmarks one after another (never in parallel: they share two cores) and keeps
# each one's output in /tmp/bench-logs/<name>.out. Exit status: the number of scripts that failed.
cd "$(dirname "$0")/.." || exit 1
mkdir -p /tmp/bench-logs
failed=0
for name in queue_drain webhooks growth memory; do
    echo "== $name" >&2
    .venv/bin/python "bench/$name.py" >"/tmp/bench-logs/$name.out" 2>&1 || failed=$((failed + 1))
    tail -n 40 "/tmp/bench-logs/$name.out"
done
exit "$failed"
