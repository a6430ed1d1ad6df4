// Package examples holds small runnable programs that show how to use streamd;
// each subdirectory is a main package meant to be copied from:
//
//	echo      a bidirectional stream: a server echoes what a client sends
//	upload    upload a file with a progress callback (stream/files)
//	download  list a server's files and download one (stream/files)
//	resumable-upload  an upload that survives cuts, server restarts and being
//	          killed and run again (stream/files, stream.ReconnectingClient)
//	export-parquet   export a SQLite table as a dataset into a Parquet file (dataset)
//	consume-batches  process a dataset export batch by batch as it arrives (dataset)
//
// Each runs a server and a client in one process over loopback WebSocket, so it
// needs nothing else: go run ./examples/echo. The tests in this directory build
// and run every example and check what it prints.
package examples
