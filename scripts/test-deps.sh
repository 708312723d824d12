#!/usr/bin/env bash
# Installs the Debian and npm packages the test suite needs, when missing.
# Safe to run repeatedly: it does nothing when every tool is present. It runs
# apt-get update once before installing and waits for a held dpkg lock.
set -euo pipefail

need_apt=()
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium) # the dashboard's browser tests

if [ ${#need_apt[@]} -gt 0 ]; then
	echo "test-deps: installing ${need_apt[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-o DPkg::Lock::Timeout=600)
	SUDO=""
	if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
	$SUDO apt-get "${apt_opts[@]}" update -q
	$SUDO apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${need_apt[@]}"
fi
# MQTT.js for the WebSocket tests, pinned by its package-lock.json.
mqttjs="$(cd "$(dirname "$0")/.." && pwd)/test/integration/mqttjs"
if [ ! -f "$mqttjs/node_modules/mqtt/package.json" ]; then
	echo "test-deps: npm ci in $mqttjs"
	(cd "$mqttjs" && npm ci --no-audit --no-fund --loglevel=error)
fi
# The AWS IoT device SDK (thingShadow, jobs) for the device tests, pinned by
# its package-lock.json.
awsiot="$(cd "$(dirname "$0")/.." && pwd)/test/integration/awsiot"
if [ ! -f "$awsiot/node_modules/aws-iot-device-sdk/package.json" ]; then
	echo "test-deps: npm ci in $awsiot"
	(cd "$awsiot" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "test-deps: ok"
