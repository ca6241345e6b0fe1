// Command validate checks rendered Kubernetes manifests (multi-document YAML on stdin, as `helm
// template` prints them) against the Kubernetes API's own Go types with strict decoding: an
// unknown field, a wrong type or a duplicate field is an error. Kinds the client-go scheme does
// not know (CRDs: ServiceMonitor, PrometheusRule, ScaledObject) are checked for apiVersion, kind
// and metadata.name only, and listed. Exits 1 naming the first bad document.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

func main() {
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	reader := yamlutil.NewYAMLReader(bufio.NewReader(os.Stdin))
	checked, other := 0, []string{}
	for n := 1; ; n++ {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(n, "cannot read: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			fail(n, "not YAML: %v", err)
		}
		if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
			fail(n, "apiVersion, kind and metadata.name are required (got %q %q %q)", head.APIVersion, head.Kind, head.Metadata.Name)
		}
		json, err := yaml.YAMLToJSON(doc)
		if err != nil {
			fail(n, "%s %s: %v", head.Kind, head.Metadata.Name, err)
		}
		if _, _, err := decoder.Decode(json, nil, nil); err != nil {
			if runtime.IsNotRegisteredError(err) {
				other = append(other, head.APIVersion+"/"+head.Kind)
				continue
			}
			fail(n, "%s %s: %v", head.Kind, head.Metadata.Name, err)
		}
		checked++
	}
	fmt.Printf("validated %d objects against the Kubernetes API types", checked)
	if len(other) > 0 {
		fmt.Printf("; custom resources (apiVersion, kind, name only): %s", strings.Join(other, ", "))
	}
	fmt.Println()
}

func stripComments(doc []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

func fail(n int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "document %d: %s\n", n, fmt.Sprintf(format, args...))
	os.Exit(1)
}
