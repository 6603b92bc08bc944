"""The lab's dashboard: recorded results and the shipped adapters' curves, re-read from the files on demand."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from lab.app.common import problem
from lab.explore import experiments


def experiments_tab(results_dir: Path, adapters_dir: Path, allow_local: bool) -> gr.Tab:
    """The lab's recorded results and the shipped adapters' training curves, re-read from the files on demand."""
    with gr.Tab("Experiments", elem_id="experiments-tab") as tab:
        gr.Markdown(
            f"Read from `{results_dir}` and the shipped adapters in `{adapters_dir}` each time this tab opens or "
            "*Re-read* is pressed: a new training run or evaluation shows up without restarting the page.",
            elem_classes="lab-legend",
        )
        reread = gr.Button("Re-read the results", elem_id="experiments-button")
        status = gr.Markdown(elem_id="experiments-status")
        training = gr.Plot(label="training curves of the shipped adapters", elem_id="training-plot")
        with gr.Row(equal_height=False):
            sts_plot = gr.Plot(label="STS-B", elem_id="sts-plot")
            sts_table = gr.Dataframe(label="STS-B runs (results/sts)", interactive=False, wrap=True)
        probe_choice = gr.Dropdown(label="Word-probe run (results/probing)", choices=[], elem_id="probe-choice")
        probe_plot = gr.Plot(elem_id="probe-plot")
        with gr.Accordion("Benchmarks (results/bench)", open=False):
            bench = gr.Dataframe(interactive=False, wrap=True)
        with gr.Row(equal_height=False):
            run_box = gr.Textbox(
                label="A run folder to watch (a training output_dir; its metrics.jsonl is re-read every 5 s)",
                placeholder="e.g. runs/mntp",
                scale=4,
                interactive=allow_local,
                info=None if allow_local else "off on a shared page (start with --allow-local-models)",
            )
            watch = gr.Button("Watch", scale=1, interactive=allow_local)
        run_status = gr.Markdown()
        run_plot = gr.Plot(elem_id="run-plot")
        timer = gr.Timer(5.0, active=False)

    def read_experiments():
        runs = experiments.adapter_runs(root=adapters_dir)
        rows = experiments.sts_rows(results_dir)
        probes = experiments.probe_files(results_dir)
        choices = [str(p.parent.relative_to(results_dir)) for p in probes]
        found = (
            f"{len(runs)} adapter runs ({', '.join(runs) or 'none'}), {len(rows)} STS-B runs, "
            f"{len(probes)} word-probe runs, {len(experiments.bench_rows(results_dir))} benchmark numbers."
        )
        return (
            "Found " + found,
            experiments.curves_figure(runs, "Shipped adapters: training and evaluation") if runs else None,
            experiments.sts_figure(rows) if rows else None,
            pd.DataFrame(rows),
            gr.Dropdown(choices=choices, value=choices[0] if choices else None),
            pd.DataFrame(experiments.bench_rows(results_dir)),
        )

    def probe(choice: str | None):
        if not choice:
            return None
        return experiments.probe_figure(results_dir / choice / "probe_results.csv")

    def watch_run(folder: str):
        if not allow_local:
            return "⚠️ Reading local folders is off on a shared page.", None, gr.Timer(active=False)
        try:
            records, path = experiments.run_folder(folder)
        except Exception as error:
            return problem(error), None, gr.Timer(active=False)
        last = records[-1]["step"] if records else "-"
        line = f"{len(records)} records in `{path}`, last step {last}; re-read every 5 s while it trains."
        return line, experiments.curves_figure({path.parent.name: records}, str(path.parent)), gr.Timer(active=True)

    outputs = [status, training, sts_plot, sts_table, probe_choice, bench]
    tab.select(read_experiments, None, outputs, api_visibility="private")
    reread.click(read_experiments, None, outputs, api_name="experiments")
    probe_choice.change(probe, [probe_choice], [probe_plot], api_name="probe_plot")
    watch.click(watch_run, [run_box], [run_status, run_plot, timer], api_name="watch_run")
    run_box.submit(watch_run, [run_box], [run_status, run_plot, timer], api_visibility="private")
    timer.tick(watch_run, [run_box], [run_status, run_plot, timer], api_visibility="private")
    return tab
