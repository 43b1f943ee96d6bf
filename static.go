package rip

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Limits and header values of [Static].
const (
	staticMaxPathBytes   = 1024 // escaped URL path length accepted
	staticMaxETagEntries = 4096 // content-hash ETags remembered for files without a modification time
	staticIndexName      = "index.html"
	staticGzipSuffix     = ".gz"
	staticMinHashHex     = 8 // hex digits that mark a fingerprinted file name

	staticCacheHTML      = "no-cache"
	staticCacheImmutable = "public, max-age=31536000, immutable" // one year
	staticCacheDefault   = "public, max-age=3600"                // one hour
	staticCSP            = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	staticReferrerPolicy = "strict-origin-when-cross-origin"
	staticAllow          = "GET, HEAD"
)

// Static returns a handler that serves the files of fsys, for a web app's
// HTML, scripts, styles and images.
//
// For a directory on disk pass the FS of an [os.Root], which refuses any
// path, symbolic links included, that leads outside the directory, and keep
// the root open while serving:
//
//	root, err := os.OpenRoot("web")
//	h := rip.Static(root.FS(), notFound)
//
// For embedded files pass the subtree that holds them, so the embed
// directory name is not part of the URL:
//
//	//go:embed web
//	var webFiles embed.FS
//	sub, err := fs.Sub(webFiles, "web")
//	h := rip.Static(sub, notFound)
//
// Do not pass [os.DirFS] or an [http.Dir]-like FS for a directory that may
// contain symbolic links: they follow links out of the tree.
//
// Behaviour:
//   - Only GET and HEAD are served. Other methods get 405 with an Allow
//     header and a short plain-text body written by Static itself: notFound
//     describes a 404, and relabelling its response would make its body
//     disagree with the status. Mount Static with a "GET /..." pattern and
//     the router's own 405 answer applies before Static sees the request.
//   - Paths that are unsafe (parent or dot segments, encoded slashes,
//     backslashes, NUL and other control bytes, empty segments, over 1 KiB)
//     or that name nothing get notFound (or [http.NotFound] if nil), with
//     no hint of why.
//   - "/" and "/dir/" serve the index.html inside them, or 404; there is
//     never a directory listing. "/dir" redirects to "dir/" (relative, so it
//     cannot be an open redirect) when "dir/index.html" exists.
//   - Content-Type comes from the extension ([mime.TypeByExtension]),
//     application/octet-stream when unknown, always with
//     X-Content-Type-Options: nosniff, so no browser guesses a script type.
//   - A sibling "name.gz" is served with Content-Encoding: gzip to clients
//     whose Accept-Encoding allows gzip (q-values honoured), with the
//     Content-Type of the uncompressed name. Vary: Accept-Encoding is set
//     whenever such a sibling exists.
//   - Cache-Control: HTML gets "no-cache" (always revalidated); names
//     fingerprinted with 8 or more hex digits between dots, such as
//     app.3f9a1c2b.js, get one year and immutable; others one hour.
//   - ETag: the size and modification time of the file served, in hex; for
//     files without a modification time (embed.FS) a SHA-256 of the
//     content, computed once per file and remembered (such an FS is taken
//     to be immutable). [http.ServeContent] answers If-None-Match with 304,
//     HEAD without a body, and Range requests.
//   - HTML responses carry a strict Content-Security-Policy (same-origin
//     resources only, no framing, no base URI, forms to self) and
//     Referrer-Policy: strict-origin-when-cross-origin.
//
// The handler is safe for concurrent use.
//
// # Security
//
// The threat is a request path that reads a file the operator never meant to
// publish: traversal out of the tree ("..", encoded or with backslashes),
// dotfiles such as .env or .git/config, or symbolic links pointing elsewhere.
// Every path goes through staticCleanPath before any file system call,
// [fs.FS] itself refuses ".." and absolute names, and [os.Root] refuses
// escapes through links. A second threat is content sniffing turning an
// uploaded or mis-typed file into script; every response carries nosniff and
// HTML carries a restrictive CSP.
func Static(fsys fs.FS, notFound http.Handler) http.Handler {
	if notFound == nil {
		notFound = http.HandlerFunc(http.NotFound)
	}
	return &staticHandler{fsys: fsys, notFound: notFound}
}

// staticHandler is the [http.Handler] returned by [Static].
type staticHandler struct {
	fsys     fs.FS
	notFound http.Handler

	// mu guards etags, the content-hash ETags of files without a
	// modification time, keyed by name and size.
	mu    sync.Mutex
	etags map[string]string
}

func (h *staticHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", staticAllow)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, isDir, ok := staticCleanPath(r.URL.EscapedPath())
	if !ok {
		h.notFound.ServeHTTP(w, r)
		return
	}
	if isDir {
		name = path.Join(name, staticIndexName)
	}
	f, fi, err := staticOpen(h.fsys, name)
	if err != nil {
		h.notFound.ServeHTTP(w, r)
		return
	}
	defer f.Close()
	switch {
	case fi.IsDir() && isDir: // "dir/index.html" is itself a directory
		h.notFound.ServeHTTP(w, r)
		return
	case fi.IsDir():
		h.redirectToDir(w, r, name)
		return
	}
	h.serveFile(w, r, name, f, fi)
}

// staticOpen opens name and stats it. It returns an error for anything that
// is neither a regular file nor a directory (devices, pipes).
func staticOpen(fsys fs.FS, name string) (fs.File, fs.FileInfo, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, nil, errors.New("rip: static: not a regular file")
	}
	return f, fi, nil
}

// redirectToDir answers a directory named without its trailing slash: a
// redirect to "name/" when the directory has an index, else notFound, so the
// existence of index-less directories is not revealed.
func (h *staticHandler) redirectToDir(w http.ResponseWriter, r *http.Request, name string) {
	idx, fi, err := staticOpen(h.fsys, path.Join(name, staticIndexName))
	if err != nil {
		h.notFound.ServeHTTP(w, r)
		return
	}
	idx.Close()
	if fi.IsDir() {
		h.notFound.ServeHTTP(w, r)
		return
	}
	// A relative reference resolves against the request URL, so the
	// redirect stays on this site. The "./" keeps a first segment such as
	// "http:x" from being read as a scheme.
	target := "./" + url.PathEscape(path.Base(name)) + "/"
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusMovedPermanently)
}

// serveFile sets the headers for name and hands f, or its gzip sibling, to
// http.ServeContent.
func (h *staticHandler) serveFile(w http.ResponseWriter, r *http.Request, name string, f fs.File, fi fs.FileInfo) {
	hdr := w.Header()
	ctype := staticContentType(name)
	html := strings.HasPrefix(ctype, "text/html")
	hdr.Set("Content-Type", ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", staticCacheControl(name, html))
	if html {
		hdr.Set("Content-Security-Policy", staticCSP)
		hdr.Set("Referrer-Policy", staticReferrerPolicy)
	}

	served, servedInfo, servedName := f, fi, name
	if gz, gzi, err := staticOpen(h.fsys, name+staticGzipSuffix); err == nil {
		defer gz.Close()
		if gzi.Mode().IsRegular() {
			hdr.Add("Vary", "Accept-Encoding")
			if staticAcceptsGzip(r.Header.Values("Accept-Encoding")) {
				hdr.Set("Content-Encoding", "gzip")
				served, servedInfo, servedName = gz, gzi, name+staticGzipSuffix
			}
		}
	}

	rs, err := staticSeeker(served)
	if err != nil {
		staticServerError(w)
		return
	}
	tag, err := h.etag(servedName, servedInfo, rs)
	if err != nil {
		staticServerError(w)
		return
	}
	hdr.Set("ETag", tag)
	http.ServeContent(w, r, servedName, servedInfo.ModTime(), rs)
}

// staticServerError answers 500 without the caching and encoding headers
// already set for the file, so that no cache keeps the error for a year.
func staticServerError(w http.ResponseWriter) {
	for _, k := range []string{"Cache-Control", "Content-Encoding", "ETag", "Content-Security-Policy", "Referrer-Policy"} {
		w.Header().Del(k)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "internal server error", http.StatusInternalServerError)
}

// staticSeeker returns f as an io.ReadSeeker. Files of os.Root, embed.FS and
// fstest.MapFS all implement Seek; an FS whose files do not is a programming
// error reported as 500 rather than buffered without bound.
func staticSeeker(f fs.File) (io.ReadSeeker, error) {
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		return nil, errors.New("rip: static: file does not implement io.Seeker")
	}
	return rs, nil
}

// etag returns a strong entity tag for the file served. With a modification
// time it is size and time in hex, which changes on any rewrite that an
// operator's deploy makes; without one (embed.FS) it is the first 128 bits of
// the content's SHA-256, remembered per name and size, since such an FS does
// not change while the process runs. rs is left at its start.
func (h *staticHandler) etag(name string, fi fs.FileInfo, rs io.ReadSeeker) (string, error) {
	if mt := fi.ModTime(); !mt.IsZero() {
		return `"` + strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(mt.UnixNano(), 16) + `"`, nil
	}
	key := name + "\x00" + strconv.FormatInt(fi.Size(), 10)
	h.mu.Lock()
	tag, ok := h.etags[key]
	h.mu.Unlock()
	if ok {
		return tag, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, rs); err != nil {
		return "", err
	}
	if _, err := rs.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	tag = `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.etags == nil {
		h.etags = make(map[string]string)
	}
	if len(h.etags) < staticMaxETagEntries {
		h.etags[key] = tag
	}
	return tag, nil
}

// staticCleanPath turns an escaped URL path into a name for [fs.FS.Open],
// and reports whether the request named a directory (trailing slash) and
// whether the path is acceptable at all. "/" gives ".". A path without a
// leading slash, as left by [http.StripPrefix], is taken as if it had one.
//
// # Security
//
// The threat is a path that reaches outside the served tree or into hidden
// files. The path is rejected, not repaired, when it is longer than 1 KiB,
// contains an encoded slash or backslash (%2F, %5C, which would change
// segment boundaries after decoding), does not decode, is not UTF-8, holds a
// backslash, NUL or other control character, has an empty segment ("//"), or
// has any segment starting with "." — which covers ".", "..", ".env" and
// ".git". The decoding happens once; the result is then checked with
// [fs.ValidPath], so what is returned can never escape the FS root.
func staticCleanPath(escaped string) (name string, isDir bool, ok bool) {
	if len(escaped) > staticMaxPathBytes || staticHasEncodedSeparator(escaped) {
		return "", false, false
	}
	p, err := url.PathUnescape(escaped)
	if err != nil || !utf8.ValidString(p) {
		return "", false, false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false, false
		}
	}
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return ".", true, true
	}
	p, isDir = strings.CutSuffix(p, "/")
	for rest := p; ; {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "" || seg[0] == '.' {
			return "", false, false
		}
		if !more {
			break
		}
		rest = after
	}
	if !fs.ValidPath(p) {
		return "", false, false
	}
	return p, isDir, true
}

// staticHasEncodedSeparator reports a percent-encoded slash or backslash.
func staticHasEncodedSeparator(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		switch s[i+1 : i+3] {
		case "2f", "2F", "5c", "5C":
			return true
		}
	}
	return false
}

// staticContentType returns the media type for name's extension, or
// application/octet-stream, which browsers never render or execute.
func staticContentType(name string) string {
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// staticCacheControl picks the caching policy: HTML is revalidated on every
// use so a deploy shows at once; fingerprinted names change whenever their
// content does, so they can be cached for a year; everything else for an hour.
func staticCacheControl(name string, html bool) string {
	switch {
	case html:
		return staticCacheHTML
	case staticFingerprinted(path.Base(name)):
		return staticCacheImmutable
	default:
		return staticCacheDefault
	}
}

// staticFingerprinted reports whether base has a dot-separated segment, not
// the first nor the last, of at least 8 hex digits: "app.3f9a1c2b.js".
func staticFingerprinted(base string) bool {
	first, last := strings.IndexByte(base, '.'), strings.LastIndexByte(base, '.')
	if first < 0 || first == last {
		return false
	}
	for seg := range strings.SplitSeq(base[first+1:last], ".") {
		if len(seg) >= staticMinHashHex && staticIsHex(seg) {
			return true
		}
	}
	return false
}

func staticIsHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// staticAcceptsGzip reports whether Accept-Encoding header lines allow gzip
// (RFC 9110 §12.5.3): "gzip" or "x-gzip" with a q-value above 0, or else a
// "*" wildcard above 0. An unparsable q-value counts as 0, so doubt always
// falls back to the uncompressed file, which every client accepts.
func staticAcceptsGzip(values []string) bool {
	gzipQ, starQ := -1, -1 // -1: not mentioned; else q in thousandths
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(elem, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			q := staticQValue(params)
			switch coding {
			case "gzip", "x-gzip":
				gzipQ = max(gzipQ, q)
			case "*":
				starQ = max(starQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// staticQValue returns the q parameter of an Accept-Encoding element in
// thousandths: 1000 when absent, 0 when malformed.
func staticQValue(params string) int {
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		return staticParseQ(strings.TrimSpace(v))
	}
	return 1000
}

// staticParseQ parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
// into thousandths, or 0 if it does not match.
func staticParseQ(v string) int {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0
	}
	whole, frac, hasDot := strings.Cut(v, ".")
	if len(whole) != 1 || (hasDot && len(frac) > 3) {
		return 0
	}
	q := int(whole[0]-'0') * 1000
	scale := 100
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return 0
		}
		q += int(frac[i]-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0
	}
	return q
}
