package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/cli-utils/pkg/common"
	"sigs.k8s.io/cli-utils/pkg/inventory"
	"sigs.k8s.io/cli-utils/pkg/object"
)

// The inventory of a (source, cluster) is a cli-utils ConfigMap inventory
// in InventoryNamespace: the ConfigMap carries the label
// cli-utils.sigs.k8s.io/inventory-id, its data holds one key per object
// (cli-utils' ObjMetadata string, namespace_name_group_kind), and every
// object it owns carries the annotation config.k8s.io/owning-inventory with
// the same id. The format is cli-utils' own (inventory.ConfigMap does the
// encoding), so kapply and kpt read it; the writes are trellis's, with
// server-side apply and a context, because cli-utils' ConfigMap.Apply has
// neither.

// InventoryNamespace holds the inventories; Apply creates it if missing.
const InventoryNamespace = "trellis-system" // schema.TrellisNamespace

// AnnotationInventory records, on an inventory ConfigMap, the inventory's
// source and cluster as "source/cluster".
const AnnotationInventory = "trellis.dev/inventory"

// DefaultSourceID is the source id of applies that name none.
const DefaultSourceID = "local"

// Limits of Kubernetes names and label values.
const (
	maxLabelValue = 63
	idHashLen     = 8
	maxNamePart   = 40
)

var (
	configMapGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaceGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// InventoryID returns the cli-utils inventory id of (source, cluster):
// "source/cluster" made a valid label value, '/' becoming '_' (cluster
// names cannot hold '_'), other characters that a label value cannot hold
// becoming '-', and an id longer than 63 characters cut and suffixed with
// a hash of the whole.
func InventoryID(source, cluster string) string {
	full := source + "/" + cluster
	id := strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r == '/':
			return '_'
		case r == '-' || r == '_' || r == '.' || isAlnum(r):
			return r
		}
		return '-'
	}, full), "-_.")
	if len(id) > maxLabelValue {
		id = strings.TrimRight(id[:maxLabelValue-idHashLen-1], "-_.") + "-" + shortHash(full)
	}
	return id
}

// inventoryName returns the name of the ConfigMap of inventory id: readable,
// and unique through a hash of the id.
func inventoryName(id string) string {
	part := strings.Map(func(r rune) rune {
		if isAlnum(r) {
			return r
		}
		return '-'
	}, strings.ToLower(id))
	if len(part) > maxNamePart {
		part = part[:maxNamePart]
	}
	return "inventory-" + strings.Trim(part, "-") + "-" + shortHash(id)
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:idHashLen]
}

// store reads and writes one inventory.
type store struct {
	c        *Client
	source   string
	cluster  string
	template *unstructured.Unstructured // the ConfigMap, without data
	info     inventory.Info
	// stored is what the cluster holds, once known: save skips writes
	// that would change nothing.
	stored object.ObjMetadataSet
	known  bool
	// found says whether the ConfigMap existed when last read, and
	// annotations are its annotations: its suspension and last status
	// (status.go).
	found       bool
	annotations map[string]string
}

// newStore returns the store of the inventory of (source, cluster).
func newStore(c *Client, source, cluster string) *store {
	id := InventoryID(source, cluster)
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace(InventoryNamespace)
	cm.SetName(inventoryName(id))
	cm.SetLabels(map[string]string{common.InventoryLabel: id, "app.kubernetes.io/managed-by": FieldManager})
	cm.SetAnnotations(map[string]string{AnnotationInventory: source + "/" + cluster})
	return &store{c: c, source: source, cluster: cluster, template: cm, info: inventory.WrapInventoryInfoObj(cm)}
}

// ID returns the inventory id.
func (s *store) ID() string { return s.info.ID() }

// ref names the inventory ConfigMap in errors.
func (s *store) ref() string { return "ConfigMap/" + InventoryNamespace + "/" + s.template.GetName() }

// load returns the objects of the inventory; a missing inventory is empty.
func (s *store) load(ctx context.Context) (object.ObjMetadataSet, error) {
	live, err := s.c.Dynamic.Resource(configMapGVR).Namespace(InventoryNamespace).Get(ctx, s.template.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.stored, s.known, s.found, s.annotations = nil, true, false, nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: read inventory: %w", s.ref(), err)
	}
	if got := live.GetLabels()[common.InventoryLabel]; got != s.ID() {
		return nil, fmt.Errorf("%s: inventory id is %q, want %q", s.ref(), got, s.ID())
	}
	objs, err := inventory.WrapInventoryObj(live).Load()
	if err != nil {
		return nil, fmt.Errorf("%s: read inventory: %w", s.ref(), err)
	}
	s.stored, s.known, s.found, s.annotations = objs, true, true, live.GetAnnotations()
	return objs, nil
}

// save writes the inventory with objs, creating its namespace if needed.
// An inventory that would not change is not written.
func (s *store) save(ctx context.Context, objs object.ObjMetadataSet) error {
	objs = objs.Unique()
	if s.known && s.found && s.stored.Equal(objs) {
		return nil
	}
	if err := s.ensureNamespace(ctx); err != nil {
		return err
	}
	w := inventory.WrapInventoryObj(s.template)
	if err := w.Store(objs, nil); err != nil {
		return fmt.Errorf("%s: %w", s.ref(), err)
	}
	cm, err := w.GetObject()
	if err != nil {
		return fmt.Errorf("%s: %w", s.ref(), err)
	}
	if _, err := applyJSON(ctx, s.c.Dynamic.Resource(configMapGVR).Namespace(InventoryNamespace), cm, false); err != nil {
		return fmt.Errorf("%s: write inventory: %w", s.ref(), err)
	}
	s.stored, s.known, s.found = objs, true, true
	return nil
}

// ensureNamespace creates InventoryNamespace when it does not exist.
func (s *store) ensureNamespace(ctx context.Context) error {
	ri := s.c.Dynamic.Resource(namespaceGVR)
	if _, err := ri.Get(ctx, InventoryNamespace, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		if err != nil {
			return fmt.Errorf("Namespace/%s: %w", InventoryNamespace, err)
		}
		return nil
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(InventoryNamespace)
	ns.SetLabels(map[string]string{"app.kubernetes.io/managed-by": FieldManager})
	if _, err := applyJSON(ctx, ri, ns, false); err != nil {
		return fmt.Errorf("Namespace/%s: %w", InventoryNamespace, err)
	}
	return nil
}

// applyJSON server-side applies obj with field manager trellis, forcing
// conflicts, as a dry run when dryRun is set.
func applyJSON(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
}

// idOf returns the inventory entry of obj.
func idOf(obj *unstructured.Unstructured) object.ObjMetadata {
	return object.UnstructuredToObjMetadata(obj)
}
