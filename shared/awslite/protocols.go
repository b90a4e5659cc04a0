package awslite

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// JSON calls an awsJson1.0 or 1.1 operation (KMS: "1.1",
// "TrentService.CreateGrant"): in as the JSON body, the answer into out.
func (c *Client) JSON(ctx context.Context, version, target string, in, out any, optFns ...func(*Options)) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.Do(ctx, Request{
		Operation: target[strings.LastIndexByte(target, '.')+1:], Method: http.MethodPost, Path: "/", Body: body,
		Header: http.Header{"Content-Type": {"application/x-amz-json-" + version}, "X-Amz-Target": {target}},
		Decode: func(answer []byte) error { return decodeJSON(answer, out) },
	}, jsonError, optFns...)
}

// REST calls a restJson1 operation (EventBridge Scheduler): in, if not
// nil, as the JSON body; the answer into out, if not nil.
func (c *Client) REST(ctx context.Context, op, method, path string, query url.Values, in, out any, optFns ...func(*Options)) error {
	req := Request{Operation: op, Method: method, Path: path, Query: query, Header: http.Header{}}
	if out != nil {
		req.Decode = func(answer []byte) error { return decodeJSON(answer, out) }
	}
	if in != nil {
		body, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body = body
		req.Header.Set("Content-Type", "application/json")
	}
	return c.Do(ctx, req, jsonError, optFns...)
}

// Query calls an awsQuery operation (RDS, STS): params as the form, and
// the answer's <op>Result element into out.
func (c *Client) Query(ctx context.Context, op, version string, params url.Values, out any, optFns ...func(*Options)) error {
	form := url.Values{"Action": {op}, "Version": {version}}
	for k, v := range params {
		form[k] = v
	}
	return c.Do(ctx, Request{
		Operation: op, Method: http.MethodPost, Path: "/", Body: []byte(form.Encode()),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Decode: func(answer []byte) error { return decodeQuery(op, answer, out) },
	}, queryError, optFns...)
}

// decodeQuery reads <OpResponse><OpResult>...</OpResult></OpResponse>'s
// result into out.
func decodeQuery(op string, answer []byte, out any) error {
	var envelope struct {
		XMLName xml.Name
		Results []struct {
			XMLName xml.Name
			Inner   []byte `xml:",innerxml"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(answer, &envelope); err != nil {
		return err
	}
	if envelope.XMLName.Local != op+"Response" {
		return fmt.Errorf("an answer of <%s>, not <%sResponse>", envelope.XMLName.Local, op)
	}
	for _, r := range envelope.Results {
		if r.XMLName.Local == op+"Result" {
			return xml.Unmarshal([]byte("<r>"+string(r.Inner)+"</r>"), out)
		}
	}
	return fmt.Errorf("no %sResult", op)
}

func decodeJSON(answer []byte, out any) error {
	if len(answer) == 0 {
		answer = []byte("{}")
	}
	return json.Unmarshal(answer, out)
}

// jsonError reads the error of a JSON service: X-Amzn-ErrorType, else the
// body's __type or code.
func jsonError(header http.Header, body []byte) (code, message string) {
	var e struct {
		Type     string `json:"__type"`
		Code     string `json:"code"`
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(body, &e)
	code = header.Get("X-Amzn-ErrorType")
	if code == "" {
		code = e.Type
	}
	if code == "" {
		code = e.Code
	}
	message = e.Message
	if message == "" {
		message = e.Message2
	}
	return sanitizeCode(code), message
}

// queryError reads the error of a Query service:
// <ErrorResponse><Error><Code/><Message/></Error></ErrorResponse>.
func queryError(_ http.Header, body []byte) (code, message string) {
	var e struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	}
	_ = xml.Unmarshal(body, &e)
	return sanitizeCode(e.Error.Code), e.Error.Message
}

// sanitizeCode is the SDK's: "aws.protocoltests#FooError:http://..." is
// "FooError".
func sanitizeCode(code string) string {
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	if i := strings.IndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return strings.TrimSpace(code)
}
