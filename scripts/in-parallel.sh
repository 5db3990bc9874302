#!/usr/bin/env bash
# Run a few test stages side by side (`make test`); each stage's output is kept apart and
# shown whole, in one block, when it ends, so parallel output never interleaves.
#
#   scripts/in-parallel.sh NAME CMD [ARG...] [:: NAME CMD [ARG...]]...
#
# Stages that run together must not share anything on the host: the ansible-test runs copy
# the tree to a temporary dir of their own, the ansible-core matrix legs each have their own
# venv or root file system and podman storage. Exit status: 0 when every stage passed; the
# stages keep running when one fails (as `make -k` would), so one run reports all failures.
# Ctrl-C or SIGTERM stops every stage (each runs in a process group of its own).
set -uo pipefail

logs="$(mktemp -d /tmp/podnet-stages.XXXXXX)"
names=() pids=() starts=()

# shellcheck disable=SC2317  # run by the INT/TERM trap
stop_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  wait
  rm -rf "$logs"
  exit 130
}
trap stop_all INT TERM

start_stage() {  # start_stage NAME CMD...
  local name=$1
  shift
  names+=("$name")
  starts+=("$(date +%s)")
  setsid "$@" >"$logs/${#names[@]}.log" 2>&1 </dev/null &
  pids+=("$!")
  echo "== started: $name ($*)"
}

args=("$@")
i=0
while [ "$i" -lt "${#args[@]}" ]; do
  name=${args[$i]}
  cmd=()
  i=$((i + 1))
  while [ "$i" -lt "${#args[@]}" ] && [ "${args[$i]}" != "::" ]; do
    cmd+=("${args[$i]}")
    i=$((i + 1))
  done
  i=$((i + 1))
  [ "${#cmd[@]}" -gt 0 ] || { echo "in-parallel: stage '$name' has no command" >&2; exit 2; }
  start_stage "$name" "${cmd[@]}"
done

status=0
summary=()
left=${#pids[@]}
declare -A done_=()
while [ "$left" -gt 0 ]; do
  wait -n "${pids[@]}" 2>/dev/null || true
  for n in "${!pids[@]}"; do
    [ -z "${done_[$n]:-}" ] || continue
    if ! kill -0 "${pids[$n]}" 2>/dev/null; then
      wait "${pids[$n]}"
      rc=$?
      done_[$n]=1
      left=$((left - 1))
      took=$(( $(date +%s) - starts[n] ))
      verdict=$([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)")
      echo "== ${names[$n]}: output ============================================================"
      cat "$logs/$((n + 1)).log"
      echo "== ${names[$n]}: $verdict in ${took}s"
      summary+=("$(printf '%-16s %s in %ss' "${names[$n]}" "$verdict" "$took")")
      [ "$rc" = 0 ] || status=1
    fi
  done
done
rm -rf "$logs"
echo "== stages run side by side:"
printf '   %s\n' "${summary[@]}"
exit "$status"
