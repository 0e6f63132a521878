"""Convert a dlib network (.dat) to an ONNX file, without dlib; print the file's sha256.

    .venv/bin/python tools/dlib_to_onnx.py dlib_face_recognition_resnet_model_v1.dat out.onnx

The graph takes NCHW RGB float pixels (0..255) and returns dlib's raw 128-d descriptor (see
``facesearch.models.dlib_resnet``). facesearch itself converts the shipped network on first use
into its cache (``models.load_embedder``); this is for looking at the graph or using it
elsewhere.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from facesearch.errors import FaceSearchError
from facesearch.models.dlib_resnet import convert
from facesearch.models.registry import sha256_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a dlib network serialized by dlib (.dat)")
    parser.add_argument("target", type=Path, help="the ONNX file to write (replaced)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        args.target.unlink(missing_ok=True)
        convert(args.source, args.target)
    except (FaceSearchError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"source sha256 {sha256_file(args.source)}", file=sys.stderr)
    print(f"converted in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    print(f"{sha256_file(args.target)}  {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
