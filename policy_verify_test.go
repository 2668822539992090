package sluice

import "testing"

func TestVerifyAfterUploadValidate(t *testing.T) {
	for v, ok := range map[string]bool{"": true, VerifyFull: true, VerifyHead: true, "off": false, "HEAD": false} {
		p := DefaultPolicy()
		p.VerifyAfterUpload = v
		if err := p.Validate(); (err == nil) != ok {
			t.Errorf("verify_after_upload %q: error %v, want ok=%v", v, err, ok)
		}
	}
}
