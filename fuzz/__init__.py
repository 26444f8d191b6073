"""Bounded-time fuzzing of the parsers that read network input. See fuzz/README.md.

Each target module (``fuzz_nupkg``, ``fuzz_keys``) exposes the same small interface,
so that ``fuzz.run`` can drive it with either engine:

- ``NAME``, ``WEIGHT`` (its share of the time), ``MAX_LEN`` (input bytes);
- ``seeds()``: valid inputs to start from, in the target's input encoding;
- ``DICTIONARY``: tokens worth splicing in (libFuzzer's ``-dict``);
- ``INSTRUMENT``: the modules whose code coverage should guide atheris;
- ``SETTINGS`` (optional): Django settings to fuzz under;
- ``test_one_input(data)``: runs one input, raises on a bug (``Finding`` when an
  oracle below the call fails), returns otherwise.
"""

import os
import sys
import types


class Finding(AssertionError):
    """An input broke a target's promise."""


def check(condition: object, *details: object) -> None:
    """``assert`` that survives ``python -O``: a fuzz oracle must never be skipped."""
    if not condition:
        raise Finding(*details)


def setup_django() -> None:
    # The modules under test read their limits and the key prefix from settings.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()


def configure(target) -> None:
    """Apply the target's ``SETTINGS``, if any, over the test settings."""
    from django.conf import settings

    for name, value in getattr(target, "SETTINGS", {}).items():
        setattr(settings, name, value)


def instrument(module_names) -> None:
    """Add atheris coverage instrumentation to the functions of ``module_names``.

    Targeted rather than ``atheris.instrument_all()``: Django's thousands of
    functions would cost seconds of start-up and slow every translated refusal,
    and their coverage says nothing about the parsers. Already imported modules
    (zipfile is, by Django) are patched in place, which ``instrument_imports``
    cannot do.
    """
    import atheris

    for name in module_names:
        __import__(name)
        module = sys.modules[name]
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == name:
                for member in vars(value).values():
                    _instrument_callable(atheris, member, name)
            else:
                _instrument_callable(atheris, value, name)


def _instrument_callable(atheris, value, module_name: str) -> None:
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    elif isinstance(value, property):
        for accessor in (value.fget, value.fset, value.fdel):
            _instrument_callable(atheris, accessor, module_name)
        return
    if isinstance(value, types.FunctionType) and value.__module__ == module_name:
        # Unwrap functools.lru_cache and friends.
        atheris.instrument_func(getattr(value, "__wrapped__", value))
    elif hasattr(value, "__wrapped__") and getattr(value, "__module__", None) == module_name:
        wrapped = value.__wrapped__
        if isinstance(wrapped, types.FunctionType):
            atheris.instrument_func(wrapped)


def atheris_main(target) -> None:
    """Run ``target`` under atheris/libFuzzer with the flags in ``sys.argv``."""
    import atheris

    setup_django()
    configure(target)
    # The target's own branches (which mode, which edit) guide the search too.
    instrument([*target.INSTRUMENT, target.__name__])
    atheris.Setup(sys.argv, target.test_one_input)
    atheris.Fuzz()
