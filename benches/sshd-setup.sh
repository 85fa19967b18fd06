#!/usr/bin/env bash
# A private sshd on 127.0.0.1:2222 for the end-to-end benchmark (benches/e2e.sh), as root.
# Runs as root, idempotent, quiet unless something fails. Everything lives in /tmp/bsweep-sshd/:
#   sshd_config, host key, the client key (id_ed25519), authorized_keys, sshd.pid, sshd.log,
#   ssh_config (Host bsweep-test: key login as bsweeptest; Host bsweep-test-nokey: no key, so
#   authentication fails the way a password/TOTP host fails under BatchMode), known_hosts.
# The LSF simulator reaches the remote PATH only through /home/bsweeptest/.bash_profile (a login
# shell), like LSF's profile.lsf on a real cluster; the tests copy the binary into lsfbin/.
set -euo pipefail

D=/tmp/bsweep-sshd
USER_NAME=bsweeptest
USER_HOME=/home/$USER_NAME
PORT=2222
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

fail() {
    echo "sshd-setup: $*" >&2
    [ -s "$LOG" ] && sed 's/^/  | /' "$LOG" >&2
    exit 1
}
# Runs a command with its output kept for the failure message only.
quiet() { "$@" >>"$LOG" 2>&1; }

[ "$(id -u)" = 0 ] || fail "must run as root (it installs openssh-server and adds user $USER_NAME)"

if [ ! -x /usr/sbin/sshd ]; then
    command -v apt-get >/dev/null || fail "/usr/sbin/sshd is missing and there is no apt-get to install it"
    quiet apt-get update || fail "apt-get update failed"
    quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server ||
        fail "apt-get install openssh-server failed"
fi
command -v ssh-keygen >/dev/null || fail "ssh-keygen is missing"

if ! id "$USER_NAME" >/dev/null 2>&1; then
    quiet useradd -m -d "$USER_HOME" -s /bin/bash "$USER_NAME" || fail "useradd $USER_NAME failed"
fi
# useradd leaves the password field "!", which sshd without PAM treats as a locked account; "*"
# means "no password" (key logins only).
quiet usermod -p '*' "$USER_NAME" || fail "usermod $USER_NAME failed"
mkdir -p "$USER_HOME/lsfbin"
cat >"$USER_HOME/.bash_profile" <<EOF
# Written by bsweep's .ci/sshd-setup: LSF commands are on PATH for login shells only.
export PATH=$USER_HOME/lsfbin:\$PATH
# Like many cluster profiles: a banner on stdout and a read from stdin. bsweep's round trips must
# keep both away from their own stdin and stdout (scripts, tar archives).
echo "Welcome to the bsweep test cluster"
read -r -t 1 _ || true
EOF
chown "$USER_NAME:" "$USER_HOME" "$USER_HOME/lsfbin" "$USER_HOME/.bash_profile"

mkdir -p "$D" /run/sshd
chmod 755 "$D"
[ -f "$D/host_ed25519" ] || quiet ssh-keygen -q -t ed25519 -N '' -C bsweep-test-host -f "$D/host_ed25519" ||
    fail "cannot generate the host key"
[ -f "$D/id_ed25519" ] || quiet ssh-keygen -q -t ed25519 -N '' -C bsweep-test-client -f "$D/id_ed25519" ||
    fail "cannot generate the client key"
cp "$D/id_ed25519.pub" "$D/authorized_keys"
chmod 644 "$D/authorized_keys"

cat >"$D/sshd_config.new" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
AuthorizedKeysFile $D/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile $D/sshd.pid
StrictModes no
MaxSessions 100
MaxStartups 100:30:200
AllowUsers $USER_NAME
PrintMotd no
LogLevel ERROR
EOF
changed=0
cmp -s "$D/sshd_config.new" "$D/sshd_config" || changed=1
mv "$D/sshd_config.new" "$D/sshd_config"
quiet /usr/sbin/sshd -t -f "$D/sshd_config" || fail "sshd rejects $D/sshd_config"

cat >"$D/ssh_config" <<EOF
Host bsweep-test
    HostName 127.0.0.1
    Port $PORT
    User $USER_NAME
    IdentityFile $D/id_ed25519
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $D/known_hosts
    StrictHostKeyChecking accept-new
    LogLevel ERROR

Host bsweep-test-nokey
    HostName 127.0.0.1
    Port $PORT
    User $USER_NAME
    IdentityFile $D/no-such-key
    IdentitiesOnly yes
    IdentityAgent none
    UserKnownHostsFile $D/known_hosts
    StrictHostKeyChecking accept-new
    LogLevel ERROR
EOF

running() {
    local pid
    pid=$(cat "$D/sshd.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q sshd "/proc/$pid/cmdline" 2>/dev/null
}
if running; then
    # A newer sshd_config from an updated script: reload it in place.
    [ "$changed" = 0 ] || kill -HUP "$(cat "$D/sshd.pid")"
else
    quiet /usr/sbin/sshd -f "$D/sshd_config" -E "$D/sshd.log" || fail "sshd did not start (log: $D/sshd.log)"
fi

# sshd daemonizes after binding, but a reload or a slow start can take a moment.
for _ in $(seq 50); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then exit 0; fi
    sleep 0.1
done
fail "nothing listens on 127.0.0.1:$PORT (log: $D/sshd.log)"
