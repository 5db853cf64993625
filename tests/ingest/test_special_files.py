"""Paths that are not regular files: a named pipe with no writer would block the first read for
good, so these are refused from what `os.stat` says, before anything opens them; each refusal is
an `UnreadableFile` that says what the path is."""

import os
import socket
import threading

import pytest

from core.ingest import IngestError, UnreadableFile, ingest_path


def _outcome_within_a_minute(path):
    """`ingest_path(path)`'s result or error; a call still blocked after a minute fails the test
    (the minute only keeps a hang from stalling the suite: no outcome is judged by its time)."""
    outcome: dict = {}

    def call():
        try:
            outcome["result"] = ingest_path(path)
        except IngestError as error:
            outcome["error"] = error

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(60)
    hung = thread.is_alive()
    if hung:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # lets a reader stuck in open() go
    assert not hung, f"ingest_path({path}) hung"
    return outcome


def test_a_named_pipe_without_a_writer_is_refused_before_it_is_opened(tmp_path):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    error = _outcome_within_a_minute(pipe).get("error")
    assert isinstance(error, UnreadableFile), error
    assert str(error).startswith(f"{pipe}: ") and "named pipe" in str(error)


def test_a_link_to_a_named_pipe_is_refused_too(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "photo.jpg")
    error = _outcome_within_a_minute(tmp_path / "photo.jpg").get("error")
    assert isinstance(error, UnreadableFile) and "named pipe" in str(error)


def test_a_folder_a_socket_and_a_device_are_refused_by_what_they_are(tmp_path):
    with pytest.raises(UnreadableFile, match=r"folder.pdf: it is a folder, not a file"):
        ingest_path((tmp_path / "folder.pdf").mkdir() or tmp_path / "folder.pdf")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "s.png"))
        with pytest.raises(UnreadableFile, match=r"s\.png: it is a socket, not a regular file"):
            ingest_path(tmp_path / "s.png")
    finally:
        server.close()
    with pytest.raises(UnreadableFile, match=r"/dev/zero: it is a device, not a regular file"):
        ingest_path("/dev/zero")
