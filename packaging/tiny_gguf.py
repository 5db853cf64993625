"""Write the tiny GGUF that `spyglass --self-test` streams a reply from, at build time.

    python packaging/tiny_gguf.py OUT.gguf

The tests' own path (tests/gguf/conftest.py): a random MiniMax-M3 written by transformers, turned
into GGUF by llama.cpp's converter from the source distribution in the wheelhouse. It runs in the
dev venv (transformers and torch write the checkpoint); only the .gguf goes into the bundle. The
end-of-turn token is one a random model never says, so the reply always runs to its length.
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.gguf.conftest import convert, unpack_llama_cpp, write_m3_folder  # noqa: E402


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(sys.argv[1]).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        llama = unpack_llama_cpp(Path(tmp) / "llama_cpp")
        folder = write_m3_folder(Path(tmp) / "m3", end="]<]video[>[")
        convert(llama, folder, out)
    print(f"tiny_gguf: wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
