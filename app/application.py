"""Starting the window: settings from CLI, environment and file; the history store; Qt.

`run_app` returns the exit code. Problems with the files Spyglass keeps do not stop it: a settings
file that cannot be used is reported in the window and the app runs on defaults (plus the
environment and flags), leaving the file untouched; a damaged history is moved aside, a fresh one
started and recovery offered (core.history.recovery). What the person gave this very start (a bad
variable or flag) or a history from a newer Spyglass is still reported in a dialog and on
standard error, and the app exits with status 2 rather than running on guesses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from core.settings import SettingsFileError, env_overrides, load_settings


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", dest="app_model", metavar="DIR", help="model folder to load (SPYGLASS_MODEL)")
    parser.add_argument("--device", dest="app_device", help="cuda, cuda:1 or cpu (SPYGLASS_DEVICE)")
    parser.add_argument("--context", dest="app_context", type=int, help="tokens of context (SPYGLASS_CONTEXT)")
    parser.add_argument("--data-dir", dest="app_data_dir", metavar="DIR", help="history folder (SPYGLASS_DATA_DIR)")


def cli_values(args: argparse.Namespace) -> dict:
    return {"model_dir": args.app_model, "msa.device": args.app_device, "context_tokens": args.app_context,
            "data_dir": args.app_data_dir}


def start_window(cli: Mapping[str, object], *, env: Mapping[str, str] | None = None, make_engine=None):
    """The settings, the history and the shown MainWindow, as `run_app` starts them; problems that
    need not stop the app are reported in the window (`window.startup_report`). Raises ValueError,
    OSError or SchemaError for those that do. The caller closes the window, then `window.store`."""
    from app.main_window import MainWindow, default_engine
    from app.startup_report import StartupReport
    from core.history import open_history

    notices = []
    try:
        settings = load_settings(cli, env=env)
    except SettingsFileError as err:
        settings = load_settings(cli, env=env, use_file=False)
        notices.append(f"{err}. Spyglass is running on the default settings and left the file as it is.")
    opened = open_history(settings.history_path())
    notices += [opened.notice] if opened.notice else []
    overridden = env_overrides(env) + tuple(f"--{k}" for k, v in cli.items() if v is not None)
    try:
        window = MainWindow(settings, opened.store, overridden=overridden, make_engine=make_engine or default_engine)
    except BaseException:
        opened.store.close()
        raise
    window.startup_report = StartupReport(window, notices, opened.damaged)
    window.show()
    return window


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from core.history import SchemaError

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Spyglass")
    try:
        window = start_window(cli_values(args))
    except (ValueError, OSError, SchemaError) as err:
        print(f"spyglass: {err}", file=sys.stderr)
        QMessageBox.critical(None, "Spyglass cannot start", str(err))
        return 2
    if getattr(args, "exit_when_shown", False):
        _exit_when_shown(app, window)
    with window.store:
        return app.exec()


def _exit_when_shown(app, window) -> None:
    """Print `spyglass: window shown` and quit once X has exposed the window (benchmarks/package.py)."""
    from PySide6.QtCore import QTimer

    def poll() -> None:
        if window.windowHandle() is not None and window.windowHandle().isExposed():
            print("spyglass: window shown", flush=True)
            window.close()
            app.quit()
        else:
            QTimer.singleShot(5, poll)

    QTimer.singleShot(0, poll)


__all__ = ["add_app_arguments", "cli_values", "run_app", "start_window"]
