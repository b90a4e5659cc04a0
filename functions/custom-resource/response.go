// The answer's way back: CloudFormation reads it from the presigned S3 URL
// its request carries, within 4096 bytes. The URL's query string is a
// credential: no error or log line here carries it.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
)

// responder sends the answer to CloudFormation's presigned URL.
type responder interface {
	Do(*http.Request) (*http.Response, error)
}

const (
	// maxResponseBytes is CloudFormation's limit on the whole answer.
	maxResponseBytes = 4096
	// sendAttempts, each bounded by sendTimeout, deliver the answer.
	sendAttempts = 3
	sendTimeout  = 2 * time.Second
)

// errorTypeNotDelivered is the invocation's error type when CloudFormation's
// ResponseURL did not take the answer.
const errorTypeNotDelivered = "CloudFormation.ResponseNotDelivered"

// fit encodes resp within CloudFormation's 4096 bytes, cutting the reason
// and saying so rather than failing to answer at all. Escaping makes some
// characters several bytes of JSON, so the longest start of the reason that
// fits is searched for.
func fit(resp *cfn.Response) []byte {
	const note = " [cut: too long for CloudFormation]"
	body, _ := json.Marshal(resp)
	if len(body) <= maxResponseBytes {
		return body
	}
	original := resp.Reason
	reason := []rune(resp.Reason)
	encode := func(n int) []byte {
		resp.Reason = string(reason[:n]) + note
		b, _ := json.Marshal(resp)
		return b
	}
	lo, hi := 0, len(reason) // the longest fitting start is in [lo, hi]
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(encode(mid)) <= maxResponseBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	body = encode(lo)
	if _, ok := resp.Data["Readers"]; ok && len(body) > maxResponseBytes {
		// Readers give way first: Arn and the rest are what stacks use.
		delete(resp.Data, "Readers")
		resp.Reason = original
		return fit(resp)
	}
	if len(body) > maxResponseBytes {
		resp.Data = nil // an answer matters more
		body, _ = json.Marshal(resp)
	}
	return body
}

// send PUTs the answer to the presigned URL, a few times if need be, each
// try bounded. The URL's query string is a credential, so no error or log
// line carries it.
func (h *handler) send(ctx context.Context, responseURL string, body []byte) error {
	var err error
	for attempt := 1; attempt <= sendAttempts; attempt++ {
		if err = h.put(ctx, responseURL, body); err == nil {
			return nil
		}
		var permanent *permanentError
		if errors.As(err, &permanent) || ctx.Err() != nil {
			break
		}
		slog.WarnContext(ctx, "answer not delivered, trying again", "attempt", attempt, "error", err)
		select {
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	return err
}

// permanentError is a delivery that trying again cannot mend.
type permanentError struct{ reason string }

func (e *permanentError) Error() string { return e.reason }

func (h *handler) put(ctx context.Context, responseURL string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if u, err := url.Parse(responseURL); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		// The parser's error quotes the URL, a credential: say only what is wrong.
		return &permanentError{reason: "the ResponseURL is not an http(s) URL"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, responseURL, bytes.NewReader(body))
	if err != nil {
		return &permanentError{reason: "the ResponseURL is not an http(s) URL"}
	}
	// The URL is presigned without a content type; sending one breaks the signature.
	req.Header.Del("Content-Type")
	res, err := h.responder.Do(req)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error's text holds the whole URL
		}
		return fmt.Errorf("sending the answer: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case res.StatusCode >= 500:
		return fmt.Errorf("sending the answer: the ResponseURL answered %d", res.StatusCode)
	default:
		return &permanentError{reason: fmt.Sprintf("the ResponseURL answered %d", res.StatusCode)}
	}
}

// toCloudFormation sends only to where CloudFormation's presigned URLs point:
// https, to its response bucket for the function's Region in S3
// (cloudformation-custom-resource-response-<region without hyphens>,
// virtual-hosted or path-style, in any partition), and never on to a
// redirect. Anyone who may invoke the function can write a ResponseURL:
// without this the function would PUT to any host it can reach from inside
// the VPC, or to a bucket of anyone's that merely starts with the name.
// Local runs (AWS_SAM_LOCAL) answer a local receiver.
type toCloudFormation struct {
	bucket string
	next   *http.Client
}

func newToCloudFormation(region string) *toCloudFormation {
	return &toCloudFormation{bucket: "cloudformation-custom-resource-response-" + strings.ReplaceAll(region, "-", ""),
		next: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *toCloudFormation) Do(req *http.Request) (*http.Response, error) {
	if !isResponseURL(req.URL, c.bucket) {
		return nil, &permanentError{reason: "the ResponseURL is not CloudFormation's response bucket for this Region"}
	}
	return c.next.Do(req)
}

// isResponseURL reports whether u is https to S3's bucket, by its host
// (bucket.s3.amazonaws.com, bucket.s3.<region>.amazonaws.com,
// bucket.s3-<region>.amazonaws.com) or its path (s3[.-]<region>...
// /bucket/...), in the aws or aws-cn partition.
func isResponseURL(u *url.URL, bucket string) bool {
	if u.Scheme != "https" || u.Port() != "" && u.Port() != "443" {
		return false
	}
	host := u.Hostname()
	rest, ok := strings.CutSuffix(host, ".amazonaws.com")
	if !ok {
		if rest, ok = strings.CutSuffix(host, ".amazonaws.com.cn"); !ok {
			return false
		}
	}
	if after, virtual := strings.CutPrefix(rest, bucket+"."); virtual {
		rest = after
	} else if !strings.HasPrefix(u.Path, "/"+bucket+"/") {
		return false
	}
	// What is left names S3 itself: s3, s3.<region>, s3-<region>; never an
	// S3 website endpoint or another service.
	return rest == "s3" || strings.HasPrefix(rest, "s3.") && !strings.Contains(rest[3:], "website") ||
		strings.HasPrefix(rest, "s3-") && !strings.HasPrefix(rest, "s3-website")
}
