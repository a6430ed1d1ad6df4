package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"github.com/streamd/streamd/stream"
)

// loadTokens reads a tokens file: one "TOKEN PRINCIPAL" per line, separated
// by blanks; blank lines and lines starting with # are ignored. The principal
// is who the token authenticates: resume tokens and uploads are bound to it.
func loadTokens(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--tokens-file: %w", err)
	}
	defer f.Close()
	tokens := make(map[string]string)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("--tokens-file %s:%d: want \"TOKEN PRINCIPAL\", got %d fields", path, n, len(fields))
		}
		if _, dup := tokens[fields[0]]; dup {
			return nil, fmt.Errorf("--tokens-file %s:%d: duplicate token", path, n)
		}
		tokens[fields[0]] = fields[1]
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--tokens-file %s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("--tokens-file %s: no tokens", path)
	}
	return tokens, nil
}

// tokensAuthenticator accepts the tokens of the map and returns their
// principal. Every token is compared in constant time, so the time taken does
// not tell how much of a guess was right.
func tokensAuthenticator(tokens map[string]string) stream.Authenticator {
	type entry struct{ token, principal []byte }
	list := make([]entry, 0, len(tokens))
	for t, p := range tokens {
		list = append(list, entry{[]byte(t), []byte(p)})
	}
	return func(_ context.Context, got string) (string, error) {
		principal := ""
		for _, e := range list {
			if subtle.ConstantTimeCompare([]byte(got), e.token) == 1 {
				principal = string(e.principal)
			}
		}
		if principal == "" {
			return "", stream.ErrUnauthorized
		}
		return principal, nil
	}
}
