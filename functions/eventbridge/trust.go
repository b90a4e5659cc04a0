package main

import (
	"fmt"
	"strings"

	"github.com/dbcreds/provisioner/shared/awsname"
)

// Environment the function reads to know whom to trust, set by the template
// from the parameters that also shape its rule.
const (
	envSources     = "EVENT_SOURCES"    // comma-separated event sources the rule matches
	envAccounts    = "EVENT_ACCOUNTS"   // comma-separated accounts events may come from; empty: the stack's own
	envOwnAccount  = "STACK_ACCOUNT_ID" // the stack's account
	detailTypeWant = "Database Secret Requested"
)

// trust is who may ask for a secret by event. The rule already filters, but
// anyone in the account who may invoke the function, or a rule on another
// bus that targets it, can send it anything: the function checks too.
type trust struct {
	sources  map[string]bool
	accounts map[string]bool
}

func trustFromEnv(getenv func(string) string) (trust, error) {
	t := trust{sources: list(getenv(envSources)), accounts: list(getenv(envAccounts))}
	if len(t.sources) == 0 {
		return t, fmt.Errorf("%s is not set: name the event sources the function serves", envSources)
	}
	if len(t.accounts) == 0 {
		own := strings.TrimSpace(getenv(envOwnAccount))
		if own == "" {
			return t, fmt.Errorf("%s and %s are not set: the function would not know which account to trust", envAccounts, envOwnAccount)
		}
		t.accounts[own] = true
	}
	for a := range t.accounts {
		if !awsname.IsAccountID(a) {
			return t, fmt.Errorf("%s: %q is not a twelve-digit account id", envAccounts, a)
		}
	}
	return t, nil
}

func list(s string) map[string]bool {
	out := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out[v] = true
		}
	}
	return out
}

// allows says why an event is not trusted, or "" when it is.
func (t trust) allows(source, account, detailType string) string {
	switch {
	case !t.sources[source]:
		return "the event's source is not one this function serves"
	case !t.accounts[account]:
		return "the event comes from an account this function does not trust"
	case detailType != detailTypeWant:
		return "the event's detail-type is not \"" + detailTypeWant + "\""
	}
	return ""
}
