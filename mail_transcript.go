package rip

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// mailTranscriptMaxLine bounds a buffered partial line; a longer line is
// written out in pieces marked as cut, so a server that never sends a line
// end cannot grow the buffer.
const mailTranscriptMaxLine = 1024

// mailTranscript writes an SMTP dialogue for a human, one line per command or
// reply, "C: " for the client and "S: " for the server. A nil
// *mailTranscript discards everything, so callers need no checks. What it
// hides is described at [mailTranscript.clientLine].
type mailTranscript struct {
	w         io.Writer
	in, out   []byte // partial server and client lines
	auth      bool   // inside an AUTH exchange
	data      bool   // the client is sending message content
	dataBytes int
}

// note writes a line that is not part of the dialogue.
func (t *mailTranscript) note(s string) {
	if t == nil {
		return
	}
	fmt.Fprintf(t.w, "-- %s\n", s)
}

// client records bytes the client wrote.
func (t *mailTranscript) client(p []byte) {
	if t == nil {
		return
	}
	if t.data {
		t.dataBytes += len(p)
		return
	}
	t.out = t.lines(append(t.out, p...), t.clientLine)
}

// server records bytes the client read.
func (t *mailTranscript) server(p []byte) {
	if t == nil {
		return
	}
	t.in = t.lines(append(t.in, p...), t.serverLine)
}

// lines passes each complete line in buf to fn and returns what is left.
func (t *mailTranscript) lines(buf []byte, fn func(string)) []byte {
	for {
		line, rest, ok := bytes.Cut(buf, []byte("\n"))
		if !ok {
			break
		}
		fn(string(bytes.TrimSuffix(line, []byte("\r"))))
		buf = rest
	}
	if len(buf) > mailTranscriptMaxLine {
		fn(string(buf) + " [cut]")
		buf = buf[:0]
	}
	return buf
}

// clientLine records one line the client sent; serverLine records the
// server's and tracks where the AUTH exchange and the content end.
//
// # Security
//
// The transcript is printed by `ripc mail test` and may be pasted into a bug
// report, so it must not carry secrets: from the client's AUTH command until
// the server's final reply to it, the initial response, every challenge and
// every response are replaced by "[redacted]" (AUTH PLAIN carries the
// password in base64, CRAM-MD5 an offline-crackable digest). The message
// content (the one-time code) is replaced by its size. Control characters
// from the server are replaced so they cannot drive the operator's terminal.
func (t *mailTranscript) clientLine(line string) {
	switch {
	case t.auth:
		t.write("C: ", "[redacted]")
	case len(line) >= 5 && strings.EqualFold(line[:5], "AUTH "):
		t.auth = true
		f := strings.Fields(line)
		if len(f) > 2 {
			f = append(f[:2], "[redacted]")
		}
		t.write("C: ", strings.Join(f, " "))
	default:
		t.write("C: ", line)
	}
}

func (t *mailTranscript) serverLine(line string) {
	if t.data {
		t.data = false
		t.write("C: ", fmt.Sprintf("[message content, %d bytes]", t.dataBytes))
	}
	if t.auth {
		if strings.HasPrefix(line, "334") {
			t.write("S: ", "334 [redacted]")
			return
		}
		t.auth = false
	}
	t.write("S: ", line)
	if strings.HasPrefix(line, "354") {
		t.data, t.dataBytes = true, 0
	}
}

// write prints one line, replacing control and non-ASCII bytes with '?'.
func (t *mailTranscript) write(prefix, line string) {
	b := []byte(line)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = '?'
		}
	}
	fmt.Fprintf(t.w, "%s%s\n", prefix, b)
}
