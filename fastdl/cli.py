"""The ``fastdl`` command: ``fastdl info``, ``fastdl bench optim``."""

from __future__ import annotations

import argparse
import json
import sys


def _csv(kind):
    def parse(text: str):
        return [kind(x) for x in text.split(",") if x]
    return parse


def _cmd_info(args) -> int:
    import fastdl

    info = fastdl.build_info()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for k, v in info.items():
            print(f"{k:<{width}}  {', '.join(v) if isinstance(v, list) else v}")
    return 0


def _cmd_bench_optim(args) -> int:
    from fastdl import bench

    unknown = [o for o in args.optimizers if o not in bench.OPTIMIZERS]
    if unknown:
        print(f"fastdl bench optim: unknown optimizer(s) {', '.join(unknown)}; "
              f"choose from {', '.join(bench.OPTIMIZERS)}", file=sys.stderr)
        return 2
    print(f"Fused optimizer steps, float32; workloads: resnet18 = its 62 parameter tensors "
          f"(11,689,512 values), flat = one tensor of that size. Median of {args.repeats} "
          f"interleaved runs; ratios > 1 mean the native kernel is faster.", flush=True)

    def progress(row):
        print(f"  {row['optimizer']} {row['workload']} threads={row['threads']}: "
              f"native {row['native'] * 1e3:.2f} ms", flush=True)

    rows = bench.run_optim_bench(args.optimizers, args.workloads, args.threads,
                                 repeats=args.repeats, with_torch=not args.no_torch,
                                 progress=progress)
    print()
    print(bench.format_table(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastdl", description="fastdl: deep learning for NumPy users")
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="how fastdl was built: OpenMP, threads, instruction set")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_cmd_info)
    b = sub.add_parser("bench", help="benchmarks: native vs NumPy twin vs PyTorch")
    bsub = b.add_subparsers(dest="suite", required=True)
    bo = bsub.add_parser("optim", help="fused optimizer steps on the ResNet-18 parameter set")
    from fastdl.bench import OPTIMIZERS

    bo.add_argument("--optimizers", type=_csv(str), default=list(OPTIMIZERS),
                    help=f"comma-separated subset of {','.join(OPTIMIZERS)}")
    bo.add_argument("--workloads", type=_csv(str), default=["resnet18", "flat"],
                    help="comma-separated: resnet18, flat")
    bo.add_argument("--threads", type=_csv(int), default=[1, 2], help="e.g. 1,2")
    bo.add_argument("--repeats", type=int, default=7, help="repetitions (median reported)")
    bo.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    bo.set_defaults(func=_cmd_bench_optim)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
