package s3crypto

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Client is a drop-in for *s3.Client: a method it declares with the name
// of one of *s3.Client's has *s3.Client's signature (Options() once did
// not), and there is no second way to reach the embedded client.
func TestNoShadowedS3Methods(t *testing.T) {
	ours, theirs := reflect.TypeFor[*Client](), reflect.TypeFor[*s3.Client]()
	for i := range ours.NumMethod() {
		m := ours.Method(i)
		sm, ok := theirs.MethodByName(m.Name)
		if !ok {
			if m.Name == "Unwrapped" {
				t.Errorf("Client.Unwrapped duplicates the Client field")
			}
			continue
		}
		// Compare without the receiver.
		a, b := m.Type, sm.Type
		if a.NumIn() != b.NumIn() || a.NumOut() != b.NumOut() || a.IsVariadic() != b.IsVariadic() {
			t.Errorf("Client.%s is %v, *s3.Client's is %v", m.Name, a, b)
			continue
		}
		for j := 1; j < a.NumIn(); j++ {
			if a.In(j) != b.In(j) {
				t.Errorf("Client.%s is %v, *s3.Client's is %v", m.Name, a, b)
			}
		}
		for j := range a.NumOut() {
			if a.Out(j) != b.Out(j) {
				t.Errorf("Client.%s is %v, *s3.Client's is %v", m.Name, a, b)
			}
		}
	}
}
