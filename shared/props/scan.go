package props

import "encoding/json"

// A small scanner over JSON that json.Valid has accepted: it splits objects
// into members and arrays into elements without building maps or checking
// the bytes again at every level.

// skipValue returns the index just past the value that starts at or after i.
func skipValue(raw []byte, i int) int {
	i = skipSpace(raw, i)
	if i >= len(raw) {
		return i
	}
	switch raw[i] {
	case '"':
		return skipString(raw, i)
	case '{', '[':
		depth := 0
		for i < len(raw) {
			switch raw[i] {
			case '"':
				i = skipString(raw, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number, true, false or null
		for i < len(raw) && !isDelimiter(raw[i]) {
			i++
		}
		return i
	}
}

// skipString returns the index just past the string whose quote is at i.
func skipString(raw []byte, i int) int {
	for i++; i < len(raw); i++ {
		switch raw[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

func isDelimiter(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// Members calls fn with each member of the object raw (which starts with
// '{', and which json.Valid accepted) in document order.
func Members(raw []byte, fn func(key string, value []byte) error) error {
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != '}' {
		end := skipString(raw, i)
		key, err := unquote(raw[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(raw, end)
		i = skipSpace(raw, i+1) // the colon
		valueEnd := skipValue(raw, i)
		if err := fn(key, raw[i:valueEnd]); err != nil {
			return err
		}
		i = skipSpace(raw, valueEnd)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// elements calls fn with each element of the array raw (which starts with
// '[').
func elements(raw []byte, fn func(i int, value []byte) error) error {
	i := skipSpace(raw, 1)
	for n := 0; i < len(raw) && raw[i] != ']'; n++ {
		end := skipValue(raw, i)
		if err := fn(n, raw[i:end]); err != nil {
			return err
		}
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// unquote returns the text of a JSON string, fast when it has no escapes.
func unquote(quoted []byte) (string, error) {
	inner := quoted[1 : len(quoted)-1]
	for _, c := range inner {
		if c == '\\' || c >= 0x80 {
			var s string
			err := json.Unmarshal(quoted, &s) // escapes, and invalid UTF-8 made valid
			return s, err
		}
	}
	return string(inner), nil
}
