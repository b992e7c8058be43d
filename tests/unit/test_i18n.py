"""zoomwatch.i18n (issue 16): the language picked from the system or `ui.language`, messages kept English for
logs and machine-readable output while a face shows them translated, Russian's three plural forms, numbers
and sizes for the locale, and `naming.locale` following the interface's language when it is not set."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterator

import pytest

from zoomwatch import i18n
from zoomwatch.core.status import ProblemKey, StatusBoard
from zoomwatch.i18n import N_, NP_, Msg, tr
from zoomwatch.translate import source_error


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    i18n.system_language.cache_clear()
    i18n.setup("en")


@pytest.fixture
def system(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Set the locale variables as a desktop session would, and pick the language afresh."""
    def use(**variables: str) -> str:
        for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
            monkeypatch.delenv(name, raising=False)
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        i18n.system_language.cache_clear()
        return i18n.setup(None)

    monkeypatch.setattr(i18n.sys, "platform", "linux")
    return use


def test_the_language_comes_from_the_locale_variables_in_gettext_s_order(system) -> None:
    assert system(LANG="es_ES.UTF-8") == "es"
    assert system(LANG="ru_RU.UTF-8") == "ru"
    assert system(LANG="es_MX.UTF-8", LC_MESSAGES="ru_RU.UTF-8") == "ru"
    assert system(LANG="ru_RU.UTF-8", LC_ALL="es_AR.UTF-8") == "es"
    assert system(LANG="en_US.UTF-8", LANGUAGE="ru:en") == "ru"
    assert system(LANG="fr_FR.UTF-8") == "en"  # a language zoomwatch does not speak: English
    assert system(LANGUAGE="fr:es") == "en"    # the person's first choice wins, even if it is English
    assert system(LANG="C.UTF-8") == "en" and system() == "en"


def test_ui_language_overrides_the_system_and_normalizes(system) -> None:
    system(LANG="es_ES.UTF-8")
    assert i18n.setup("ru") == "ru" and i18n.current() == "ru"
    assert i18n.setup("") == "es"
    assert [i18n.normalize(c) for c in ("es-419", "ru_RU.UTF-8", "ES", "pt_BR", "", None)] == \
        ["es", "ru", "es", None, None, None]


def test_a_message_stays_english_for_logs_and_json_and_is_shown_translated() -> None:
    error = source_error(PermissionError(errno.EACCES, "denied"), "/zoom/Clase 1/zoom_0.mp4")
    english = "/zoom/Clase 1/zoom_0.mp4: permission denied — let the user running zoomwatch read it; retried later"
    assert str(error) == f"Cannot read recording: {english}" and error.message == english
    assert json.dumps({"m": error.message}) == json.dumps({"m": english})
    i18n.setup("es")
    assert str(error.message) == english  # the language shown changes nothing the engine keeps
    assert tr(error.title) == "No se puede leer la grabación"
    assert tr(error.message) == ("/zoom/Clase 1/zoom_0.mp4: permiso denegado — permita que el usuario que ejecuta "
                                 "zoomwatch lo lea; se reintenta más tarde")
    i18n.setup("ru")
    assert tr(error.title) == "Не удаётся прочитать запись"
    assert tr(error.message).startswith("/zoom/Clase 1/zoom_0.mp4: доступ запрещён — разрешите пользователю")
    i18n.setup("en")
    assert tr(error.message) == english


def test_a_problem_on_the_board_keeps_its_msgid_escaped_and_survives_the_status_file() -> None:
    board = StatusBoard()
    gone = source_error(FileNotFoundError(errno.ENOENT, "gone"), "/zoom/a\nb.mp4")
    board.set_problem(ProblemKey.WATCH_FOLDER, gone.title, gone.message)
    problem = board.snapshot().problem
    assert problem is not None and problem.message == "/zoom/a\\nb.mp4 was deleted or renamed before it was backed up"
    published = json.loads(json.dumps(problem.as_dict()))
    i18n.setup("ru")
    message = Msg.from_json(published["i18n"]["message"])
    assert message is not None and str(message) == problem.message  # English, as logged
    assert tr(message) == "/zoom/a\\nb.mp4 удалён или переименован до копирования"
    assert tr(board.snapshot().summary()).startswith("Файл исчез — /zoom/a\\nb.mp4 удалён")


def test_russian_has_three_plural_forms_and_spanish_two() -> None:
    verified = {n: NP_("{n} verified", "{n} verified", n) for n in (1, 2, 5, 11, 21, 22, 25, 101)}
    assert {n: str(m) for n, m in verified.items()}[1] == "1 verified"
    i18n.setup("ru")
    assert [tr(verified[n]) for n in (1, 2, 5, 11, 21, 22, 25, 101)] == [
        "1 файл проверен", "2 файла проверены", "5 файлов проверено", "11 файлов проверено", "21 файл проверен",
        "22 файла проверены", "25 файлов проверено", "101 файл проверен"]
    i18n.setup("es")
    assert [tr(verified[n]) for n in (1, 2, 5)] == ["1 verificado", "2 verificados", "5 verificados"]


def test_numbers_and_sizes_follow_the_locale() -> None:
    many = NP_("{n} verified", "{n} verified", 12345)
    assert str(many) == "12345 verified"  # logs: plain digits
    assert (i18n.setup("en"), i18n.format_size(1_536_000), tr(many)) == ("en", "1.5 MB", "12,345 verified")
    i18n.setup("es")
    assert (i18n.format_size(1_536_000), i18n.format_size(999), tr(many)) == ("1,5 MB", "999 B", "12.345 verificados")
    i18n.setup("ru")
    assert (i18n.format_size(2_500_000_000), tr(many)) == ("2,5 ГБ", "12\u00a0345 файлов проверено")


def test_a_broken_translation_falls_back_to_english_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    i18n.setup("es")
    monkeypatch.setattr(i18n.translations(), "gettext", lambda msgid: "{nombre} roto")
    assert tr(N_("{name} deleted", name="s3.access_key_id")) == "s3.access_key_id deleted"


def test_naming_locale_follows_the_interface_unless_it_is_set(app, system) -> None:
    from zoomwatch import config

    system(LANG="es_ES.UTF-8")
    assert config.load(app.paths)["naming.locale"] == "es"  # unset: the system's language
    app.set("ui.language", "ru")
    assert config.load(app.paths)["naming.locale"] == "ru"  # unset: the interface's language
    app.set("naming.locale", "en")
    assert config.load(app.paths)["naming.locale"] == "en"  # an install that set it keeps it
    assert config.ui_language(app.paths) == "ru"
    app.paths.config_file.write_text("[ui\nlanguage = 'ru'", encoding="utf-8")
    assert config.ui_language(app.paths) == ""  # a file that cannot be read: the system's language
