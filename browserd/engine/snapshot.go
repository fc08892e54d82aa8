package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// SnapshotNode is one meaningful node of a page's accessibility tree.
type SnapshotNode struct {
	Ref   string   // "e12": pass "ref=e12" to Click, Type or Select; valid while the node lives
	Role  string   // button, link, textbox, heading, …
	Name  string   // the accessible name
	Value string   // a field's value, when it has one
	Depth int      // nesting below the document
	State []string // focused, checked, disabled, expanded, level=2, …
}

// Snapshot is a page's accessibility tree as Chromium computes it from the live DOM,
// cut to what an operator or a model needs: roles, names, values, states and refs.
type Snapshot struct {
	URL       string
	Title     string
	Nodes     []SnapshotNode
	Text      string // the nodes as an indented outline, at most MaxSnapshotBytes
	Truncated bool   // nodes past the limit were left out
}

// parseRef reads "ref=e12" (or "[ref=e12]").
func parseRef(sel string) (cdp.BackendNodeID, bool) {
	s := strings.TrimSuffix(strings.TrimPrefix(sel, "["), "]")
	s, ok := strings.CutPrefix(s, "ref=e")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return cdp.BackendNodeID(n), true
}

// skipRoles carry no meaning of their own; their children move up.
var skipRoles = map[string]bool{
	"none": true, "generic": true, "presentation": true, "InlineTextBox": true, "LineBreak": true,
}

// stateProps are the AX properties worth showing.
var stateProps = map[string]bool{
	"focused": true, "checked": true, "disabled": true, "expanded": true, "selected": true,
	"pressed": true, "required": true, "invalid": true, "level": true, "readonly": true,
}

// Snapshot takes the active tab's accessibility tree (Accessibility.getFullAXTree).
func (e *Engine) Snapshot(ctx context.Context, id string) (Snapshot, error) {
	var snap Snapshot
	err := e.act(ctx, id, "snapshot", e.cfg.ActionTimeout, func(ctx context.Context, s *session, t *tab) error {
		res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err != nil {
			return err
		}
		snap = buildSnapshot(res.Nodes, e.cfg.MaxSnapshotBytes)
		snap.URL, _ = evalValue[string](ctx, "location.href")
		snap.Title, _ = evalValue[string](ctx, "document.title")
		snap.Title = clip(snap.Title, maxTitleBytes)
		return nil
	})
	return snap, err
}

// buildSnapshot walks the tree from its root, dropping ignored and meaningless nodes and
// text that only repeats its parent's name, until limit bytes of outline are written.
func buildSnapshot(nodes []*accessibility.Node, limit int) Snapshot {
	byID := make(map[accessibility.NodeID]*accessibility.Node, len(nodes))
	for _, n := range nodes {
		byID[n.NodeID] = n
	}
	var snap Snapshot
	var out strings.Builder
	var walk func(n *accessibility.Node, depth int, parentName string)
	walk = func(n *accessibility.Node, depth int, parentName string) {
		if snap.Truncated {
			return
		}
		role, name := axString(n.Role), axString(n.Name)
		keep := !n.Ignored && !skipRoles[role] && role != "RootWebArea" &&
			!(role == "StaticText" && (name == "" || name == parentName))
		childDepth, childParent := depth, parentName
		if keep {
			sn := SnapshotNode{Role: role, Name: clip(name, 256), Value: clip(axString(n.Value), 256), Depth: depth}
			if role == "StaticText" {
				sn.Role = "text"
			}
			if n.BackendDOMNodeID > 0 {
				sn.Ref = "e" + strconv.FormatInt(int64(n.BackendDOMNodeID), 10)
			}
			for _, p := range n.Properties {
				if !stateProps[string(p.Name)] || p.Value == nil {
					continue
				}
				switch v := axString(p.Value); v {
				case "", "false":
				case "true":
					sn.State = append(sn.State, string(p.Name))
				default:
					sn.State = append(sn.State, string(p.Name)+"="+v)
				}
			}
			line := outline(sn)
			if out.Len()+len(line) > limit {
				snap.Truncated = true
				return
			}
			out.WriteString(line)
			snap.Nodes = append(snap.Nodes, sn)
			childDepth, childParent = depth+1, name
		}
		for _, c := range n.ChildIDs {
			if child := byID[c]; child != nil {
				walk(child, childDepth, childParent)
			}
		}
	}
	for _, n := range nodes {
		if n.ParentID == "" {
			walk(n, 0, "")
		}
	}
	snap.Text = out.String()
	return snap
}

// outline renders one node as `  - role "name" value="…" [state] [ref=e12]`.
func outline(n SnapshotNode) string {
	var b strings.Builder
	b.WriteString(strings.Repeat("  ", n.Depth))
	b.WriteString("- ")
	b.WriteString(n.Role)
	if n.Name != "" {
		fmt.Fprintf(&b, " %q", n.Name)
	}
	if n.Value != "" {
		fmt.Fprintf(&b, " value=%q", n.Value)
	}
	for _, s := range n.State {
		fmt.Fprintf(&b, " [%s]", s)
	}
	if n.Ref != "" && n.Role != "text" {
		fmt.Fprintf(&b, " [ref=%s]", n.Ref)
	}
	b.WriteByte('\n')
	return b.String()
}

// axString reads an AX value as text: strings as they are, other JSON as written.
func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err == nil {
		return s
	}
	return string(v.Value)
}
