// Command streamd is the streamd daemon and its command-line client:
//
//	streamd serve                      serve ./streamd-data on ws://127.0.0.1:8080/streamd
//	streamd upload FILE [--name N]     upload a file (resumable: run it again after a crash)
//	streamd download NAME [-o FILE]    download a file (resumes FILE.part)
//	streamd ls                         list the server's files
//	streamd tail NAME                  follow a broadcast topic (--last N, --from-start)
//	streamd export DATASET -o FILE     export a dataset (csv, jsonl, arrow, parquet)
//	streamd bench [--quick] …          run the benchmark plugin streamd-bench (make build)
//
// Every flag can also be set from the environment as STREAMD_<FLAG>, e.g.
// STREAMD_ADDR, STREAMD_DATA_DIR, STREAMD_SERVER. Exit status: 0 on success,
// 1 on any error (printed to stderr, naming the typed error code).
//
// The command is thin: flags and environment variables become library calls
// (stream.Server and stream/files for serve; a stream.ReconnectingClient with
// files.UploadResumable and files.DownloadFileResumable, and files.List, for
// the client commands). upload keeps its unfinished uploads in a state file
// (--state-file) so that a rerun continues them (docs/RESUME.md). Each invocation runs one command on
// the main goroutine; SIGINT/SIGTERM cancel its context (serve then shuts down
// gracefully; a second signal kills the process).
package main
