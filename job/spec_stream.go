package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// DecodeSpecStream reads a JSON job spec like DecodeSpec but hands its
// targets to sink in batches of at most batch targets, in order, instead of
// keeping them: memory stays flat however long the target list is. The
// returned spec has no Targets; n is how many were handed to sink. An error
// from sink stops the decoding and is returned as it is.
func DecodeSpecStream(r io.Reader, batch int, sink func([]TargetSpec) error) (spec *Spec, n int, err error) {
	if batch <= 0 {
		batch = DefaultChunkSize
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, 0, jsonError("", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, 0, &FieldError{Msg: "the job spec must be a JSON object"}
	}
	// Every field but targets is kept raw and decoded strictly at the end.
	var rest bytes.Buffer
	rest.WriteByte('{')
	sawTargets := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, n, jsonError("", err)
		}
		key, _ := tok.(string)
		if key != "targets" {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, n, jsonError(key, err)
			}
			if rest.Len() > 1 {
				rest.WriteByte(',')
			}
			kb, _ := json.Marshal(key)
			rest.Write(kb)
			rest.WriteByte(':')
			rest.Write(raw)
			continue
		}
		if sawTargets {
			return nil, n, &FieldError{Field: "targets", Msg: "targets given twice"}
		}
		sawTargets = true
		if n, err = streamTargets(dec, batch, sink); err != nil {
			return nil, n, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, n, jsonError("", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, n, &FieldError{Msg: "invalid JSON: unexpected data after the job spec"}
	}
	rest.WriteByte('}')
	spec, err = DecodeSpec(&rest)
	if err != nil {
		return nil, n, err
	}
	return spec, n, nil
}

// streamTargets reads the targets array, element by element.
func streamTargets(dec *json.Decoder, batch int, sink func([]TargetSpec) error) (int, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, jsonError("targets", err)
	}
	if tok == nil {
		return 0, nil // "targets": null
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return 0, &FieldError{Field: "targets", Msg: "must be an array of targets"}
	}
	buf := make([]TargetSpec, 0, batch)
	n := 0
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return n, jsonError(fmt.Sprintf("targets[%d]", n), err)
		}
		t, err := decodeTarget(raw)
		if err != nil {
			return n, &FieldError{Field: fmt.Sprintf("targets[%d]", n), Msg: err.Error()}
		}
		buf = append(buf, t)
		n++
		if len(buf) == batch {
			if err := sink(buf); err != nil {
				return n, err
			}
			buf = buf[:0]
		}
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return n, jsonError("targets", err)
	}
	if len(buf) > 0 {
		if err := sink(buf); err != nil {
			return n, err
		}
	}
	return n, nil
}

// decodeTarget reads one target strictly: a string, or an object with only
// host and vars (string values).
func decodeTarget(raw json.RawMessage) (TargetSpec, error) {
	raw = bytes.TrimSpace(raw)
	if h, ok := unquotePlain(raw); ok {
		return TargetSpec{Host: h}, nil
	}
	if len(raw) > 0 && raw[0] == '"' {
		var h string
		err := json.Unmarshal(raw, &h)
		return TargetSpec{Host: h}, err
	}
	if len(raw) == 0 || raw[0] != '{' {
		return TargetSpec{}, errors.New(`must be a string or {"host": ..., "vars": {...}}`)
	}
	var t struct {
		Host *string           `json:"host"`
		Vars map[string]string `json:"vars"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return TargetSpec{}, fmt.Errorf(`must be a string or {"host": ..., "vars": {...}} with string values: %s`, jsonErrorMsg(err))
	}
	if t.Host == nil {
		return TargetSpec{}, errors.New("host is required")
	}
	return TargetSpec{Host: *t.Host, Vars: t.Vars}, nil
}
