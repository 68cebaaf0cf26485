package controlplane

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// AggregateAdmin does once what the controller-manager's ClusterRole
// aggregation controller would do: without it, ClusterRole admin, to which
// a Cluster declaration binds the service account it impersonates, has no
// rules. Like a cluster where Kubeflow is installed, admin also gets the
// Kubeflow, Argo and KServe kinds.
func (c *ControlPlane) AggregateAdmin() error {
	ctx := context.Background()
	k, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	roles := k.RbacV1().ClusterRoles()
	ml := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "test-ml-aggregate-to-admin",
			Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"argoproj.io", "kubeflow.org", "serving.kserve.io", "trainer.kubeflow.org"},
			Resources: []string{"*"}, Verbs: []string{"*"},
		}},
	}
	if _, err := roles.Create(ctx, ml, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("ClusterRole/%s: %w", ml.Name, err)
	}
	list, err := roles.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("ClusterRoles: %w", err)
	}
	// view is aggregated into edit, edit into admin: aggregate until
	// nothing changes.
	for changed := true; changed; {
		changed = false
		for i := range list.Items {
			r := &list.Items[i]
			if r.AggregationRule == nil {
				continue
			}
			rules := aggregatedRules(list.Items, r.AggregationRule)
			if !equality.Semantic.DeepEqual(rules, r.Rules) {
				r.Rules, changed = rules, true
			}
		}
	}
	for i := range list.Items {
		if r := &list.Items[i]; r.AggregationRule != nil {
			if _, err := roles.Update(ctx, r, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("ClusterRole/%s: %w", r.Name, err)
			}
		}
	}
	return nil
}

// aggregatedRules returns the rules of the roles that rule selects.
func aggregatedRules(roles []rbacv1.ClusterRole, rule *rbacv1.AggregationRule) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, sel := range rule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			continue
		}
		for _, r := range roles {
			if s.Matches(labels.Set(r.Labels)) {
				out = append(out, r.Rules...)
			}
		}
	}
	return out
}
