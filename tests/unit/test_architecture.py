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
