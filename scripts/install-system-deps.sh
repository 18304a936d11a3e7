#!/usr/bin/env bash
# Installs the optional system tools the harness uses when they are missing:
# Prometheus + promtool, Alertmanager + amtool, Redis (the reference bot's answer cache), and Chromium
# (headless report check).
# Outside CI it never fails the build: when it cannot install (no root, no apt), it says so and carries on.
# With CI=true (set by .ci/run and by most CI services) the tools are required: it exits 1 when one is
# still missing at the end, because CI also fails every test that would skip for lack of it.
set -u

in_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

# Outside CI: say why and carry on. In CI: say why and fail.
give_up() {
  if in_ci; then
    echo "system tools: FAILED: CI=${CI} needs ${need[*]}: $1" >&2
    exit 1
  fi
  echo "system tools: SKIPPED ${need[*]}: $1"
  echo "              Runs go on without them (no Prometheus: alerts are not evaluated; no Redis: no answer cache)."
  exit 0
}

missing_tools() {
  need=()
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  # Debian names the Alertmanager binary prometheus-alertmanager.
  { command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1; } \
    && command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ "${HARNESS_SKIP_CHROMIUM:-0}" != 1 ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
  fi
}

missing_tools
if [ ${#need[@]} -eq 0 ]; then
  echo "system tools: prometheus, alertmanager, redis-server and chromium present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  give_up "no apt-get here; install Prometheus 2.42+, Alertmanager, Redis and Chromium yourself"
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  # CI machines often run as a user with password-less sudo; never prompt for a password.
  if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    give_up "not root. Install with: sudo apt-get install ${need[*]}"
  fi
fi

echo "system tools: installing ${need[*]} from Debian packages ..."
# Keep package scripts from starting system services (the harness starts its own instances).
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null \
    && "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
if ! "${apt[@]}" install -y -q --no-install-recommends "${need[@]}" >/tmp/harness-apt.log 2>&1; then
  "${apt[@]}" update -q >/tmp/harness-apt-update.log 2>&1
  "${apt[@]}" install -y -q --no-install-recommends "${need[@]}" >/tmp/harness-apt.log 2>&1 \
    || echo "system tools: apt-get install ${need[*]} FAILED (see /tmp/harness-apt.log)"
fi
[ $made_policy = 1 ] && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
for tool in prometheus promtool prometheus-alertmanager amtool redis-server chromium; do
  command -v "$tool" >/dev/null 2>&1 && echo "system tools: $tool ok" || echo "system tools: $tool missing"
done
missing_tools
[ ${#need[@]} -eq 0 ] || give_up "still missing after apt-get (see /tmp/harness-apt.log)"
exit 0
