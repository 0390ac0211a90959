# Phase timing for .ci/run (sourced): `phase NAME COMMAND...` runs COMMAND and records its elapsed
# seconds; `report` prints them as a Markdown table with the total and, past CI_BUDGET_S seconds
# (default 2700, 45 minutes), a warning naming the slowest phase. It never fails the run.
CI_STARTED=${CI_STARTED:-$SECONDS}
CI_PHASES=()

phase() {  # NAME COMMAND...: runs COMMAND; returns its status
  local name=$1 begun=$SECONDS status=0
  shift
  echo "[ci +$((SECONDS - CI_STARTED))s] $name"
  "$@" || status=$?
  CI_PHASES+=("$name|$((SECONDS - begun))")
  echo "[ci +$((SECONDS - CI_STARTED))s] $name: $((SECONDS - begun)) s, status $status"
  return "$status"
}

record_phase() {  # NAME SECONDS: a phase that ran in the background, timed by itself (never the slowest:
  CI_PHASES+=("$1|$2|background")  # the phases in the foreground include whatever wait it caused)
}

report() {
  local total=$((SECONDS - CI_STARTED)) budget=${CI_BUDGET_S:-2700} slowest="" longest=-1 entry name seconds where
  echo
  echo "| CI phase | seconds |"
  echo "|---|---|"
  for entry in "${CI_PHASES[@]}"; do
    IFS='|' read -r name seconds where <<<"$entry"
    echo "| $name${where:+ ($where)} | $seconds |"
    if [ -z "$where" ] && [ "$seconds" -gt "$longest" ]; then longest=$seconds slowest=$name; fi
  done
  echo "| total | $total |"
  if [ "$total" -gt "$budget" ]; then
    echo "WARNING: CI took $total s, over its budget of $budget s; the slowest phase is '$slowest' ($longest s)"
  fi
}
