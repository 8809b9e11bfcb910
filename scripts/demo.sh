#!/usr/bin/env bash
# Interim main job until `chase demo` exists: build pools from the shared samples (or a tiny
# generated file when ../shared/data is absent) and describe them.
set -euo pipefail
out=demo-run
mkdir -p "$out"
data=../shared/data
if [ -f "$data/alpaca_random_9k.json" ]; then
  .venv/bin/chase pool build alpaca "$data/alpaca_random_9k.json" --out "$out/alpaca.parquet" --on-error skip
  .venv/bin/chase pool build dolly "$data/dolly_rated_3k.json" --out "$out/dolly.parquet" --on-error skip
  .venv/bin/chase pool merge "$out/alpaca.parquet" "$out/dolly.parquet" --out "$out/mixed.parquet" --limit 2000 --seed 0
  .venv/bin/chase pool info "$out/mixed.parquet"
else
  echo "../shared/data not found; nothing to demo yet"
fi
