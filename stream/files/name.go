package files

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/streamd/streamd/stream"
)

// MaxNameLen is the longest file name accepted, in bytes.
const MaxNameLen = 255

// internalDir is the data directory's private subdirectory (partial uploads).
const internalDir = ".streamd"

// ErrInvalidName is matched (errors.Is) by every error ValidateName returns. It
// wraps stream.ErrInvalidArgument, so handlers report it to the peer with
// stream.CodeInvalidArgument.
var ErrInvalidName = fmt.Errorf("%w: invalid file name", stream.ErrInvalidArgument)

// ValidateName checks that name is a plain file name that stays inside the data
// directory: 1–255 bytes of UTF-8, no NUL or other control characters, no '/' or
// '\\', not "." or "..", and not the store's reserved ".streamd".
func ValidateName(name string) error {
	why := ""
	switch {
	case name == "":
		why = "empty"
	case len(name) > MaxNameLen:
		why = fmt.Sprintf("longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case strings.ContainsAny(name, "/\\"):
		why = "contains a path separator"
	case name == "." || name == "..":
		why = "is a directory reference"
	case name == internalDir:
		why = "is reserved"
	default:
		for _, r := range name {
			if r < 0x20 || r == 0x7f {
				why = fmt.Sprintf("contains control character %U", r)
				break
			}
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
}
