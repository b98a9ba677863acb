"""The one table of surrogate kinds (neurodeploy/neurons/surrogate_kinds.py) generates the C++
``Kind`` enum; scan.cpp does not number the kinds itself, and every catalogue surrogate's
``kernel_form`` names a kind of the table."""

from __future__ import annotations

import re
from pathlib import Path

from neurodeploy.neurons import _scan_cpp, kernels, surrogate_kinds
from neurodeploy.surrogates import SURROGATES, make_surrogate
from neurodeploy.surrogates.asgl import FORWARDS


def _enum(text: str, name: str = "Kind") -> dict[str, int]:
    body = re.search(rf"enum {name} \{{(.*?)\}};", text, re.S).group(1)
    pairs = [item.split("=") for item in body.split(",")]
    return {name.strip(): int(value) for name, value in pairs}


def test_generated_enum_matches_the_table():
    enum = _enum(surrogate_kinds.cpp_enum())
    expected = {"K_TENSOR": 0, "K_COUNT": len(surrogate_kinds.FORMS) + 1}
    expected.update({"K_" + form.upper(): kind for form, kind in surrogate_kinds.SURROGATE_KINDS.items()})
    assert enum == expected
    assert sorted(surrogate_kinds.SURROGATE_KINDS.values()) == list(range(1, len(surrogate_kinds.FORMS) + 1))
    assert kernels.SURROGATE_KINDS is surrogate_kinds.SURROGATE_KINDS
    # the compiled text is the generated enum, then scan.cpp
    assert _scan_cpp.EXTENSION.source().startswith(surrogate_kinds.cpp_enum())


def test_scan_cpp_does_not_number_the_kinds_and_uses_only_generated_names():
    cpp = Path(_scan_cpp.__file__).with_name("scan.cpp").read_text(encoding="utf-8")
    assert "enum Kind" not in cpp
    assert not re.search(r"\bK_[A-Z_]+\s*=(?!=)", cpp)
    used = set(re.findall(r"\bK_[A-Z_]+\b", cpp))
    assert used and used <= set(_enum(surrogate_kinds.cpp_enum()))


def test_every_catalogue_kernel_form_is_in_the_table():
    seen = set()
    for name in SURROGATES.names():
        variants = [{"forward": f} for f in FORWARDS] if name == "asgl" else [{}]
        for kwargs in variants:
            form = make_surrogate(name, **kwargs).kernel_form()
            if form is not None:
                assert form[0] in surrogate_kinds.SURROGATE_KINDS, (name, kwargs, form[0])
                seen.add(form[0])
    assert seen == set(surrogate_kinds.FORMS)  # no kind in the table is left without a surrogate


def test_asgl_noisy_forms_come_from_the_table():
    """ASGL's noisy forward numbering (kernels' ``_NOISY_FORMS``, scan.cpp's ``asgl``) is the
    generated ``Noisy`` enum, not numbers kept in sync by hand."""
    enum = _enum(surrogate_kinds.cpp_enum(), "Noisy")
    expected = {"N_HEAVISIDE": 0, "N_COUNT": len(surrogate_kinds.NOISY_FORMS) + 1}
    expected.update({"N_" + form.upper(): kind for form, kind in surrogate_kinds.NOISY_KINDS.items()})
    assert enum == expected
    assert kernels._NOISY_FORMS is surrogate_kinds.NOISY_KINDS
    assert set(FORWARDS) == set(surrogate_kinds.NOISY_FORMS)  # every ASGL forward has a number
    cpp = Path(_scan_cpp.__file__).with_name("scan.cpp").read_text(encoding="utf-8")
    assert "enum Noisy" not in cpp and not re.search(r"\bN_[A-Z_]+\s*=(?!=)", cpp)
    assert not re.search(r"\b(asgl|AS)\s*[=!<>]=?\s*[0-9]", cpp)  # compared with enumerators only
    used = set(re.findall(r"\bN_[A-Z_]+\b", cpp))
    assert used and used <= set(enum)
