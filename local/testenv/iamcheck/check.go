package iamcheck

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Denial is an authorization a function needed and its role does not give.
type Denial struct {
	Function string
	Request  Request
	Decision Decision
}

func (d Denial) String() string {
	why := "no statement allows this action on this resource"
	if len(d.Decision.NearMisses) > 0 {
		why = "not allowed by " + strings.Join(d.Decision.NearMisses, "; ")
	}
	if d.Decision.Error != "" {
		why = "the evaluator refused it: " + d.Decision.Error
	}
	return fmt.Sprintf("%s: %s, for %s, is %s (%s)", d.Function, d.Request.Describe(), d.Request.Why, d.Decision.Result, why)
}

// CheckCalls evaluates every authorization the calls needed against the
// role of the function that made each, resolved from tpl with the
// parameters it ran under. It returns what the roles deny, and how many
// distinct authorizations were evaluated.
func CheckCalls(tpl *Template, calls []Call, partitionKeys map[string]string, boundaries map[string]map[string]any) ([]Denial, int, error) {
	type group struct {
		function  string
		overrides map[string]string
		requests  []Request
		seen      map[string]bool
	}
	groups := map[string]*group{}
	for _, c := range calls {
		key, _ := json.Marshal(c.Overrides)
		gk := c.Principal + "\x00" + string(key)
		g, ok := groups[gk]
		if !ok {
			g = &group{function: c.Principal, overrides: c.Overrides, seen: map[string]bool{}}
			groups[gk] = g
		}
		requests, err := Authorizations(c, partitionKeys)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", c.Principal, err)
		}
		for _, r := range requests {
			k, _ := json.Marshal(r)
			if !g.seen[string(k)] {
				g.seen[string(k)] = true
				g.requests = append(g.requests, r)
			}
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var denials []Denial
	evaluated := 0
	for _, k := range keys {
		g := groups[k]
		roles, err := tpl.Roles(g.overrides, boundaries)
		if err != nil {
			return nil, 0, err
		}
		role, ok := roles[g.function]
		if !ok {
			return nil, 0, fmt.Errorf("calls from %s, which has no role in the template", g.function)
		}
		decisions, err := Evaluate(role, g.requests)
		if err != nil {
			return nil, 0, err
		}
		evaluated += len(g.requests)
		for i, d := range decisions {
			if !d.Allowed() {
				denials = append(denials, Denial{Function: g.function, Request: g.requests[i], Decision: d})
			}
		}
	}
	return denials, evaluated, nil
}
