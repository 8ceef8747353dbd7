"""docs/config.md from the schema, and `python -m playground.config`."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
from collections.abc import Sequence

from playground.algorithms import registry as algorithms
from playground.config.derive import Derived, derive
from playground.config.fields import ConfigError, FreeForm, Partial, Section, type_name
from playground.config.layout import ENV_CFG_PREFIX, RUN_LOOP_KEYS, Computed, algorithm_keys
from playground.config.load import SHORTCUTS, _dump_yaml, _resolve_args, build_arg_parser
from playground.config.schema import (
    ALGORITHM,
    QUICK_VERIFY,
    RUN,
    TASK_FIELD,
    hook,
    load_ref,
    resumable_keys,
    to_dict,
)
from playground.tasks import registry as tasks


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _section_markdown(section: Section, prefix: str, level: int = 3) -> list[str]:
    lines = [
        f"{'#' * level} `{prefix}`",
        "",
        section.doc,
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    subsections = []
    for key, node in section.fields.items():
        path = f"{prefix}.{key}"
        if isinstance(node, Section):
            subsections.append((node, path))
            lines.append(f"| `{path}` | section | | {_cell(node.doc)} (below) |")
        elif isinstance(node, FreeForm):
            kind = "str -> float" if node.value_type is float else "str -> scalar or list"
            kind += " or mapping (nested, dotted keys)" if node.nested else ""
            lines.append(f"| `{path}` | mapping {kind} | `{{}}` | {_cell(node.doc)} |")
        else:
            default = json.dumps(
                list(node.default) if isinstance(node.default, tuple) else node.default
            )
            rule = f" ({node.check.text})" if node.check is not None else ""
            lines.append(
                f"| `{path}` | {_cell(type_name(node))} | `{default}` | {_cell(node.doc + rule)} |"
            )
    lines.append("")
    for node, path in subsections:
        lines += _section_markdown(node, path, level)
    return lines


def _sections_markdown(sections: dict, level: int) -> list[str]:
    lines = []
    for key, node in sections.items():
        if isinstance(node, Section):
            lines += _section_markdown(node, key, level)
        elif isinstance(node, FreeForm):
            lines += [f"{'#' * level} `{key}`", "",
                      f"Mapping str -> float, default `{{}}`: {node.doc}.", ""]
        elif isinstance(node, Partial):
            lines += [f"{'#' * level} `{key}`", "", f"Default `{{}}`: {node.doc}.", ""]
    return lines


def _task_markdown(entry) -> list[str]:
    sections = dict(load_ref(entry.config))
    env = sections.pop("env", Section(f"The {entry.name} task.", {}))
    sections = {"env": Section(env.doc, {"task": TASK_FIELD, **env.fields}), **sections}
    lines = [f"### Task `{entry.name}`", "", f"{entry.description}. Sections: "
             + ", ".join(f"`{key}`" for key in sections) + f" (`{entry.config}`).", ""]
    for algorithm, values in dict(load_ref(entry.algorithm_defaults)).items():
        lines += [f"Its defaults for `{algorithm}` runs (`{entry.algorithm_defaults}`):", "",
                  "```yaml", *_dump_yaml(values).splitlines(), "```", ""]
    return lines + _sections_markdown(sections, 4)


def _algorithm_markdown(entry) -> list[str]:
    sections = load_ref(entry.config)
    lines = [f"### Algorithm `{entry.name}`", "", f"{entry.description}. Sections: "
             + ", ".join(f"`{key}`" for key in sections) + f" (`{entry.config}`).", ""]
    derived = hook(entry.config, "DERIVED_DOCS") or {}
    if derived:
        lines += ["Its derived values (`derive(cfg).algorithm`):", ""]
        lines += [f"- `{name}`: {doc}" for name, doc in derived.items()] + [""]
    return lines + _sections_markdown(sections, 4)


def _layout_rows(table: dict) -> list[str]:
    rows = []
    for theirs, rule in table.items():
        if isinstance(rule, Computed):
            ours = f"`{rule.key}`" if rule.key else "(none)"
            rows.append(f"| `{theirs}` | {ours} | {_cell(rule.doc)} |")
        else:
            rows.append(f"| `{theirs}` | `{rule}` | the same value |")
    return rows


def layout_markdown() -> list[str]:
    """The JSON files section: format, the trainer layout and its mapping onto our keys."""
    lines = [
        "## JSON files and the trainer layout",
        "",
        "`--config x.json` is read as JSON (by the `.json` suffix), anywhere a YAML file is",
        "taken (train.py, `python -m playground.config`, play.py's and sim2sim.py's",
        "`--config`); a syntax error is one line `x.json:LINE:COLUMN: invalid JSON: ...`",
        "(exit 2), a duplicate key names its dotted path. A JSON file in our own layout",
        "(the sections below) means what the same YAML means.",
        "",
        "A file (JSON or YAML) in the trainer layout of JSON-configured trainers such as",
        "EmbodiChain's, `{\"runtime\": {...}, \"env\": {\"id\", \"cfg\"}, \"policy\": {\"name\",",
        "\"cfg\", \"actor\", \"critic\"}, \"algorithm\": {\"name\", \"cfg\"}}`, is mapped onto our",
        "keys by the table below (playground/config/layout.py; the algorithm's rows are its",
        "config module's `TRAINER_LAYOUT`). Its keys are read for the task and algorithm it",
        "names (`env.id`, `algorithm.name`). A key with no row is refused with one line",
        "naming it and the keys its section maps; a value with no meaning here (e.g.",
        "`runtime.headless: false`, `env.cfg.obs_mode: \"rgb\"`, a batch size that does not",
        "divide an iteration) is refused with one line naming our key. Sections of our own",
        "layout (e.g. `reward_weights`) may sit beside the four; a key set both ways must",
        "agree. Env steps become iterations with the file's own iteration size,",
        "`env.cfg.num_envs x runtime.rollout_steps` (that trainer's `rollout_steps` are steps",
        "per env), so `eval_freq`, `save_freq` and `batch_size` need both in the same file.",
        "`policy.actor.network_cfg.*` is read as `policy.actor.*` (the same for the critic).",
        "",
        "| their key | our key | value |",
        "|---|---|---|",
        *_layout_rows(RUN_LOOP_KEYS),
        f"| `{ENV_CFG_PREFIX}<key>` (any other) | `env.<key>` | the same value; the task's own "
        "env keys (e.g. `episode_length`, `action_scale`) |",
        "",
    ]
    for entry in algorithms.ALGORITHMS.values():
        table = algorithm_keys(entry.name)
        lines += [f"Algorithm `{entry.name}`" + (":" if table else ": maps none of them "
                                                 "(set its keys by their names)."), ""]
        if table:
            lines += ["| their key | our key | value |", "|---|---|---|",
                      *_layout_rows(table), ""]
    return lines


def schema_markdown() -> str:
    """docs/config.md: precedence, command line, derived values, every key."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `make docs` (python -m playground.config --write-docs docs/config.md)",
        "     from the sections each task and algorithm declares; edit those, then regenerate. -->",
        "",
        "One config tree whose sections are declared by their owners: the run loop owns `run`",
        "(playground/config/schema.py), each algorithm its sections (e.g.",
        "playground/algorithms/ppo/config.py), each task its `env` section and the rest it",
        "reads (e.g. playground/tasks/locomotion/config.py). A run's config holds the run",
        "loop's sections plus those of its task (`env.task`) and algorithm (`algorithm.name`);",
        "a key that neither reads is an error (exit 2) naming the closest valid key, as are",
        "wrong types. YAML (or JSON) files give values; `--set KEY=VALUE` overrides any key.",
        "The resolved config is locked, saved next to every checkpoint, and reloads with",
        "`--config <run>/config.yaml`.",
        "",
        "## Precedence",
        "",
        "Lowest first; a later layer overrides an earlier one key by key:",
        "",
        "1. the defaults of the run's sections (the tables below);",
        "2. the task's defaults for the run's algorithm, where it has some (its registry",
        "   entry's `algorithm_defaults`, listed with each task below: e.g. the cart-pole's",
        "   tuned A2C hyperparameters);",
        "3. one YAML or JSON file: `--config PATH`, or, when no `--config` is given,",
        "   `configs/<task>.yaml` of the task named by the final value of `env.task`",
        f"   after the command-line overrides (default: `{tasks.DEFAULT_TASK}`);",
        "4. that file's `quick_verify` section, only with `--verify`;",
        "5. the command line: `--set` and the shortcuts below, in the order given",
        "   (the last one wins).",
        "",
        "A YAML file (and its `quick_verify`) may hold sections for several algorithms: a",
        "section that another registered algorithm declares and the run's does not is",
        "skipped, so `--algorithm a2c` reads a PPO recipe's `env`, `network` and `run` but",
        "not its `ppo` section. Any other unknown section or key is an error, and `--set`",
        "of another algorithm's key is refused.",
        "",
        "`env.task` and `algorithm.name` are read first, through the same layers; their",
        "sections then make the schema that every key is checked against. A YAML file may",
        "hold the sections of several algorithms (also under `quick_verify`): the sections",
        "that only other registered algorithms declare are skipped (docs/algorithms.md).",
        "So `--verify --num-iterations 8` runs 8 iterations, and",
        "`--set ppo.num_envs=8 --num-envs 16` gives 16 envs (the reverse gives 8).",
        "Mappings (`reward_weights`, `env.playground`, `quick_verify`) merge key by key.",
        "",
        "## Command line",
        "",
        "`--set KEY=VALUE` (repeatable): VALUE is read as YAML (`1e-4`, `true`, `null`,",
        "`[64, 64]`), then checked against the key's type: ints are accepted for floats,",
        "bools are not numbers, floats are not ints; a str key keeps text that reads as a",
        "number. Each shortcut is exactly one `--set`:",
        "",
        "| flag | same as |",
        "|---|---|",
    ]
    for shortcut in SHORTCUTS:
        flag = f"{shortcut.flag} {shortcut.metavar}" if shortcut.metavar else shortcut.flag
        lines.append(f"| `{flag}` | `--set {shortcut.key}={shortcut.value or shortcut.metavar}` |")
    lines += [
        "",
        "`--config PATH` picks the YAML or JSON file; `--verify` applies its `quick_verify`",
        "section. `python -m playground.config --print [flags]` prints the resolved config.",
        "`--device` (`run.device`) is applied by train.py before jax starts a backend; it",
        "prints `device: <platform> x<count>` at start (docs/training.md).",
        "",
        *layout_markdown(),
        "## Derived values",
        "",
        "`derive(cfg)` computes these once, before compiling, and rejects impossible",
        "settings: each key's own range (stated in its row below), lo > hi ranges, and the",
        "checks across keys of the run loop, the algorithm (its `schedule(cfg)`, e.g. batch",
        "not divisible) and the task (its `check(cfg)`, e.g. `sim_dt` not dividing `ctrl_dt`):",
        "",
    ]
    for field in dataclasses.fields(Derived):
        lines.append(f"- `{field.name}`: {field.metadata['doc']}")
    lines += [
        "",
        "`run.env_steps` (`--steps N`) is an env-step budget for any algorithm: the run does",
        "`ceil(N / env_steps_per_iteration)` iterations in place of the algorithm's",
        "num_iterations, so a budget that is not a whole number of iterations is rounded up",
        "(at least N env steps; the console prints the rounding as a `note:`).",
        "",
        "Training runs in jitted chunks of `iterations_per_chunk = max(1, round(run.log_every /",
        "env_steps_per_iteration))` iterations (at most the algorithm's iterations, e.g.",
        "`ppo.num_iterations`); `run.eval_every` and `run.checkpoint_every` are rounded up to",
        "whole chunks (`derive` reports each rounding in `notes`); the iterations run exactly (those",
        "of the last chunk past it are skipped inside the one compiled chunk program).",
        "The total is an argument of that program, not a constant in it: a run resumed with",
        "more iterations, or a shorter run of the same config, loads it from the persistent",
        "compilation cache (`run.compilation_cache`) instead of compiling again.",
        "",
        "## Resuming",
        "",
        "`--resume PATH` continues a run in its own directory: PATH is a run directory, its",
        "`checkpoints/` directory, one step `checkpoints/<iteration>`, or `latest` (the newest",
        "complete step of any run under `run.checkpoint_dir`). The checkpoint's saved config",
        "replaces defaults and YAML (`--config` and `--verify` are refused); `--set` and the",
        "shortcuts apply on top, and only the keys marked resumable may change (each change",
        "is reported): of the run loop,",
        "",
        *(f"- `{key}{'*' if key.endswith('.') else ''}`"
          for key in resumable_keys(Section("", {"run": RUN}))),
        "",
        "and of each algorithm, those listed with it below.",
        "",
        "Any other change (network, observations, task, envs, devices, seed, rewards, algorithm",
        "hyperparameters) is refused with exit 2: it changes shapes or the learning problem.",
        "Counters continue, `metrics.jsonl` is appended (rows past the checkpoint, left by a",
        "killed process, are dropped and recomputed), and the same wandb run is resumed.",
        "With unchanged `run.log_every`, device count and process count, a resumed run is",
        "bit-for-bit the run that was never stopped; a resume on another device or process",
        "count is refused (multi-host runs: docs/multi_host.md).",
        "",
        "A step older than the run's newest complete step is refused before anything compiles",
        "or is written (its later steps and rows would be overwritten): resume the newest,",
        "start a new run from it with `--init-from`, or add `--discard-later-steps`, which",
        "first moves the later steps and the metrics rows past it into",
        "`<run>/discarded-<time>/` (playable and exportable there).",
        "",
        "Configs saved with checkpoints by earlier releases held every key of one global",
        "schema; loading one (`--resume`, play, export) drops the keys its task and algorithm",
        "do not own. A YAML file given with `--config` gets no such leniency.",
        "",
        "## Keys of every run",
        "",
    ]
    lines += _sections_markdown({"algorithm": ALGORITHM, "run": RUN, "quick_verify": QUICK_VERIFY}, 3)
    lines += ["## Algorithms", ""]
    for entry in algorithms.ALGORITHMS.values():
        lines += _algorithm_markdown(entry)
    lines += ["## Tasks", ""]
    for entry in tasks.documented_tasks():
        lines += _task_markdown(entry)
    return "\n".join(lines).rstrip() + "\n"



def main(argv: Sequence[str] | None = None) -> int:
    """`--write-docs PATH` writes docs/config.md; `--print [flags]` prints a resolved config."""
    parser = build_arg_parser()
    parser.prog = "python -m playground.config"
    parser.description = "Inspect the config: write its docs or print a resolved config."
    parser.add_argument("--write-docs", metavar="PATH", help="write the schema reference here")
    parser.add_argument("--print", action="store_true", help="print the resolved config")
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
        if args.write_docs:
            pathlib.Path(args.write_docs).write_text(schema_markdown())
            print(f"wrote {args.write_docs}")
        if args.print:
            cfg = _resolve_args(args)
            print(_dump_yaml(to_dict(cfg)), end="")
            derived = derive(cfg)
            for field in dataclasses.fields(derived):
                if field.name != "notes":
                    print(f"# derived.{field.name}: {getattr(derived, field.name)}")
            for note in derived.notes:
                print(f"# note: {note}")
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    if not (args.write_docs or args.print):
        parser.print_help()
        return 2
    return 0
