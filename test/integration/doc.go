// Package integration runs black-box tests against the built iothub binary
// with real peers: Debian's mosquitto clients and broker, paho.golang and
// paho.mqtt.golang, MQTT.js, kcat and kfake, Redis, PostgreSQL,
// Prometheus, HAProxy, headless Chromium and the AWS IoT device SDK.
// `make test` installs what is missing first; a missing peer fails the
// test rather than skipping it.
package integration
