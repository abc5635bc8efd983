#!/usr/bin/env bash
# `just run`: migrate, then api + worker + scheduler together. Ctrl-C stops all three.
set -euo pipefail
export MARQUEE_ENV=${MARQUEE_ENV:-development}
bin=${MARQUEE_BIN_DIR:-target/debug}
url=${MARQUEE__HTTP__PUBLIC_URL:-http://127.0.0.1:${MARQUEE__HTTP__PORT:-8080}}

"$bin/marquee-api" migrate
# Demo accounts, venues and events on a fresh database (skipped when there).
demo=""
if [ "$MARQUEE_ENV" != production ]; then
  demo=$("$bin/marquee-api" seed)
fi

pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping marquee (api, worker, scheduler)"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT

"$bin/marquee-api" serve & pids+=($!)
"$bin/marquee-worker" & pids+=($!)
"$bin/marquee-scheduler" & pids+=($!)

for _ in $(seq 1 60); do
  if curl -fsS "$url/health/ready" >/dev/null 2>&1; then break; fi
  sleep 0.5
done

cat <<MSG

  Marquee is running ($MARQUEE_ENV)
    Pages       $url/  (organizers: /organizer, operators: /ops)
    API         $url/api/v1
    Swagger UI  $url/docs
    OpenAPI     $url/openapi.json
    Readiness   $url/health/ready
    Mail        var/mail/ (file transport)

$(echo "$demo" | sed 's/^/  /')

  Press Ctrl-C to stop api, worker and scheduler.

MSG
# Stop everything as soon as any one of them exits.
wait -n "${pids[@]}"
