#!/usr/bin/env bash
# `make run`: the whole stack on one machine — model service, gateway, UI — on the embedded
# defaults (SQLite under state/, the bundled model). Ctrl-C stops every part.
set -uo pipefail
cd "$(dirname "$0")/.."

: "${MODEL_SERVICE_PORT:=3000}" "${GATEWAY_PORT:=8000}" "${UI_PORT:=7860}"
mkdir -p state/logs
export MODEL_SERVICE_URL="${MODEL_SERVICE_URL:-http://127.0.0.1:${MODEL_SERVICE_PORT}}"
export GATEWAY_URL="${GATEWAY_URL:-http://127.0.0.1:${GATEWAY_PORT}}"
export MODEL_SERVICE_PORT GATEWAY_PORT UI_PORT

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo "stopping..."
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    wait 2>/dev/null
    echo "stopped"
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

start() {  # name, log file, command...
    local name=$1 log=$2; shift 2
    "$@" >"$log" 2>&1 &
    pids+=($!)
    echo "started $name (pid $!, log $log)"
}

wait_for() {  # name, url
    for _ in $(seq 1 120); do
        curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
        sleep 1
    done
    echo "$1 did not come up at $2; see state/logs/" >&2
    return 1
}

start "model service" state/logs/model-service.log \
    .venv/bin/bentoml serve model_service.service:SentimentService --port "$MODEL_SERVICE_PORT"
start gateway state/logs/gateway.log .venv/bin/python -m gateway
start ui state/logs/ui.log .venv/bin/python -m ui

wait_for "model service" "$MODEL_SERVICE_URL/readyz" || exit 1
wait_for gateway "$GATEWAY_URL/health" || exit 1
wait_for ui "http://127.0.0.1:${UI_PORT}/" || exit 1

cat <<MSG

Movie GPT is running (Ctrl-C stops everything):
  UI             http://127.0.0.1:${UI_PORT}/
  gateway API    ${GATEWAY_URL}/docs
  model service  ${MODEL_SERVICE_URL}/  (POST /classify)

MSG
wait -n "${pids[@]}"
echo "a part exited on its own; stopping the others (logs in state/logs/)" >&2
exit 1
