// Package template holds the tests of template.yaml itself, beside it:
// the functions' IAM, the conventions a platform team's reviewers ask
// for, what SAM's transform makes of it, and the docs' example stacks.
package template

import (
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/dbcreds/provisioner/local/emulate/samtemplate"
)

// tmpl is template.yaml as written, its intrinsics as YAML tags.
type tmpl struct {
	*samtemplate.Template
	resources      map[string]*yaml.Node
	parameterNodes map[string]*yaml.Node
	parameters     map[string]string
}

// Load reads the template both ways: the SAM reader's view, and the YAML.
func Load(path string) (*tmpl, error) {
	reader, err := samtemplate.Load(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	t := &tmpl{Template: reader, resources: mapping(get(doc.Content[0], "Resources")),
		parameterNodes: mapping(get(doc.Content[0], "Parameters")), parameters: map[string]string{}}
	for name := range t.parameterNodes {
		t.parameters[name] = reader.ParameterDefault(name)
	}
	return t, nil
}

// The template's YAML, read as the SAM template reader reads it.
var (
	get     = samtemplate.Get
	mapping = samtemplate.Mapping
	scalar  = samtemplate.Scalar
)
