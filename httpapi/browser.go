package httpapi

// What browsers need from the API beyond its routes: development tokens for
// the upload page, and the CORS allowances of browser SDKs.

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// DevTokenRequest is the body of POST /dev/token.
type DevTokenRequest struct {
	Sub   string `json:"sub"`
	Email string `json:"email,omitempty"`
}

// DevTokenResponse is its answer.
type DevTokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DevToken serves POST /dev/token: a development ID token for any subject,
// minted by mint (the development issuer). It is what the upload page's
// "sign in as" uses. Mount it only when the development issuer is on and
// the API listens on loopback: whoever can call it can act as anyone.
//
// It also refuses requests whose Host is not a loopback name, so that a web
// page on another site cannot reach it by pointing its own host name at
// 127.0.0.1 (DNS rebinding).
func DevToken(mint func(sub, email string) (string, time.Time, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeError(w, sluice.Errorf(sluice.CodeForbidden, "development tokens are only handed out to requests addressed to a loopback host (127.0.0.1, localhost, [::1])"))
			return
		}
		var req DevTokenRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if !sluice.SafeSubject(req.Sub) {
			writeError(w, sluice.Errorf(sluice.CodeInvalidRequest, "sub must be 1 to 128 letters, digits or _ . @ | : + = , -"))
			return
		}
		if len(req.Email) > 254 || strings.ContainsAny(req.Email, " \t\r\n") {
			writeError(w, sluice.Errorf(sluice.CodeInvalidRequest, "email is not an email address"))
			return
		}
		tok, exp, err := mint(req.Sub, req.Email)
		if err != nil {
			writeError(w, sluice.Wrap(sluice.CodeInternal, err, "cannot mint a development token"))
			return
		}
		info(r.Context()).sub = req.Sub
		writeJSON(w, http.StatusOK, DevTokenResponse{Token: tok, ExpiresAt: exp.UTC()})
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// awsSDKHeaders are what the AWS SDK for JavaScript adds to its calls to
// the STS at /sts; a browser app on another origin sends them only if the
// preflight allows them.
const awsSDKHeaders = "amz-sdk-invocation-id, amz-sdk-request, x-amz-user-agent"
