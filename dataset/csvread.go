package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// csvReader is an RFC 4180 record reader that, unlike encoding/csv, reports
// whether each field was quoted (an unquoted empty field is null, a quoted
// one is the empty string) and the byte offset of every record. Line ends
// are LF or CRLF; line breaks inside quoted fields are kept byte for byte.
type csvReader struct {
	r         *bufio.Reader
	comma     byte
	maxRecord int
	skipBlank bool // skip empty lines (when they cannot be a record)

	offset int64 // bytes consumed so far
	line   int64 // lines consumed so far
	first  bool

	// The current record, valid until the next read.
	recOffset int64
	recLine   int64
	buf       []byte
	fields    []csvField
}

type csvField struct {
	start, end int
	quoted     bool
}

func newCSVReader(r io.Reader, comma byte, maxRecord int, skipBlank bool) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 64<<10), comma: comma, maxRecord: maxRecord, skipBlank: skipBlank, first: true}
}

// CSV syntax errors; callers wrap them in *InputError with the position.
var (
	errBareQuote   = errors.New(`bare " in an unquoted field`)
	errAfterQuote  = errors.New(`unexpected character after a closing "`)
	errOpenQuote   = errors.New(`quoted field not closed before the end of input`)
	errRecordLimit = errors.New("record exceeds the size limit")
)

// field returns field i of the current record as a string.
func (c *csvReader) field(i int) string {
	f := c.fields[i]
	return string(c.buf[f.start:f.end])
}

// readLine returns the next physical line including its '\n' (if any). The
// slice is valid until the next call.
func (c *csvReader) readLine(pending int) ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A line longer than the buffer: gather it within the record limit.
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if pending+len(long) > c.maxRecord {
				return nil, errRecordLimit
			}
			line, err = c.r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if pending+len(line) > c.maxRecord {
		return nil, errRecordLimit
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if c.first {
		c.first = false
		if bytes.HasPrefix(line, []byte("\xEF\xBB\xBF")) {
			c.offset += 3
			line = line[3:]
		}
	}
	c.offset += int64(len(line))
	if len(line) > 0 {
		c.line++
	}
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	return line, nil
}

// read reads the next record into c.fields. It returns io.EOF at the end
// of input; syntax errors are returned bare (the caller adds the position
// from recOffset and recLine).
func (c *csvReader) read() error {
	for {
		c.recOffset, c.recLine = c.offset, c.line+1
		line, err := c.readLine(0)
		if err != nil {
			return err
		}
		if c.skipBlank && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) && line[len(line)-1] == '\n' {
			continue
		}
		return c.parse(line)
	}
}

func trimEOL(line []byte) ([]byte, bool) {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		if n > 1 && line[n-2] == '\r' {
			return line[:n-2], true
		}
		return line[:n-1], true
	}
	return line, false
}

func (c *csvReader) parse(line []byte) error {
	c.buf = c.buf[:0]
	c.fields = c.fields[:0]
	for {
		// Start of a field.
		if len(line) == 0 || line[0] != '"' {
			body, _ := trimEOL(line)
			i := bytes.IndexByte(body, c.comma)
			if i < 0 {
				i = len(body)
			}
			if bytes.IndexByte(body[:i], '"') >= 0 {
				return errBareQuote
			}
			start := len(c.buf)
			c.buf = append(c.buf, body[:i]...)
			c.fields = append(c.fields, csvField{start: start, end: len(c.buf)})
			if i == len(body) {
				return nil
			}
			line = line[i+1:]                       // keeps the line end, which a quoted field may need
			if r, _ := trimEOL(line); len(r) == 0 { // a trailing comma: one more empty field
				c.fields = append(c.fields, csvField{start: len(c.buf), end: len(c.buf)})
				return nil
			}
			continue
		}
		// Quoted field, possibly spanning lines.
		line = line[1:]
		start := len(c.buf)
		for {
			i := bytes.IndexByte(line, '"')
			if i < 0 {
				c.buf = append(c.buf, line...)
				next, err := c.readLine(len(c.buf))
				if errors.Is(err, io.EOF) {
					return errOpenQuote
				}
				if err != nil {
					return err
				}
				line = next
				continue
			}
			c.buf = append(c.buf, line[:i]...)
			line = line[i+1:]
			if len(line) > 0 && line[0] == '"' { // escaped quote
				c.buf = append(c.buf, '"')
				line = line[1:]
				continue
			}
			break
		}
		c.fields = append(c.fields, csvField{start: start, end: len(c.buf), quoted: true})
		rest, _ := trimEOL(line)
		switch {
		case len(rest) == 0:
			return nil
		case rest[0] == c.comma:
			line = line[1:]
			if r, _ := trimEOL(line); len(r) == 0 {
				c.fields = append(c.fields, csvField{start: len(c.buf), end: len(c.buf)})
				return nil
			}
		default:
			return errAfterQuote
		}
	}
}

// csvNeedsQuote reports whether a text value must be quoted to read back
// as itself.
func csvNeedsQuote(s []byte, comma byte) bool {
	if len(s) == 0 {
		return true
	}
	if s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return true
	}
	for _, c := range s {
		if c == comma || c == '"' || c == '\n' || c == '\r' {
			return true
		}
	}
	return false
}

// appendCSVField appends s, quoted when needed.
func appendCSVField(buf, s []byte, comma byte) []byte {
	if !csvNeedsQuote(s, comma) {
		return append(buf, s...)
	}
	buf = append(buf, '"')
	for {
		i := bytes.IndexByte(s, '"')
		if i < 0 {
			break
		}
		buf = append(buf, s[:i+1]...)
		buf = append(buf, '"')
		s = s[i+1:]
	}
	buf = append(buf, s...)
	return append(buf, '"')
}

func csvSyntaxError(c *csvReader, row int64, err error) error {
	return &InputError{Format: "csv", Row: row, Line: c.recLine, Offset: c.recOffset, Err: err}
}
