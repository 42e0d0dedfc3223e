#!/usr/bin/env bash
# Two rows of the hostile-input table that need a model: a resume from a truncated checkpoint (the tiny
# random model of the tests, trained through the CLI and interrupted after its first checkpoint) and two
# first uses at once on a fresh cache (the default model converted once, the demo built once).
# Usage: bash benchmarks/first_use_rows.sh SCRATCH_DIR    (prints each row: exit, wall, peak RSS, the lines)
set -u
scratch=${1:?scratch folder}
mkdir -p "$scratch"
row() { # label, then the command; prints exit code, wall seconds, peak RSS and the stderr lines
  local label=$1; shift
  local err="$scratch/err-$(echo "$label" | tr -c 'a-zA-Z0-9' '_')"
  /usr/bin/time -f "TIME %e s %M KB" "$@" >"$err.out" 2>"$err"; local code=$?
  echo "== $label: exit $code, $(grep '^TIME' "$err" | cut -c6-)"
  grep -v '^TIME\|^Command exited' "$err" | head -5
  head -c 300 "$err.out"; echo
}
python - "$scratch/tiny" <<'PY'
import sys
from pathlib import Path
from finsql.lm.testing import build_tiny_model
build_tiny_model(Path(sys.argv[1]))
PY
cat >"$scratch/pairs.jsonl" <<'J'
{"question": "How many funds are there?", "sql": "SELECT count(*) FROM fund"}
{"question": "How many bonds are there?", "sql": "SELECT count(*) FROM bond"}
{"question": "How many stocks are there?", "sql": "SELECT count(*) FROM stock"}
{"question": "List the fund names.", "sql": "SELECT fund_name FROM fund"}
{"question": "List the bond names.", "sql": "SELECT bond_name FROM bond"}
{"question": "What is the average coupon rate?", "sql": "SELECT avg(coupon_rate) FROM bond"}
J
export FINSQL_CACHE_DIR="$scratch/cache-train"
train=(finsql train --data "$scratch/pairs.jsonl" --model "$scratch/tiny" --name damaged --steps 400 --eval-steps 2
       --batch-size 2 --val-split 0.34 --val-ex 0 --synth 0 --threads 1)
"${train[@]}" >/dev/null 2>&1 &
pid=$!
until compgen -G "$FINSQL_CACHE_DIR/runs/damaged/checkpoint-*" >/dev/null || ! kill -0 $pid 2>/dev/null; do
  sleep 0.05
done
sleep 1; kill -KILL $pid; wait $pid  # a crash (an async job ignores SIGINT)
last=$(ls -d "$FINSQL_CACHE_DIR"/runs/damaged/checkpoint-* | sort -t- -k2 -n | tail -1)
file=$(ls "$last"/*.safetensors | head -1)
head -c 20 "$file" >"$file.cut" && mv "$file.cut" "$file"
echo "truncated $file"
row "train --resume after its last checkpoint was truncated" "${train[@]}" --resume
export FINSQL_CACHE_DIR="$scratch/cache-fresh"
start=$(date +%s.%N)
question="How many funds are there of each fund type?"  # the README's
row "first ask, process A" finsql ask "$question" --format json &
sleep 2
row "first ask, process B (started 2 s later)" finsql ask "$question" --format json &
wait
echo "both done in $(echo "$(date +%s.%N) - $start" | bc) s"
