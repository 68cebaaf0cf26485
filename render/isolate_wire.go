package render

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// How a render child sends the objects of a Result: as runs of the
// objects of its last answer, by their index in it, and only the others
// as JSON, all without the revision's stamps (the trellis.dev/revision
// annotation every object carries and the label a run carries), which
// the parent puts back. A new revision of a repo where one file changed
// sends the objects of that file as JSON and the rest as a few runs:
// encoding every object, and decoding it in the parent, costs several
// times the render itself. The child knows an object of its last answer
// by bodyKey: the render cache gives an unchanged declaration's objects
// the very maps it gave them before, which no render changes.

// errWire is wrapped by the errors of decoding an answer's objects.
var errWire = errors.New("render child: objects")

// wireSegment is a run of objects of an answer: N objects of the child's
// last answer from index From (counting across its clusters), or, when N
// is 0, one object given as JSON.
type wireSegment struct {
	From int             `json:"f,omitempty"`
	N    int             `json:"n,omitempty"`
	JSON json.RawMessage `json:"o,omitempty"`
	// obj is the object JSON is made of, by writeResponse as it writes
	// the segment: the child never holds the JSON of every object at once.
	obj map[string]any
	// Annotated and Labelled say that the objects carry the revision's
	// annotation, and the label of a run.
	Annotated bool `json:"a,omitempty"`
	Labelled  bool `json:"l,omitempty"`
}

// wireEncoder is the child's side: the objects of its last answer, by
// bodyKey, with the values the keys point to (kept, so that no new value
// takes their address).
type wireEncoder struct {
	index map[string]int
	keep  [][]any
}

func newWireEncoder() *wireEncoder { return &wireEncoder{index: map[string]int{}} }

// encode turns the objects of res into segments, one list per cluster,
// and takes them out of res.
func (e *wireEncoder) encode(res *Result) ([][]wireSegment, error) {
	index := make(map[string]int, len(e.index))
	var keep [][]any
	label := labelValue(res.Revision, true)
	out := make([][]wireSegment, len(res.Clusters))
	n := 0 // objects so far, across clusters
	// What each object is, found on a worker per core; the runs in order.
	type item struct {
		key                 string
		keep                []any
		annotated, labelled bool
	}
	for i := range res.Clusters {
		c := &res.Clusters[i]
		items := make([]item, len(c.Objects))
		forChunks(len(c.Objects), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				o := c.Objects[j]
				md, _ := o.Object["metadata"].(map[string]any)
				annotations, _ := md["annotations"].(map[string]any)
				labels, _ := md["labels"].(map[string]any)
				it := &items[j]
				it.annotated = res.Revision != "" && annotations[AnnotationRevision] == res.Revision
				it.labelled = label != "" && labels[LabelRevision] == label
				it.key, it.keep = bodyKey(o, annotations, labels)
			}
		})
		var segs []wireSegment
		for j, o := range c.Objects {
			it := &items[j]
			annotated, labelled, key := it.annotated, it.labelled, it.key
			if key != "" {
				index[key] = n
				keep = append(keep, it.keep)
			}
			n++
			if from, ok := e.index[key]; ok && key != "" {
				if l := len(segs) - 1; l >= 0 && segs[l].N > 0 && segs[l].From+segs[l].N == from && segs[l].Annotated == annotated && segs[l].Labelled == labelled {
					segs[l].N++
				} else {
					segs = append(segs, wireSegment{From: from, N: 1, Annotated: annotated, Labelled: labelled})
				}
				continue
			}
			segs = append(segs, wireSegment{obj: unstamped(o, annotated, labelled).Object, Annotated: annotated, Labelled: labelled})
		}
		out[i] = segs
		c.Objects = nil
	}
	e.index, e.keep = index, keep
	return out, nil
}

// bodyKey identifies an object of a declaration by its fields but
// metadata, the maps and lists by their address, and by where it was
// rendered from (cluster, file, declaration, as stamped): a render makes
// the metadata of an object, but the revision, of these (see Cache). It
// returns "" for an object that is no declaration's or has no map or list
// of its own, and the values the key points to. annotations and labels
// are the object's metadata.annotations and metadata.labels.
func bodyKey(o *unstructured.Unstructured, annotations, labels map[string]any) (string, []any) {
	decl, _ := annotations[AnnotationDecl].(string)
	if decl == "" {
		return "", nil
	}
	cluster, _ := labels[LabelCluster].(string)
	path, _ := annotations[AnnotationPath].(string)
	var keep []any
	b := make([]byte, 0, len(cluster)+len(path)+len(decl)+128)
	b = append(append(append(append(append(b, cluster...), 0), path...), 0), decl...)
	for _, k := range sortedKeys(o.Object) {
		if k == "metadata" {
			continue
		}
		b = append(append(append(b, 0), k...), '=')
		switch v := o.Object[k].(type) {
		case map[string]any:
			b = strconv.AppendUint(append(b, 'm'), uint64(reflect.ValueOf(v).Pointer()), 16)
			keep = append(keep, v)
		case []any:
			if len(v) == 0 {
				b = append(b, "[]"...)
				continue
			}
			b = strconv.AppendUint(append(b, 'l'), uint64(reflect.ValueOf(v).Pointer()), 16)
			b = strconv.AppendInt(append(b, ':'), int64(len(v)), 10)
			keep = append(keep, v)
		case string:
			b = strconv.AppendQuote(b, v)
		default:
			b = fmt.Appendf(b, "%T:%v", v, v)
		}
	}
	if keep == nil {
		return "", nil
	}
	return string(b), keep
}

// unstamped returns o without the revision's annotation and label (when
// annotated, labelled), sharing what it does not change.
func unstamped(o *unstructured.Unstructured, annotated, labelled bool) *unstructured.Unstructured {
	if !annotated && !labelled {
		return o
	}
	cp := copyTop(o)
	md := cp.Object["metadata"].(map[string]any)
	for field, drop := range map[string]string{"annotations": AnnotationRevision, "labels": LabelRevision} {
		if (field == "annotations" && !annotated) || (field == "labels" && !labelled) {
			continue
		}
		m, _ := md[field].(map[string]any)
		rest := make(map[string]any, len(m))
		for k, v := range m {
			if k != drop {
				rest[k] = v
			}
		}
		if len(rest) == 0 {
			delete(md, field)
		} else {
			md[field] = rest
		}
	}
	return cp
}

// writeResponse writes resp as one line of JSON, as json.Encoder would,
// but its objects one at a time: the answer to a first render holds
// every object, some 22 MB for 10,000 Pipelines, which neither the
// encoder's buffer nor the segments hold whole.
func writeResponse(out io.Writer, resp isolatedResponse) error {
	objects := resp.Objects
	resp.Objects = nil
	head, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 64<<10)
	if objects == nil {
		w.Write(head)
	} else {
		w.Write(head[:len(head)-1]) // without its '}'
		if len(head) > 2 {
			w.WriteByte(',')
		}
		w.WriteString(`"objects":[`)
		for i, segs := range objects {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteByte('[')
			for j, seg := range segs {
				if j > 0 {
					w.WriteByte(',')
				}
				if seg.obj != nil {
					if seg.JSON, err = json.Marshal(seg.obj); err != nil {
						return err
					}
				}
				b, err := json.Marshal(seg)
				if err != nil {
					return err
				}
				w.Write(b)
			}
			w.WriteByte(']')
		}
		w.WriteString("]}")
	}
	w.WriteByte('\n')
	return w.Flush() // the first error of any write
}

// wireDecoder is the parent's side: the objects of the child's last
// answer, in order, without the revision's stamps.
type wireDecoder struct {
	last []*unstructured.Unstructured
}

func newWireDecoder() *wireDecoder { return &wireDecoder{} }

// decode puts the objects back into res: decoded, or copies of those of
// the last answer, stamped with res's revision.
func (d *wireDecoder) decode(res *Result, segments [][]wireSegment) error {
	if len(segments) != len(res.Clusters) {
		return fmt.Errorf("%w: %d lists for %d clusters", errWire, len(segments), len(res.Clusters))
	}
	var next []*unstructured.Unstructured
	label := labelValue(res.Revision, true)
	in := newInterner() // the objects sent as JSON share their equal parts, as the child's did
	for i, segs := range segments {
		// The bases in order, then their stamped copies on a worker per core.
		start := len(next)
		type stamp struct{ annotated, labelled bool }
		var stamps []stamp // of each base
		for _, w := range segs {
			if w.N == 0 {
				var m map[string]any
				if err := json.Unmarshal(w.JSON, &m); err != nil {
					return fmt.Errorf("%w: %w", errWire, err)
				}
				base := &unstructured.Unstructured{Object: m}
				in.objects([]*unstructured.Unstructured{base})
				next = append(next, base)
				stamps = append(stamps, stamp{w.Annotated, w.Labelled})
				continue
			}
			if w.From < 0 || w.N < 0 || w.From+w.N > len(d.last) {
				return fmt.Errorf("%w: objects %d to %d of %d", errWire, w.From, w.From+w.N, len(d.last))
			}
			next = append(next, d.last[w.From:w.From+w.N]...)
			for range w.N {
				stamps = append(stamps, stamp{w.Annotated, w.Labelled})
			}
		}
		bases := next[start:]
		objs := make([]*unstructured.Unstructured, len(bases))
		forChunks(len(bases), func(lo, hi int) {
			for j := lo; j < hi; j++ {
				obj := copyTop(bases[j])
				if stamps[j].annotated {
					setMetadataString(obj, "annotations", AnnotationRevision, res.Revision)
				}
				if stamps[j].labelled {
					setMetadataString(obj, "labels", LabelRevision, label)
				}
				objs[j] = obj
			}
		})
		if len(objs) == 0 {
			objs = nil // as a render from scratch leaves a cluster without objects
		}
		res.Clusters[i].Objects = objs
	}
	d.last = next
	return nil
}
