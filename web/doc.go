// Package web holds the streamd browser client and demo page and serves them.
//
// The client is a set of ES modules (streamd.js is the entry point; wire.js
// the frame codec of docs/PROTOCOL.md; session.js, stream.js, client.js,
// resume.js, transport.js, compress.js, sha256.js, errors.js, options.js,
// broadcast.js, dataset.js; see README.md) that run in browsers without a
// build step. index.html, app.js and style.css are the demo page:
// connection state, a live log view of a broadcast topic, a resumable file
// upload with progress, and a dataset table. package.json lists only the test
// dependencies (playwright-core for the Chromium end-to-end tests in test/e2e).
//
// Handler serves the embedded files; streamd serve mounts it at "/".
//
// # Concurrency
//
// Handler is safe for concurrent use: the files are read-only, embedded in the
// binary at build time.
package web
