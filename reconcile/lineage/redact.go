package lineage

import (
	"encoding/json"
	"fmt"
	"reflect"

	"trellis.dev/trellis/reconcile/redact"
)

// Redacted returns a deep copy of r in which every string (map keys
// included) went through red. A nil red returns an unredacted copy.
func (r Record) Redacted(red *redact.Redactor) (Record, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("record %s: %w", r.RunID, err)
	}
	var out Record
	if err := json.Unmarshal(data, &out); err != nil {
		return Record{}, fmt.Errorf("record %s: %w", r.RunID, err)
	}
	if red != nil {
		redactValue(reflect.ValueOf(&out).Elem(), red)
	}
	return out, nil
}

// redactValue redacts, in place, every string reachable from v.
func redactValue(v reflect.Value, red *redact.Redactor) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(red.Redact(v.String()))
		}
	case reflect.Pointer:
		if !v.IsNil() {
			redactValue(v.Elem(), red)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				redactValue(v.Field(i), red)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			redactValue(v.Index(i), red)
		}
	case reflect.Map:
		redactMap(v, red)
	}
}

// redactMap rebuilds a map with redacted keys and values.
func redactMap(v reflect.Value, red *redact.Redactor) {
	if v.IsNil() {
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), v.Len())
	iter := v.MapRange()
	for iter.Next() {
		k := reflect.New(v.Type().Key()).Elem()
		k.Set(iter.Key())
		e := reflect.New(v.Type().Elem()).Elem()
		e.Set(iter.Value())
		redactValue(k, red)
		redactValue(e, red)
		out.SetMapIndex(k, e)
	}
	v.Set(out)
}
