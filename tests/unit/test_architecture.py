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


def _imports(package: str) -> dict[str, set[str]]:
    """Every module of ``package`` (by dotted name) and the modules it imports."""
    import ast
    import importlib
    from pathlib import Path

    root = Path(importlib.import_module(package).__file__ or "").parent
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        name = ".".join([package, *path.relative_to(root).with_suffix("").parts]).removesuffix(".__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
        found[name] = names
    return found


def test_the_pages_and_the_routes_share_the_web_core_but_never_import_each_other() -> None:
    for module, names in _imports("csp.api").items():
        if module.startswith("csp.api.pages"):
            assert not [n for n in names if n.startswith("csp.api.routes")], module
        if module.startswith("csp.api.routes"):
            assert not [n for n in names if n.startswith("csp.api.pages")], module


def test_only_the_app_factory_imports_both_the_routes_and_the_pages() -> None:
    both = [
        module
        for module, names in _imports("csp.api").items()
        if any(n.startswith("csp.api.routes") for n in names)
        and any(n.startswith("csp.api.pages") for n in names)
        and not module.startswith(("csp.api.routes", "csp.api.pages"))
    ]
    assert both == ["csp.api.app"]


def test_the_persistence_adapters_know_nothing_of_the_web() -> None:
    for module, names in _imports("csp.persistence").items():
        assert not [n for n in names if n.startswith(("csp.api", "fastapi", "starlette"))], module


def test_routes_and_pages_take_narrow_collaborators_never_the_workers() -> None:
    for module, names in _imports("csp.api").items():
        assert not [n for n in names if n.startswith("csp.workers")], module


def test_the_import_contracts_in_pyproject_hold() -> None:
    """The layers, the web's ports, the domain's purity and no cycles (import-linter's
    contracts in pyproject.toml; .ci/run runs the same command)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    done = subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
