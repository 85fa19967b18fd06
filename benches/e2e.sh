#!/usr/bin/env bash
# End-to-end benchmark: bsweep against the ssh loop a user writes by hand, on the same simulated
# LSF cluster behind the same slow link. The cluster is the LSF simulator on the loopback sshd of
# benches/sshd-setup.sh (user bsweeptest); every ssh connection goes through lsfsim's delayproxy, which
# holds each chunk DELAY_MS in each direction (the kernel here has no tc netem), and the
# simulator spends LATENCY_MS in every scheduler call. Run as root (sshd setup) from anywhere:
#
#   benches/e2e.sh                 N=1000 points
#   N=200 benches/e2e.sh           a quicker run
#   E2E_QUICK=1 benches/e2e.sh     CI: N=20, checks that everything runs; no timing claims
#
# Knobs (environment): N, DELAY_MS (25), LATENCY_MS (20), POLL (1: seconds between poll rounds,
# bsweep's poll_min and the baseline's sleep), BASELINE_SAMPLE (100: baseline submissions
# actually made; the rest is extrapolated linearly, and said so), E2E_PROFILE (release; debug in
# quick mode, which CI has built already), KEEP=1 keeps the work dirs; for the OpenLava part
# (below) E2E_OPENLAVA (0 skips it), E2E_SIM (0 runs only it), OL_N, OL_ROUNDS, OL_BASELINE.
#
# It prints, for (a) bsweep with plain jobs, (b) bsweep with job arrays and (c) the baseline
# (`ssh host "bsub < job_i.sh"` per job, then one `ssh host "bjobs ID"` per job per poll round):
# wall time of the launch phase, wall time until every job is done, scheduler calls (bsub and
# bjobs, from the simulator's calls.jsonl), ssh round trips (bsweep: its BSWEEP_DEBUG=1 lines;
# baseline: ssh invocations), and the launch speed-ups baseline/bsweep.
#
# Then, when a real OpenLava is here (BSWEEP_OPENLAVA, /tmp/bsweep-ci/openlava.env or
# /opt/openlava; E2E_OPENLAVA=0 skips it), the same link to OpenLava: `launch --detach` of OL_N
# (200; 20 in quick mode) plain jobs by (d) OL_BASELINE, an older bsweep binary (e.g. one built
# from before submit_parallel, which submits one bsub at a time; row left out when unset), (e)
# this bsweep with `submit_parallel = 1` and (f) with the default 4, side by side, OL_ROUNDS (2;
# 1 in quick mode) times each, in turn; and (g) `submit_parallel = 8`, to see how far more
# bsubs at once go. The jobs are submitted held (`-H`, they take no slot
# of the shared 4-slot cluster) and cancelled right after each launch.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${E2E_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    N=${N:-20}
    PROFILE=${E2E_PROFILE:-debug}
else
    N=${N:-1000}
    PROFILE=${E2E_PROFILE:-release}
fi
case $PROFILE in
    release) CARGO_PROFILE=(--release) ;;
    debug) CARGO_PROFILE=() ;;
    *) echo "e2e: E2E_PROFILE is release or debug" >&2; exit 2 ;;
esac
DELAY_MS=${DELAY_MS:-25}
LATENCY_MS=${LATENCY_MS:-20}
POLL=${POLL:-1}
SAMPLE=${BASELINE_SAMPLE:-100}
[ "$SAMPLE" -gt "$N" ] && SAMPLE=$N

REMOTE_USER=bsweeptest
PORT=2222
BSWEEP=$ROOT/target/$PROFILE/bsweep
LSFSIM=$ROOT/target/$PROFILE/lsfsim
PROXY=$ROOT/target/$PROFILE/delayproxy
KEY=/tmp/bsweep-sshd/id_ed25519

die() { echo "e2e: $*" >&2; exit 1; }
now() { date +%s.%N; }
# Arithmetic on decimals: calc '1.5 * 2'.
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
# Lines of FILE (a calls.jsonl) whose command is CMD.
calls() { grep -c "\"cmd\":\"$2\"" "$1" 2>/dev/null || true; }
round_trips() { grep -c '^bsweep: ssh round trip' "$1" || true; }

[ "$(id -u)" = 0 ] || die "run as root: it sets up the loopback sshd and its user"
[ "$N" -ge 1 ] || die "N must be at least 1"

T_START=$(now)
echo "== building $PROFILE binaries (bsweep, lsfsim, delayproxy)"
(cd "$ROOT" && cargo build "${CARGO_PROFILE[@]}" -q --bin bsweep &&
    cargo build "${CARGO_PROFILE[@]}" -q -p lsfsim --bins) || die "cargo build failed"
echo "== starting the loopback sshd (benches/sshd-setup.sh)"
bash "$ROOT/benches/sshd-setup.sh"

# Local work dir: short, because bsweep's ssh control sockets live under it.
W=$(mktemp -d /tmp/bse2e.XXXXXX)
# Remote scratch: the simulator of this run, its state and the sweeps' remote dirs, apart from
# the test suites' lsfbin (they may be running at the same time).
R=/home/$REMOTE_USER/e2e-$$
cleanup() {
    # bsweep's connection (a ControlMaster it started, kept a while for the next command).
    "$BSWEEP" --home "$W/home" --ssh-config "$W/ssh_config" login e2e-slow --close >/dev/null 2>&1 || true
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept: $W (local) and $R (remote)"
    else
        rm -rf "$W" "$R"
    fi
}
trap cleanup EXIT

mkdir -p "$R/bin"
cp "$LSFSIM" "$R/bin/lsfsim"
"$R/bin/lsfsim" install "$R/bin"
for run in plain array base; do
    mkdir -p "$R/$run/lsf"
    cat >"$R/$run/lsf/config.toml" <<EOF
# Enough slots that no job waits for one: the benchmark is about submitting and following.
max_array_size = $((N > 1000 ? N : 1000))
[[queue]]
name = "normal"
slots = $N
[faults]
latency_ms = $LATENCY_MS
EOF
done
chown -R "$REMOTE_USER:" "$R"

cat >"$W/ssh_config" <<EOF
# The test sshd, reached through the delay proxy ($DELAY_MS ms each way).
Host e2e-slow
    HostName 127.0.0.1
    Port $PORT
    User $REMOTE_USER
    IdentityFile $KEY
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $W/known_hosts
    StrictHostKeyChecking accept-new
    LogLevel ERROR
    ProxyCommand $PROXY --delay-ms $DELAY_MS %h:%p
EOF
SSH=(ssh -n -F "$W/ssh_config" -o ControlMaster=no -o ControlPath=none)
# What `[cluster] init` does for bsweep, written out for the baseline: the same environment.
init() { echo "export PATH=$R/bin:\$PATH LSFSIM_DIR=$R/$1/lsf"; }

t=$(now)
"${SSH[@]}" e2e-slow true
SSH_TRUE=$(calc "$(now) - $t")
t=$(now)
"${SSH[@]}" e2e-slow true
SSH_TRUE2=$(calc "$(now) - $t")
echo "== fresh \`ssh e2e-slow true\` through the proxy: ${SSH_TRUE} s, ${SSH_TRUE2} s"

# E2E_SIM=0 runs the OpenLava part only.
if [ "${E2E_SIM:-1}" != 0 ]; then
# ---- (a) and (b): bsweep -------------------------------------------------------------------
sweep_file() { # NAME RUN ARRAY
    cat >"$W/$1.toml" <<EOF
name = "$1"
backend = "lsf"
command = "echo point {i}"
[grid]
i = { start = 0, stop = $N }
[lsf]
queue = "normal"
array = $3
poll_min = $POLL
poll_max = $((POLL * 2))
[cluster]
host = "e2e-slow"
init = "$(init "$2")"
remote_dir = "$R/$2/sweeps"
EOF
}

declare -A LAUNCH DONE_T BSUB BJOBS RT
run_bsweep() { # NAME RUN ARRAY
    local name=$1 run=$2
    sweep_file "$name" "$run" "$3"
    local b=("$BSWEEP" --home "$W/home" --ssh-config "$W/ssh_config" --quiet)
    echo "== ($run) bsweep launch --detach, then resume until all are done: $N points, array=$3"
    local t0 t1 t2
    t0=$(now)
    BSWEEP_DEBUG=1 "${b[@]}" launch --detach --yes "$W/$name.toml" 2>"$W/$run-launch.err" ||
        { cat "$W/$run-launch.err" >&2; die "($run) launch failed"; }
    t1=$(now)
    BSWEEP_DEBUG=1 "${b[@]}" resume "$name" 2>"$W/$run-resume.err" ||
        { cat "$W/$run-resume.err" >&2; die "($run) resume failed"; }
    t2=$(now)
    LAUNCH[$run]=$(calc "$t1 - $t0")
    DONE_T[$run]=$(calc "$t2 - $t0")
    BSUB[$run]=$(calls "$R/$run/lsf/calls.jsonl" bsub)
    BJOBS[$run]=$(calls "$R/$run/lsf/calls.jsonl" bjobs)
    RT[$run]=$(($(round_trips "$W/$run-launch.err") + $(round_trips "$W/$run-resume.err")))
    local done
    done=$("${b[@]}" status "$name" --json | grep -o '"done": *[0-9]*' | head -1 | grep -o '[0-9]*$')
    [ "$done" = "$N" ] || die "($run) $done of $N points done"
}
run_bsweep e2e-plain plain false
run_bsweep e2e-array array true

# ---- (c): the hand-written loop -------------------------------------------------------------
echo "== (base) ssh loop: job scripts uploaded first (not timed), then $SAMPLE of $N submissions"
mkdir -p "$W/base"
for ((i = 0; i < SAMPLE; i++)); do
    cat >"$W/base/job_$i.sh" <<EOF
#!/bin/bash
#BSUB -J base-$i
#BSUB -q normal
#BSUB -o $R/base/out/$i.txt
echo point $i
EOF
done
tar -C "$W/base" -cf - . | ssh -F "$W/ssh_config" e2e-slow \
    "mkdir -p $R/base/jobs $R/base/out && tar -xf - -C $R/base/jobs"
BASE_SSH=0
IDS=()
t0=$(now)
for ((i = 0; i < SAMPLE; i++)); do
    out=$("${SSH[@]}" e2e-slow "$(init base); bsub < $R/base/jobs/job_$i.sh")
    BASE_SSH=$((BASE_SSH + 1))
    id=$(sed -n 's/^Job <\([0-9]*\)> is submitted.*/\1/p' <<<"$out")
    [ -n "$id" ] || die "(base) bsub said: $out"
    IDS+=("$id")
done
t1=$(now)
SUBMIT_S=$(calc "$t1 - $t0")
echo "== (base) polling: one \`ssh e2e-slow bjobs ID\` per unfinished job per round, every $POLL s"
pending=("${IDS[@]}")
ROUNDS=0
while [ "${#pending[@]}" -gt 0 ]; do
    [ "$ROUNDS" -gt 0 ] && sleep "$POLL"
    ROUNDS=$((ROUNDS + 1))
    [ "$ROUNDS" -le 600 ] || die "(base) jobs still unfinished after 600 rounds: ${pending[*]}"
    left=()
    for id in "${pending[@]}"; do
        stat=$("${SSH[@]}" e2e-slow "$(init base); bjobs $id" 2>/dev/null | awk 'NR == 2 { print $3 }')
        BASE_SSH=$((BASE_SSH + 1))
        [ "$stat" = DONE ] || left+=("$id")
    done
    pending=("${left[@]+"${left[@]}"}")
done
t2=$(now)
POLL_S=$(calc "$t2 - $t1")
BASE_BSUB=$(calls "$R/base/lsf/calls.jsonl" bsub)
BASE_BJOBS=$(calls "$R/base/lsf/calls.jsonl" bjobs)
SCALE=$(calc "$N / $SAMPLE")
BASE_LAUNCH=$(calc "$SUBMIT_S * $SCALE")
BASE_DONE=$(calc "($SUBMIT_S + $POLL_S) * $SCALE")

# ---- report ---------------------------------------------------------------------------------
if [ "$SAMPLE" -lt "$N" ]; then star="*"; else star=""; fi
scaled() { calc "$1 * $SCALE" | sed 's/\.00$//'; }
echo
echo "bsweep end-to-end ($PROFILE build): N=$N points; ssh through delayproxy ($DELAY_MS ms each way; fresh"
echo "\`ssh host true\` ${SSH_TRUE} s); simulator: $LATENCY_MS ms per call, $N slots; poll every $POLL s"
printf '%-28s %10s %12s %8s %8s %10s\n' "" "launch s" "all done s" "bsub" "bjobs" "ssh"
printf '%-28s %10s %12s %8s %8s %10s\n' "(a) bsweep, plain jobs" "${LAUNCH[plain]}" "${DONE_T[plain]}" \
    "${BSUB[plain]}" "${BJOBS[plain]}" "${RT[plain]}"
printf '%-28s %10s %12s %8s %8s %10s\n' "(b) bsweep, job arrays" "${LAUNCH[array]}" "${DONE_T[array]}" \
    "${BSUB[array]}" "${BJOBS[array]}" "${RT[array]}"
printf '%-28s %10s %12s %8s %8s %10s\n' "(c) ssh loop by hand$star" "$BASE_LAUNCH" "$BASE_DONE" \
    "$(scaled "$BASE_BSUB")" "$(scaled "$BASE_BJOBS")" "$(scaled "$BASE_SSH")"
echo "ssh: bsweep's round trips over its one connection (its BSWEEP_DEBUG=1 lines; the connection is"
echo "one ssh login, made by launch and reused by resume); baseline: ssh logins, one per command."
echo "bsweep's bjobs include its one-time probe of which bjobs output to read (2 calls)."
if [ -n "$star" ]; then
    echo "* baseline: the first $SAMPLE of $N jobs measured ($BASE_BSUB bsub, $BASE_BJOBS bjobs, $BASE_SSH ssh"
    echo "  logins; submitting $SUBMIT_S s; $ROUNDS poll round(s), $POLL_S s) and scaled linearly x $SCALE."
    echo "  The simulator slows as it holds more jobs, so the scaled baseline is if anything too fast."
fi
SPEED_A=$(calc "$BASE_LAUNCH / ${LAUNCH[plain]}")
SPEED_B=$(calc "$BASE_LAUNCH / ${LAUNCH[array]}")
echo "launch speed-up, baseline / bsweep: plain jobs ${SPEED_A}x (target >= 10x), arrays ${SPEED_B}x (target >= 100x)"
fi

# ---- (d)-(f): plain jobs on a real OpenLava, one bsub at a time and four at once ----------
OL=${BSWEEP_OPENLAVA:-$(sed -n 's/^BSWEEP_OPENLAVA=//p' /tmp/bsweep-ci/openlava.env 2>/dev/null)}
OL=${OL:-/opt/openlava}
if [ "${E2E_OPENLAVA:-1}" != 0 ] && [ -f "$OL/etc/openlava.sh" ]; then
    if [ "$QUICK" = 1 ]; then OL_N=${OL_N:-20}; OLR=${OL_ROUNDS:-1}; else OL_N=${OL_N:-200}; OLR=${OL_ROUNDS:-2}; fi
    declare -A OL_T
    ol_launch() { # NAME PARALLEL BSWEEP
        local name=$1 k=$2 bin=$3 par="submit_parallel = $2"
        # An older bsweep does not know the key: it submits one at a time anyway.
        [ "$k" = old ] && par=""
        cat >"$W/$name.toml" <<EOF
name = "$name"
backend = "lsf"
command = "true"
[grid]
i = { start = 0, stop = $OL_N }
[lsf]
queue = "short"
extra = ["-H"]
$par
poll_min = 5
[cluster]
host = "e2e-slow"
init = ". $OL/etc/openlava.sh"
remote_dir = "$R/$name/sweeps"
EOF
        local b=("$bin" --home "$W/home" --ssh-config "$W/ssh_config" --quiet)
        local t0 t1 n
        t0=$(now)
        "${b[@]}" launch --detach --yes "$W/$name.toml" >/dev/null 2>"$W/$name.err" ||
            { cat "$W/$name.err" >&2; die "($name) launch failed"; }
        t1=$(now)
        n=$("${b[@]}" status "$name" --json | grep -o '"job_id":"[0-9]*"' | sort -u | wc -l)
        "${b[@]}" cancel "$name" >/dev/null 2>&1 || echo "e2e: ($name) cancel failed; its held jobs stay" >&2
        [ "$n" = "$OL_N" ] || die "($name) $n of $OL_N jobs recorded"
        OL_T[$name]=$(calc "$t1 - $t0")
        echo "   $name: ${OL_T[$name]} s"
    }
    echo "== (d-f) OpenLava at $OL through the same link: launch --detach of $OL_N held plain jobs,"
    echo "   ${OL_BASELINE:+$OL_BASELINE, }submit_parallel = 1, 4 and 8, $OLR round(s) each, in turn"
    OLD=0
    SER=0
    PAR=0
    PAR8=0
    for ((r = 1; r <= OLR; r++)); do
        if [ -n "${OL_BASELINE:-}" ]; then
            ol_launch "e2e-ol-old-$r" old "$OL_BASELINE"
            OLD=$(calc "$OLD + ${OL_T[e2e-ol-old-$r]}")
        fi
        ol_launch "e2e-ol-serial-$r" 1 "$BSWEEP"
        ol_launch "e2e-ol-par4-$r" 4 "$BSWEEP"
        ol_launch "e2e-ol-par8-$r" 8 "$BSWEEP"
        SER=$(calc "$SER + ${OL_T[e2e-ol-serial-$r]}")
        PAR=$(calc "$PAR + ${OL_T[e2e-ol-par4-$r]}")
        PAR8=$(calc "$PAR8 + ${OL_T[e2e-ol-par8-$r]}")
    done
    SER=$(calc "$SER / $OLR")
    PAR=$(calc "$PAR / $OLR")
    PAR8=$(calc "$PAR8 / $OLR")
    echo
    echo "OpenLava, $OL_N plain jobs over the same link (mean of $OLR launch --detach each):"
    printf '%-46s %10s\n' "" "launch s"
    if [ -n "${OL_BASELINE:-}" ]; then
        OLD=$(calc "$OLD / $OLR")
        printf '%-46s %10s\n' "(d) $(basename "$OL_BASELINE") (OL_BASELINE)" "$OLD"
    fi
    printf '%-46s %10s\n' "(e) this bsweep, one at a time (submit_parallel=1)" "$SER"
    printf '%-46s %10s\n' "(f) this bsweep, four at once (default)" "$PAR"
    printf '%-46s %10s\n' "(g) this bsweep, eight at once" "$PAR8"
    if [ -n "${OL_BASELINE:-}" ]; then
        echo "launch speed-up, (d) / (f): $(calc "$OLD / $PAR")x (target >= 2x); (e) / (f): $(calc "$SER / $PAR")x;"
        echo "(d) / (g): $(calc "$OLD / $PAR8")x"
    else
        echo "launch speed-up, (e) / (f): $(calc "$SER / $PAR")x; (e) / (g): $(calc "$SER / $PAR8")x"
    fi
fi
if [ "$QUICK" = 1 ]; then
    echo "E2E_QUICK=1: N=$N checks that every step runs; the timings above are not the benchmark."
fi
echo "total script time: $(calc "$(now) - $T_START") s"
