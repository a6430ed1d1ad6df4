// Package files serves a directory over streamd streams and is the client side
// of those routes: uploads, downloads and listings of plain files.
//
// A Store is rooted at a data directory. Register adds three handlers to a
// stream.Mux:
//
//	files/upload    Upload stream; OPEN metadata {"name", "size", "sha256"}
//	                (size and sha256 optional), ACCEPT metadata {"name", "offset"}.
//	files/download  Download stream; OPEN metadata {"name"}, ACCEPT metadata
//	                {"name", "size", "modTime"}.
//	files/list      Request; {"after", "maxBytes"} → {"files": [...], "more"}.
//
// Names are single path elements confined to the data directory (ValidateName);
// every file operation goes through an os.Root, so even a symlink planted in the
// directory cannot lead outside it. An upload is written to
// <dir>/.streamd/uploads/<id>.part next to a <id>.json record of what it is,
// synced, and renamed into place only after every byte arrived and the SHA-256
// checked out; a failed upload leaves nothing behind. (Resumable uploads will
// reopen these partial files by id.)
//
// Upload, Download, DownloadFile and List are the client helpers; they open
// streams with OpenOptions.Checksum set, so the session verifies a SHA-256 of
// every transfer end to end.
//
// # Concurrency
//
// A Store is safe for concurrent use: each stream handler works on its own
// files, and concurrent uploads of one name each write their own partial file;
// the last to finish wins the (atomic) rename. The client helpers may be called
// concurrently on one session; a Progress callback is called from one goroutine
// at a time. Close the Store only after the server using it has shut down.
package files
