package cinder

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// mapError is the one place where an error from gophercloud, Keystone, Cinder or
// Nova becomes an error wrapping this package's sentinels. The API's own message
// is kept: it usually says exactly what is wrong ("Volume type X could not be
// found", "Requested 10G, quota is 1000G and 995G has been consumed").
//
// Callers add what they were doing: fmt.Errorf("extend volume %s: %w", id, mapError(err)).
// Context cancellation and deadlines are returned unchanged so that callers can
// tell "we gave up" from "the cloud said no".
func mapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var code gophercloud.ErrUnexpectedResponseCode
	var codePtr *gophercloud.ErrUnexpectedResponseCode
	switch {
	case errors.As(err, &code):
		return mapHTTPError(code.Actual, code.Method, code.URL, code.Body)
	case errors.As(err, &codePtr):
		return mapHTTPError(codePtr.Actual, codePtr.Method, codePtr.URL, codePtr.Body)
	}
	var reauth gophercloud.ErrUnableToReauthenticate
	var reauthPtr *gophercloud.ErrUnableToReauthenticate
	if errors.As(err, &reauth) || errors.As(err, &reauthPtr) {
		// Not a sentinel: retrying will not help, the operator must fix the credentials.
		return fmt.Errorf("the Keystone token expired and re-authentication failed (check the credentials): %w", err)
	}
	if isCertificateError(err) {
		// Not transient: the operator has to supply the CA (ca-file, cacert, OS_CACERT).
		return fmt.Errorf("the cloud's TLS certificate is not trusted; set the CA file in the cloud configuration: %w", err)
	}
	if isConnectionError(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// mapHTTPError classifies one HTTP error answer.
func mapHTTPError(status int, method, url string, body []byte) error {
	msg := apiMessage(body)
	lower := strings.ToLower(msg)
	var sentinel error
	switch {
	case status == http.StatusNotFound:
		sentinel = ErrNotFound
	case status == http.StatusConflict:
		sentinel = ErrInvalidState
	case status == http.StatusRequestEntityTooLarge:
		// Cinder answers 413 "overLimit" for quota; a 413 carrying Retry-After
		// would be rate limiting, which Cinder no longer does.
		sentinel = ErrQuotaExceeded
	case status == http.StatusForbidden && strings.Contains(lower, "quota"):
		sentinel = ErrQuotaExceeded
	case status == http.StatusForbidden && strings.Contains(lower, "number of disk devices"):
		sentinel = ErrAttachLimit
	case status == http.StatusBadRequest && isStateMessage(lower):
		sentinel = ErrInvalidState
	case status == http.StatusBadRequest:
		sentinel = ErrInvalidInput
	case status == http.StatusNotAcceptable:
		// The microversion we asked for is above the cloud's maximum.
		sentinel = ErrNotSupported
	case status == http.StatusNotImplemented:
		sentinel = ErrNotSupported
	case status == http.StatusTooManyRequests || status >= 500:
		sentinel = ErrUnavailable
	}
	detail := fmt.Sprintf("%s (HTTP %d from %s %s)", msg, status, method, url)
	if sentinel == nil {
		// 401 and 403 mean the credentials or their roles are wrong: no sentinel
		// describes that, and the caller must not retry as if it were transient.
		return fmt.Errorf("request refused: %s", detail)
	}
	return fmt.Errorf("%w: %s", sentinel, detail)
}

// isStateMessage recognises Cinder's and Nova's 400 answers that are about the
// resource's state rather than the request ("Invalid volume: Volume status must
// be available", "Volume still has 1 dependent snapshots").
func isStateMessage(lower string) bool {
	for _, s := range []string{
		"invalid volume:", "invalid snapshot:", "invalid backup:",
		"status must be", "must be available", "dependent snapshot",
		"is attached", "already attached", "in-use", "currently attached",
		"has snapshots", "invalid state", "in use",
	} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// apiMessage extracts the message from an OpenStack error body, which looks like
// {"itemNotFound": {"message": "...", "code": 404}} (Cinder and Nova) or
// {"error": {"message": "...", "code": 401, "title": "Unauthorized"}} (Keystone).
// Anything else is returned trimmed, so nothing the server said is lost.
func apiMessage(body []byte) string {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err == nil {
		for _, raw := range doc {
			var inner struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(raw, &inner) == nil && inner.Message != "" {
				return inner.Message
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	if s == "" {
		s = "no message"
	}
	return s
}

// isConnectionError reports errors that mean the cloud could not be reached or
// dropped the connection: worth retrying later.
func isConnectionError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func isCertificateError(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr)
}

// isNotFound is errors.Is(err, ErrNotFound) for raw gophercloud errors, for the
// few places that treat a missing resource as success before mapping.
func isNotFound(err error) bool {
	return errors.Is(mapError(err), ErrNotFound)
}
