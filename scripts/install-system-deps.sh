#!/usr/bin/env bash
# Installs the optional system tools the harness uses when they are missing:
# Prometheus + promtool, Alertmanager + amtool, and Chromium (headless report check).
# Never fails the build: when it cannot install (no root, no apt), it says so and carries on.
set -u

need=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# Debian names the Alertmanager binary prometheus-alertmanager.
{ command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1; } \
  && command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
if [ "${HARNESS_SKIP_CHROMIUM:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "system tools: prometheus, alertmanager and chromium present"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system tools: SKIPPED ${need[*]} (no apt-get here). Runs will go on without them;"
  echo "              install Prometheus 2.42+ and Alertmanager yourself to evaluate alerts."
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "system tools: SKIPPED ${need[*]} (not root). Install with: sudo apt-get install ${need[*]}"
  exit 0
fi

echo "system tools: installing ${need[*]} from Debian packages ..."
# Keep package scripts from starting system services (the harness starts its own instances).
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${need[@]}" >/tmp/harness-apt.log 2>&1; then
  apt-get update -q >/tmp/harness-apt-update.log 2>&1
  apt-get install -y -q --no-install-recommends "${need[@]}" >/tmp/harness-apt.log 2>&1 \
    || echo "system tools: apt-get install ${need[*]} FAILED (see /tmp/harness-apt.log); carrying on without them"
fi
[ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
for tool in prometheus promtool prometheus-alertmanager amtool chromium; do
  command -v "$tool" >/dev/null 2>&1 && echo "system tools: $tool ok" || echo "system tools: $tool missing"
done
exit 0
