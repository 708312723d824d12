// Package ota serves firmware files for OTA jobs: files uploaded through
// the HTTP API into a directory, each with its size and SHA-256, and
// downloaded by devices over the hub's HTTP(S) listener through
// short-lived signed URLs (HMAC-SHA256 of the name and the expiry, with a
// key kept in the store), with Range support so a device can resume.
//
// A job document refers to a file with placeholders that are replaced
// each time the document is sent to a device (Render), so the URL is
// fresh for a rollout that lasts longer than a URL lives:
// ${iothub:firmware-url:NAME}, ${iothub:firmware-sha256:NAME} and
// ${iothub:firmware-size:NAME}.
//
// A Store is safe for concurrent use: uploads write a temporary file and
// rename it, and the metadata lives in the storage.Store.
package ota
