"""Write the tiny random MiniMax-M3 checkpoint that the GPU edition's `spyglass --self-test`
streams a reply from through our own runtime (core.engine.msa), at build time.

    python packaging/tiny_msa.py OUT_FOLDER

The tests' own folder (tests/core/conftest.py, `write_tiny_vl_folder`): a random M3 with its
vision tower written by transformers, a BPE tokenizer trained here with the M3 special tokens,
the M3 chat template and a greedy generation config; under 1 MB in all. It runs in the dev venv
(transformers writes the weights); only the folder goes into the bundle, and only into the GPU
edition (packaging/spyglass.spec, SPYGLASS_SELFTEST_MSA). An existing folder is replaced.
"""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.core.conftest import write_tiny_vl_folder  # noqa: E402

FILES = ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "generation_config.json")


def write(out: Path) -> Path:
    """Write the checkpoint into `out` (replacing it) and check every file the runtime reads is there."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    write_tiny_vl_folder(out)
    missing = [name for name in FILES if not (out / name).is_file()]
    if missing:
        raise RuntimeError(f"{out} lacks {', '.join(missing)}")
    return out


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    out = write(Path(sys.argv[1]).resolve())
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"tiny_msa: wrote {out} ({len(list(out.iterdir()))} files, {size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
