package sts

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// The AWS STS query protocol: form parameters in (POST body or GET query),
// XML out, for AssumeRoleWithWebIdentity only. Stock SDKs pointed at the
// endpoint work unmodified.

// APIVersion is the only STS API version there is.
const APIVersion = "2011-06-15"

const xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

// maxForm bounds the request body: a 20,000-byte token and a 2 KiB policy,
// URL-encoded, with room to spare.
const maxForm = 64 << 10

// HandlerOptions tune the HTTP endpoint.
type HandlerOptions struct {
	// TrustProxy takes the client IP recorded in the ledger from
	// X-Forwarded-For, as the rest of sluice's API does.
	TrustProxy bool
	Log        *slog.Logger
}

// Handler serves AssumeRoleWithWebIdentity at whatever path it is mounted,
// for GET and POST.
func (s *Service) Handler(opt HandlerOptions) http.Handler {
	log := opt.Log
	if log == nil {
		log = s.log
	}
	return &handler{s: s, opt: opt, log: log}
}

type handler struct {
	s   *Service
	opt HandlerOptions
	log *slog.Logger
}

// assumeResponse is AWS's AssumeRoleWithWebIdentityResponse.
type assumeResponse struct {
	XMLName xml.Name     `xml:"AssumeRoleWithWebIdentityResponse"`
	Xmlns   string       `xml:"xmlns,attr"`
	Result  assumeResult `xml:"AssumeRoleWithWebIdentityResult"`
	Meta    struct {
		RequestID string `xml:"RequestId"`
	} `xml:"ResponseMetadata"`
}

type assumeResult struct {
	SubjectFromWebIdentityToken string `xml:"SubjectFromWebIdentityToken"`
	Audience                    string `xml:"Audience"`
	AssumedRoleUser             struct {
		Arn           string `xml:"Arn"`
		AssumedRoleID string `xml:"AssumedRoleId"`
	} `xml:"AssumedRoleUser"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"Credentials"`
	PackedPolicySize *int   `xml:"PackedPolicySize,omitempty"`
	Provider         string `xml:"Provider"`
}

// errorResponse is AWS's query-protocol error shape.
type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		h.writeError(w, r, http.StatusMethodNotAllowed, "InvalidAction", "use GET or POST")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.writeError(w, r, http.StatusBadRequest, "MalformedQueryString", "the request's parameters cannot be parsed")
		return
	}
	f := r.Form
	switch action := f.Get("Action"); {
	case action == "":
		h.writeError(w, r, http.StatusBadRequest, "MissingAction", "the Action parameter is required")
		return
	case action != "AssumeRoleWithWebIdentity" || f.Get("Version") != APIVersion:
		h.writeError(w, r, http.StatusBadRequest, "InvalidAction",
			"Could not find operation "+printable(action)+" for version "+printable(f.Get("Version"))+
				"; sluice serves AssumeRoleWithWebIdentity, version "+APIVersion)
		return
	}
	req := Request{
		RoleARN: f.Get("RoleArn"), RoleSessionName: f.Get("RoleSessionName"),
		WebIdentityToken: f.Get("WebIdentityToken"), Policy: f.Get("Policy"),
	}
	if d := f.Get("DurationSeconds"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			h.writeError(w, r, http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value '"+printable(d)+"' at 'durationSeconds' failed to satisfy constraint: Member must be an integer")
			return
		}
		if n == 0 { // Request reads 0 as "default"; from a client it is out of range
			h.writeError(w, r, http.StatusBadRequest, "ValidationError",
				"1 validation error detected: Value '0' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900")
			return
		}
		req.DurationSeconds = n
	}
	if f.Has("PolicyArns.member.1.arn") {
		h.writeError(w, r, http.StatusBadRequest, "ValidationError", "PolicyArns are not supported by sluice; use Policy")
		return
	}

	res, err := h.s.AssumeRoleWithWebIdentity(r.Context(), req, h.meta(r))
	if err != nil {
		status, code := awsError(err)
		if status >= 500 {
			h.log.LogAttrs(r.Context(), slog.LevelError, "sts request failed",
				slog.String("request_id", requestID(w)), slog.String("error", err.Error()))
		}
		h.writeError(w, r, status, code, sluice.ErrorMessage(err))
		return
	}
	var out assumeResponse
	out.Xmlns = xmlns
	out.Meta.RequestID = requestID(w)
	ar := &out.Result
	ar.SubjectFromWebIdentityToken = res.Subject
	ar.Audience = res.Audience
	ar.Provider = res.Provider
	ar.AssumedRoleUser.Arn = res.AssumedRoleARN
	ar.AssumedRoleUser.AssumedRoleID = res.AssumedRoleID
	ar.Credentials.AccessKeyID = res.Credentials.AccessKeyID
	ar.Credentials.SecretAccessKey = res.Credentials.SecretAccessKey
	ar.Credentials.SessionToken = res.Credentials.SessionToken
	ar.Credentials.Expiration = res.Credentials.Expiration.UTC().Format(time.RFC3339)
	if res.PackedPolicySize > 0 {
		ar.PackedPolicySize = &res.PackedPolicySize
	}
	writeXML(w, http.StatusOK, out)
}

// awsCodes translate sluice's codes into STS's error codes and statuses.
// A refused token is InvalidIdentityToken, an expired one
// ExpiredTokenException, a bad parameter ValidationError, and a role the
// caller may not assume AccessDenied, as AWS answers.
func awsError(err error) (int, string) {
	var mp errMalformedPolicy
	if errors.As(err, &mp) {
		return http.StatusBadRequest, "MalformedPolicyDocument"
	}
	switch c := sluice.ErrorCode(err); {
	case c == sluice.CodeTokenExpired:
		return http.StatusBadRequest, "ExpiredTokenException"
	case strings.HasPrefix(string(c), "token_"):
		return http.StatusBadRequest, "InvalidIdentityToken"
	case c == sluice.CodeIdentityUnavailable:
		return http.StatusBadRequest, "IDPCommunicationError"
	case c == sluice.CodeInvalidRequest, c == sluice.CodeInvalidTTL:
		return http.StatusBadRequest, "ValidationError"
	case c == sluice.CodeForbidden, c == sluice.CodeSubjectUnsupported, c == sluice.CodeEmailNotVerified,
		c == sluice.CodeUserBanned, strings.HasPrefix(string(c), "quota_"):
		return http.StatusForbidden, "AccessDenied"
	case c == sluice.CodeRateLimited:
		return http.StatusBadRequest, "Throttling"
	case c == sluice.CodeUnavailable:
		return http.StatusServiceUnavailable, "ServiceUnavailable"
	default:
		return http.StatusInternalServerError, "InternalFailure"
	}
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	var e errorResponse
	e.Xmlns = xmlns
	e.Error.Type = "Sender"
	if status >= 500 {
		e.Error.Type = "Receiver"
	}
	e.Error.Code, e.Error.Message = code, msg
	e.RequestID = requestID(w)
	writeXML(w, status, e)
}

func writeXML(w http.ResponseWriter, status int, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// requestID is the id sluice's API middleware gave the request, echoed as
// AWS's RequestId so a client's error can be found in the server's log.
func requestID(w http.ResponseWriter) string {
	id := w.Header().Get("X-Request-Id")
	if id != "" {
		w.Header().Set("X-Amzn-RequestId", id)
	}
	return id
}

// meta is what the ledger records about the caller.
func (h *handler) meta(r *http.Request) sluice.RequestMeta {
	return sluice.MetaOf(r, h.opt.TrustProxy)
}
