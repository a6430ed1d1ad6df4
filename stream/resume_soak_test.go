//go:build soak

package stream

// The soak build runs the cut tests at the full size:
// go test -race -tags soak -run 'TestResume' ./stream/
func init() { resumeSize = 256 << 20 }
