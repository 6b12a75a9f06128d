#!/usr/bin/env bash
# Regenerates reports/sweeps/: one report per bundled story's headline trade-off, each a
# sweep of 100 seeds. Run from anywhere: `reports/regenerate.sh` (about a minute on two
# cores). The results (JSON Lines, a few MB) stay in target/sweeps/; only the reports (the
# page, summary.csv and the charts) are committed.
#
# A sweep that moves a story off its own configuration breaks what its file expects (async
# replication loses writes the sync story promises to keep), so sweeps exit 1 here by
# design; only bad input (2) or an undecided run (3) stops the script.
set -uo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet || exit 2
consim=target/release/consim
seeds=1..100

story() {
  local name=$1
  shift
  local results=target/sweeps/$name
  rm -rf "$results" "reports/sweeps/$name"
  "$consim" sweep "$@" --seeds "$seeds" --out "$results"
  local code=$?
  if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
    echo "error: the $name sweep exited $code" >&2
    exit "$code"
  fi
  # The report keeps the sweep's chart choices: pass them again.
  local charts=() arg
  local keep=0
  for arg in "$@"; do
    if [ "$keep" = 1 ]; then charts+=("$arg"); keep=0; continue; fi
    case $arg in --metric | --latency | --anomalies) charts+=("$arg"); keep=1 ;; esac
  done
  "$consim" report "$results/results.jsonl" --out "reports/sweeps/$name" "${charts[@]}" || exit $?
}

# Write latency against lost acknowledged writes, by replication mode.
story replication-modes scenarios/regional-replicas-sync.toml \
  --vary model.mode=sync,semisync,async \
  --metric write_latency_ms --metric lost_acked_writes --metric unavailable_ops \
  --anomalies lost_acked_writes

# 2PC: in-doubt time and aborts against how long the coordinator stays down.
story 2pc-coordinator-downtime scenarios/bank-transfer-2pc.toml \
  --vary faults.0.restart_after=1s,2s,5s,10s,20s \
  --metric in_doubt_ms --metric aborts --metric transfer_latency_ms \
  --anomalies aborts

# 2PC or saga: the same transfers under the same coordinator crash.
story 2pc-vs-saga scenarios/bank-transfer-2pc.toml scenarios/bank-transfer-saga.toml \
  --metric transfer_latency_ms --metric aborts

# Payments: double charges per known bug.
story payments-bugs scenarios/payment-retries.toml \
  --vary model.bug=none,no-ledger,ledger-separate-step,check-then-act,key-per-attempt \
  --metric double_charges --metric payment_latency_ms \
  --latency payment_latency_ms --anomalies double_charges

# Versioning: silent losses against clock skew (Virginia's clock ahead), per policy.
story versioning-skew scenarios/user-profile-lww.toml \
  --vary nodes.0.clock.offset=0ms,50ms,100ms,200ms,400ms \
  --vary model.policy=lww-wall,lww-hlc,vector-clocks \
  --metric lost_updates_causal --metric lost_updates_concurrent --metric write_latency_ms \
  --anomalies lost_updates_causal

# Order pipeline: lost events per publish mode.
story order-pipeline-publish scenarios/order-pipeline-outbox.toml \
  --vary model.publish=outbox,dual-write \
  --metric lost_events --metric end_to_end_ms \
  --latency end_to_end_ms --anomalies lost_events

# Quorum: freshness right after a write, and read latency, by R and W.
story quorum-rw scenarios/quorum-staleness.toml \
  --vary model.r=1,2 --vary model.w=1,2 \
  --metric p_fresh_after_ms.0 --metric p_fresh_after_ms.10 --metric read_latency_ms \
  --latency read_latency_ms --anomalies stale_reads

echo "reports/sweeps/ regenerated"
