"""The shape of the code the issue 13 redesign keeps (a flat application)."""

import inspect

import csp.application as application
from csp.application.base import CspApplicationBase


def test_every_commands_class_derives_from_the_base_only_and_defines_each_method_once() -> None:
    commands = [c for n, c in vars(application).items() if inspect.isclass(c) and n.endswith("Commands")]
    assert len(commands) >= 10
    seen: dict[str, str] = {}
    for cls in commands:
        assert cls.__bases__ == (CspApplicationBase,), cls.__name__
        for name, value in vars(cls).items():
            if inspect.isfunction(value) and not name.startswith("__"):
                assert name not in seen, f"{name} in {cls.__name__} and {seen[name]}"
                seen[name] = cls.__name__


def test_the_api_schemas_fixed_lists_are_the_domains() -> None:
    from typing import get_args

    from csp.aggregates import catalog, order, organization, subscription, tenant, terms, user
    from csp.api import schemas

    pairs = {
        "Role": user.Role,
        "SignInMethod": organization.SignInMethod,
        "BillingCycle": terms.BillingCycle,
        "Term": terms.Term,
        "OrderStatus": order.OrderStatus,
        "SubscriptionStatus": subscription.SubscriptionStatus,
        "Industry": organization.Industry,
    }
    for name, domain in pairs.items():
        assert getattr(schemas, name) is domain, name
    fields = {
        (schemas.TenantPublic, "status"): tenant.TenantStatus,
        (schemas.TenantPublic, "mode"): tenant.TenantMode,
        (schemas.OfferPublic, "segment"): catalog.Segment,
        (schemas.OfferPublic, "type"): catalog.LicenceType,
    }
    for (model, field), domain in fields.items():
        assert set(get_args(model.model_fields[field].annotation)) == set(get_args(domain)), (model, field)
