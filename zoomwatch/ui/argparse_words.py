"""argparse's own words — "usage:", "options", "show this help message and exit" and its error messages —
in the language the CLI speaks.

argparse looks these up at call time through the gettext functions it imported at module level
(`argparse._` and `argparse.ngettext`, the standard library's default domain). `install()` points those two
names at zoomwatch's catalog, which holds the words listed below (marked here so Babel extracts them).
Nothing else in the process is affected: the default gettext domain is left alone.
"""

from __future__ import annotations

import argparse

from zoomwatch.i18n import N_, translations

# The texts of Python 3.11's argparse that a person running zoomwatch can meet (verbatim msgids).
WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("unrecognized arguments: %s"),
    N_("not allowed with argument %s"),
    N_("ignored explicit argument %r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("expected at least one argument"),
)


def _gettext(text: str) -> str:
    return translations().gettext(text)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return translations().ngettext(singular, plural, n)


def install() -> None:
    """Make argparse speak the language chosen by i18n.setup() (English keeps argparse's own texts)."""
    setattr(argparse, "_", _gettext)  # noqa: B010 - a module global argparse reads at call time
    setattr(argparse, "ngettext", _ngettext)  # noqa: B010
