#!/usr/bin/env bash
# End-to-end test of the Slurm path against a real one-node Slurm cluster on localhost:
#
#   1. installs Debian's slurm-wlm and munge if they are absent;
#   2. starts munged, slurmctld and slurmd (as root; ProctrackType=proctrack/linuxproc,
#      TaskPlugin=task/none, no cgroups), with their configuration and state in a temporary
#      directory;
#   3. runs the smoke grid locally (`eigenformer experiments --profile smoke`);
#   4. emits the same grid as sbatch job arrays (`--emit slurm`) into a fresh run cache, submits
#      it and waits for the merge job;
#   5. checks that the merged section's claims (verdicts and numbers) and per-run results equal
#      the local run's;
#   6. stops the daemons it started.
#
# Usage: scripts/slurm-e2e.sh [--keep]   (--keep leaves the temporary directory for inspection)
# Environment: EIGENFORMER_BIN (default: builds target/release/eigenformer), E2E_TIMEOUT (s, 300).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
keep=false
[[ "${1:-}" == "--keep" ]] && keep=true
timeout_s="${E2E_TIMEOUT:-300}"

log() { printf '==> slurm-e2e: %s\n' "$*"; }
die() { printf 'slurm-e2e: FAILED: %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || die "run as root (it starts slurmctld, slurmd and munged)"

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y slurm-wlm munge || { apt-get update && apt-get install -y slurm-wlm munge; }
fi

work="$(mktemp -d /tmp/eigenformer-slurm-e2e.XXXXXX)"
started=()
cleanup() {
    local rc=$?
    if [[ -n "${SLURM_CONF:-}" && -f "${SLURM_CONF}" ]]; then
        scontrol shutdown >/dev/null 2>&1 || true
    fi
    sleep 1
    local pid
    for pid in "${started[@]}"; do
        kill "$pid" >/dev/null 2>&1 || true
    done
    if ((rc != 0)); then
        for f in "$work"/state/*.log "$work"/slurm/logs/*.out; do
            [[ -f "$f" ]] || continue
            printf -- '--- %s (last lines)\n' "$f" >&2
            tail -n 20 "$f" >&2
        done
    fi
    if $keep || ((rc != 0)); then
        echo "slurm-e2e: kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT

# 2. Daemons.
if ! pgrep -x munged >/dev/null; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating a munge key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    rm -f /run/munge/munged.pid
    if id munge >/dev/null 2>&1; then
        chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
        chmod 0400 /etc/munge/munge.key
        runuser -u munge -- /usr/sbin/munged
    else
        chmod 0400 /etc/munge/munge.key
        /usr/sbin/munged --force
    fi
    for _ in $(seq 1 20); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.5; done
    started+=("$(cat /run/munge/munged.pid 2>/dev/null || pgrep -x munged | head -n1)")
fi
munge -n | unmunge >/dev/null || die "munge does not work"

host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=eigenformer-e2e
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/state/slurmctld.pid
SlurmdPidFile=$work/state/slurmd.pid
SlurmctldLogFile=$work/state/slurmctld.log
SlurmdLogFile=$work/state/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=e2e Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
log "starting slurmctld and slurmd ($host, $cpus CPUs, ${mem_mb} MB)"
slurmctld -i
slurmd
started+=("$(cat "$work/state/slurmctld.pid" 2>/dev/null || true)" "$(cat "$work/state/slurmd.pid" 2>/dev/null || true)")
for _ in $(seq 1 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then break; fi
    sleep 1
done
sinfo -h -o '%T' | grep -qE '^(idle|mixed|allocated)' || die "the node did not come up: $(sinfo 2>&1)"

# 3. The binary and the local run.
bin="${EIGENFORMER_BIN:-}"
if [[ -z "$bin" ]]; then
    log "building eigenformer (release)"
    cargo build --release -q -p eigenformer-cli
    bin="$root/target/release/eigenformer"
fi
# A run's numbers depend on its thread count (the GEMMs split their sums by thread), so the local
# runs get the threads each Slurm task gets: one, with one local run per core at a time (a forked
# run's share is the cores divided by the jobs).
threads=1
local_jobs="$(nproc)"
log "local run of the smoke grid ($local_jobs runs at a time, $threads thread each)"
RAYON_NUM_THREADS=$threads "$bin" experiments --profile smoke --experiments-dir "$root/experiments" \
    --runs-dir "$work/local-runs" --out "$work/local" --jobs "$local_jobs" --quiet >"$work/local.log" 2>&1 \
    || { tail -n 30 "$work/local.log" >&2; die "the local run failed"; }

# 4. The same grid through Slurm.
"$bin" experiments --profile smoke --experiments-dir "$root/experiments" --runs-dir "$work/slurm-runs" \
    --list >"$work/cells.txt"
log "$(wc -l <"$work/cells.txt") cells; emitting and submitting the job arrays"
"$bin" experiments --profile smoke --experiments-dir "$root/experiments" --runs-dir "$work/slurm-runs" \
    --emit slurm --emit-dir "$work/slurm" --out "$work/merged" \
    --cpus-per-task "$threads" --mem 1G --time 00:10:00 --throttle 4 >/dev/null
bash "$work/slurm/submit.sh" | tee "$work/submit.txt"
merge_job="$(awk '/^merge: job/ {print $3}' "$work/submit.txt")"
[[ -n "$merge_job" ]] || die "submit.sh printed no merge job id"
jobs="$(awk '/: job/ {print $3}' "$work/submit.txt" | paste -sd, -)"
deadline=$((SECONDS + timeout_s))
while squeue -h -j "$jobs" 2>/dev/null | grep -q .; do
    if squeue -h -j "$jobs" -o '%r' | grep -q DependencyNeverSatisfied; then
        die "a job failed, so its dependants can never run: $(squeue -j "$jobs")"
    fi
    ((SECONDS < deadline)) || die "timed out after ${timeout_s}s: $(squeue -j "$jobs")"
    sleep 2
done
state="$(scontrol show job "$merge_job" 2>/dev/null | grep -o 'JobState=[A-Z]*' || true)"
[[ "$state" == "JobState=COMPLETED" ]] || die "merge job $merge_job ended with ${state:-no state}"

# 5. Same verdicts and numbers.
python3 - "$work/local" "$work/merged" <<'PY'
import csv, json, sys
local, merged = sys.argv[1], sys.argv[2]
a = json.load(open(f"{local}/claims.json"))
b = json.load(open(f"{merged}/claims.json"))
if a != b:
    for x, y in zip(a, b):
        if x != y:
            print("local: ", json.dumps(x)[:400], "\nmerged:", json.dumps(y)[:400], file=sys.stderr)
    sys.exit("slurm-e2e: FAILED: the merged claims differ from the local run's")
def rows(d):
    with open(f"{d}/runs.csv") as f:
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in csv.DictReader(f)]
if rows(local) != rows(merged):
    sys.exit("slurm-e2e: FAILED: the merged runs.csv differs from the local run's")
verdicts = ", ".join(f"{c.get('claim', c)['id']} {c.get('claim', c)['verdict']}" for c in a)
print(f"slurm-e2e: {len(rows(local))} runs and {len(a)} claims equal ({verdicts})")
PY
log "passed"
