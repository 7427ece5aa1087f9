"""The quickstart's Python step: read item_stats of a few products from a
running ofs server into a pandas DataFrame, and the same answer as a numpy
matrix (a view of the answer's bytes, no per-cell Python objects).

    .venv/bin/python examples/quickstart/retrieve.py --addr 127.0.0.1:7070 sku-1 sku-2 sku-404
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import ofs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default="127.0.0.1:7070", help="address of an ofs server")
    p.add_argument("--entity", default="item")
    p.add_argument("--group", default="item_stats")
    p.add_argument("keys", nargs="+", help="entity keys (one value each)")
    args = p.parse_args()

    with ofs.Client(args.addr, timeout=5.0) as client:
        res = client.retrieve(args.entity, args.keys, [args.group])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.to_pandas())
    m = res.matrix(np.float32)
    print(f"fp32 matrix {m.shape}:")
    print(m)


if __name__ == "__main__":
    main()
