package main

import (
	"encoding/json"
	"fmt"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// validateDataJSON accepts what terraform-provider-vault's ValidateDataJSONFunc accepts: a JSON
// object (any value types; `null` too, as upstream).
func validateDataJSON(s string) error {
	var m map[string]any
	return json.Unmarshal([]byte(s), &m)
}

// normalizeDataJSON is upstream's NormalizeDataJSONFunc (the data_json StateFunc): the object
// re-encoded by encoding/json, so keys are sorted and whitespace is gone. The state holds this
// form, and diffs compare it, so a reformatted document is no change.
func normalizeDataJSON(s string) (string, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return "", err
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// decodeData parses dataJson for a write.
func decodeData(s string) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("data_json syntax error: %w", err)
	}
	return m, nil
}

// serializeDataMap is upstream's serializeDataMapToString: strings as they are, anything else as
// its JSON encoding.
func serializeDataMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
			continue
		}
		b, _ := json.Marshal(v) // values decoded from JSON always encode
		out[k] = string(b)
	}
	return out
}

// checkDataJSON is the Check failure for a dataJson that is not a JSON object. An unknown value
// (preview) is not checked.
func checkDataJSON(inputs property.Map) []p.CheckFailure {
	v, ok := inputs.GetOk("dataJson")
	if !ok || v.IsComputed() || !v.IsString() {
		return nil
	}
	if err := validateDataJSON(v.AsString()); err != nil {
		return []p.CheckFailure{{
			Property: "dataJson",
			Reason:   fmt.Sprintf("dataJson must be a JSON-encoded object: %v", err),
		}}
	}
	return nil
}
