#!/bin/sh
# The monitor's entry point in the image (and in the tests, outside any container).
#   entrypoint.sh [monitor arguments]   default: run --config /etc/monitor/config.yaml
#   entrypoint.sh healthcheck           exit 0 when /healthz answers 200 (Docker HEALTHCHECK)
# Caches that PyTorch, Triton and Hugging Face write go under MONITOR_CACHE_DIR (a volume), never under
# a read-only root; models are read offline (HF_HUB_OFFLINE=1) unless the caller says otherwise.
set -eu

cache="${MONITOR_CACHE_DIR:-/var/cache/monitor}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
export TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-$HF_HUB_OFFLINE}"
export HF_HOME="${HF_HOME:-$cache/huggingface}"
export TRITON_CACHE_DIR="${TRITON_CACHE_DIR:-$cache/triton}"
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-$cache/inductor}"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$cache/xdg}"
export PYTHONUNBUFFERED=1
python="${MONITOR_PYTHON:-python3}"

if [ "${1:-}" = "healthcheck" ]; then
  url="${MONITOR_HEALTH_URL:-http://127.0.0.1:9108/healthz}"
  exec "$python" -c 'import sys, urllib.request
try:
    sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=5).status == 200 else 1)
except Exception as exc:
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)' "$url"
fi

for dir in "$HF_HOME" "$TRITON_CACHE_DIR" "$TORCHINDUCTOR_CACHE_DIR" "$XDG_CACHE_HOME"; do
  if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
    echo "entrypoint: cache folder $dir is not writable: mount a volume at $cache (or set MONITOR_CACHE_DIR)" >&2
    exit 2
  fi
done

if [ "$#" -eq 0 ]; then
  set -- run --config /etc/monitor/config.yaml
fi
exec "$python" -m monitor "$@"
