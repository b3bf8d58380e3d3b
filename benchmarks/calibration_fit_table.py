"""Markdown tables of a calibration's fit: held-out quality per dim and every candidate's held-out error.

    python benchmarks/calibration_fit_table.py smollm2-135m-instruct

Per dim: the fitted gain (the diagonal of W) and its 95% CI where the form has one, the held-out R^2,
the held-out residual RMS and the evaluator's own noise on a change (both in logits), and their ratio
(1 = a fit at the noise floor).
"""

from __future__ import annotations

import argparse

import numpy as np


def _num(value: object, digits: int = 3) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("calibration", help="a shipped name or a file")
    args = parser.parse_args(argv)
    from progressgym_env.backends.calibration import load_calibration

    response = load_calibration(args.calibration)
    doc = response.document
    fit, model = doc["fit"], doc["model"]
    print(f"{doc['name']}: {fit['moved']} updates + {fit['zero_actions']} zero actions; selected {fit['selected']}; "
          f"pooled dims {fit['pooled_dims']}; Coevolve pulls {doc['coevolve']}\n")
    gains = np.diag(np.asarray(model["gain"]))
    ci = fit["ci95"].get("gain")
    print("| dim | gain | 95% CI | held-out R² | residual RMS | evaluator noise | ratio | update noise sd |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for i, dim in enumerate(doc["dims"]):
        interval = "—" if not ci or ci[i][0] is None else f"[{ci[i][0]:.3f}, {ci[i][1]:.3f}]"
        print(f"| {dim} | {gains[i]:.3f} | {interval} | {_num(fit['held_out_r2'][i], 2)} | "
              f"{fit['held_out_residual_rms'][i]:.3f} | {_num(fit['held_out_measurement_sd'][i])} | "
              f"{_num(fit['residual_over_measurement'][i], 2)} | {model['update_noise_sd'][i]:.3f} |")
    print("\n| form | saturation | ridge alpha | held-out MSE (logits²) |")
    print("|---|---|---|---:|")
    for c in sorted(fit["candidates"], key=lambda c: c["held_out_mse"]):
        print(f"| {c['form']} | {c['saturation']} | {c['alpha']} | {c['held_out_mse']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
