package webhook

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/objects"
	"kubernaut.io/stepvalidation/conditions/promquery"
)

// declared checks the metrics queries and objects c declares and returns what the
// requester needs to have them read: verb query on metrics.kubernaut.io in the
// run's namespace for queries, get on each object. The injected flag exempts
// nothing: anyone can set it (see weakerConditions), and the catalog suggests no
// condition that declares queries or objects, so whoever declares them wrote them.
func (w *Webhooks) declared(sc conditionScope, c *commonv1alpha1.ValidationCondition, path func() *field.Path) (field.ErrorList, []demand) {
	if len(c.Metrics) == 0 && len(c.Objects) == 0 {
		return nil, nil
	}
	var errs field.ErrorList
	var perms []authority.Permission
	for i, m := range c.Metrics {
		p := path().Child("metrics").Index(i).Child("query")
		if w.Conditions.Metrics == nil {
			errs = append(errs, field.Invalid(p, field.OmitValueType{},
				"the manager has no Prometheus to run queries against: its administrator sets --prometheus-url"))
			continue
		}
		if err := promquery.Validate(m.Query); err != nil {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, err.Error()))
		}
	}
	if len(c.Metrics) > 0 {
		perms = append(perms, check.QueryPermission(sc.namespace))
	}
	name, namespace, ok := targetOf(sc)
	if !ok {
		// validateAction refuses the run for the same reason (it names the
		// target the same way): the objects' {{name}} stands for nothing yet.
		return errs, conditionDemand(c, path, perms)
	}
	for i, o := range c.Objects {
		p := path().Child("objects").Index(i)
		ref, err := objects.RefOf(o, sc.namespace, name, namespace)
		if err != nil {
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, err.Error()))
			continue
		}
		perm, _, err := objects.Permission(w.Mapper, ref)
		if err != nil {
			errs = append(errs, field.Invalid(p.Child("kind"), o.Kind, err.Error()))
			continue
		}
		perms = append(perms, perm)
	}
	return errs, conditionDemand(c, path, perms)
}

// targetOf is the name and namespace of the target of sc's action ("" for an
// action without one); ok is false when the action or its parameters do not say.
func targetOf(sc conditionScope) (name, namespace string, ok bool) {
	a, known := catalog.Lookup(sc.action)
	if !known {
		return "", "", false
	}
	if a.Target == nil {
		return "", "", true
	}
	params, err := catalog.DecodeParameters(rawOf(sc.params))
	if err != nil {
		return "", "", false
	}
	name, namespace, err = a.Target.Name(params)
	return name, namespace, err == nil
}

// conditionDemand is what reading c's declared data needs of the requester,
// reported at the condition.
func conditionDemand(c *commonv1alpha1.ValidationCondition, path func() *field.Path, perms []authority.Permission) []demand {
	if len(perms) == 0 {
		return nil
	}
	return []demand{{path: path(), action: fmt.Sprintf("condition %s", c.Type), perms: perms}}
}
