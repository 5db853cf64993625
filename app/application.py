"""Starting the window: settings from CLI, environment and file; the history store; Qt.

`run_app` returns the exit code. A settings file or history that cannot be read is reported in
a dialog and on standard error, then the app exits with status 2 rather than running on guesses.
"""

from __future__ import annotations

import argparse
import sys

from core.settings import env_overrides, load_settings




def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", dest="app_model", metavar="DIR", help="model folder to load (SPYGLASS_MODEL)")
    parser.add_argument("--device", dest="app_device", help="cuda, cuda:1 or cpu (SPYGLASS_DEVICE)")
    parser.add_argument("--context", dest="app_context", type=int, help="tokens of context (SPYGLASS_CONTEXT)")
    parser.add_argument("--data-dir", dest="app_data_dir", metavar="DIR", help="history folder (SPYGLASS_DATA_DIR)")


def cli_values(args: argparse.Namespace) -> dict:
    return {"model_dir": args.app_model, "msa.device": args.app_device, "context_tokens": args.app_context,
            "data_dir": args.app_data_dir}


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    from core.history import HistoryStore, SchemaError

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Spyglass")
    cli = cli_values(args)
    try:
        settings = load_settings(cli)
        store = HistoryStore(settings.history_path())
    except (ValueError, OSError, SchemaError) as err:
        print(f"spyglass: {err}", file=sys.stderr)
        QMessageBox.critical(None, "Spyglass cannot start", str(err))
        return 2
    overridden = env_overrides() + \
        tuple(f"--{k}" for k, v in cli.items() if v is not None)
    from app.main_window import MainWindow

    with store:
        window = MainWindow(settings, store, overridden=overridden)
        window.show()
        return app.exec()


__all__ = ["add_app_arguments", "cli_values", "run_app"]
