package cursor

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestRoundTripAndRefusals(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 0, 0, 123456000, time.UTC)
	gotAt, gotID, err := Decode(Encode(at, "01abc"))
	if err != nil || !gotAt.Equal(at) || gotID != "01abc" {
		t.Fatalf("round trip: %s %q %v", gotAt, gotID, err)
	}
	for _, c := range []string{"!!", "bm9jb2xvbg", "OjAxYWJj", "eHg6MDFhYmM", "MTIz"} { // bad b64, no colon, no time, bad time, no id
		if _, _, err := Decode(c); !sluice.IsCode(err, sluice.CodeInvalidRequest) {
			t.Errorf("Decode(%q): %v, want invalid_request", c, err)
		}
	}
}
