#!/usr/bin/env bash
# Installs the official DingTalk Node SDK (npm `dingtalk-stream`, pinned by
# tests/sdk_bots/package-lock.json) into .node/ for the test suite's Node SDK bot, the way the
# Makefile bootstraps .venv. Offline-tolerant: without node, npm or the registry it says so and
# exits 0, and the Node SDK tests skip naming the reason; in CI (CI=true) that is a failure.
set -u
cd "$(dirname "$0")/.."
SRC=tests/sdk_bots
DEST=.node

give_up() {
    echo "node-sdk: $*" >&2
    if [ "${CI:-}" = "true" ]; then
        echo "node-sdk: CI=true, so this is a failure" >&2
        exit 1
    fi
    echo "node-sdk: the Node SDK bot tests will be skipped" >&2
    exit 0
}

command -v node >/dev/null 2>&1 || give_up "node is not installed (Node 18 or later is needed)"
command -v npm >/dev/null 2>&1 || give_up "npm is not installed"
mkdir -p "$DEST"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
rm -f "$DEST/.installed"
(cd "$DEST" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) \
    || give_up "npm could not install dingtalk-stream into $DEST (offline or registry unreachable? see npm's error above)"
# the bot is an ES module: node resolves its imports from the bot's own folder up
ln -sfn ../../.node/node_modules "$SRC/node_modules"
touch "$DEST/.installed"
echo "node-sdk: dingtalk-stream $(node -p "require('./$DEST/node_modules/dingtalk-stream/package.json').version") installed in $DEST/"
