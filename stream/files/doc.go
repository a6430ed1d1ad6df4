// Package files serves a directory over streamd streams and is the client side
// of those routes: resumable uploads and downloads, and listings of plain files.
//
// A Store is rooted at a data directory. Register adds its handlers to a
// stream.Mux:
//
//	files/upload    Upload stream; OPEN metadata {"name", "size", "sha256"} for a
//	                new upload (size and sha256 optional) or {"id", "offset"} to
//	                resume one; ACCEPT metadata {"name", "id", "offset", "size"}.
//	files/download  Download stream; OPEN metadata {"name"} (+ "offset", "version"
//	                to resume); ACCEPT metadata {"name", "size", "modTime",
//	                "version", "offset"} (+ "sha256" of the whole file if resumed).
//	files/list      Request; {"after", "maxBytes"} → {"files": [...], "more"}.
//	files/abort     Request; {"id"} deletes a partial upload.
//
// Names are single path elements confined to the data directory (ValidateName);
// upload ids are server-made (128 random bits, hex) and only ids of that form
// name files; every file operation goes through an os.Root, so even a symlink
// planted in the directory cannot lead outside it.
//
// Uploads are durable and resumable (docs/RESUME.md): an upload is written to
// <dir>/.streamd/uploads/<id>.part next to an <id>.json record; every
// StoreConfig.CheckpointBytes or CheckpointInterval the data is fsynced, the
// record (durable offset, hash state) replaced atomically, and only then a
// CHECKPOINT sent. A stream that fails for any reason is checkpointed too, so
// the upload can be resumed by id, on a new session or after a server restart,
// from its durable offset. After the last byte the size and SHA-256 are checked
// and the file renamed into place atomically; a mismatch is an INTEGRITY_ERROR
// and the partial upload stays. One stream writes an upload at a time: a stream
// resuming it takes it over from the one holding it.
//
// UploadResumable and DownloadFileResumable transfer over a
// stream.ReconnectingClient and survive cuts, lost sessions and server
// restarts; Upload, Download, DownloadFile and List work on one session. All
// open streams with OpenOptions.Checksum set, so the session verifies a
// SHA-256 of every stream end to end.
//
// # Concurrency
//
// A Store is safe for concurrent use: each stream handler works on its own
// partial upload (an upload id has one writer at a time), and concurrent
// uploads of one name each write their own partial file; the last to finish
// wins the (atomic) rename. The client helpers may be called concurrently on
// one session or client; a Progress or OnStart callback is called from one
// goroutine at a time. Close the Store only after the server using it has shut
// down.
package files
